"""``/docs`` (Swagger UI) and ``/redoc`` served with their assets from the service itself.

FastAPI's defaults load the scripts and styles from a CDN: without internet (a school's network,
an air-gapped académie server, a train) the pages are blank. The assets come from the
``fastapi-offline`` package (kept up to date upstream); only its files are used, not its app class,
so every service keeps its plain ``FastAPI`` app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"


def _assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_offline_docs(app: FastAPI) -> None:
    """Replace the CDN-backed ``/docs`` and ``/redoc`` routes by ones whose assets are local."""
    docs_url, redoc_url = app.docs_url or "/docs", app.redoc_url or "/redoc"
    app.router.routes[:] = [route for route in app.router.routes
                            if getattr(route, "path", None) not in (docs_url, redoc_url)]
    app.docs_url = app.redoc_url = None  # FastAPI must not add its own again
    app.mount(ASSETS_PATH, StaticFiles(directory=_assets_dir()), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — ReDoc",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False)
