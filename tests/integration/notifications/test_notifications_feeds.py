"""Who gets which calendar feed, revoking and rotating feed URLs, and who reads or changes an
académie's reminder rules (issue 11) — on the real thing: the notifications service running on
PostgreSQL, its consumers fed through JetStream by the outbox relays of a candidatures store and a
programmes store, the HTTP app answering with development tokens.

The breach reproduced: a versailles school names a paris teacher as the referent of its own
partnership, then asks for ``/feeds/referent/<her e-mail>`` — it used to get her feed URL, and
with it the paris partnership's actions, dates and places."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from eventkit.auth import mint_token
from eventkit.bus import NatsConnection, OutboxRelay, provision
from eventkit.clock import ManualClock
from eventkit.settings import DEV_SECRET, ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import to_envelope
from jumelage_contracts.subjects import stream_name
from notifications.adapters import db
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import PID, example, referents
from tests.integration.notifications.notif_harness import SmtpServer
from tests.waiting import eventually

UTC = timezone.utc
PARIS_UAI, VERSAILLES_UAI = "0750655E", "0786154R"
CLAIRE, YANNICK = "claire.martin@ac-paris.fr", "y.lebrun@carnavalet.example.fr"
VERSAILLES_PID = "p-7a1b2c3d-0000-4000-8000-00000000a78a"
VERSAILLES_CAMPAIGN = "camp-versailles-culture-2025-2026"
PARIS_ACTION = f"action-{PID}.act-visite-carnavalet-cm1a@jumelage.notifications"
VERSAILLES_ACTION = f"action-{VERSAILLES_PID}.act-atelier-mantes@jumelage.notifications"


@dataclass
class Live:
    api: httpx.AsyncClient
    service: Any
    nats: NatsConnection
    root: str
    sources: dict[str, tuple[Any, OutboxRelay]]
    clock: ManualClock
    smtp: SmtpServer

    async def publish(self, *events: Any) -> None:
        """Each event stored by the service that owns it, carried by its relay over JetStream, and
        every notifications consumer caught up before returning."""
        for event in events:
            store, relay = self.sources[type(event).SOURCE]
            envelope = to_envelope(event, stream_id=f"test-{uuid.uuid4().hex[:12]}", occurred_at=self.clock.now(),
                                   correlation_id=uuid.uuid4(), academie=getattr(event, "academie", None))
            await store.append(envelope.stream_id, [envelope], 0)
            assert await relay.publish_once() == 1
        await eventually(self.caught_up, what="the notifications consumers to apply every event")

    async def caught_up(self) -> bool:
        for source in self.sources:
            name = stream_name(source, self.root)
            last = (await self.nats.js.stream_info(name)).state.last_seq
            for consumer in await self.nats.js.consumers_info(name):
                if consumer.ack_floor.stream_seq < last or consumer.num_ack_pending or consumer.num_pending:
                    return False
        return True

    async def feeds_stored(self) -> int:
        async with self.service.store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(db.feeds)))


@pytest.fixture
async def live(postgres_url, nats_url, subject_root, tmp_path):
    smtp = SmtpServer().start()
    nats = NatsConnection(nats_url, name="test-feeds")
    await nats.start()
    await provision(nats, subject_root)
    sources = {}
    for source in ("candidatures", "programmes"):
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / (source + '.db')}")
        sources[source] = (store, OutboxRelay(store, nats, source=source, subject_root=subject_root))
    settings = ServiceSettings.from_env("notifications", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root, clock="manual", public_url="http://notif.test")
    clock = ManualClock(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    app, service = build(settings, clock=clock, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as client:
            yield Live(api=client, service=service, nats=nats, root=subject_root, sources=sources, clock=clock,
                       smtp=smtp)
    finally:
        await service.stop()
        for store, _ in sources.values():
            await store.close()
        await nats.close()
        smtp.stop()


def auth(role: str, scope: str, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_SECRET, role, scope, email=email)}"}


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")}


def versailles_school() -> dict[str, Any]:
    school = example("PartnershipAttributed").school.model_dump(mode="json")
    school.update(uai=VERSAILLES_UAI, name="Collège du Val Fourré-Nord", academie="versailles", departement="78",
                  commune="Mantes-la-Jolie")
    return school


async def two_academies(live: Live) -> None:
    """A paris partnership (Claire Martin, teacher, and Yannick Lebrun, partner) with an action;
    a versailles partnership whose school names Claire Martin its referent, with an action."""
    await live.publish(example("CampaignOpened"), example("PartnershipAttributed"), *referents(),
                       example("CampaignOpened", campaign_id=VERSAILLES_CAMPAIGN, academie="versailles"),
                       example("PartnershipAttributed", partnership_id=VERSAILLES_PID, candidature_id="cand-versailles",
                               campaign_id=VERSAILLES_CAMPAIGN, school=versailles_school(),
                               partner={"partner_id": "mjc-mantes", "kind": "association", "name": "MJC de Mantes"}))
    live.clock.set(datetime(2025, 9, 1, tzinfo=UTC))
    await live.publish(
        example("ReferentDesignated", partnership_id=VERSAILLES_PID, referent_id="ref-designated-by-versailles"),
        example("ActionScheduled"),
        example("ActionScheduled", partnership_id=VERSAILLES_PID, action_id="act-atelier-mantes",
                title="Atelier au collège", place="Mantes-la-Jolie", resource=None))


async def feed_of(live: Live, kind: str, key: str, headers: dict[str, str]) -> httpx.Response:
    return await live.api.get(f"/feeds/{kind}/{key}", headers=headers)


async def served(live: Live, found: httpx.Response) -> set[str]:
    assert found.status_code == 200, found.text
    feed = await live.api.get(found.json()["url"])
    assert feed.status_code == 200, feed.text
    return uids(feed.content)


# -- the breach, and who gets a person's feed -----------------------------------------------------

async def test_a_school_that_names_another_academie_s_teacher_its_referent_does_not_get_her_feed(live) -> None:
    await two_academies(live)
    stored = await live.feeds_stored()
    versailles_school_token = auth("school", VERSAILLES_UAI)
    refused = await feed_of(live, "referent", CLAIRE, versailles_school_token)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await live.api.post(f"/feeds/referent/{CLAIRE}/rotate", headers=versailles_school_token)).status_code == 403
    assert (await live.api.delete(f"/feeds/referent/{CLAIRE}", headers=versailles_school_token)).status_code == 403
    # not even with an e-mail of its own, nor her own school without her verified address
    assert (await feed_of(live, "referent", CLAIRE, auth("school", VERSAILLES_UAI, "principal@ac-versailles.fr"))).status_code == 403
    assert (await feed_of(live, "referent", CLAIRE, auth("school", PARIS_UAI))).status_code == 403
    assert (await feed_of(live, "referent", CLAIRE, auth("partner", "musee-carnavalet", YANNICK))).status_code == 403
    assert await live.feeds_stored() == stored  # a refusal issues nothing


async def test_a_person_gets_her_own_feed_whatever_the_case_of_her_address(live) -> None:
    await two_academies(live)
    claire = auth("school", PARIS_UAI, "Claire.Martin@AC-Paris.fr")
    mine = await served(live, await feed_of(live, "referent", CLAIRE.upper(), claire))
    assert {PARIS_ACTION, VERSAILLES_ACTION} <= mine  # she is named on both partnerships
    yannick = await served(live, await feed_of(live, "referent", YANNICK, auth("partner", "musee-carnavalet", YANNICK)))
    assert PARIS_ACTION in yannick and VERSAILLES_ACTION not in yannick


async def test_an_academie_gets_the_part_of_a_person_s_feed_that_is_its_own(live) -> None:
    await two_academies(live)
    paris = await served(live, await feed_of(live, "referent", CLAIRE, auth("academie", "paris")))
    versailles = await served(live, await feed_of(live, "referent", CLAIRE, auth("academie", "versailles")))
    assert PARIS_ACTION in paris and VERSAILLES_ACTION not in paris
    assert VERSAILLES_ACTION in versailles and PARIS_ACTION not in versailles
    assert (await feed_of(live, "referent", YANNICK, auth("academie", "versailles"))).status_code == 403
    for role in ("national", "admin"):
        assert {PARIS_ACTION, VERSAILLES_ACTION} <= await served(live, await feed_of(live, "referent", CLAIRE, auth(role, "*")))


# -- partnership and school feeds keep their scopes ----------------------------------------------

async def test_a_partnership_feed_goes_to_its_school_its_partner_its_academie_and_national_only(live) -> None:
    await two_academies(live)
    callers = {
        "its school": (auth("school", PARIS_UAI), 200), "another school": (auth("school", VERSAILLES_UAI), 403),
        "its partner": (auth("partner", "musee-carnavalet"), 200), "another partner": (auth("partner", "mjc-mantes"), 403),
        "its académie": (auth("academie", "paris"), 200), "another académie": (auth("academie", "versailles"), 403),
        "national": (auth("national", "*"), 200), "admin": (auth("admin", "*"), 200),
        "a referent's own address": (auth("school", VERSAILLES_UAI, CLAIRE), 403),
    }
    got = {who: (await feed_of(live, "partnership", PID, headers)).status_code for who, (headers, _) in callers.items()}
    assert got == {who: status for who, (_, status) in callers.items()}


async def test_a_school_feed_goes_to_the_school_its_academie_and_national_only(live) -> None:
    await two_academies(live)
    callers = {
        "the school": (auth("school", PARIS_UAI), 200), "another school": (auth("school", VERSAILLES_UAI), 403),
        "its partner": (auth("partner", "musee-carnavalet"), 403),
        "its académie": (auth("academie", "paris"), 200), "another académie": (auth("academie", "versailles"), 403),
        "national": (auth("national", "*"), 200), "admin": (auth("admin", "*"), 200),
    }
    got = {who: (await feed_of(live, "school", PARIS_UAI, headers)).status_code for who, (headers, _) in callers.items()}
    assert got == {who: status for who, (_, status) in callers.items()}
    school = await served(live, await feed_of(live, "school", PARIS_UAI.lower(), auth("school", PARIS_UAI)))
    assert PARIS_ACTION in school and VERSAILLES_ACTION not in school


# -- nothing is issued for what does not exist ----------------------------------------------------

async def test_a_feed_for_something_unknown_is_404_and_nothing_is_stored(live) -> None:
    await two_academies(live)
    stored = await live.feeds_stored()
    national = auth("national", "*")
    unknown = [("partnership", "p-00000000-0000-4000-8000-000000000000"), ("school", "0130001F"),
               ("referent", "personne@ac-paris.fr")]
    for kind, key in unknown:
        for ask in (live.api.get(f"/feeds/{kind}/{key}", headers=national),
                    live.api.post(f"/feeds/{kind}/{key}/rotate", headers=national),
                    live.api.delete(f"/feeds/{kind}/{key}", headers=national)):
            answer = await ask
            assert answer.status_code == 404, (kind, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
    # the person herself, the school itself, the académie: 404 too
    assert (await feed_of(live, "referent", "personne@ac-paris.fr", auth("school", PARIS_UAI, "personne@ac-paris.fr"))).status_code == 404
    assert (await feed_of(live, "school", "0130001F", auth("school", "0130001F"))).status_code == 404
    assert (await feed_of(live, "school", "0130001F", auth("academie", "aix-marseille"))).status_code == 404
    assert await live.feeds_stored() == stored


async def test_a_malformed_school_or_address_is_422_naming_the_key(live) -> None:
    for kind, key in (("school", "0750655X"), ("school", "lycee"), ("referent", "not-an-address")):
        answer = await feed_of(live, kind, key, auth("national", "*"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "path.key"
    assert await live.feeds_stored() == 0


# -- revoke and rotate ------------------------------------------------------------------------------

async def test_a_rotated_feed_url_stops_serving_and_the_new_one_serves(live) -> None:
    await two_academies(live)
    school = auth("school", PARIS_UAI)
    old = (await feed_of(live, "partnership", PID, school)).json()["url"]
    before = await served(live, await feed_of(live, "partnership", PID, school))
    rotated = await live.api.post(f"/feeds/partnership/{PID}/rotate", headers=school)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["url"]
    assert new != old
    gone = await live.api.get(old)
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    assert uids((await live.api.get(new)).content) == before
    # everyone in scope is now handed the new URL
    assert (await feed_of(live, "partnership", PID, auth("partner", "musee-carnavalet"))).json()["url"] == new


async def test_a_revoked_feed_url_is_gone_and_asking_again_issues_a_new_one(live) -> None:
    await two_academies(live)
    claire = auth("school", PARIS_UAI, CLAIRE)
    old = (await feed_of(live, "referent", CLAIRE, claire)).json()["url"]
    assert (await live.api.get(old)).status_code == 200
    # someone out of scope cannot revoke it
    assert (await live.api.delete(f"/feeds/referent/{CLAIRE}", headers=auth("academie", "lille"))).status_code == 403
    assert (await live.api.get(old)).status_code == 200
    revoked = await live.api.delete(f"/feeds/referent/{CLAIRE}", headers=claire)
    assert revoked.status_code == 204, revoked.text
    assert (await live.api.get(old)).status_code == 410
    assert (await live.api.delete(f"/feeds/referent/{CLAIRE}", headers=claire)).status_code == 204  # idempotent
    again = (await feed_of(live, "referent", CLAIRE, claire)).json()["url"]
    assert again != old and PARIS_ACTION in uids((await live.api.get(again)).content)
    assert (await live.api.get(old)).status_code == 410


async def test_an_academie_revoking_its_view_leaves_the_person_s_own_feed_serving(live) -> None:
    await two_academies(live)
    own = (await feed_of(live, "referent", CLAIRE, auth("school", PARIS_UAI, CLAIRE))).json()["url"]
    paris = (await feed_of(live, "referent", CLAIRE, auth("academie", "paris"))).json()["url"]
    assert own != paris
    assert (await live.api.delete(f"/feeds/referent/{CLAIRE}", headers=auth("academie", "paris"))).status_code == 204
    assert (await live.api.get(paris)).status_code == 410
    assert (await live.api.get(own)).status_code == 200


async def test_the_reminder_mails_link_to_the_rotated_partnership_feed(live) -> None:
    await two_academies(live)
    school = auth("school", PARIS_UAI)
    old = (await feed_of(live, "partnership", PID, school)).json()["url"]
    new = (await live.api.post(f"/feeds/partnership/{PID}/rotate", headers=school)).json()["url"]
    await live.service.scheduler.run_until(datetime(2025, 9, 15, 8, 0, tzinfo=UTC))  # "hold your work meeting"
    # the partner is also told its offer was chosen (a decision): the reminder is the other mail
    (mail,) = [m for m in live.smtp.mailbox.to(YANNICK) if "réunion de travail" in live.smtp.mailbox.subject(m)]
    body = live.smtp.mailbox.body(mail)
    assert new in body and old not in body


# -- notification rules: that académie and national read, that académie and admin write ----------

RULE_PATH = "/admin/rules/paris/culture/work_meeting_escalation"


async def test_an_academie_s_rules_are_read_by_itself_and_national_only(live) -> None:
    callers = {
        "the académie": (auth("academie", "paris"), 200), "another académie": (auth("academie", "versailles"), 403),
        "a school": (auth("school", PARIS_UAI), 403), "a partner": (auth("partner", "musee-carnavalet"), 403),
        "national": (auth("national", "*"), 200), "admin": (auth("admin", "*"), 200),
    }
    got = {who: (await live.api.get("/admin/rules/paris", headers=headers)).status_code
           for who, (headers, _) in callers.items()}
    assert got == {who: status for who, (_, status) in callers.items()}
    assert (await live.api.get("/admin/rules/paris")).status_code == 401


async def test_an_academie_s_rules_are_changed_by_itself_and_admin_only(live) -> None:
    def offset(answer: httpx.Response) -> int:
        return next(r for r in answer.json()["rules"] if r["name"] == "work_meeting_escalation")["offset_days"]

    refused = {"another académie": auth("academie", "versailles"), "a school": auth("school", PARIS_UAI),
               "a partner": auth("partner", "musee-carnavalet"), "national": auth("national", "*")}
    got = {who: (await live.api.put(RULE_PATH, json={"offset_days": 9}, headers=headers)).status_code
           for who, headers in refused.items()}
    assert got == {who: 403 for who in refused}
    culture = {"dispositif": "culture"}
    national = auth("national", "*")
    assert offset(await live.api.get("/admin/rules/paris", params=culture, headers=national)) == 1  # nothing written
    assert offset(await live.api.put(RULE_PATH, json={"offset_days": 9}, headers=auth("academie", "paris"))) == 9
    assert offset(await live.api.put(RULE_PATH, json={"offset_days": 12}, headers=auth("admin", "*"))) == 12
    assert offset(await live.api.get("/admin/rules/paris", params=culture, headers=auth("academie", "paris"))) == 12


async def test_an_academie_s_contacts_are_set_by_itself_and_admin_only(live) -> None:
    contact = {"name": "DAAC de Paris", "email": "daac@ac-paris.fr"}
    callers = {
        "the académie": (auth("academie", "paris"), 200), "another académie": (auth("academie", "versailles"), 403),
        "a school": (auth("school", PARIS_UAI), 403), "a partner": (auth("partner", "musee-carnavalet"), 403),
        "national": (auth("national", "*"), 403), "admin": (auth("admin", "*"), 200),
    }
    got = {who: (await live.api.put("/admin/contacts/paris/academie", json=contact, headers=headers)).status_code
           for who, (headers, _) in callers.items()}
    assert got == {who: status for who, (_, status) in callers.items()}


async def test_rules_of_an_academie_that_does_not_exist_are_422_naming_it(live) -> None:
    for answer in (await live.api.get("/admin/rules/atlantide", headers=auth("admin", "*")),
                   await live.api.put("/admin/rules/atlantide/culture/work_meeting_escalation", json={"offset_days": 3},
                                      headers=auth("admin", "*"))):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "path.academie"
