"""Entry point: ``python -m candidatures`` runs uvicorn on the settings' host and port."""

from __future__ import annotations

from eventkit.runtime import serve
from eventkit.settings import ServiceSettings

from candidatures.bootstrap import SERVICE, build_app


def main() -> None:
    settings = ServiceSettings.from_env(SERVICE)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
