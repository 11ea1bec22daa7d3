"""A note graph as Graphviz DOT, and as SVG: through `dot` when Graphviz is installed, else a circle
layout drawn here (so the picture never depends on an optional system package)."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence
from html import escape
from typing import Protocol

__all__ = ["to_dot", "to_svg"]


class _Note(Protocol):  # what is drawn of a note (aios.client.Note has it); read-only, as the SDK's are
    @property
    def id(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def archived_at(self) -> object: ...


class _Link(Protocol):  # aios.client.NoteLink
    @property
    def from_id(self) -> str: ...
    @property
    def to_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def weight(self) -> float: ...


def _label(note: _Note, width: int = 40) -> str:
    text = note.context or note.id
    return text if len(text) <= width else text[: width - 1] + "…"


def to_dot(notes: Sequence[_Note], links: Sequence[_Link]) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph memory {", "  node [shape=box, style=rounded, fontname=Helvetica, fontsize=10];"]
    for n in notes:
        style = ", color=gray, fontcolor=gray" if n.archived_at else ""
        tags = f"\\n#{' #'.join(n.tags[:4])}" if n.tags else ""
        lines.append(f'  {q(n.id)} [label={q(_label(n))[:-1]}{tags}"{style}];')
    for link in links:
        lines.append(f"  {q(link.from_id)} -> {q(link.to_id)} [label={q(f'{link.kind} {link.weight:.2f}')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(notes: Sequence[_Note], links: Sequence[_Link]) -> str:
    dot = shutil.which("dot")
    if dot:
        done = subprocess.run([dot, "-Tsvg"], input=to_dot(notes, links), capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return done.stdout
    size = max(400, 60 * len(notes) ** 0.5 * 3)
    cx = cy = size / 2
    radius = size / 2 - 120
    pos = {
        n.id: (cx + radius * math.cos(2 * math.pi * i / max(1, len(notes))),
               cy + radius * math.sin(2 * math.pi * i / max(1, len(notes))))
        for i, n in enumerate(notes)
    }  # fmt: skip
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size:.0f}" height="{size:.0f}" '
             'font-family="sans-serif" font-size="10">']  # fmt: skip
    for link in links:
        if link.from_id in pos and link.to_id in pos:
            (x1, y1), (x2, y2) = pos[link.from_id], pos[link.to_id]
            parts.append(f'<line class="link" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                         f'stroke="#888" stroke-width="{0.5 + 2 * link.weight:.1f}"><title>{escape(link.kind)} '
                         f'{link.weight:.2f}</title></line>')  # fmt: skip
    for n in notes:
        x, y = pos[n.id]
        fill = "#ddd" if n.archived_at else "#4e79a7"
        label = escape(_label(n, 30))
        parts.append(f'<circle class="note" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}"><title>{escape(n.id)}'
                     f'</title></circle><text x="{x + 9:.1f}" y="{y + 3:.1f}">{label}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)
