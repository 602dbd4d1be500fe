"""HTTP routes of the figures académies ask for (issue 12): CNR funds, the centres sociaux'
rencontres and productions, the end-of-year questionnaire — JSON, CSV and XLSX."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from eventkit.auth import Principal
from eventkit.http import offset_query
from reporting.adapters.queries import Filters
from reporting.api.routes import as_of_date, export_table, filters, principal, reader
from reporting.app import figures
from reporting.app.reader import Reader

router = APIRouter()
Export = Literal["csv", "xlsx"]


@router.get("/funds", tags=["figures"])
async def get_funds(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                    as_of: date = Depends(as_of_date), r: Reader = Depends(reader)) -> dict:
    """CNR: the fonds d'innovation pédagogique requested, granted and spent (euros, and how many
    requests, grants, expenses) per académie, département, school year and éducation prioritaire."""
    return await figures.funds(r, who, as_of, flt)


@router.get("/funds.{kind}", tags=["exports"], response_class=Response)
async def get_funds_export(kind: Export, who: Principal = Depends(principal), flt: Filters = Depends(filters),
                           as_of: date = Depends(as_of_date), r: Reader = Depends(reader)) -> Response:
    """The CNR funds table as CSV or XLSX, with its total line."""
    return export_table(kind, figures.funds_table(await figures.funds(r, who, as_of, flt)), "fonds-cnr")


@router.get("/questionnaire", tags=["figures"])
async def get_questionnaire(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                            as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                            offset: int = offset_query(), limit: int = Query(100, ge=1, le=1000)) -> dict:
    """The end-of-year questionnaire (JES: ``dispositif=entreprise``) per question and side:
    respondents, the most frequent short answers, the others and the free texts counted."""
    return await figures.questionnaire(r, who, as_of, flt, offset, limit)


@router.get("/questionnaire.{kind}", tags=["exports"], response_class=Response)
async def get_questionnaire_export(kind: Export, who: Principal = Depends(principal),
                                   flt: Filters = Depends(filters), as_of: date = Depends(as_of_date),
                                   r: Reader = Depends(reader)) -> Response:
    """The questionnaire's answers per question and side as CSV or XLSX."""
    answer = await figures.questionnaire(r, who, as_of, flt, 0, 1_000_000)
    return export_table(kind, figures.questionnaire_table(answer), "questionnaire")


@router.get("/rencontres", tags=["figures"])
async def get_rencontres(who: Principal = Depends(principal), flt: Filters = Depends(filters),
                         as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                         offset: int = offset_query(), limit: int = Query(100, ge=1, le=1000)) -> dict:
    """Centres sociaux: the rencontres held and the productions (title, kind, link) per partnership
    and cycle (school year), and counted per académie."""
    return await figures.rencontres(r, who, as_of, flt, offset, limit)


@router.get("/rencontres.{kind}", tags=["exports"], response_class=Response)
async def get_rencontres_export(kind: Export, who: Principal = Depends(principal), flt: Filters = Depends(filters),
                                as_of: date = Depends(as_of_date), r: Reader = Depends(reader),
                                by: Literal["academie"] | None = None) -> Response:
    """Every production (and rencontre) as CSV or XLSX; ``by=academie``: the counts per académie."""
    answer = await figures.rencontres(r, who, as_of, flt, 0, 1_000_000)
    if by:
        return export_table(kind, figures.rencontres_by_academie_table(answer), "rencontres-academies")
    return export_table(kind, figures.rencontres_table(answer), "rencontres")
