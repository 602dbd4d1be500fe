"""Migration 0003 renames the reminders and calendar items written before action and meeting ids
were qualified by their partnership, so they are still found (cancelled, updated) afterwards;
migration 0005 keeps the feed URLs issued before it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import notifications
from eventkit.migrations import run_migrations
from eventkit.sql import make_engine

MIGRATIONS = Path(notifications.__file__).parent / "adapters" / "migrations"
PID = "4b5c6d7e-0000-5000-8000-000000000001"


async def test_rows_written_before_0003_get_the_partnership_in_their_subject_and_uid(sqlite_url, tmp_path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for name in ("0001_notifications.py", "0002_meeting_kind.py"):
        shutil.copy(MIGRATIONS / name, before / name)
    await run_migrations(sqlite_url, [("notifications", before)])
    engine = make_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            for rid, scope, scope_id, action in (("r1", "action", "visite-1", "visite-1"),
                                                  ("r2", "partnership", PID, None)):
                await conn.execute(text(
                    "INSERT INTO notif_timers (reminder_id, dedup_key, rule, kind, template, scope, scope_id, "
                    "academie, partnership_id, action_id, audience, recipients, title, due_at, next_attempt_at, "
                    "status, attempts, stream_version, updated_at) VALUES (:rid, :rid, 'r', 'reminder', 't', :scope, :sid, "
                    "'paris', :pid, :action, '[]', '[]', 't', '2027-11-03 07:00:00', '2027-11-03 07:00:00', "
                    "'pending', 0, 1, '2027-06-10 09:00:00')"), {"rid": rid, "scope": scope, "sid": scope_id, "pid": PID, "action": action})
            for uid, kind in (("action-visite-1@jumelage.notifications", "action"),
                              ("meeting-travail@jumelage.notifications", "meeting"),
                              (f"deadline-bilan-{PID}-2027-2028@jumelage.notifications", "deadline")):
                await conn.execute(text(
                    "INSERT INTO notif_calendar_items (uid, partnership_id, academie, kind, summary, starts_at, "
                    "all_day, status, sequence, updated_at) VALUES (:uid, :pid, 'paris', :kind, 's', "
                    "'2027-11-10 09:00:00', 0, 'CONFIRMED', 0, '2027-06-10 09:00:00')"),
                    {"uid": uid, "pid": PID, "kind": kind})
        await run_migrations(sqlite_url, [("notifications", MIGRATIONS)])
        async with engine.connect() as conn:
            subjects = dict((await conn.execute(text("SELECT reminder_id, scope_id FROM notif_timers"))).all())
            uids = set((await conn.execute(text("SELECT uid FROM notif_calendar_items"))).scalars())
    finally:
        await engine.dispose()
    assert subjects == {"r1": f"{PID}/visite-1", "r2": PID}
    assert uids == {f"action-{PID}.visite-1@jumelage.notifications", f"meeting-{PID}.travail@jumelage.notifications",
                    f"deadline-bilan-{PID}-2027-2028@jumelage.notifications"}


async def test_feed_urls_issued_before_0005_keep_serving_as_whole_feeds(sqlite_url, tmp_path) -> None:
    """0005 gives each feed a view (``*`` for those issued before) and keeps revoked URLs apart:
    a subscribed calendar keeps its URL, and one person's feed may now have an académie's view beside it."""
    before = tmp_path / "migrations"
    before.mkdir()
    for name in sorted(p.name for p in MIGRATIONS.glob("000[1-4]_*.py")):
        shutil.copy(MIGRATIONS / name, before / name)
    await run_migrations(sqlite_url, [("notifications", before)])
    engine = make_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notif_feeds (token, kind, key, created_at) VALUES "
                                    "('tok-partnership', 'partnership', :pid, '2025-07-04 10:00:00'), "
                                    "('tok-claire', 'referent', 'claire.martin@ac-paris.fr', '2025-07-04 10:00:00')"),
                               {"pid": PID})
        await run_migrations(sqlite_url, [("notifications", MIGRATIONS)])
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notif_feeds (token, kind, key, academie, created_at) VALUES "
                                    "('tok-claire-paris', 'referent', 'claire.martin@ac-paris.fr', 'paris', "
                                    "'2025-09-01 10:00:00')"))
            rows = set((await conn.execute(text("SELECT token, academie FROM notif_feeds"))).all())
            revoked = (await conn.execute(text("SELECT count(*) FROM notif_feeds_revoked"))).scalar()
        with pytest.raises(IntegrityError):  # still one URL per view
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO notif_feeds (token, kind, key, academie, created_at) VALUES "
                                        "('tok-again', 'partnership', :pid, '*', '2025-09-01 10:00:00')"), {"pid": PID})
    finally:
        await engine.dispose()
    assert rows == {("tok-partnership", "*"), ("tok-claire", "*"), ("tok-claire-paris", "paris")}
    assert revoked == 0
