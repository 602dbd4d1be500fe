"""``jumelage``: operator commands.

    jumelage migrate --service reporting          # the kit's tables, then the service's own
    jumelage provision                            # streams (+ the durable consumers of every service)
    jumelage republish --service candidatures --from-position 1200 [--to-position 1300]
    jumelage token --role academie --scope paris  # a DEVELOPMENT token (HS256, JWT_SECRET)
    jumelage dead-letters list [--consumer reporting-candidatures]
    jumelage dead-letters replay 12 13 | --all [--consumer …]   # after the cause is fixed
    jumelage outbox inspect --service candidatures [--json]     # what the relay has not published
    jumelage erase --person ref-claire-martin                   # RGPD: delete a referent's key
    jumelage reseal --service programmes                        # one-off: seal events stored in clear

Settings come from the environment exactly as the services read them (``DATABASE_URL``,
``<SERVICE>_DATABASE_URL``, ``NATS_URL``, ``NATS_SUBJECT_ROOT``, ``JWT_SECRET``). Without
``NATS_URL``, run from the project while ``python3 dev.py run`` goes, the commands use the
embedded stack's NATS (``var/runner.json``); otherwise ``nats://127.0.0.1:4222``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path
from typing import Any, Optional

import typer

from jumelage_contracts import Role
from jumelage_contracts.subjects import SOURCES

from .settings import ServiceSettings, embedded_nats_url

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Jumelage operator commands: migrations, NATS provisioning, re-publishing, dead letters, "
                       "outbox, tokens.",
                  epilog="Example: jumelage dead-letters list --json   (each command: jumelage <command> --help)")

SERVICES = ("candidatures", "programmes", "notifications", "reporting")


@app.callback()
def _embedded_stack() -> None:
    """Without NATS_URL, from the project while `python3 dev.py run` goes: the embedded stack's NATS."""
    if not os.environ.get("NATS_URL"):
        found = embedded_nats_url(Path(os.environ.get("JUMELAGE_DATA_DIR", "var")))
        if found:
            os.environ["NATS_URL"] = found


def _service_runtime(service: str, settings: ServiceSettings) -> Any | None:
    """The service's runtime as its bootstrap builds it (its migrations and consumers), or None
    when the service has no bootstrap importable here."""
    try:
        bootstrap = importlib.import_module(f"{service}.bootstrap")
    except ImportError:
        return None
    build = getattr(bootstrap, "build_runtime", None)
    return build(settings) if build is not None else None


async def _connect(settings: ServiceSettings, timeout: float):
    import logging

    import structlog

    from .bus import NatsConnection

    # quiet the kit's info logs for a command line; keep wherever logs already go
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    nats = NatsConnection(settings.nats_url, name=f"jumelage-cli:{settings.service}")
    await nats.start()
    if not await nats.wait_connected(timeout):
        await nats.close()
        typer.echo(f"NATS at {settings.nats_url} did not answer within {timeout:g}s", err=True)
        raise typer.Exit(1)
    return nats


@app.command(epilog="Example: jumelage migrate --service reporting")
def migrate(service: str = typer.Option(..., help="candidatures, programmes, notifications or reporting")) -> None:
    """Bring the service's database to the head of the kit's and the service's migrations."""
    from .sql import open_store

    settings = ServiceSettings.from_env(service)
    runtime = _service_runtime(service, settings)
    extra = list(getattr(runtime, "migrations", ()) or ())

    async def run() -> None:
        store = await open_store(settings.database_url, extra_migrations=extra)
        await store.close()

    asyncio.run(run())
    typer.echo(f"{service}: migrated ({len(extra)} service migration location(s)) on "
               f"{settings.database_url.split('@')[-1]}")


@app.command(epilog="Example: jumelage provision --streams-only   "
                     "(NATS_URL=nats://nats:4222 for another server)")
def provision(
    service: list[str] = typer.Option(list(SERVICES), help="services whose durable consumers to create"),
    streams_only: bool = typer.Option(False, help="create the streams only"),
    timeout: float = typer.Option(10.0, help="seconds to wait for NATS"),
) -> None:
    """Create or update (idempotently) the event streams, the dead-letter stream and the durable
    consumers the services declare."""
    from .bus import Consumer, provision_now
    from .bus.provision import StreamLimits

    settings = ServiceSettings.from_env("jumelage")

    async def run() -> list[str]:
        nats = await _connect(settings, timeout)
        made: list[str] = []
        try:
            await provision_now(nats, settings.subject_root, SOURCES, StreamLimits.from_env())
            made.append(f"streams for {', '.join(SOURCES)} and the dead-letter stream")
            if not streams_only:
                for name in service:
                    svc_settings = ServiceSettings.from_env(name)
                    runtime = _service_runtime(name, svc_settings)
                    for spec in getattr(runtime, "consumers", []) or []:
                        await Consumer(spec, None, nats, subject_root=settings.subject_root, service=name).ensure()
                        made.append(f"consumer {spec.name} on {spec.source}")
        finally:
            await nats.close()
        return made

    for line in asyncio.run(run()):
        typer.echo(f"provisioned {line}")


@app.command(epilog="Example: jumelage republish --service candidatures --from-position 1200 "
                     "--to-position 1300")
def republish(
    service: str = typer.Option(..., help="the producing service whose store to read"),
    from_position: int = typer.Option(..., min=0, help="first store position to send again (0 or 1: from the start)"),
    to_position: Optional[int] = typer.Option(None, min=1, help="last position (default: the end)"),
    timeout: float = typer.Option(10.0, help="seconds to wait for NATS"),
) -> None:
    """Send stored events to JetStream again (after a JetStream loss, or to refeed a consumer).
    Consumers skip what they already applied; the relay's checkpoint is not moved."""
    from .bus import OutboxRelay, provision
    from .sql import open_store

    settings = ServiceSettings.from_env(service)

    async def run() -> int:
        store = await open_store(settings.database_url)
        try:
            nats = await _connect(settings, timeout)
            try:
                await provision(nats, settings.subject_root, sources=(service,))
                relay = OutboxRelay(store, nats, source=service, subject_root=settings.subject_root)
                return await relay.republish(from_position, to_position)
            finally:
                await nats.close()
        finally:
            await store.close()

    sent = asyncio.run(run())
    upto = f"..{to_position}" if to_position else " onwards"
    typer.echo(f"republished {sent} event(s) of {service} from position {from_position}{upto}")


@app.command(epilog="Example: jumelage erase --person ref-claire-martin")
def erase(
    person: str = typer.Option(..., help="the person's id (a referent_id)"),
    service: str = typer.Option("programmes", help="the service owning the person's key (programmes: referents)"),
) -> None:
    """RGPD erasure: delete the person's data key in the owning service and record PersonErased,
    which its relay publishes and the other services apply (their copies go). From then on every
    read shows « personne effacée »; counts and timelines are unchanged. Restart the owning
    service's processes afterwards, or use its admin route (POST /admin/persons/{id}/erasure),
    so that no process keeps a state folded before the erasure in memory."""
    from datetime import datetime, timezone

    from .shredding import Keyring, SealingStore, erase_person
    from .sql import open_store

    settings = ServiceSettings.from_env(service)
    runtime = _service_runtime(service, settings)
    extra = list(getattr(runtime, "migrations", ()) or ())

    async def run() -> str:
        store = SealingStore(await open_store(settings.database_url, extra_migrations=extra), Keyring(service))
        try:
            erased = await erase_person(store, person, source=service, now=datetime.now(timezone.utc))
            after = getattr(importlib.import_module(f"{service}.bootstrap"), "after_erasure", None)
            if after is not None:
                await after(store)
            return str(erased.id)
        finally:
            await store.close()

    event_id = asyncio.run(run())
    typer.echo(f"{person}: erased in {service} (PersonErased {event_id}; the relay publishes it)")


@app.command(epilog="Example: jumelage reseal --service programmes")
def reseal(service: str = typer.Option(..., help="the service whose stored events to seal")) -> None:
    """One-off (RGPD): seal in place the personal values of events stored in clear before
    sealing existed. Stop the service's processes first; afterwards purge its JetStream stream and
    `jumelage republish --service <it> --from-position 1` (consumers skip what they applied)."""
    from .shredding import reseal_stored
    from .sql import open_store

    settings = ServiceSettings.from_env(service)
    runtime = _service_runtime(service, settings)
    extra = list(getattr(runtime, "migrations", ()) or ())

    async def run() -> int:
        store = await open_store(settings.database_url, extra_migrations=extra)
        try:
            return await reseal_stored(store)
        finally:
            await store.close()

    typer.echo(f"{service}: {asyncio.run(run())} event(s) sealed")


@app.command(epilog="Example: jumelage token --role academie --scope paris")
def token(
    role: Role = typer.Option(..., help="school, partner, academie, national, admin (system is never accepted "
                                        "from a token)"),
    scope: str = typer.Option(..., help="UAI, partner id, académie code, or * for national/admin"),
    secret: Optional[str] = typer.Option(None, help="signing secret (default: JWT_SECRET, else the dev secret)"),
    subject: Optional[str] = typer.Option(None, help="token subject (default: <role>:<scope>)"),
    email: Optional[str] = typer.Option(None, help="a verified e-mail address to carry"),
    ttl_hours: float = typer.Option(12.0, help="validity in hours"),
) -> None:
    """Print a DEVELOPMENT bearer token (HS256, signed with JWT_SECRET), for the embedded run and tests.

    A service configured with an identity provider (OIDC_ISSUER) refuses it: people sign in there."""
    from datetime import timedelta

    from .auth import mint_token

    if role == Role.system:
        raise typer.BadParameter("the services never accept the internal role system from a token", param_hint="--role")
    settings = ServiceSettings.from_env("jumelage")
    if settings.oidc_issuer:
        typer.echo(f"warning: OIDC_ISSUER is set ({settings.oidc_issuer}); services configured so refuse this "
                   f"development token", err=True)
    secret = secret or settings.jwt_secret
    typer.echo(mint_token(secret, role, scope, subject=subject, email=email, ttl=timedelta(hours=ttl_hours)))


dead_letters = typer.Typer(no_args_is_help=True, help="Inspect and replay the dead-letter stream.",
                           epilog="Example: jumelage dead-letters list")
app.add_typer(dead_letters, name="dead-letters")


@dead_letters.command("list", epilog="Example: jumelage dead-letters list --consumer reporting-candidatures --json")
def dead_letters_list(
    consumer: Optional[str] = typer.Option(None, help="only this consumer's (durable name)"),
    from_seq: int = typer.Option(1, min=1, help="first dead-letter sequence"),
    limit: int = typer.Option(100, min=1, help="at most this many"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    timeout: float = typer.Option(10.0, help="seconds to wait for NATS"),
) -> None:
    """What was dead-lettered, by whom and why, oldest first."""
    import json

    from .bus import list_dead_letters

    settings = ServiceSettings.from_env("jumelage")

    async def run():
        nats = await _connect(settings, timeout)
        try:
            return await list_dead_letters(nats, settings.subject_root, consumer, from_seq, limit)
        finally:
            await nats.close()

    letters = asyncio.run(run())
    for d in letters:
        if as_json:
            typer.echo(json.dumps({"seq": d.seq, "consumer": d.consumer, "error_type": d.error_type,
                                   "error": d.error, "subject": d.original_subject,
                                   "stream": d.original_stream, "stream_seq": d.original_seq,
                                   "attempts": d.attempts, "at": d.dead_lettered_at,
                                   "event_id": d.original_headers.get("Nats-Msg-Id"),
                                   "truncated": d.truncated, "original_size": d.original_size or None,
                                   "malformed": d.malformed or None}, ensure_ascii=False))
        elif d.malformed:
            typer.echo(f"{d.seq:>6}  malformed ({d.malformed})  {d.consumer}  {d.original_subject}")
        else:
            cut = f"  [truncated, {d.original_size} bytes at {d.original_stream}#{d.original_seq}]" if d.truncated else ""
            typer.echo(f"{d.seq:>6}  {d.dead_lettered_at[:19]}  {d.consumer}  {d.original_subject}"
                       f"  {d.error_type}: {d.error[:160]}{cut}")
    if not as_json:
        malformed = sum(bool(d.malformed) for d in letters)
        typer.echo(f"{len(letters)} dead letter(s)" + (f", {malformed} malformed" if malformed else ""))


@dead_letters.command("replay", epilog="Example: jumelage dead-letters replay 12 13   "
                                 "(or: --all --consumer reporting-candidatures)")
def dead_letters_replay(
    seqs: Optional[list[int]] = typer.Argument(None, help="dead-letter sequences (from `list`)"),
    all_: bool = typer.Option(False, "--all", help="every dead letter (of --consumer, if given)"),
    consumer: Optional[str] = typer.Option(None, help="with --all: only this consumer's"),
    timeout: float = typer.Option(10.0, help="seconds to wait for NATS"),
) -> None:
    """Publish the originals again on their subjects and remove the dead letters. Consumers that
    had applied an event skip it; the one that dead-lettered it applies it (or dead-letters it
    again if the cause is still there)."""
    from .bus import list_dead_letters, replay

    if bool(seqs) == all_:
        typer.echo("give dead-letter sequences or --all", err=True)
        raise typer.Exit(2)
    settings = ServiceSettings.from_env("jumelage")

    async def run():
        nats = await _connect(settings, timeout)
        try:
            wanted = list(seqs or [])
            if all_:
                start = 1
                while batch := await list_dead_letters(nats, settings.subject_root, consumer, start, 500):
                    wanted.extend(d.seq for d in batch)
                    start = batch[-1].seq + 1
            return await replay(nats, wanted, settings.subject_root)
        finally:
            await nats.close()

    results = asyncio.run(run())
    for r in results:
        typer.echo(f"{r.seq:>6}  {r.outcome}  {r.subject}")
    typer.echo(f"{sum(r.outcome == 'replayed' for r in results)} replayed, "
               f"{sum(r.outcome != 'replayed' for r in results)} not")
    if any(r.outcome == "missing" for r in results):
        raise typer.Exit(1)


outbox = typer.Typer(no_args_is_help=True, help="Inspect a service's outbox (its events not yet on the bus).",
                     epilog="Example: jumelage outbox inspect --service candidatures")
app.add_typer(outbox, name="outbox")


@outbox.command("inspect", epilog="Example: jumelage outbox inspect --service candidatures --json")
def outbox_inspect(
    service: str = typer.Option(..., help="the producing service whose store to read"),
    url: Optional[str] = typer.Option(None, help="the running service, for its relay's report "
                                                 "(default: http://127.0.0.1:<its PORT>)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
    timeout: float = typer.Option(3.0, help="seconds to wait for the service's /readyz"),
) -> None:
    """The events the relay has not published yet, and the first of them — the one a stalled
    relay is stuck on — with its size on the bus and the error the running relay reports."""
    import json

    from .sql import open_store
    from .store import nats_message_size

    settings = ServiceSettings.from_env(service)

    async def read_store() -> tuple[int, int, Any]:
        store = await open_store(settings.database_url)
        try:
            checkpoint = await store.get_checkpoint(f"relay:{service}")
            head = await store.read_all(checkpoint, limit=1)
            return checkpoint, await store.last_position(), (head[0] if head else None)
        finally:
            await store.close()

    checkpoint, last, head = asyncio.run(read_store())
    base = url or f"http://127.0.0.1:{settings.port}"
    report = _relay_report(base, timeout)
    found: dict[str, Any] = {"service": service, "checkpoint": checkpoint, "last_position": last,
                             "backlog": max(0, last - checkpoint), "relay": report.get("relay", "unknown"),
                             "relay_report_from": base}
    if "relay_stalled_seconds" in report:
        found["stalled_seconds"] = report["relay_stalled_seconds"]
    if head is not None:
        blocked = report.get("relay_blocked_at") or {}
        size = nats_message_size(*head.to_nats())
        error = blocked.get("error") if blocked.get("position") == head.position else None
        if error is None and settings.event_max_bytes and size > settings.event_max_bytes:
            error = f"{size} bytes on the bus, more than EVENT_MAX_BYTES ({settings.event_max_bytes})"
        found["event"] = {"position": head.position, "id": str(head.id), "type": head.type,
                          "stream_id": head.stream_id, "size": size, "error": error}
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False))
        return
    typer.echo(f"{service} outbox: {found['backlog']} event(s) not yet on the bus "
               f"(relay checkpoint {checkpoint}, last position {last})")
    stalled = f" for {found['stalled_seconds']} s" if "stalled_seconds" in found else ""
    unreachable = f": {report['unreachable']}" if "unreachable" in report else ""
    typer.echo(f"relay: {found['relay']}{stalled}  (from {base}/readyz{unreachable})")
    if head is not None:
        event = found["event"]
        typer.echo("first waiting event:")
        for label, key in (("position", "position"), ("id", "id"), ("type", "type"), ("stream", "stream_id")):
            typer.echo(f"  {label:<9} {event[key]}")
        typer.echo(f"  {'size':<9} {event['size']} bytes on the bus (headers + body)")
        typer.echo(f"  {'error':<9} {event['error'] or 'none reported'}")


def _relay_report(base: str, timeout: float) -> dict[str, Any]:
    """The running service's own account of its relay (``/readyz``), or why there is none."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: the body still says what it knows
        try:
            return json.loads(exc.read())
        except ValueError:
            return {"unreachable": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"unreachable": str(exc)}


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
