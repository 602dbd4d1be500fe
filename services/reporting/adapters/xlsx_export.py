"""XLSX as académie staff open it in their office suite: one sheet, French headers in bold and
frozen, figures as numbers, columns sized to their content.

Every text cell is written as a string cell, whatever it begins with: ``=HYPERLINK(…)`` typed as a
school name shows as typed and never runs (openpyxl would otherwise store it as a formula). The
control characters XML cannot carry (history written before the contracts refused them) are
dropped from the text."""

from __future__ import annotations

import io
from typing import Any, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_WIDTH = 60


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, (int, float)):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def render(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "Export") -> bytes:
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = title[:31]  # the format's limit on a sheet name
    widths = [len(h) for h in headers]
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        values = [_value(v) for v in row]
        sheet.append(values)
        for cell, value in zip(sheet[sheet.max_row], values):
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text, never a formula
        widths = [max(w, len(str(v)) if v is not None else 0) for w, v in zip(widths, values)] + widths[len(values):]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(MAX_WIDTH, width + 2)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
