"""Charts as inline SVG, drawn here: the dashboard loads nothing from outside (no CDN, no network)."""

from __future__ import annotations

from html import escape
from typing import Sequence

PALETTE = ("#000091", "#e1000f", "#18753c", "#b34000", "#6a6af4", "#009099")


def _fmt(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def bars(items: Sequence[tuple[str, float]], *, title: str, width: int = 520, unit: str = "") -> str:
    """Horizontal bars, one per (label, value)."""
    row, label_w, top = 26, 150, 28
    height = top + row * max(len(items), 1) + 10
    peak = max((v for _, v in items), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    if not items:
        parts.append(f'<text x="0" y="{top + 16}" font-size="12">Aucune donnée</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = (width - label_w - 60) * value / peak
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(str(label))}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16" fill="{PALETTE[i % len(PALETTE)]}">'
                     f'<title>{escape(str(label))} : {_fmt(value)}{unit}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12" class="value">{_fmt(value)}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def grouped_columns(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
                    width: int = 640, height: int = 240) -> str:
    """Vertical columns per category, one per series (e.g. planned vs realised per month)."""
    left, bottom, top = 36, 40, 44
    plot_h = height - top - bottom
    peak = max((v for _, values in series for v in values), default=0) or 1
    slot = (width - left) / max(len(categories), 1)
    bar_w = max(min(slot / (len(series) + 1), 28), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for s, (name, _) in enumerate(series):
        parts.append(f'<rect x="{left + s * 130}" y="24" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>'
                     f'<text x="{left + s * 130 + 16}" y="34" font-size="12">{escape(name)}</text>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="#666"/>')
    if not categories:
        parts.append(f'<text x="{left}" y="{top + 20}" font-size="12">Aucune donnée</text>')
    for c, category in enumerate(categories):
        x0 = left + c * slot + bar_w / 2
        for s, (name, values) in enumerate(series):
            value = values[c]
            h = plot_h * value / peak
            x = x0 + s * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(category)} {escape(name)} : '
                         f'{_fmt(value)}</title></rect>')
        parts.append(f'<text x="{x0:.1f}" y="{base + 16}" font-size="11">{escape(category)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def share(items: Sequence[tuple[str, float]], *, title: str, width: int = 520) -> str:
    """One stacked bar of 100 %, each part labelled with its percentage."""
    total = sum(v for _, v in items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'width="{width}" height="96" viewBox="0 0 {width} 96">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    if not total:
        parts.append('<text x="0" y="48" font-size="12">Aucune donnée</text>')
    x = 0.0
    for i, (label, value) in enumerate(items):
        if not total or not value:
            continue
        w = width * value / total
        pct = round(100 * value / total, 1)
        parts.append(f'<rect x="{x:.1f}" y="26" width="{w:.1f}" height="28" fill="{PALETTE[i % len(PALETTE)]}">'
                     f'<title>{escape(label)} : {_fmt(pct)} %</title></rect>')
        parts.append(f'<text x="{x + 2:.1f}" y="74" font-size="12">{escape(label)}</text>'
                     f'<text x="{x + 2:.1f}" y="90" font-size="12" class="value">{_fmt(pct)} %</text>')
        x += w
    parts.append("</svg>")
    return "".join(parts)
