"""The server-rendered pages a person opens from a link (a partnership's, a campaign's): one Jinja
environment per service over its own templates and the kit's ``page.html`` (the common head and
style they extend), HTML autoescaped."""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

KIT_TEMPLATES = Path(__file__).resolve().parent / "templates"


def page_templates(service_templates: Path) -> Environment:
    return Environment(loader=ChoiceLoader([FileSystemLoader(service_templates), FileSystemLoader(KIT_TEMPLATES)]),
                       autoescape=select_autoescape(["html"]))
