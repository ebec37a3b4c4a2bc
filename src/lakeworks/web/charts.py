"""Small SVG charts drawn on the server: a day's Gantt chart and a value trend.

They are plain markup (no script), so a page with a chart costs one request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

from lakeworks.store.models import Instance

ROW = 18
LABEL = 300
WIDTH = 1100


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">{"".join(body)}</svg>'
    )


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def gantt(instances: Sequence[Instance], href: str, *, limit: int = 300) -> Markup | None:
    """One bar per started instance from its start to its end (or now, if running)."""
    started = [i for i in instances if i.started_at is not None][:limit]
    if not started:
        return None
    started.sort(key=lambda i: (i.started_at or datetime.min, i.node_key))
    begin = min(i.started_at for i in started if i.started_at is not None)
    ends = [i.finished_at or i.started_at for i in started]
    end = max(e for e in ends if e is not None)
    span = max((end - begin).total_seconds(), 1.0)
    scale = (WIDTH - LABEL - 20) / span
    height = ROW * len(started) + 30
    body = [f'<line class="axis" x1="{LABEL}" y1="20" x2="{LABEL}" y2="{height}"/>']
    body.append(f'<text x="{LABEL}" y="12">{begin:%H:%M:%S} UTC</text>')
    body.append(
        f'<text x="{WIDTH - 10}" y="12" text-anchor="end">{end:%H:%M:%S} (+{span:.0f} s)</text>'
    )
    for row, instance in enumerate(started):
        assert instance.started_at is not None
        y = 22 + row * ROW
        x = LABEL + (instance.started_at - begin).total_seconds() * scale
        finish = instance.finished_at or end
        width = max((finish - instance.started_at).total_seconds() * scale, 2.0)
        name = escape(instance.node_key)
        shown = escape(_short(instance.node_key, 44))
        body.append(
            f'<a href="{href}{instance.id}"><text x="4" y="{y + 12}">{shown}</text>'
            f'<rect class="bar state-{instance.state.value}" x="{x:.1f}" y="{y}" '
            f'width="{width:.1f}" height="{ROW - 5}" rx="2"><title>{name}: '
            f"{instance.state.value}, {(instance.duration_seconds or 0):.1f} s</title></rect></a>"
        )
    return _svg(WIDTH, height, body, "Gantt chart of the day's run")


def trend(
    points: Sequence[tuple[str, float | None, str]], *, unit: str, height: int = 240
) -> Markup | None:
    """A line through ``(label, value, state)`` points; failed points are red (None
    until there are two points to join)."""
    values = [(label, value, state) for label, value, state in points if value is not None]
    if len(values) < 2:
        return None
    top = max(v for _, v, _ in values) or 1.0
    left, right, bottom, head = 60, 20, 40, 20
    inner_w = WIDTH - left - right
    inner_h = height - head - bottom
    step = inner_w / max(len(values) - 1, 1)
    coords = [
        (left + n * step, head + inner_h - (v / top) * inner_h, label, v, state)
        for n, (label, v, state) in enumerate(values)
    ]
    body = [
        f'<line class="axis" x1="{left}" y1="{head}" x2="{left}" y2="{head + inner_h}"/>',
        f'<line class="axis" x1="{left}" y1="{head + inner_h}" x2="{WIDTH - right}" '
        f'y2="{head + inner_h}"/>',
        f'<text x="{left - 6}" y="{head + 4}" text-anchor="end">{top:.1f} {unit}</text>',
        f'<text x="{left - 6}" y="{head + inner_h}" text-anchor="end">0</text>',
    ]
    path = " ".join(f"{'L' if n else 'M'} {x:.1f} {y:.1f}" for n, (x, y, *_) in enumerate(coords))
    body.append(f'<path class="line" d="{path}"/>')
    every = max(1, len(coords) // 12)
    for n, (x, y, label, v, state) in enumerate(coords):
        bad = " bad" if state == "failed" else ""
        body.append(
            f'<circle class="dot{bad}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
            f"<title>{escape(label)}: {v:.2f} {unit} ({state})</title></circle>"
        )
        if n % every == 0:
            body.append(
                f'<text x="{x:.1f}" y="{head + inner_h + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return _svg(WIDTH, height, body, "trend chart")
