"""Issue 16's "done when": the four services as real processes on real NATS JetStream, on
PostgreSQL and on SQLite. A partnership's year is played (referents designated, their mails sent
to an aiosmtpd server, a referent's iCal feed, reporting's figures and timeline), one referent is
erased (the admin route), and then her name, e-mail and phone are found nowhere — in any service's
database, any JetStream stream (dead letters included) or any log — while every indicator, timeline
entry and count equals its value before the erasure, and every read shows « personne effacée »."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from eventkit.sql import make_engine
from jumelage_contracts.personal import ERASED
from jumelage_contracts.subjects import SOURCES, dead_letter_stream, stream_name
from tests.e2e.harness import running_system
from tests.e2e.test_cnr_project import BELLEVILLE, CAMPAIGN, PROJECT, YEAR
from tests.integration.notifications.notif_harness import SmtpServer
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
UTC = timezone.utc

JEANNE = {"referent_id": "ref-jeanne", "side": "school", "role": "teacher", "name": "Jeanne Vauquelin-Ortiz",
          "email": "jeanne.vauquelin@ac-paris.fr", "phone": "06 71 42 93 18"}
PAUL = {"referent_id": "ref-paul", "side": "school", "role": "head", "name": "Paul Esterhazy",
        "email": "paul.esterhazy@ac-paris.fr", "phone": "01 40 00 12 34"}
AS_OF = f"{YEAR + 1}-06-30"  # reporting runs on the real clock: its reads are as of the played year
HER = (JEANNE["name"], JEANNE["email"], JEANNE["phone"])


def found_in(blob: bytes) -> list[str]:
    """Which of her values ``blob`` holds, as UTF-8 or as JSON-escaped text."""
    return [v for v in HER if v.encode() in blob or json.dumps(v).encode() in blob or v.lower().encode() in blob.lower()]


async def database_bytes(url: str) -> bytes:
    """Every row of every table of a service's database, as text."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sa_inspect(sync).get_table_names())
            out = []
            for table in tables:
                rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
                out.append(repr([tuple(r) for r in rows]))
        return "\n".join(out).encode("utf-8")
    finally:
        await engine.dispose()


async def streams_bytes(nats_url: str, root: str) -> bytes:
    """Every message (headers and body) of the system's streams, dead letters included."""
    nc = await nats.connect(nats_url)
    out = []
    try:
        js = nc.jetstream()
        for stream in [*(stream_name(s, root) for s in SOURCES), dead_letter_stream(root)]:
            try:
                info = await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                continue
            if not info.state.messages:
                continue
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except nats.js.errors.NotFoundError:
                    continue
                out.append(repr(msg.headers).encode() + (msg.data or b""))
    finally:
        await nc.close()
    return b"\n".join(out)


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
async def test_an_erased_referent_is_found_nowhere_and_every_figure_stays_the_same(
        database, postgres_server_url, nats_url, subject_root, tmp_path: Path):
    smtp = SmtpServer().start()
    manual = {"CLOCK": "manual"}
    extra = {name: dict(manual) for name in ("candidatures", "programmes", "notifications")}
    extra["notifications"]["SMTP_PORT"] = str(smtp.port)
    if database == "sqlite":
        for name in ("candidatures", "programmes", "notifications", "reporting"):
            extra.setdefault(name, {})["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
    try:
        async with running_system(postgres_server_url, nats_url, subject_root, tmp_path, extra_env=extra) as system:
            cand, prog, notif, rpt = (system.url(n) for n in ("candidatures", "programmes", "notifications", "reporting"))
            admin, academie = system.token("admin", "*"), system.token("academie", "paris")
            school = system.token("school", BELLEVILLE["uai"])
            async with httpx.AsyncClient(timeout=15) as http:
                async def ok(response, status: int = 200) -> dict:
                    assert response.status_code == status, response.text
                    return response.json()

                async def clock(when: datetime) -> None:
                    for url in (cand, prog, notif):
                        await ok(await http.post(f"{url}/admin/clock", json={"now": when.isoformat()}, headers=admin))

                # -- the year ---------------------------------------------------------------
                await clock(datetime(YEAR, 3, 1, 9, tzinfo=UTC))
                await ok(await http.post(f"{cand}/campaigns", json=CAMPAIGN, headers=academie), 201)
                await clock(datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC))
                await ok(await http.post(f"{cand}/campaigns/{CAMPAIGN['campaign_id']}/candidatures", json=PROJECT,
                                         headers=school), 201)
                await ok(await http.post(f"{cand}/candidatures/cnr-belleville/reviews", json={"avis": "favourable"},
                                         headers=academie))
                pid = (await ok(await http.post(f"{cand}/candidatures/cnr-belleville/attribute", json={},
                                                headers=academie)))["partnership_id"]

                async def opened():
                    r = await http.get(f"{prog}/partnerships/{pid}", headers=academie)
                    return r.json() if r.status_code == 200 else None

                await eventually(opened, what="programmes to open the year")
                for referent in (JEANNE, PAUL):
                    await ok(await http.post(f"{prog}/partnerships/{pid}/referents", json=referent, headers=school), 201)

                # her feed (notifications learnt her from programmes' sealed event, key fetched)
                async def her_feed():
                    r = await http.get(f"{notif}/feeds/referent/{JEANNE['email']}", headers=admin)
                    return r.json() if r.status_code == 200 else None

                feed = await eventually(her_feed, what="notifications to know her", timeout=30)
                ical = await http.get(f"{notif}{httpx.URL(feed['url']).path}")
                assert ical.status_code == 200 and "BEGIN:VCALENDAR" in ical.text

                # the bilan window opens: both referents are written to
                await clock(datetime(YEAR + 1, 5, 9, 9, 30, tzinfo=UTC))
                await eventually(lambda: smtp.mailbox.to(JEANNE["email"]) and smtp.mailbox.to(PAUL["email"]),
                                 what="the bilan mails to both referents", timeout=45)

                async def reporting_has_them():
                    r = await http.get(f"{rpt}/partnerships/{pid}/timeline?as_of={AS_OF}", headers=academie)
                    body = r.json() if r.status_code == 200 else {}
                    lines = json.dumps(body, ensure_ascii=False)
                    return body if JEANNE["name"] in lines and PAUL["name"] in lines else None

                await eventually(reporting_has_them, what="reporting's timeline to name the referents", timeout=30)

                async def figures() -> dict:
                    return {
                        "indicators": await ok(await http.get(f"{rpt}/indicators?as_of={AS_OF}", headers=academie)),
                        "campaigns": await ok(await http.get(f"{rpt}/academies/paris/campaigns", headers=academie)),
                        "school": await ok(await http.get(f"{rpt}/schools/{BELLEVILLE['uai']}?as_of={AS_OF}", headers=academie)),
                        "timeline": await ok(await http.get(f"{rpt}/partnerships/{pid}/timeline?as_of={AS_OF}", headers=academie)),
                    }

                async def settled() -> dict | None:  # nothing left in flight: two reads a moment apart agree
                    first = await figures()
                    await asyncio.sleep(1.5)
                    return first if await figures() == first else None

                before = await eventually(settled, what="reporting's figures to settle", timeout=60)

                # -- the erasure ------------------------------------------------------------
                erased = await ok(await http.post(f"{prog}/admin/persons/{JEANNE['referent_id']}/erasure",
                                                  headers=admin), 202)
                assert erased["status"] == "erased"

                async def her_feed_gone():
                    r = await http.get(f"{notif}/feeds/referent/{JEANNE['email']}", headers=admin)
                    return r.status_code == 404
                await eventually(her_feed_gone, what="her feed to go", timeout=30)
                gone = await http.get(f"{notif}{httpx.URL(feed['url']).path}")
                assert gone.status_code in (404, 410)

                async def reporting_forgot():
                    now = await settled()
                    return now if now and JEANNE["name"] not in json.dumps(now, ensure_ascii=False) else None

                after = await eventually(reporting_forgot, what="reporting to forget her", timeout=30)

                view = await ok(await http.get(f"{prog}/partnerships/{pid}", headers=academie))
                names = {r["referent_id"]: r["name"] for r in view["current_year"]["referents"]}
                assert names == {"ref-jeanne": ERASED, "ref-paul": PAUL["name"]}

            # -- every figure as before; her lines said again without her ----------------------
            assert after["indicators"] == before["indicators"]
            assert after["campaigns"] == before["campaigns"]
            assert after["school"] == json.loads(json.dumps(before["school"]).replace(
                json.dumps(JEANNE["name"])[1:-1], ERASED))
            entries_before, entries_after = before["timeline"], after["timeline"]
            assert json.dumps(entries_after, ensure_ascii=False) == json.dumps(entries_before, ensure_ascii=False) \
                .replace(JEANNE["name"], ERASED)
            assert ERASED in json.dumps(entries_after, ensure_ascii=False)

            # -- found nowhere ------------------------------------------------------------------
            for name, service in system.services.items():
                assert found_in(await database_bytes(service.database_url)) == [], f"{name}'s database"
            assert found_in(await streams_bytes(nats_url, subject_root)) == [], "the JetStream streams"
            logs = {name: service.log().encode() for name, service in system.services.items()}
        for name, blob in logs.items():  # the whole logs, the services stopped
            assert found_in(blob) == [], f"{name}'s log"
    finally:
        smtp.stop()
