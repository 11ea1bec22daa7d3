"""`ctx` shell commands: an agent's context window as sections with token bars, its paging figures and events,
its core blocks, and paging by hand. Importing this module registers the group on the shell's commands."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from aios.client import Client
from aios.shell._line import free_text
from aios.shell._state import WHOLE_ID, ShellState, clip, commands, pass_state, resolve_prefix

__all__ = ["ctx", "token_bar"]

_BAR = 40
_COLOURS = {"system": "cyan", "core": "magenta", "summary": "yellow", "recalled": "green", "messages": "blue",
            "reply": "white"}  # fmt: skip


def token_bar(tokens: int, window: int, colour: str = "blue", width: int = _BAR) -> Text:
    """`tokens` of `window` as a bar of `width` cells (at least one cell for a non-empty section)."""
    cells = 0 if tokens <= 0 else max(1, round(width * tokens / max(1, window)))
    return Text("█" * min(cells, width), style=colour) + Text("·" * max(0, width - cells), style="dim")


@commands.group()
def ctx() -> None:
    """An agent's context window: show, stats, events, core, page-in, page-out, pin, search."""


@ctx.command("show")
@click.argument("agent")
@click.option("-m", "--messages", "show_messages", default=8, show_default=True, help="Newest messages to list.")
@pass_state
def ctx_show(state: ShellState, agent: str, show_messages: int) -> None:
    """AGENT's window as sections with token bars."""
    c = state.as_agent(agent).get_context()
    p = c.pressure
    exact = "exact" if c.exact else "estimated"
    state.console.print(
        f"window {p.window} tokens · assembled {c.tokens} ({p.fraction:.0%}, {exact}) · budget {p.budget} · "
        f"flush at {p.flush_tokens} · pressure [bold]{p.level}[/]",
        highlight=False,
    )
    table = Table("section", "tokens", "items", f"share of the {p.window}-token window")
    for s in c.sections:
        table.add_row(s.name, str(s.tokens), str(s.items), token_bar(s.tokens, p.window, _COLOURS.get(s.name, "blue")))
    table.add_row("total", str(c.tokens), "", token_bar(c.tokens, p.window, "bold"))
    state.console.print(table)
    for block in c.core:
        state.console.print(f"[magenta]core[/] \\[{block.label}] {block.tokens}/{block.limit_tokens} tokens: "
                            f"{clip(block.value, 80)}", highlight=False)  # fmt: skip
    if c.summary:
        state.console.print(f"[yellow]summary[/] {clip(c.summary, 160)}", highlight=False)
    for item in c.recalled:
        pin = " 📌" if item.pinned else ""
        state.console.print(f"[green]recalled[/] {item.kind} {item.id[:12]}{pin} ({item.tokens} tokens): "
                            f"{clip(item.content, 80)}", highlight=False)  # fmt: skip
    recent = Table("seq", "id", "role", "tokens", "content", title=f"newest {show_messages} of {len(c.messages)}")
    for m in c.messages[-show_messages:] if show_messages else []:
        recent.add_row(str(m.seq), m.id[:12] + (" 📌" if m.pinned else ""), m.role, str(m.tokens), clip(m.content, 70))
    if show_messages:
        state.console.print(recent)


@ctx.command("stats")
@click.argument("agent")
@pass_state
def ctx_stats(state: ShellState, agent: str) -> None:
    """Page-outs, page-ins, recall hit rate, summary size."""
    s = state.as_agent(agent).context_stats()
    table = Table("", "", show_header=False)
    for key, value in [
        ("window", f"{s.tokens}/{s.window} tokens, {s.active_messages} messages"),
        ("page-outs", f"{s.page_outs} messages in {s.flushes} flush(es) ({s.evicted_messages} in recall storage)"),
        ("page-ins", str(s.page_ins)),
        ("recall hit rate", f"{s.hit_rate:.0%} ({s.recall_hits}/{s.recall_queries} turns)"),
        ("summary", f"{s.summary_tokens} tokens"),
        ("pressure warnings", str(s.warnings)),
        ("KV swaps", str(s.kv_swaps)),
    ]:
        table.add_row(key, value)
    state.console.print(table)


@ctx.command("events")
@click.argument("agent")
@click.option("--after", "after_id", default=0, show_default=True, help="Only events after this id.")
@click.option("-n", "limit", default=30, show_default=True)
@pass_state
def ctx_events(state: ShellState, agent: str, after_id: int, limit: int) -> None:
    """Memory-pressure and paging events."""
    table = Table("id", "at", "kind", "fill", "detail")
    for e in state.as_agent(agent).context_events(after_id, limit):
        table.add_row(str(e.id), e.at.strftime("%H:%M:%S"), e.kind, f"{e.fraction:.0%}", e.detail)
    state.console.print(table)


@ctx.command("core")
@click.argument("agent")
@click.argument("label")
@free_text("value", required=False)
@click.option("--limit", "limit_tokens", default=0, help="Size limit in tokens (0: keep / default).")
@click.option("--delete", is_flag=True, help="Delete the block.")
@pass_state
def ctx_core(
    state: ShellState, agent: str, label: str, value: tuple[str, ...], limit_tokens: int, delete: bool
) -> None:
    """Set (or --delete) AGENT's core block LABEL."""
    client = state.as_agent(agent)
    update = (
        client.delete_core_block(label) if delete else client.set_core_block(label, state.text(value), limit_tokens)
    )
    state.console.print(f"{'deleted' if delete else 'set'} core block {label}; window at {update.pressure.tokens} "
                        f"tokens ({update.pressure.level})", highlight=False)  # fmt: skip


@ctx.command("page-in")
@click.argument("agent")
@click.argument("item_id")
@click.option("--pin", is_flag=True, help="Keep it across turns.")
@pass_state
def ctx_page_in(state: ShellState, agent: str, item_id: str, pin: bool) -> None:
    """Put an evicted message or a note into AGENT's recalled section."""
    client = state.as_agent(agent)
    update = client.page_in(_item_id(state, client, item_id), pin)
    state.console.print(f"recalled section: {len(update.recalled)} items", highlight=False)


@ctx.command("page-out")
@click.argument("agent")
@click.argument("ids", nargs=-1)
@click.option("--oldest", default=0, help="Evict the oldest N unpinned messages.")
@pass_state
def ctx_page_out(state: ShellState, agent: str, ids: tuple[str, ...], oldest: int) -> None:
    """Evict messages of AGENT's window to recall storage."""
    client = state.as_agent(agent)
    update = client.page_out([_item_id(state, client, i) for i in ids], oldest)
    state.console.print(f"paged out {len(update.evicted_ids)} messages; window at {update.pressure.tokens} tokens",
                        highlight=False)  # fmt: skip


@ctx.command("pin")
@click.argument("agent")
@click.argument("item_id")
@click.option("--off", is_flag=True, help="Unpin.")
@pass_state
def ctx_pin(state: ShellState, agent: str, item_id: str, off: bool) -> None:
    """Pin a message or recalled item in AGENT's window (or --off)."""
    client = state.as_agent(agent)
    item_id = _item_id(state, client, item_id)
    client.pin_in_context(item_id, not off)
    state.console.print(f"{'unpinned' if off else 'pinned'} {item_id}", highlight=False)


@ctx.command("search")
@click.argument("agent")
@free_text("query")
@click.option("-k", default=5, show_default=True)
@pass_state
def ctx_search(state: ShellState, agent: str, query: tuple[str, ...], k: int) -> None:
    """Search AGENT's recall storage (paged-out messages)."""
    table = Table("score", "message", "role", "content")
    for h in state.as_agent(agent).search_recall(state.text(query), k):
        table.add_row(f"{h.score:.4f}", h.message_id[:12], h.role, clip(h.content, 70))
    state.console.print(table)


def _item_id(state: ShellState, client: Client, ref: str) -> str:
    """A message or recalled item of the agent's window, or one of its notes, by id or unique id prefix."""
    if len(ref) >= WHOLE_ID:
        return ref
    c = client.get_context()
    in_window = {m.id: m.content for m in c.messages} | {item.id: item.content for item in c.recalled}
    if any(i.startswith(ref) for i in in_window):
        return resolve_prefix("message", ref, in_window)
    return state.note_id(client, ref)


@ctx.command("swap")
@click.argument("agent")
@click.option("--drop", is_flag=True, help="Discard the KV state instead (the next turn prefills in full).")
@pass_state
def ctx_swap(state: ShellState, agent: str, drop: bool) -> None:
    """Move AGENT's saved KV state to disk now."""
    swap = state.as_agent(agent).swap_out_context(drop)
    state.console.print(f"KV state: {swap.where} ({swap.bytes / 2**20:.1f} MiB)", highlight=False)
