"""XLSX beside every CSV export: the same table (headers, rows, French values), figures as numbers,
text as text — a formula typed as a name stays a string cell — and the caller's scope applied.
Read back with openpyxl, as an office suite would open it."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from reporting.adapters import xlsx_export
from reporting_app import hostile_story, reporting_app

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)
FORMULA = '=HYPERLINK("http://x","y")'


@pytest.fixture
async def app(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    await app.apply(hostile_story(FORMULA, "@SUM(1+1)"))
    yield app
    await app.client.aclose()
    await app.store.close()


def sheet_of(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == xlsx_export.MEDIA_TYPE
    return load_workbook(io.BytesIO(response.content)).active


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@pytest.mark.parametrize("path, filename", [("/partnerships", "jumelages"), ("/indicators", "indicateurs"),
                                            ("/indicators?by=dispositif", "indicateurs-dispositif")])
async def test_each_csv_export_has_an_xlsx_twin_with_the_same_table(app, path, filename) -> None:
    base, _, query = path.partition("?")
    xlsx = await app.client.get(f"{base}.xlsx" + (f"?{query}" if query else ""), headers=app.auth())
    text = await app.client.get(f"{base}.csv" + (f"?{query}" if query else ""), headers=app.auth())
    assert xlsx.headers["content-disposition"] == f'attachment; filename="{filename}.xlsx"'
    sheet = sheet_of(xlsx)
    rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    expected = csv_rows(text)
    assert len(rows) == len(expected) > 1
    # the same cells, save the CSV's own spellings: its formula quote and decimal commas
    for got, want in zip(rows, expected):
        assert [str(v).replace(".", ",") if isinstance(v, float) else str(v) for v in got] == \
            [w[1:] if w.startswith("'") else w for w in want]


async def test_a_formula_typed_as_a_name_is_a_string_cell_and_figures_are_numbers(app) -> None:
    sheet = sheet_of(await app.client.get("/partnerships.xlsx", headers=app.auth()))
    header = [c.value for c in sheet[1]]
    school, partner = sheet[2][header.index("École")], sheet[2][header.index("Partenaire")]
    assert (school.value, school.data_type) == (FORMULA, "s")
    assert (partner.value, partner.data_type) == ("@SUM(1+1)", "s")
    figures = [row[1] for row in load_workbook(io.BytesIO(
        (await app.client.get("/indicators.xlsx", headers=app.auth())).content)).active.iter_rows(min_row=2)]
    assert any(isinstance(c.value, int) and c.data_type == "n" for c in figures)


async def test_the_xlsx_export_keeps_the_callers_scope(app) -> None:
    sheet = sheet_of(await app.client.get("/partnerships.xlsx?academie=lille", headers=app.auth("academie", "lille")))
    assert sheet.max_row == 1  # headers only: paris's partnership is not lille's


def test_text_with_characters_xml_cannot_carry_is_written_without_them() -> None:
    book = load_workbook(io.BytesIO(xlsx_export.render(["Nom"], [["a\x01b\x1fc"], [None], [True]])))
    assert [r[0] for r in book.active.iter_rows(min_row=2, values_only=True)] == ["abc", None, "oui"]


async def test_the_dashboard_offers_the_xlsx_beside_the_csv(app) -> None:
    import html
    import re

    page = (await app.client.get("/dashboard/paris", headers=app.auth())).text
    link = html.unescape(re.search(r'<a id="xlsx" href="([^"]+)"', page).group(1))
    assert link.startswith("/indicators.xlsx?academie=paris")
    assert sheet_of(await app.client.get(link, headers=app.auth())).max_row > 1
