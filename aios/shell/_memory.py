"""Memory commands on an agent's behalf: search, add, and the memory group (show, history, neighbours, archive,
restore, pin, unpin, undo, link, decay, stats, consolidate, graph)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click
from rich.table import Table

from aios.client import Client, Note
from aios.render.graph import to_dot, to_svg
from aios.shell._line import free_text
from aios.shell._state import ShellState, clip, commands, pass_state, when

__all__ = ["add", "memory", "search"]


@commands.command()
@click.argument("agent")
@free_text("query")
@click.option("-k", default=5, show_default=True, help="Hits to return.")
@pass_state
def search(state: ShellState, agent: str, query: tuple[str, ...], k: int) -> None:
    """Search AGENT's memory (name or id) on its behalf."""
    hits = state.as_agent(agent).search(state.text(query), k)
    table = Table("score", "id", "signals", "content")
    for hit in hits:
        signals = " ".join(f"{k}={v:.2f}" for k, v in sorted(hit.signals.items()))
        table.add_row(f"{hit.score:.4f}", hit.note.id[:12], signals, clip(hit.note.content, 60))
    state.console.print(table)


@commands.command()
@click.argument("agent")
@free_text("text")
@pass_state
def add(state: ShellState, agent: str, text: tuple[str, ...]) -> None:
    """Add a note to AGENT's memory on its behalf."""
    note = state.as_agent(agent).add_note(state.text(text))
    state.console.print(f"added {note.id}")


@commands.group()
def memory() -> None:
    """An agent's notes on its behalf: show, history, links, archive, pin, decay, graph."""


def _note_table(notes: Sequence[Note], title: str = "") -> Table:
    table = Table("id", "v", "retention", "tags", "context", title=title or None)
    for n in notes:
        flags = (" 📌" if n.pinned else "") + (" (archived)" if n.archived_at else "")
        table.add_row(
            n.id[:12], str(n.version), f"{n.retention:.2f}", ", ".join(n.tags[:4]), clip(n.context, 60) + flags
        )
    return table


def _as(state: ShellState, agent: str) -> Client:
    return state.as_agent(agent)


def _with_note(state: ShellState, agent: str, note_ref: str) -> tuple[Client, str]:
    """AGENT's client and the whole id of its note NOTE_REF (an id or a unique prefix)."""
    client = state.as_agent(agent)
    return client, state.note_id(client, note_ref)


@memory.command("show")
@click.argument("agent")
@click.argument("note_id")
@pass_state
def memory_show(state: ShellState, agent: str, note_id: str) -> None:
    """One note with its enrichment and forgetting-curve state."""
    client, note_id = _with_note(state, agent, note_id)
    n = client.get_note(note_id)
    for key in ("id", "content", "context", "keywords", "tags", "category", "enrichment", "version", "retention",
                "strength_s", "access_count", "pinned", "archived_at", "shared_with"):  # fmt: skip
        state.console.print(f"[bold]{key}[/]: {getattr(n, key)}", highlight=False)


@memory.command("history")
@click.argument("agent")
@click.argument("note_id")
@pass_state
def memory_history(state: ShellState, agent: str, note_id: str) -> None:
    """Every version of a note and what caused it."""
    table = Table("v", "when", "cause", "tags", "context")
    client, note_id = _with_note(state, agent, note_id)
    for v in client.history(note_id):
        table.add_row(str(v.version), when(v.created_at), v.cause, ", ".join(v.tags), clip(v.context, 50))
    state.console.print(table)


@memory.command("neighbours")
@click.argument("agent")
@click.argument("note_id")
@click.option("-d", "depth", default=1, show_default=True)
@pass_state
def memory_neighbours(state: ShellState, agent: str, note_id: str, depth: int) -> None:
    """Notes linked to a note, up to DEPTH hops, and the links with their reasons."""
    client, note_id = _with_note(state, agent, note_id)
    notes, links = client.neighbours(note_id, depth)
    state.console.print(_note_table(notes, "neighbours"))
    table = Table("from", "to", "kind", "weight", "reason", title="links")
    for x in links:
        table.add_row(x.from_id[:12], x.to_id[:12], x.kind, f"{x.weight:.2f}", clip(x.reason, 60))
    state.console.print(table)


def _flag_command(name: str, doc: str, call: Callable[[Client, str], object]) -> None:
    @memory.command(name, help=doc)
    @click.argument("agent")
    @click.argument("note_id")
    @pass_state
    def command(state: ShellState, agent: str, note_id: str) -> None:
        client, note_id = _with_note(state, agent, note_id)
        call(client, note_id)
        state.console.print(f"{name}: {note_id}")


_flag_command("archive", "Archive a note (kept, searchable with a flag).", lambda c, i: c.archive_note(i))
_flag_command("restore", "Restore an archived note.", lambda c, i: c.restore_note(i))
_flag_command("pin", "Pin a note: it never decays.", lambda c, i: c.pin_note(i))
_flag_command("unpin", "Unpin a note.", lambda c, i: c.pin_note(i, False))
_flag_command("undo", "Undo the evolution a new note caused in its neighbours.", lambda c, i: c.undo_evolution(i))


@memory.command("link")
@click.argument("agent")
@click.argument("from_id")
@click.argument("to_id")
@click.option("--kind", default="related", show_default=True)
@click.option("--reason", default="")
@pass_state
def memory_link(state: ShellState, agent: str, from_id: str, to_id: str, kind: str, reason: str) -> None:
    """Link two notes."""
    client, from_id = _with_note(state, agent, from_id)
    to_id = state.note_id(client, to_id)
    client.link_notes(from_id, to_id, kind, reason)
    state.console.print(f"linked {from_id[:12]} -> {to_id[:12]} ({kind})")


@memory.command("decay")
@click.argument("agent")
@pass_state
def memory_decay(state: ShellState, agent: str) -> None:
    """Run the forgetting-curve job now for AGENT."""
    state.console.print(f"archived {_as(state, agent).run_decay()} notes")


@memory.command("stats")
@click.argument("agent")
@pass_state
def memory_stats(state: ShellState, agent: str) -> None:
    """Counts of notes, archived, pinned, links, shared; mean retention."""
    s = _as(state, agent).memory_stats()
    state.console.print(f"{s.notes} notes · {s.archived} archived · {s.pinned} pinned · {s.links} links · "
                        f"{s.shared_with_me} shared with it · mean retention {s.mean_retention:.2f}")  # fmt: skip


@memory.command("consolidate")
@click.argument("agent")
@click.option("--min-age-days", type=float, default=None, help="Notes older than this are candidates (default 7).")
@pass_state
def memory_consolidate(state: ShellState, agent: str, min_age_days: float | None) -> None:
    """Consolidate AGENT's old or fading related notes into summary notes now; refresh its profile."""
    report = _as(state, agent).consolidate(None if min_age_days is None else min_age_days * 86_400)
    state.console.print(f"{report.groups} groups → {len(report.summary_ids)} summary notes, {report.archived} "
                        f"sources archived; profile {report.profile_id[:12]}")  # fmt: skip


@memory.command("graph")
@click.argument("agent")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", default=200, show_default=True)
@pass_state
def memory_graph(state: ShellState, agent: str, out: Path, limit: int) -> None:
    """Write AGENT's note graph as OUT.dot and OUT.svg."""
    notes, links = _as(state, agent).graph(limit)
    out.with_suffix(".dot").write_text(to_dot(notes, links))
    out.with_suffix(".svg").write_text(to_svg(notes, links))
    state.console.print(f"wrote {out.with_suffix('.dot')} and {out.with_suffix('.svg')}: {len(notes)} notes, "
                        f"{len(links)} links")  # fmt: skip
