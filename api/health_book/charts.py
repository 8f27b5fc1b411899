"""Observation series for charts: the points an app plots, and the same drawn as an SVG.

A series is every active observation of one code, oldest first (by effective time, else when it
was received). ``code`` is ``code`` or ``system|code``; blood pressure panels answer to both the
current LOINC code (85354-9) and the older one Synthea writes (55284-4), and their points carry
each component's value keyed by the component's code (8480-6 systolic, 8462-4 diastolic).

The SVG is written by hand: a title, axes with a few labelled ticks, the reference range band
when the latest point has one, one polyline (and, when they are few, markers) per component or
for the value. Its size is bounded: at most :data:`MAX_DRAWN` points per line.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import InvalidInput
from api.health_book import schemas
from api.health_book.models import HOME_FACILITY, HealthEntry

LOINC = "http://loinc.org"
BLOOD_PRESSURE_PANELS = ("85354-9", "55284-4")
MAX_POINTS = 5000
"""The most points a series answers: the newest ones."""
MAX_DRAWN = 800
WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 64
COLOURS = ("#1f6fb4", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_sort_at = func.coalesce(HealthEntry.effective_at, HealthEntry.received_at)


def escape_xml(text: str) -> str:
    """Text safe inside an XML element or a double-quoted attribute (characters XML 1.0 cannot
    carry are dropped)."""
    text = _NOT_XML.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        number = value.get("number")
        if isinstance(number, int | float) and math.isfinite(number):
            return float(number)
    return None


def _component_code(component: dict[str, Any]) -> str | None:
    codes = [c for c in component.get("codes") or [] if c.get("code")]
    preferred = next((c for c in codes if c.get("system") == LOINC), codes[0] if codes else None)
    return preferred["code"] if preferred else None


def _value_text(value: dict[str, Any]) -> str | None:
    kind = value.get("kind")
    if kind == "boolean" and value.get("boolean") is not None:
        return "true" if value["boolean"] else "false"
    if kind in ("codeable-concept", "string", "datetime"):
        codes = value.get("codes") or []
        return value.get("text") or next(
            (c.get("display") for c in codes if c.get("display")), None
        )
    return None


def _point(
    entry_id: uuid.UUID,
    at: dt.datetime,
    summary: dict[str, Any],
    names: dict[str, str],
    facility_id: str = "",
) -> schemas.SeriesPoint:
    value = summary.get("value") or {}
    point = schemas.SeriesPoint(
        source="home" if facility_id == HOME_FACILITY else "clinical",
        at=at,
        value=_number(value),
        unit=value.get("unit"),
        text=_value_text(value),
        interpretation=[
            c.get("code") or c.get("display")
            for c in summary.get("interpretation") or []
            if c.get("code") or c.get("display")
        ],
        entry_id=str(entry_id),
    )
    ranges = summary.get("reference_ranges") or []
    normal = next((r for r in ranges if not r.get("type_codes")), ranges[0] if ranges else None)
    if normal is not None:
        point.low, point.high = normal.get("low"), normal.get("high")
    for component in summary.get("components") or []:
        code = _component_code(component)
        if code is None:
            continue
        component_value = component.get("value") or {}
        point.components[code] = _number(component_value)
        names.setdefault(code, component.get("text") or code)
        if point.unit is None:
            point.unit = component_value.get("unit")
    return point


async def observation_series(
    session: AsyncSession, citizen_id: uuid.UUID, code: str
) -> schemas.Series:
    """The citizen's active observations of ``code`` (``code`` or ``system|code``)."""
    system, _, value = code.strip().rpartition("|")
    if not value:
        raise InvalidInput("code must be `code` or `system|code`", field="code", source="query")
    codes = [value]
    if value in BLOOD_PRESSURE_PANELS and system in ("", LOINC):
        codes = list(BLOOD_PRESSURE_PANELS)
    query = select(
        HealthEntry.id,
        _sort_at,
        HealthEntry.display,
        HealthEntry.facility_id,
        HealthEntry.summary,
    ).where(
        HealthEntry.citizen_id == citizen_id,
        HealthEntry.category == "observations",
        HealthEntry.active.is_(True),
        HealthEntry.code.in_(codes),
    )
    if system:
        query = query.where(HealthEntry.code_system == system)
    newest_first = (
        await session.execute(
            query.order_by(_sort_at.desc(), HealthEntry.id.desc()).limit(MAX_POINTS)
        )
    ).all()
    rows = newest_first[::-1]
    names: dict[str, str] = {}
    points = [
        _point(entry_id, at, summary, names, facility_id)
        for entry_id, at, _, facility_id, summary in rows
    ]
    units = Counter(p.unit for p in points if p.unit)
    return schemas.Series(
        code=code.strip(),
        text=rows[-1][2] if rows else None,
        unit=units.most_common(1)[0][0] if units else None,
        component_codes={c: names[c] for c in names if any(c in p.components for p in points)},
        points=points,
    )


# SVG ------------------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


Line = list[tuple[float, float, bool]]
"""(timestamp, value, a home reading) per point."""


def _thin(line: Line) -> Line:
    """At most :data:`MAX_DRAWN` points, evenly picked, first and last kept."""
    if len(line) <= MAX_DRAWN:
        return line
    last = len(line) - 1
    return [line[round(i * last / (MAX_DRAWN - 1))] for i in range(MAX_DRAWN)]


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    """About five ticks on calendar boundaries (years, months or days) between t0 and t1."""
    start, end = (dt.datetime.fromtimestamp(t, dt.UTC) for t in (t0, t1))
    days = (t1 - t0) / 86400
    if days > 3 * 365:
        step = math.ceil((end.year - start.year) / 5)
        marks = [
            dt.datetime(year, 1, 1, tzinfo=dt.UTC)
            for year in range(math.ceil(start.year / step) * step, end.year + 1, step)
        ]
        date_format = "%Y"
    elif days > 90:
        first, last = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
        step = math.ceil((last - first) / 5)
        marks = [
            dt.datetime(month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
            for month in range(math.ceil(first / step) * step, last + 1, step)
        ]
        date_format = "%Y-%m"
    else:
        step = max(1, math.ceil(days / 5))
        midnight = dt.datetime.combine(start.date(), dt.time(), dt.UTC)
        marks = [midnight + dt.timedelta(days=n) for n in range(0, math.ceil(days) + 2, step)]
        date_format = "%Y-%m-%d"
    return [(m.timestamp(), m.strftime(date_format)) for m in marks if t0 <= m.timestamp() <= t1]


def _lines(series: schemas.Series) -> list[tuple[str, Line]]:
    """(legend label, [(timestamp, value, home)]) per component, or one for the value."""
    if series.component_codes:
        return [
            (
                f"{name} ({code})",
                [
                    (p.at.timestamp(), v, p.source == "home")
                    for p in series.points
                    if (v := p.components.get(code)) is not None
                ],
            )
            for code, name in series.component_codes.items()
        ]
    line = [
        (p.at.timestamp(), p.value, p.source == "home")
        for p in series.points
        if p.value is not None and (p.unit == series.unit or p.unit is None)
    ]
    return [(series.text or series.code, line)]


def render_svg(series: schemas.Series) -> bytes:
    """The series as an SVG line chart (``image/svg+xml``); says "no data" when it has none."""
    title = (series.text or series.code)[:100] + (f" ({series.unit})" if series.unit else "")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>{escape_xml(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="28" text-anchor="middle" font-size="16">'
        f"{escape_xml(title)}</text>",
    ]
    lines = [(label, _thin(line)) for label, line in _lines(series) if line]
    has_home = any(home for _, line in lines for _, _, home in line)
    if not lines:
        out.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#666666">'
            "no data</text></svg>"
        )
        return "".join(out).encode()
    band = next(
        (
            (p.low, p.high)
            for p in reversed(series.points)
            if p.low is not None or p.high is not None
        ),
        None,
    )
    times = [t for _, line in lines for t, _, _ in line]
    values = [v for _, line in lines for _, v, _ in line]
    values += [v for v in band or () if v is not None]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 1:
        t0, t1 = t0 - 86400, t1 + 86400
    low, high = min(values), max(values)
    if high - low < 1e-9:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = _nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    if band is not None:
        top = y(band[1] if band[1] is not None else high)
        bottom = y(band[0] if band[0] is not None else low)
        out.append(
            f'<rect x="{LEFT}" y="{top:.1f}" width="{plot_w}" height="{max(bottom - top, 0):.1f}" '
            'fill="#4caf50" fill-opacity="0.15"><title>reference range</title></rect>'
        )
    bottom_y = TOP + plot_h
    out.append(
        f'<g stroke="#333333"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom_y}"/>'
        f'<line x1="{LEFT}" y1="{bottom_y}" x2="{LEFT + plot_w}" y2="{bottom_y}"/></g>'
    )
    ticks = round((high - low) / step)
    for i in range(ticks + 1):
        value = low + i * step
        ty = y(value)
        out.append(
            f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            'stroke="#dddddd"/>'
            f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end">{_label(value, step)}</text>'
        )
    for t, text in _time_ticks(t0, t1):
        tx = x(t)
        out.append(
            f'<line x1="{tx:.1f}" y1="{bottom_y}" x2="{tx:.1f}" y2="{bottom_y + 4}" '
            f'stroke="#333333"/><text x="{tx:.1f}" y="{bottom_y + 18}" text-anchor="middle">'
            f"{text}</text>"
        )
    for index, (label, line) in enumerate(lines):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v, _ in line)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}"/>'
        )
        if len(line) <= 60:
            out.extend(
                f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
                for t, v, home in line
                if not home
            )
        # home readings: hollow squares, always marked, so they stand apart from a hospital's
        out.extend(
            f'<rect class="home" x="{x(t) - 4:.1f}" y="{y(v) - 4:.1f}" width="8" height="8" '
            f'fill="#ffffff" stroke="{colour}" stroke-width="2"/>'
            for t, v, home in line
            if home
        )
        room = plot_w // (len(lines) + (1 if has_home else 0))
        lx = LEFT + index * room
        out.append(
            f'<rect x="{lx}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 18}" y="{HEIGHT - 12}">'
            f"{escape_xml(label[: max(room // 7 - 3, 8)])}</text>"
        )
    if has_home:
        lx = LEFT + len(lines) * (plot_w // (len(lines) + 1))
        out.append(
            f'<rect x="{lx + 2}" y="{HEIGHT - 20}" width="8" height="8" fill="#ffffff" '
            f'stroke="#333333" stroke-width="2"/><text x="{lx + 18}" y="{HEIGHT - 12}">'
            "home reading</text>"
        )
    out.append("</svg>")
    return "".join(out).encode()
