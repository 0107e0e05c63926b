"""SVG charts of funnels and trends: plain SVG 1.1 text, no scripts, no external assets,
so the API can serve them as ``image/svg+xml`` and the CLI can write them to files."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from vintry_analytics.schemas import FunnelGroupOut, TrendPoint

WIDTH = 720
FONT = "font-family='Helvetica, Arial, sans-serif'"
BAR_COLOUR = "#7b2d26"
LINE_COLOUR = "#1f5f8b"


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: int = 12,
    anchor: str = "start",
    weight: str = "normal",
    fill: str = "#222",
) -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' {FONT} font-size='{size}' text-anchor='{anchor}' "
        f"font-weight='{weight}' fill='{fill}'>{escape(content)}</text>"
    )


def _document(height: int, title: str, body: Sequence[str]) -> str:
    return "\n".join(
        [
            "<svg xmlns='http://www.w3.org/2000/svg' version='1.1' "
            f"width='{WIDTH}' height='{height}' viewBox='0 0 {WIDTH} {height}' role='img'>",
            f"<title>{escape(title)}</title>",
            f"<rect width='{WIDTH}' height='{height}' fill='#ffffff'/>",
            _text(16, 28, title, size=16, weight="bold"),
            *body,
            "</svg>",
            "",
        ]
    )


def funnel_svg(group: FunnelGroupOut, title: str) -> str:
    """Horizontal bars, one per step: entrants reaching it, conversion from the start and
    the median time since the previous step."""
    left, bar_area, row = 190, WIDTH - 190 - 150, 44
    body: list[str] = []
    top = 50
    base = max(group.entrants, 1)
    for index, step in enumerate(group.steps):
        y = top + index * row
        width = bar_area * step.count / base
        body.append(_text(left - 10, y + 20, f"{step.step}. {step.type}", anchor="end"))
        body.append(
            f"<rect x='{left}' y='{y + 4}' width='{max(width, 1):.1f}' height='{row - 14}' "
            f"fill='{BAR_COLOUR}' fill-opacity='{1 - index * 0.08:.2f}'/>"
        )
        label = f"{step.count}  ({step.conversion_from_start:.0%})"
        body.append(_text(left + max(width, 1) + 8, y + 20, label, weight="bold"))
        if step.median_ms_from_previous is not None:
            body.append(
                _text(
                    left + max(width, 1) + 8,
                    y + 34,
                    f"median {_duration(step.median_ms_from_previous)} after previous",
                    size=10,
                    fill="#666",
                )
            )
        if index:
            body.append(
                _text(
                    left - 10,
                    y + 34,
                    f"−{step.drop_off} dropped",
                    size=10,
                    anchor="end",
                    fill="#666",
                )
            )
    height = top + len(group.steps) * row + 20
    return _document(height, title, body)


def trend_svg(points: Sequence[TrendPoint], title: str) -> str:
    """Events per day as a line with dots, the y axis from zero to the busiest day."""
    left, right, top, bottom = 60, WIDTH - 20, 50, 250
    body: list[str] = []
    peak = max((point.events for point in points), default=0) or 1
    body.append(f"<line x1='{left}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#999'/>")
    body.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{bottom}' stroke='#999'/>")
    body.append(_text(left - 6, top + 4, str(peak), size=10, anchor="end"))
    body.append(_text(left - 6, bottom + 4, "0", size=10, anchor="end"))
    span = max(len(points) - 1, 1)
    coordinates = [
        (left + (right - left) * index / span, bottom - (bottom - top) * point.events / peak)
        for index, point in enumerate(points)
    ]
    if coordinates:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        body.append(
            f"<polyline points='{path}' fill='none' stroke='{LINE_COLOUR}' stroke-width='2'/>"
        )
        for (x, y), point in zip(coordinates, points, strict=True):
            body.append(
                f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{LINE_COLOUR}'><title>"
                f"{point.day}: {point.events} events, {point.dealers} dealers</title></circle>"
            )
        step = max(1, len(points) // 6)
        for index in range(0, len(points), step):
            x = coordinates[index][0]
            body.append(
                _text(x, bottom + 18, points[index].day.isoformat(), size=10, anchor="middle")
            )
    else:
        body.append(_text((left + right) / 2, (top + bottom) / 2, "no events", anchor="middle"))
    return _document(bottom + 40, title, body)


def _duration(milliseconds: float) -> str:
    seconds = milliseconds / 1000
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
