"""The README's route × role table, walked against the four services as real processes on
PostgreSQL and NATS (issue 11, "every scope, every route").

The table (between ``<!-- route-roles:begin -->`` and ``<!-- route-roles:end -->`` in README.md) is
the one source: this module parses it at collection time. One module-scoped system plays a short
story first (a paris campaign, partner-1's offer, school 0750655E's candidatures, one attributed,
the partnership opened in programmes with a school referent, its feed in notifications, its
timeline in reporting); then every (row, role) is one request with a token of that role:

- ``no``: 401 without a token, 403 with one (owner's scope and a foreign one);
- ``yes``: allowed with the owner's scope and with a foreign one;
- ``own``: allowed with the owner's scope, 403 with a foreign one;
- ``self``: allowed with a token carrying the route's e-mail (foreign scope), 403 without it;
- ``open``: allowed without a token.

"Allowed" is a 2xx, or a 409 / 422 that the domain gave (the rights were checked before: every
service checks who before what; ``ALLOWED_NOT_FOUND`` names the one 404), never a
request-validation 422 — the bodies are valid, so a scope check done in the handler really runs. Refusals go first: they must change nothing, and the
allowed commands that follow may close, end or withdraw what the story made."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from eventkit.auth import mint_token
from tests.e2e.harness import SECRET, SERVICES, running_system
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
ROLES = ("anonymous", "school", "partner", "academie", "national", "admin")
VERDICTS = {"no", "yes", "own", "self", "open"}
OWNER = {"school": "0750655E", "partner": "partner-1", "academie": "paris"}
FOREIGN = {"school": "0690001A", "partner": "partner-2", "academie": "lyon"}
REFERENT = "claire.martin@ac-paris.fr"
YEAR = 2027
NOW = f"{YEAR}-06-10T09:00:00+00:00"  # past the submission deadline, before the attribution date
INVALID_INPUT = "Invalid input"  # the kit's title for a request-validation 422
# Funding is for CNR projects: the culture partnership has none to grant or spend on. Programmes
# decides who may act before it looks for the funding, so this 404 comes after the rights held.
ALLOWED_NOT_FOUND = {"funding_must_exist"}



@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    case: dict[str, str]
    verdicts: dict[str, str]

    @property
    def label(self) -> str:
        case = " ".join(f"{k}={v}" for k, v in self.case.items())
        return f"{self.service} {self.method} {self.path}" + (f" [{case}]" if case else "")


def table_rows(text: str) -> list[Row]:
    """The rows of the README's route × role table; a malformed row fails collection."""
    match = re.search(r"<!-- route-roles:begin -->\n(.*?)<!-- route-roles:end -->", text, re.S)
    assert match, "README.md has no route-roles table"
    lines = [line for line in match.group(1).splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["service", "method", "route", "case", *ROLES], header
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        service, method, path, case, *verdicts = cells
        assert service in SERVICES and len(verdicts) == len(ROLES), line
        assert set(verdicts) <= VERDICTS and verdicts[0] in ("no", "open"), line
        assert {verdicts[-2], verdicts[-1]} <= {"yes", "no"}, f"national and admin are global: yes or no ({line})"
        rows.append(Row(service, method, path, dict(kv.split("=", 1) for kv in case.split()),
                        dict(zip(ROLES, verdicts))))
    return rows


ROWS = table_rows(README.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Probe:
    """One request of the walk: a row, a role, whose scope, what it must get."""

    row: Row
    role: str
    scope: str  # "owner", "foreign", "email" (foreign scope, the route's e-mail), "plain" (no e-mail) or "-"
    allowed: bool

    @property
    def id(self) -> str:
        who = self.role if self.scope == "-" else f"{self.role}/{self.scope}"
        return f"{self.row.label} as {who}"


def probes_of(row: Row) -> list[Probe]:
    out = []
    for role, verdict in row.verdicts.items():
        if role == "anonymous":
            out.append(Probe(row, role, "-", verdict == "open"))
        elif role in ("national", "admin"):
            out.append(Probe(row, role, "-", verdict == "yes"))
        elif verdict == "self":
            out += [Probe(row, role, "email", True), Probe(row, role, "plain", False)]
        else:
            out += [Probe(row, role, "owner", verdict in ("yes", "own")),
                    Probe(row, role, "foreign", verdict == "yes")]
    return out


# refusals first: they change nothing, while allowed commands may end what the story made
PROBES = sorted((p for row in ROWS for p in probes_of(row)), key=lambda p: p.allowed)


# -- the story ---------------------------------------------------------------------------------


@dataclass
class World:
    urls: dict[str, str]
    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)
    openapi: dict[str, dict[tuple[str, str], bool]] = field(default_factory=dict)  # (method, path) -> needs a token


def token(role: str, scope: str, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope, email=email)}"}


def as_(role: str) -> dict[str, str]:
    return token(role, OWNER.get(role, "*"))


def at(month: int, day: int, hour: int = 9, year: int = YEAR) -> str:
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:00:00+00:00"


def campaign_body(campaign_id: str) -> dict:
    y = YEAR
    return {"campaign_id": campaign_id, "academie": "paris", "dispositif": "culture", "school_year": f"{y}-{y + 1}",
            "title": f"Jumelages culture {y}-{y + 1}",
            "calendar": {"submission_deadline": f"{y}-05-31T21:59:00Z", "attribution_date": f"{y}-07-02",
                         "work_meeting_window": {"start": f"{y}-09-13", "end": f"{y}-10-22"},
                         "bilan_window": {"start": f"{y + 1}-05-09", "end": f"{y + 1}-06-16"},
                         "renewal_deadline": f"{y + 1}-06-23T21:59:00Z"}}


def offer_body(offer_id: str | None = None) -> dict:
    body = {"title": "Le musée en classe",
            "partner": {"partner_id": OWNER["partner"], "kind": "cultural_structure", "name": "Musée Carnavalet",
                        "address": "23 rue de Sévigné", "commune": "Paris", "postcode": "75003"},
            "resources": [{"kind": "workshop", "description": "Ateliers de pratique au musée"}],
            "eac_domains": [], "levels": ["CM1", "CM2"], "capacity_classes": 4}
    return {**body, "offer_id": offer_id} if offer_id else body


def class_entry(class_id: str, level: str = "CM1") -> dict:
    return {"class_id": class_id, "label": f"{level} A", "level": level, "pupils": 24,
            "objective": "Découvrir les collections"}


def candidature_body(offer_id: str, candidature_id: str | None = None) -> dict:
    body = {"offer_id": offer_id, "tier": "approfondir",
            "school": {"uai": OWNER["school"], "name": "École élémentaire Belleville", "academie": "paris",
                       "departement": "75", "education_prioritaire": "REP+"},
            "school_objective": "Ouvrir l'école sur le musée du quartier",
            "classes": [class_entry("cm1", "CM1"), class_entry("cm2", "CM2")]}
    return {**body, "candidature_id": candidature_id} if candidature_id else body


async def play_the_story(client: httpx.AsyncClient, world: World) -> None:
    u = world.urls

    async def ok(method: str, url: str, who: dict, body: Any = None) -> dict:
        r = await client.request(method, url, headers=who, **({"json": body} if body is not None else {}))
        assert r.status_code in (200, 201), f"{method} {url}: {r.status_code} {r.text[:500]}"
        return r.json()

    async def clocks(when: str) -> None:
        for name in SERVICES:
            await ok("POST", f"{u[name]}/admin/clock", as_("admin"), {"now": when})

    ids = world.ids
    run = uuid.uuid4().hex[:6]
    ids.update(campaign_id=f"camp-{run}", offer_id=f"offre-{run}", attributed=f"cand-{run}", spare=f"cand2-{run}")
    await clocks(at(3, 1))
    await ok("POST", f"{u['candidatures']}/campaigns", as_("academie"), campaign_body(ids["campaign_id"]))
    await ok("POST", f"{u['candidatures']}/campaigns/{ids['campaign_id']}/offers", as_("partner"),
             offer_body(ids["offer_id"]))
    for cid in (ids["attributed"], ids["spare"]):
        await ok("POST", f"{u['candidatures']}/campaigns/{ids['campaign_id']}/candidatures", as_("school"),
                 candidature_body(ids["offer_id"], cid))
    await ok("POST", f"{u['candidatures']}/candidatures/{ids['attributed']}/reviews", as_("academie"),
             {"avis": "favourable"})
    await clocks(NOW)
    attributed = await ok("POST", f"{u['candidatures']}/candidatures/{ids['attributed']}/attribute", as_("academie"))
    pid = ids["partnership_id"] = attributed["partnership_id"]

    async def answers(url: str, who: dict) -> bool:
        return (await client.get(url, headers=who)).status_code == 200

    await eventually(lambda: answers(f"{u['programmes']}/partnerships/{pid}", as_("school")),
                     what="programmes to open the partnership")
    await ok("POST", f"{u['programmes']}/partnerships/{pid}/referents", as_("school"),
             {"referent_id": "ref-ecole", "side": "school", "role": "teacher", "name": "Claire Martin",
              "email": REFERENT})
    await eventually(lambda: answers(f"{u['notifications']}/feeds/partnership/{pid}", as_("school")),
                     what="notifications to learn the partnership")
    await eventually(lambda: answers(f"{u['notifications']}/feeds/referent/{REFERENT}",
                                     token("school", OWNER["school"], email=REFERENT)),
                     what="notifications to learn the referent")
    # a meeting and an action for the routes that name one
    base = f"{u['programmes']}/partnerships/{pid}"
    await ok("POST", f"{base}/meetings", as_("school"),
             {"meeting_id": "m1", "kind": "work", "starts_at": at(9, 20, 14), "place": "École Belleville"})
    await ok("POST", f"{base}/actions", as_("school"),
             {"action_id": "a1", "kind": "visit", "title": "Visite des collections", "class_ids": ["cm1"],
              "starts_at": at(11, 10), "duration_minutes": 120, "place": "Musée"})
    feed = await ok("GET", f"{u['notifications']}/feeds/partnership/{pid}", as_("admin"))
    ids["token"] = re.search(r"/ical/([^/]+)\.ics$", feed["url"]).group(1)
    await eventually(lambda: answers(f"{u['reporting']}/partnerships/{pid}/timeline", as_("admin")),
                     what="reporting to project the partnership")
    for name in SERVICES:
        spec = await ok("GET", f"{u[name]}/openapi.json", {})
        world.openapi[name] = {(method.upper(), path): bool(operation.get("security"))
                               for path, item in spec["paths"].items() for method, operation in item.items()}


@pytest.fixture(scope="module")
async def world(postgres_server_url, nats_url, tmp_path_factory):
    manual = {name: {"CLOCK": "manual"} for name in SERVICES}
    async with running_system(postgres_server_url, nats_url, "t" + uuid.uuid4().hex[:12],
                              tmp_path_factory.mktemp("routes"), extra_env=manual) as system:
        async with httpx.AsyncClient(timeout=15) as client:
            world = World({name: system.url(name) for name in SERVICES}, client)
            await play_the_story(client, world)
            yield world


# -- one request per probe ---------------------------------------------------------------------


def path_values(row: Row, ids: dict[str, str]) -> dict[str, str]:
    kind = row.case.get("kind", "partnership")
    key = {"partnership": ids.get("partnership_id"), "school": OWNER["school"], "referent": REFERENT}.get(kind)
    # reads go to the attributed candidature; commands to the spare one, so the partnership stays
    candidature = ids.get("attributed") if row.method == "GET" else ids.get("spare")
    return {"campaign_id": ids.get("campaign_id"), "offer_id": ids.get("offer_id"), "candidature_id": candidature,
            "partnership_id": ids.get("partnership_id"), "pid": ids.get("partnership_id"), "academie": "paris",
            "uai": OWNER["school"], "dispositif": "culture", "rule": "campaign_deadline_j_minus_7", "role": "school",
            "meeting_id": "m1", "action_id": "a1", "class_id": "cm1", "funding_id": "f1", "dimension": "dispositif",
            "token": ids.get("token"), "kind": kind, "key": key, **row.case}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


BodyOf = Callable[[Row, dict[str, str]], Any]
REASON = {"reason": "walked by the route table test"}
CLOCK_NOW = {"now": NOW}
BODIES: dict[tuple[str, str, str], BodyOf] = {
    ("candidatures", "POST", "/campaigns"): lambda r, ids: campaign_body(new_id("camp")),
    ("candidatures", "POST", "/campaigns/{campaign_id}/offers"): lambda r, ids: offer_body(new_id("offre")),
    ("candidatures", "PUT", "/offers/{offer_id}"): lambda r, ids: offer_body(),
    ("candidatures", "POST", "/offers/{offer_id}/withdraw"): lambda r, ids: REASON,
    ("candidatures", "POST", "/campaigns/{campaign_id}/candidatures"):
        lambda r, ids: candidature_body(ids["offer_id"], new_id("cand")),
    ("candidatures", "POST", "/campaigns/{campaign_id}/drafts"):
        lambda r, ids: candidature_body(ids["offer_id"], new_id("cand")),
    ("candidatures", "PUT", "/candidatures/{candidature_id}"): lambda r, ids: candidature_body(ids["offer_id"]),
    ("candidatures", "PUT", "/candidatures/{candidature_id}/draft"): lambda r, ids: candidature_body(ids["offer_id"]),
    ("candidatures", "POST", "/candidatures/{candidature_id}/resubmit"):
        lambda r, ids: candidature_body(ids["offer_id"]),
    ("candidatures", "POST", "/candidatures/{candidature_id}/withdraw"): lambda r, ids: REASON,
    ("candidatures", "POST", "/candidatures/{candidature_id}/return"): lambda r, ids: REASON,
    ("candidatures", "POST", "/candidatures/{candidature_id}/reviews"): lambda r, ids: {"avis": "favourable"},
    ("candidatures", "POST", "/candidatures/{candidature_id}/reject"): lambda r, ids: REASON,
    ("candidatures", "POST", "/attributions"): lambda r, ids: {"items": [{"candidature_id": ids["spare"]}]},
    ("candidatures", "POST", "/partnerships/{partnership_id}/renewal"):
        lambda r, ids: {"classes": [class_entry("cm2-b", "CM2")], "motivation": "Poursuivre"},
    ("candidatures", "POST", "/partnerships/{partnership_id}/renewal/decline"): lambda r, ids: REASON,
    ("candidatures", "POST", "/admin/clock"): lambda r, ids: CLOCK_NOW,
    ("programmes", "POST", "/partnerships/{pid}/referents"): lambda r, ids: {
        "referent_id": new_id("ref"), "side": r.case["side"],
        "role": "teacher" if r.case["side"] == "school" else "coordinator", "name": "Paul Durand",
        "email": "paul.durand@example.org"},
    ("programmes", "POST", "/partnerships/{pid}/convention/signatures"):
        lambda r, ids: {"side": r.case["side"], "signed_by": "Mme la directrice"},
    ("programmes", "POST", "/partnerships/{pid}/classes/{class_id}/cancel"): lambda r, ids: REASON,
    ("programmes", "POST", "/partnerships/{pid}/meetings"): lambda r, ids: {
        "meeting_id": new_id("m"), "kind": "work", "starts_at": at(9, 20, 14), "place": "École Belleville"},
    ("programmes", "POST", "/partnerships/{pid}/meetings/{meeting_id}/reschedule"):
        lambda r, ids: {"starts_at": at(9, 21, 14)},
    ("programmes", "POST", "/partnerships/{pid}/meetings/{meeting_id}/cancel"): lambda r, ids: REASON,
    ("programmes", "POST", "/partnerships/{pid}/meetings/{meeting_id}/held"):
        lambda r, ids: {"minutes": "Programme de l'année construit"},
    ("programmes", "POST", "/partnerships/{pid}/actions"): lambda r, ids: {
        "action_id": new_id("a"), "kind": "visit", "title": "Visite des collections", "class_ids": ["cm1"],
        "starts_at": at(11, 10), "duration_minutes": 120, "place": "Musée"},
    ("programmes", "POST", "/partnerships/{pid}/actions/{action_id}/reschedule"):
        lambda r, ids: {"starts_at": at(11, 17)},
    ("programmes", "POST", "/partnerships/{pid}/actions/{action_id}/cancel"): lambda r, ids: REASON,
    ("programmes", "POST", "/partnerships/{pid}/bilan"): lambda r, ids: {
        "school": {"satisfaction": 4, "wish_to_continue": True}, "partner": {"satisfaction": 4, "wish_to_continue": True}},
    ("programmes", "POST", "/partnerships/{pid}/bilan/{side}"):
        lambda r, ids: {"satisfaction": 4, "wish_to_continue": True},
    ("programmes", "POST", "/partnerships/{pid}/steps"):
        lambda r, ids: {"track": "mercredi", "step": "objectifs", "summary": "Objectifs partagés"},
    ("programmes", "POST", "/partnerships/{pid}/funding"): lambda r, ids: {"funding_id": new_id("f"), "amount_eur": 100},
    ("programmes", "POST", "/partnerships/{pid}/funding/{funding_id}/grant"):
        lambda r, ids: {"amount_eur": 100, "granted_by": "DAAC"},
    ("programmes", "POST", "/partnerships/{pid}/funding/{funding_id}/spend"):
        lambda r, ids: {"amount_eur": 10, "label": "Bus", "spent_on": f"{YEAR}-10-01"},
    ("programmes", "POST", "/partnerships/{pid}/end"): lambda r, ids: {"reason": "other"},
    ("programmes", "POST", "/admin/clock"): lambda r, ids: CLOCK_NOW,
    ("notifications", "PUT", "/admin/rules/{academie}/{dispositif}/{rule}"): lambda r, ids: {"enabled": True},
    ("notifications", "PUT", "/admin/contacts/{academie}/{role}"):
        lambda r, ids: {"name": "DAAC de Paris", "email": "daac@ac-paris.fr"},
    ("notifications", "POST", "/admin/clock"): lambda r, ids: {"advance_seconds": 0},
    ("reporting", "POST", "/admin/clock"): lambda r, ids: CLOCK_NOW,
}


def headers_of(probe: Probe) -> dict[str, str]:
    if probe.role == "anonymous":
        return {}
    if probe.scope == "-":
        return token(probe.role, "*")
    if probe.scope == "email":
        return token(probe.role, FOREIGN[probe.role], email=REFERENT)
    scope = FOREIGN[probe.role] if probe.scope == "foreign" else OWNER[probe.role]
    return token(probe.role, scope)


def outcome(row: Row, response: httpx.Response) -> int:
    """The status that says whether the caller was let in. ``/attributions`` answers 200 with one
    status per candidature: the item's is the one that says it."""
    if (row.service, row.method, row.path) == ("candidatures", "POST", "/attributions") and response.status_code == 200:
        return response.json()["results"][0]["status"]
    return response.status_code


async def send(world: World, row: Row, headers: dict[str, str]) -> httpx.Response:
    """The row's request on the story's resources: path parameters filled in, the ``case`` values
    that are not in the path as the query of a GET, a valid body for a write."""
    if row.path == "/ical/{token}.ics":
        # the walk rotates and revokes feeds: the partnership's current URL, asked for now
        current = await world.client.get(f"{world.urls['notifications']}/feeds/partnership/{world.ids['partnership_id']}",
                                         headers=token("admin", "*"))
        world.ids["token"] = re.search(r"/ical/([^/]+)\.ics$", current.json()["url"]).group(1)
    values = path_values(row, world.ids)
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], row.path)
    query = {k: v for k, v in row.case.items() if "{" + k + "}" not in row.path} if row.method == "GET" else {}
    body_of = BODIES.get((row.service, row.method, row.path))
    return await world.client.request(row.method, world.urls[row.service] + path, params=query, headers=headers,
                                      **({"json": body_of(row, world.ids)} if body_of else {}))


def params(rows: list[Probe]) -> list:
    return [pytest.param(p, id=p.id) for p in rows]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("probe", params(PROBES))
async def test_each_role_gets_what_the_route_table_says(world: World, probe: Probe) -> None:
    row = probe.row
    response = await send(world, row, headers_of(probe))
    status = outcome(row, response)
    seen = f"{row.method} {response.request.url.path} answered {status}: {response.text[:300]}"
    if not probe.allowed:
        assert status == (401 if probe.role == "anonymous" else 403), seen
        return
    found_after_rights = status == 404 and response.json().get("rule") in ALLOWED_NOT_FOUND
    assert status < 300 or status in (409, 422) or found_after_rights, seen
    if response.status_code == 422:
        problem = response.json()
        assert problem.get("title") != INVALID_INPUT, f"the walk's own request is invalid: {seen}"


async def test_a_token_with_the_internal_role_system_is_refused_on_every_route_that_asks_a_token(world: World) -> None:
    refused_by = {}
    for row in ROWS:
        if row.verdicts["anonymous"] == "open":
            continue
        refused_by[row.label] = (await send(world, row, token("system", "*"))).status_code
    assert len(refused_by) > 70
    assert {label: status for label, status in refused_by.items() if status != 403} == {}


async def test_every_route_of_every_openapi_has_a_row_and_every_row_a_route(world: World) -> None:
    in_table = {(row.service, row.method, row.path) for row in ROWS}
    in_openapi = {(name, method, path) for name, routes in world.openapi.items() for method, path in routes}
    assert sum(map(len, world.openapi.values())) > 80  # the four services answered their OpenAPI
    assert sorted(in_openapi - in_table) == [], "routes without a row in the README's route × role table"
    assert sorted(in_table - in_openapi) == [], "rows of the README's table for routes no OpenAPI has"


async def test_the_openapi_asks_a_bearer_token_exactly_where_the_table_refuses_anonymous_callers(world: World) -> None:
    said = {row.label: world.openapi[row.service][(row.method, row.path)] for row in ROWS}
    wrong = [label for row in ROWS if said[(label := row.label)] != (row.verdicts["anonymous"] == "no")]
    assert wrong == [], "the OpenAPI's bearer security disagrees with the table's anonymous column"


def test_the_table_parses_into_one_row_per_route_and_case() -> None:
    keys = [(row.service, row.method, row.path, tuple(sorted(row.case.items()))) for row in ROWS]
    assert len(keys) == len(set(keys)), "a route and case appears twice in the table"
    assert {row.service for row in ROWS} == set(SERVICES)
