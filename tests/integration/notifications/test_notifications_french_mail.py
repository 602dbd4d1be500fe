"""The e-mails are written in French with its accents, and arrive so: the subject encoded per
RFC 2047, the body declared UTF-8, read back from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.header import decode_header, make_header

from tests.integration.notifications.notif_events import example, play_attribution, referents

UTC = timezone.utc
HELENE = "helene.lefevre@ac-paris.fr"


async def test_accents_survive_smtp_in_the_subject_the_recipients_and_the_body(harness) -> None:
    harness.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await harness.play(example("CampaignOpened"))
    await harness.play(example("PartnershipAttributed"))
    await harness.play(example("ReferentDesignated", name="Hélène Lefèvre", email=HELENE))
    await harness.play(referents()[1])
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))  # the work-meeting window opens, 08:00 Paris

    (raw,) = harness.mailbox.raw
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers  # encoded words, no raw 8-bit header
    message = message_from_bytes(raw, policy=policy.default)
    subject = " ".join(str(make_header(decode_header(message["Subject"]))).split())
    assert subject == ("Jumelage Ecole elementaire Belleville / Musee Carnavalet - Histoire de Paris : "
                       "fixez votre réunion de travail")
    assert "Hélène Lefèvre" in str(message["To"]) and HELENE in str(message["To"])

    text = message.get_body(preferencelist=("plain",))
    assert text.get_content_charset() == "utf-8"
    body = text.get_content()
    assert body.startswith("Bonjour Hélène Lefèvre, Yannick Lebrun,")
    for phrase in ("commence cette année scolaire (2025-2026)", "La réunion de travail entre l'école",
                   "avant le vendredi 17 octobre 2025", "Pensez à fixer sa date et son lieu dès maintenant.",
                   "envoyé automatiquement par le service Jumelage (académie de Paris)", "répondre"):
        assert phrase in body, phrase
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "La réunion de travail entre l&#39;école" in html or "La réunion de travail entre l'école" in html

    # The Message-ID is still derived from the dedup key alone.
    (timer,) = await harness.timers(rule="work_meeting_to_hold")
    assert message["Message-ID"] == timer.message_id
    assert str(message["X-Jumelage-Dedup-Key"]) == timer.dedup_key


async def test_a_meeting_reminder_names_the_meeting_kind_and_the_hour_the_french_way(harness) -> None:
    await play_attribution(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    meeting = example("MeetingScheduled", title=None, meeting_id="mtg-suivi", kind="follow_up",
                      starts_at="2025-10-14T14:00:00Z")
    await harness.play(meeting)
    await harness.move_to(datetime(2025, 10, 7, 6, 0, tzinfo=UTC))
    (mail,) = [m for m in harness.mailbox.messages if "dans 7 jours" in harness.mailbox.subject(m)]
    assert harness.mailbox.subject(mail) == "Rappel : Réunion de suivi dans 7 jours"
    assert "Date : mardi 14 octobre 2025 à 16 h 00" in harness.mailbox.body(mail)
