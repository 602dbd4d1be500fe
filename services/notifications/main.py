"""Process entry: builds the app from the environment and serves it with uvicorn."""

from __future__ import annotations

from eventkit.runtime import serve
from eventkit.settings import ServiceSettings

from .bootstrap import build


def main() -> None:
    settings = ServiceSettings.from_env("notifications")
    app, _ = build(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
