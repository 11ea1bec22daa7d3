"""A timeline of who ran on the model when, as a self-contained SVG (no plotting dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Protocol

__all__ = ["render_svg"]

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]


class Slice(Protocol):  # one scheduling slice (aios.client.SchedulerEvent has it); read-only, as the SDK's are
    @property
    def agent_id(self) -> str: ...
    @property
    def job_class(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def generated(self) -> int: ...
    @property
    def prefilled(self) -> int: ...
    @property
    def switched(self) -> bool: ...


def render_svg(events: Sequence[Slice], names: dict[str, str] | None = None, width: int = 1200) -> str:
    """One lane per agent; a bar per scheduling slice (dark edge: a KV context switch came first)."""
    names = names or {}
    lanes = sorted({e.agent_id for e in events}, key=lambda a: names.get(a, a))
    lane_h, left, top = 26, 150, 30
    height = top + lane_h * max(1, len(lanes)) + 40
    if not events:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
                f'<text x="10" y="20" font-family="sans-serif">no scheduler events</text></svg>')  # fmt: skip
    t0, t1 = min(e.start_s for e in events), max(e.end_s for e in events)
    span = max(t1 - t0, 1e-6)
    plot_w = width - left - 20

    def x(t: float) -> float:
        return left + (t - t0) / span * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12">',
        f'<text x="{left}" y="18">LLM scheduler timeline: {len(events)} slices, {span:.2f} s</text>',
    ]
    for i, agent in enumerate(lanes):
        y = top + i * lane_h
        label = escape(names.get(agent, agent[:12]))
        parts.append(f'<text x="5" y="{y + 17}">{label}</text>')
        parts.append(f'<line x1="{left}" y1="{y + lane_h}" x2="{width - 20}" y2="{y + lane_h}" stroke="#ddd"/>')
    for e in events:
        lane = lanes.index(e.agent_id)
        color = "#999999" if e.job_class == "background" else _PALETTE[lane % len(_PALETTE)]
        x0, x1 = x(e.start_s), x(e.end_s)
        stroke = ' stroke="#000" stroke-width="1"' if e.switched else ""
        title = f"{e.generated} tokens generated, {e.prefilled} prefilled, {(e.end_s - e.start_s) * 1e3:.1f} ms"
        parts.append(
            f'<rect class="slice" x="{x0:.2f}" y="{top + lane * lane_h + 4}" width="{max(x1 - x0, 0.5):.2f}" '
            f'height="{lane_h - 8}" fill="{color}"{stroke}><title>{title}</title></rect>'
        )
    axis_y = top + len(lanes) * lane_h + 20
    for k in range(6):
        t = t0 + span * k / 5
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y}" text-anchor="middle">{t - t0:.2f}s</text>')
    parts.append("</svg>")
    return "\n".join(parts)
