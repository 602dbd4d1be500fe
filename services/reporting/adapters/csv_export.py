"""CSV as académie staff open it in a spreadsheet: UTF-8 with a BOM (so Excel guesses the
encoding), ``;`` between fields and decimal commas (French locale), French headers."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

BOM = "\ufeff"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return str(value)


def render(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return BOM + buffer.getvalue()
