"""HTTP routes: JSON, CSV and the dashboard. Each route parses, calls the reader, shapes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from jumelage_contracts.reference import Academie, Dispositif, EducationPrioritaire

from eventkit.auth import Principal, browser_principal_dependency, remember_token, require_roles
from eventkit.http import offset_query
from jumelage_contracts import Role
from reporting.adapters import csv_export, xlsx_export
from reporting.adapters.projector import day_of
from reporting.adapters.queries import Filters
from reporting.app import figures, views
from reporting.app.reader import Reader
from reporting.domain.indicators import school_year_of

CSV = "text/csv; charset=utf-8"
Dimension = Literal["academie", "departement", "dispositif", "school_year", "domain", "ep", "ruralite", "level",
                    "kind", "month", "year_index"]
_templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                         autoescape=select_autoescape(["html"]))


principal = browser_principal_dependency()


def reader(request: Request) -> Reader:
    if getattr(request.app.state, "reader", None) is None:
        request.app.state.reader = Reader(request.app.state.runtime.engine)
    return request.app.state.reader


def as_of_date(request: Request, as_of: date | None = Query(None, description="YYYY-MM-DD; default today")) -> date:
    return as_of or day_of(request.app.state.runtime.clock.now())


def filters(academie: Academie | None = None, departement: str | None = None, dispositif: Dispositif | None = None,
            school_year: str | None = Query(None, pattern=r"^[0-9]{4}-[0-9]{4}$"),
            domain: int | None = Query(None, ge=0, le=17), ep: EducationPrioritaire | None = None,
            ruralite: str | None = None) -> Filters:
    return Filters(academie=academie.value if academie else None, departement=departement,
                   dispositif=dispositif.value if dispositif else None, school_year=school_year, domain=domain,
                   ep=ep.value if ep else None, ruralite=ruralite)


router = APIRouter()


@router.get("/indicators", tags=["indicators"])
async def get_indicators(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                         as_of: date = Depends(as_of_date), r: Reader = Depends(reader)) -> dict:
    """Every indicator for the filters, as of a date (campaigns, candidatures, attribution rate,
    partnerships, schools/classes/pupils reached, actions, meetings, bilans, renewals, reminders,
    overdue partnerships)."""
    return await r.indicators(who, as_of, flt)


@router.get("/indicators/by/{dimension}", tags=["indicators"])
async def get_breakdown(dimension: Dimension, who: Principal = Depends(principal), flt: Filters = Depends(filters),
                        as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                        offset: int = offset_query(), limit: int = Query(100, ge=1, le=1000)) -> dict:
    """The summable indicators per value of a dimension (paginated)."""
    return await r.breakdown(who, as_of, flt, dimension, offset, limit)


@router.get("/indicators.csv", tags=["exports"], response_class=Response)
async def get_indicators_csv(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                             as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                             by: Dimension | None = None) -> Response:
    """The indicators (or their breakdown ``by`` a dimension) as CSV for a spreadsheet."""
    return export_table("csv", *await _indicators_table(r, who, as_of, flt, by))


@router.get("/indicators.xlsx", tags=["exports"], response_class=Response)
async def get_indicators_xlsx(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                              as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                              by: Dimension | None = None) -> Response:
    """The same table as ``/indicators.csv``, as an XLSX workbook."""
    return export_table("xlsx", *await _indicators_table(r, who, as_of, flt, by))


async def _indicators_table(r: Reader, who: Principal, as_of: date, flt: Filters,
                            by: Dimension | None) -> tuple[views.Table, str]:
    if by:
        return views.breakdown_table(await r.breakdown(who, as_of, flt, by, 0, 100_000)), f"indicateurs-{by}"
    return views.indicators_table(await r.indicators(who, as_of, flt)), "indicateurs"


@router.get("/academies/{academie}/campaigns", tags=["indicators"])
async def get_campaign_count(academie: Academie, who: Principal = Depends(principal),
                             as_of: date = Depends(as_of_date), r: Reader = Depends(reader)) -> dict:
    """The thin slice: how many campaigns an académie opened (and closed) as of a date."""
    values = (await r.indicators(who, as_of, Filters(academie=academie.value)))["indicators"]
    return {"academie": academie.value, "as_of": as_of.isoformat(), "campaigns_opened": values["campaigns_opened"],
            "campaigns_closed": values["campaigns_closed"]}


@router.get("/partnerships", tags=["partnerships"])
async def get_partnerships(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                           as_of: date = Depends(as_of_date), r: Reader = Depends(reader), uai: str | None = None,
                           offset: int = offset_query(), limit: int = Query(50, ge=1, le=500)) -> dict:
    return await r.partnerships(who, as_of, flt, uai, offset, limit)


@router.get("/partnerships.csv", tags=["exports"], response_class=Response)
async def get_partnerships_csv(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                               as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                               uai: str | None = None) -> Response:
    """Every partnership in the caller's scope as CSV for a spreadsheet."""
    return export_table("csv", views.partnerships_table(await r.partnerships(who, as_of, flt, uai, 0, 1_000_000)), "jumelages")


@router.get("/partnerships.xlsx", tags=["exports"], response_class=Response)
async def get_partnerships_xlsx(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                                as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                                uai: str | None = None) -> Response:
    """The same table as ``/partnerships.csv``, as an XLSX workbook."""
    return export_table("xlsx", views.partnerships_table(await r.partnerships(who, as_of, flt, uai, 0, 1_000_000)), "jumelages")


@router.get("/partnerships/{partnership_id}/timeline", tags=["partnerships"])
async def get_timeline(partnership_id: str, who: Principal = Depends(principal), as_of: date = Depends(as_of_date),
                       r: Reader = Depends(reader)) -> dict:
    """What happened to one partnership up to a date, and its actions per class."""
    return await r.timeline(who, partnership_id, as_of)


@router.get("/schools/{uai}", tags=["partnerships"])
async def get_school(uai: str, who: Principal = Depends(principal), as_of: date = Depends(as_of_date),
                     r: Reader = Depends(reader)) -> dict:
    """All partnerships of a school (UAI), across dispositifs."""
    return await r.school(who, uai.upper(), as_of)


@router.get("/lag", tags=["ops"])
async def get_lag(request: Request, r: Reader = Depends(reader),
                  who: Principal = Depends(require_roles(principal, [Role.admin]))) -> dict:
    """Last position applied per source and each consumer's lag (messages not yet delivered). Operators (admin) only."""
    return {**await r.lag(), "consumers": await _consumer_lag(request)}


@router.get("/dashboard/{academie}", tags=["dashboard"], response_class=HTMLResponse)
async def get_dashboard(request: Request, academie: Academie, who: Principal = Depends(principal),
                        as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                        school_year: str | None = Query(None, pattern=r"^[0-9]{4}-[0-9]{4}$"),
                        token: str | None = None) -> HTMLResponse:
    """The académie's dashboard: key figures and charts, server-rendered, no external resources."""
    flt = Filters(academie=academie.value, school_year=school_year)
    parts = [await r.indicators(who, as_of, flt)] + [await r.breakdown(who, as_of, flt, by, 0, 1000)
                                                      for by in ("dispositif", "ep", "month")]
    csv_url = f"/indicators.csv?academie={academie.value}&as_of={as_of.isoformat()}" + (
        f"&school_year={school_year}" if school_year else "")
    html = _templates.get_template("dashboard.html").render(
        **views.dashboard_context(academie.value, as_of, school_year, *parts, csv_url=csv_url),
        **await figures.dashboard_parts(r, who, as_of, flt),
        year_hint=school_year_of(day_of(request.app.state.runtime.clock.now())))
    response = HTMLResponse(html)
    remember_token(response, request, token)  # the query token signed the caller in: keep it for the page's links
    return response


@router.get("/national", tags=["dashboard"], response_class=HTMLResponse)
async def get_national(request: Request, who: Principal = Depends(require_roles(principal, [Role.national])),
                       as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                       school_year: str | None = Query(None, pattern=r"^[0-9]{4}-[0-9]{4}$"),
                       token: str | None = None) -> HTMLResponse:
    """Every académie side by side on the main indicators, with the national total (national role)."""
    flt = Filters(school_year=school_year)
    totals, by_academie = await r.indicators(who, as_of, flt), await r.breakdown(who, as_of, flt, "academie", 0, 1000)
    html = _templates.get_template("national.html").render(
        **views.national_context(as_of, school_year, totals, by_academie),
        year_hint=school_year_of(day_of(request.app.state.runtime.clock.now())))
    response = HTMLResponse(html)
    remember_token(response, request, token)
    return response


def export_table(kind: str, table: views.Table, name: str) -> Response:
    """One table, written as the spreadsheet format asked for, as a download named ``name``."""
    if kind == "xlsx":
        body, media_type = xlsx_export.render(*table, title=name), xlsx_export.MEDIA_TYPE
    else:
        body, media_type = csv_export.render(*table).encode("utf-8"), CSV
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


async def _consumer_lag(request: Request) -> list[dict]:
    out = []
    for runner in getattr(request.app.state.runtime, "_consumer_runners", []):
        try:
            out.append({"consumer": runner.name, **await runner.lag()})
        except Exception as exc:  # noqa: BLE001 - NATS away: say so rather than fail the endpoint
            out.append({"consumer": runner.name, "error": repr(exc)})
    return out
