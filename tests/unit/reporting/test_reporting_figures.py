"""The figures académies ask for (issue 12), through the HTTP API on a SQLite read model: the
end-of-year questionnaire per question and side (a side's answers counted once), the centres
sociaux' rencontres and productions per partnership and cycle, counted per académie, and CNR funds
per académie, département, school year and éducation prioritaire — as of a date, in the caller's
scope, as JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook

from reporting_app import reporting_app
from reporting_figures_story import PAPER, Q, VIDEO, Story, funding, rencontre, three_figures

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)


@pytest.fixture
async def app(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    yield app
    await app.client.aclose()
    await app.store.close()


async def get(app, path: str, role: str = "academie", scope: str = "paris", status: int = 200):
    response = await app.client.get(path, headers=app.auth(role, scope))
    assert response.status_code == status, response.text
    return response.json() if response.headers["content-type"].startswith("application/json") else response


def by_question(answer: dict) -> dict:
    return {(i["question"], i["side"]): {k: i[k] for k in ("respondents", "answers", "other_answers", "free_text")}
            for i in answer["items"]}


# -- the questionnaire ---------------------------------------------------------------------------


async def test_each_sides_answers_count_once_though_its_part_and_the_joint_bilan_both_carry_them(app) -> None:
    s = Story()
    base = s.open("p-jes", "entreprise")
    s.bilan_side(date(2026, 6, 1), base, "school", [(Q, "Oui"), ("Note globale", "4")])
    s.bilan_side(date(2026, 6, 3), base, "partner", [(Q, "  plutôt   NON ")])
    s.bilan(date(2026, 6, 3), base, [("school", Q, "Oui"), ("school", "Note globale", "4"),
                                     ("partner", Q, "  plutôt   NON ")])
    await app.apply(s.envelopes())

    got = by_question(await get(app, "/questionnaire?dispositif=entreprise"))
    assert got == {
        (Q, "school"): {"respondents": 1, "answers": [{"answer": "oui", "count": 1}], "other_answers": 0,
                        "free_text": 0},
        (Q, "partner"): {"respondents": 1, "answers": [{"answer": "plutôt non", "count": 1}], "other_answers": 0,
                         "free_text": 0},
        ("Note globale", "school"): {"respondents": 1, "answers": [{"answer": "4", "count": 1}], "other_answers": 0,
                                     "free_text": 0}}
    # as of the school's part alone: the partner had not answered yet
    earlier = by_question(await get(app, "/questionnaire?as_of=2026-06-02"))
    assert set(earlier) == {(Q, "school"), ("Note globale", "school")}
    assert (await get(app, "/questionnaire?as_of=2026-05-31"))["items"] == []


async def test_a_joint_bilan_typed_after_the_schools_part_counts_the_partner_only(app) -> None:
    s = Story()
    base = s.open("p-jes", "entreprise")
    s.bilan_side(date(2026, 6, 1), base, "school", [(Q, "Oui")])
    # the académie types the whole bilan itself: the school's answers there do not replace its own
    s.bilan(date(2026, 6, 5), base, [("school", Q, "Non"), ("partner", Q, "Oui")])
    await app.apply(s.envelopes())
    got = by_question(await get(app, "/questionnaire"))
    assert got[(Q, "school")]["answers"] == [{"answer": "oui", "count": 1}]
    assert got[(Q, "partner")]["answers"] == [{"answer": "oui", "count": 1}]


async def test_short_answers_show_the_ten_most_frequent_and_free_texts_are_counted_never_shown(app) -> None:
    s = Story()
    long_text = "Mieux préparer les élèves avant chaque visite et prévoir un temps avec les familles en juin."
    answers = ["Mot a", "Mot a", "Mot b"] + [f"Mot {i:02d}" for i in range(11)] + [long_text, "   "]
    for n, answer in enumerate(answers):
        base = s.open(f"p-{n}", "entreprise", uai="0750655E")
        s.bilan(date(2026, 6, 1), base, [("school", "Un mot", answer)], partner=False)
    await app.apply(s.envelopes())
    (item,) = (await get(app, "/questionnaire"))["items"]
    assert item["respondents"] == len(answers) - 1  # the blank one is no answer
    assert item["answers"][:2] == [{"answer": "mot a", "count": 2}, {"answer": "mot 00", "count": 1}]
    assert len(item["answers"]) == 10 and item["other_answers"] == 13 - 10 + 1 - 1  # 13 distinct, 10 shown
    assert item["free_text"] == 1
    assert long_text.casefold() not in json.dumps(item)
    rows = csv_rows(await get(app, "/questionnaire.csv"))
    assert rows[0] == ["Question", "Côté", "Répondants", "Réponse", "Nombre"]
    assert ["Un mot", "école", "15", "(autres réponses courtes)", "3"] in rows
    assert ["Un mot", "école", "15", "(réponses libres)", "1"] in rows


# -- centres sociaux -------------------------------------------------------------------------------


async def test_rencontres_and_productions_are_listed_per_partnership_and_cycle_and_counted_per_academie(app) -> None:
    s = Story()
    paris = s.open("p-cs", "centre_social")
    rencontre(s, paris, 1, date(2025, 11, 20), [VIDEO])
    rencontre(s, paris, 2, date(2026, 3, 12), [PAPER, {**VIDEO, "title": "Suite"}])
    rencontre(s, paris, 3, date(2026, 6, 4), [], held=False)  # planned, not held: not listed
    creteil = s.open("p-cs2", "centre_social", academie="creteil", departement="93", uai="0932839F", ep="none")
    rencontre(s, creteil, 1, date(2025, 12, 2), [], academie="creteil")
    await app.apply(s.envelopes())

    national = await get(app, "/rencontres", role="national", scope="fr")
    assert national["academies"] == [
        {"academie": "creteil", "partnerships": 1, "rencontres_held": 1, "productions": 0,
         "productions_by_kind": {"video": 0, "paper": 0, "other": 0}},
        {"academie": "paris", "partnerships": 1, "rencontres_held": 2, "productions": 3,
         "productions_by_kind": {"video": 2, "paper": 1, "other": 0}}]
    mine = await get(app, "/rencontres")  # an académie: its own only
    (item,) = mine["items"]
    assert (item["partnership_id"], item["school_year"], item["departement"]) == ("p-cs", "2025-2026", "75")
    assert [(r["number"], r["held_on"], r["title"], r["productions"]) for r in item["rencontres"]] == [
        (1, "2025-11-20", "Rencontre 1", [VIDEO]), (2, "2026-03-12", "Rencontre 2", [PAPER, {**VIDEO, "title": "Suite"}])]
    await get(app, "/rencontres?academie=creteil", status=403)
    before = await get(app, "/rencontres?as_of=2026-01-31")
    assert [len(i["rencontres"]) for i in before["items"]] == [1]

    rows = csv_rows(await get(app, "/rencontres.csv"))
    assert rows[0][-3:] == ["Production", "Type", "Lien"] and len(rows) == 1 + 3
    assert rows[1][-3:] == ["Ce qui fait que ça marche", "Vidéo", "https://example.fr/v1"]
    counts = csv_rows(await get(app, "/rencontres.csv?by=academie", role="national", scope="fr"))
    assert counts[1:] == [["Créteil", "1", "1", "0", "0", "0", "0"], ["Paris", "1", "2", "3", "2", "1", "0"]]
    sheet = sheet_of(await get(app, "/rencontres.xlsx"))
    assert [c.value for c in sheet[2]][-3:] == ["Ce qui fait que ça marche", "Vidéo", "https://example.fr/v1"]


# -- CNR funds ---------------------------------------------------------------------------------------


async def test_cnr_funds_are_summed_per_academie_departement_school_year_and_education_prioritaire(app) -> None:
    s = Story()
    a = s.open("p-cnr-a", "concertation", ep="REP+")
    funding(s, a, "f1", 3000, 2500, [1000, 500])
    funding(s, a, "f2", 1200, None, [])
    b = s.open("p-cnr-b", "concertation", ep="none", uai="0759138A", departement="75")
    funding(s, b, "f1", 800, 800, [800])
    c = s.open("p-cnr-c", "concertation", academie="creteil", departement="93", uai="0932839F")
    funding(s, c, "f1", 5000, 4000, [], academie="creteil")
    await app.apply(s.envelopes())

    got = await get(app, "/funds")
    assert got["filters"] == {"academie": "paris"}
    assert [{k: i[k] for k in ("ep", "requested_eur", "granted_eur", "spent_eur", "requests", "grants", "expenses")}
            for i in got["items"]] == [
        {"ep": "REP+", "requested_eur": 4200, "granted_eur": 2500, "spent_eur": 1500, "requests": 2, "grants": 1,
         "expenses": 2},
        {"ep": "none", "requested_eur": 800, "granted_eur": 800, "spent_eur": 800, "requests": 1, "grants": 1,
         "expenses": 1}]
    assert {(i["academie"], i["departement"], i["school_year"]) for i in got["items"]} == {("paris", "75", "2025-2026")}
    assert got["totals"] == {"requested_eur": 5000, "granted_eur": 3300, "spent_eur": 2300, "requests": 3,
                             "grants": 2, "expenses": 3}
    before_grants = await get(app, "/funds?as_of=2026-01-19")
    assert before_grants["totals"]["granted_eur"] == 0 and before_grants["totals"]["requested_eur"] == 5000
    assert (await get(app, "/funds?ep=REP%2B"))["totals"]["requested_eur"] == 4200
    national = await get(app, "/funds", role="national", scope="fr")
    assert national["totals"]["requested_eur"] == 10000
    await get(app, "/funds?academie=creteil", status=403)

    rows = csv_rows(await get(app, "/funds.csv"))
    assert rows[0][:5] == ["Académie", "Département", "Année scolaire", "Éducation prioritaire", "Demandé (€)"]
    assert rows[-1] == ["Total", "", "", "", "5000", "3300", "2300", "3", "2", "3"]
    sheet = sheet_of(await get(app, "/funds.xlsx"))
    assert [c.value for c in sheet[sheet.max_row]] == ["Total", None, None, None, 5000, 3300, 2300, 3, 2, 3]
    problem = await app.client.get("/funds.pdf", headers=app.auth())
    assert problem.status_code == 422 and problem.headers["content-type"] == "application/problem+json"


async def test_the_dashboard_shows_the_three_figures(app) -> None:
    await app.apply(three_figures())
    html = (await get(app, "/dashboard/paris")).text
    for fragment in ('id="funds"', "3000", 'id="rencontres"', "Ce qui fait que ça marche", 'id="questionnaire"', Q,
                     "/funds.csv", "/rencontres.xlsx", "/questionnaire.csv"):
        assert fragment in html, fragment


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def sheet_of(response):
    return load_workbook(io.BytesIO(response.content)).active


async def test_the_migration_adds_the_figures_tables_to_a_generation_made_before_it(tmp_path) -> None:
    from sqlalchemy import inspect, text

    from eventkit.migrations import run_migrations
    from eventkit.sql import make_engine
    from reporting.bootstrap import MIGRATIONS

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url, migrations=True)
    try:
        async with engine.begin() as conn:  # a database left at reporting_0005, before the tables
            await conn.execute(text("DROP TABLE rpt_g1_answer"))
            await conn.execute(text("DROP TABLE rpt_g1_rencontre"))
            await conn.execute(text("UPDATE alembic_version_reporting SET version_num = 'reporting_0005'"))
        await run_migrations(url, [MIGRATIONS])
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = await conn.scalar(text("SELECT version_num FROM alembic_version_reporting"))
        assert {"rpt_g1_answer", "rpt_g1_rencontre"} <= tables and version == "reporting_0009"
    finally:
        await engine.dispose()


def test_an_expense_counts_once_by_its_id_and_a_funding_is_requested_and_granted_once() -> None:
    from reporting.domain import Incoming, needs, project

    base = {"partnership_id": "p", "school_year": "2025-2026", "year_index": 1, "funding_id": "f1"}
    state: dict = {}

    def apply(type_: str, **data) -> list:
        ev = Incoming(event_id=type_, type=type_, source="programmes", stream_id="partnership-p",
                      occurred_at=NOW, day=NOW.date(), academie="paris", data={**base, **data})
        effects = project(ev, {k: state[k] for k in needs(ev) if k in state})
        state.update(effects.state)
        return [(f.metric, f.amount) for f in effects.facts]

    assert apply("FundingRequested", amount_eur=900) == [("funds_requested", 900)]
    assert apply("FundingRequested", amount_eur=900) == []
    assert apply("FundingGranted", amount_eur=700) == [("funds_granted", 700)]
    assert apply("FundingGranted", amount_eur=700) == []
    spend = {"expense_id": "e1", "amount_eur": 300, "label": "Livres", "total_spent_eur": 300}
    assert apply("FundingSpent", **spend) == [("funds_spent", 300)]
    assert apply("FundingSpent", **spend) == []
    assert apply("FundingSpent", **{**spend, "expense_id": "e2", "total_spent_eur": 600}) == [("funds_spent", 300)]
