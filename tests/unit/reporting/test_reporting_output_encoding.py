"""Names typed by users leave reporting as data: a CSV cell that a spreadsheet would read as a
formula is neutralised (OWASP CSV injection), numbers stay numbers, and the dashboard shows no
live markup. Events go through the real projection, answers through the real routes."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from reporting.adapters.csv_export import cell
from reporting_app import hostile_story, reporting_app

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)
PARTNERSHIP = "p-c0f5c2a2-6f1e-4c8e-9d55-1f2e3a4b5c6d"
FORMULA = '=HYPERLINK("http://x","y")'
IMG = '<img src=x onerror="document.title=\'pwned\'">'
PARTNERS = {"+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0", "@SUM(1+1)": "'@SUM(1+1)", "-2+3": "'-2+3",
            "\tTab": "'\tTab", "\rRetour": "'\rRetour"}


@pytest.fixture
async def app(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    yield app
    await app.client.aclose()
    await app.store.close()


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@pytest.mark.parametrize("partner_name", list(PARTNERS))
async def test_a_formula_as_a_name_comes_out_of_the_partnerships_csv_neutralised(app, partner_name) -> None:
    await app.apply(hostile_story(FORMULA, partner_name))
    header, row = rows_of(await app.client.get("/partnerships.csv", headers=app.auth()))
    assert row[header.index("École")] == "'" + FORMULA
    assert row[header.index("Partenaire")] == PARTNERS[partner_name]


def test_numbers_stay_numbers_and_only_text_is_neutralised() -> None:
    assert (cell(-3), cell(-1.5), cell(0.25), cell(12)) == ("-3", "-1,5", "0,25", "12")
    assert (cell("-3"), cell("=1+1"), cell("Musée"), cell("")) == ("'-3", "'=1+1", "Musée", "")


async def test_the_indicators_csv_keeps_its_figures_numeric(app) -> None:
    await app.apply(hostile_story(FORMULA, "Musée"))
    _, *rows = rows_of(await app.client.get("/indicators.csv", headers=app.auth()))
    values = [value for _, value in rows if value]
    assert values and all(not value.startswith("'") for value in values)


async def test_the_dashboard_shows_no_live_markup_from_names(app) -> None:
    await app.apply(hostile_story(IMG, "<script>document.title='pwned'</script>"))
    html = (await app.client.get("/dashboard/paris", headers=app.auth())).text
    assert "<img src=x" not in html and "<script>document" not in html
    assert "<title>Tableau de bord Paris — Jumelage</title>" in html


async def test_the_timeline_answers_hostile_names_as_json_data(app) -> None:
    await app.apply(hostile_story(IMG, FORMULA))
    response = await app.client.get(f"/partnerships/{PARTNERSHIP}/timeline", headers=app.auth())
    assert response.headers["content-type"].startswith("application/json")
    assert IMG in response.text.replace('\\"', '"')
