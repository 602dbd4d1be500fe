"""Ops routes of reporting beyond the kit's: what is parked."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from eventkit.auth import Principal
from reporting.api.routes import principal
from reporting.app.parked import parked_events

router = APIRouter()


@router.get("/parked", tags=["ops"])
async def get_parked(request: Request, limit: int = Query(100, ge=1, le=10_000),
                     who: Principal = Depends(principal)) -> dict:
    """Events held until their cause reaches reporting (national and admin only: they carry
    schools' data). Also ``python -m reporting parked``."""
    if not who.is_global():
        raise HTTPException(status_code=403, detail="national or admin only")
    async with request.app.state.runtime.engine.connect() as conn:
        return await parked_events(conn, limit)
