"""``PersonErased`` here (RGPD, issue 16): the kit's consumer has already deleted this service's
keys of the person (its own and its copy of the owner's); this module removes the copies in clear
that notifications keeps to do its job, so nothing of the person survives here and no mail goes
to them any more:

- their referent rows read « personne effacée » and are inactive (no reminder resolves to them);
- the recipients planned on pending and past reminders, and mail errors quoting their address,
  lose the name and the address;
- their personal calendar feeds (keyed by their address) are deleted, revoked ones included.

Counts do not change: rows are updated, never deleted, except the feeds that are the person's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from jumelage_contracts.personal import ERASED, ERASED_EMAIL

from ..adapters import db


async def forget_person(conn: Any, person_id: str) -> None:
    emails = {e.lower() for e in (await conn.execute(
        select(db.referents.c.email).where(db.referents.c.referent_id == person_id))).scalars() if e}
    emails.discard(ERASED_EMAIL)
    await conn.execute(update(db.referents).where(db.referents.c.referent_id == person_id)
                       .values(name=ERASED, email=ERASED_EMAIL, active=False))
    for row in (await conn.execute(select(db.timers.c.reminder_id, db.timers.c.recipients))).all():
        kept = [_erased_if_theirs(r, person_id, emails) for r in row.recipients or []]
        if kept != (row.recipients or []):
            await conn.execute(update(db.timers).where(db.timers.c.reminder_id == row.reminder_id).values(recipients=kept))
    for email in emails:
        await conn.execute(update(db.timers).where(func.lower(db.timers.c.last_error).contains(email))
                           .values(last_error=func.replace(db.timers.c.last_error, email, ERASED_EMAIL)))
        for table in (db.feeds, db.feeds_revoked):
            await conn.execute(delete(table).where(func.lower(table.c.key) == email))


def _erased_if_theirs(recipient: dict, person_id: str, emails: set[str]) -> dict:
    theirs = recipient.get("person_id") == person_id or str(recipient.get("email", "")).lower() in emails
    return {**recipient, "name": ERASED, "email": ERASED_EMAIL} if theirs else recipient
