"""Mail and iCal adapters without a server: Message-IDs, French dates, feed serialisation."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

from hypothesis import given, strategies as st
from icalendar import Calendar

from notifications.adapters.ical import feed
from notifications.adapters.mail import french_date, message_id_for
from notifications.app.reminders import academie_name

UTC = timezone.utc


@given(st.text(min_size=1, max_size=300))
def test_a_message_id_is_the_same_on_every_attempt_and_safe_in_a_header(key: str) -> None:
    first = message_id_for(key, "rem-0123456789abcdef0123", "notifications.jumelage.local")
    assert first == message_id_for(key, "rem-0123456789abcdef0123", "notifications.jumelage.local")
    assert first.startswith("<") and first.endswith("@notifications.jumelage.local>")
    assert all(c.isascii() and not c.isspace() for c in first)


def test_dates_are_written_in_french_in_the_schools_time_zone() -> None:
    assert french_date(datetime(2025, 11, 18, 9, 0, tzinfo=UTC)) == "mardi 18 novembre 2025 à 10 h 00"
    assert french_date(datetime(2025, 11, 18, 9, 0, tzinfo=UTC), "Indian/Reunion") == "mardi 18 novembre 2025 à 13 h 00"
    assert french_date(date(2025, 10, 17)) == "vendredi 17 octobre 2025"
    assert french_date(datetime(2025, 10, 14, 14, 0, tzinfo=UTC)) == "mardi 14 octobre 2025 à 16 h 00"
    assert french_date(date(2026, 2, 1)) == "dimanche 1er février 2026"
    assert french_date(date(2025, 8, 15)) == "vendredi 15 août 2025"
    assert french_date(datetime(2025, 12, 1, 7, 5, tzinfo=UTC)) == "lundi 1er décembre 2025 à 8 h 05"


def test_an_academie_is_named_as_its_people_write_it() -> None:
    assert academie_name("paris") == "académie de Paris"
    assert academie_name("creteil") == "académie de Créteil"
    assert academie_name("orleans-tours") == "académie d'Orléans-Tours"
    assert academie_name("aix-marseille") == "académie d'Aix-Marseille"
    assert academie_name("la-reunion") == "académie de La Réunion"


def item(**changes):
    values = dict(uid="action-a1@jumelage.notifications", updated_at=datetime(2025, 9, 1, tzinfo=UTC), sequence=3,
                  summary="Visite", all_day=False, starts_at=datetime(2025, 11, 18, 9, 0, tzinfo=UTC),
                  ends_at=datetime(2025, 11, 18, 11, 0, tzinfo=UTC), place="Musee", description=None,
                  status="CANCELLED", kind="action", academie="paris")
    values.update(changes)
    return SimpleNamespace(**values)


def test_a_feed_parses_back_with_its_uids_sequences_and_statuses() -> None:
    body = feed("Jumelage", [item(), item(uid="deadline-x@jumelage.notifications", all_day=True, status="CONFIRMED",
                                          starts_at=datetime(2025, 10, 16, 22, 0, tzinfo=UTC), sequence=0)],
                datetime(2025, 9, 2, tzinfo=UTC))
    events = {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}
    action = events["action-a1@jumelage.notifications"]
    assert (int(action["SEQUENCE"]), str(action["STATUS"])) == (3, "CANCELLED")
    deadline = events["deadline-x@jumelage.notifications"]
    assert deadline.decoded("DTSTART") == date(2025, 10, 17)  # the local day in Paris


def test_a_feed_keeps_french_accents_in_summaries_descriptions_and_places() -> None:
    body = feed("Jumelages de l'école", [item(summary="Réunion de travail", description="Préparer l'été à Créteil",
                                               place="Musée, salle pédagogique", status="CONFIRMED")],
                datetime(2025, 9, 2, tzinfo=UTC))
    assert "Réunion de travail".encode() in body  # UTF-8 on the wire, as RFC 5545 requires
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"]), str(event["LOCATION"])) == (
        "Réunion de travail", "Préparer l'été à Créteil", "Musée, salle pédagogique")
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == "Jumelages de l'école"
