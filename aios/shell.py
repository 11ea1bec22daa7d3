"""The admin shell: `aios shell` (a REPL with history and tab completion) and `aios shell -c "<command>"`.

Each shell command is a click command over the SDK, so the REPL and `-c` share one parser and help.
A line is split like a POSIX shell's, except that nothing in it is an error: a quote with no closing partner
is an ordinary character (`chat alice What's up?`), and a free-text argument (the message of `chat`, the
content of `add`, the query of `search` ...) is taken as typed. Agents are named or given by id, and every id
may be shortened to a unique prefix (`resolve_prefix`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aios.client import AgentCredentials, Client
from aios.errors import AiosError, InvalidArgument, NotFound

__all__ = [
    "WHOLE_ID",
    "ShellState",
    "Word",
    "clip",
    "commands",
    "free_text",
    "pass_state",
    "reindex_with_progress",
    "repl",
    "resolve_prefix",
    "run_command",
    "split_line",
    "when",
]

_NOTE_SCAN = 2000
"""Newest notes of an agent searched for a note id prefix (the kernel's largest graph page)."""
WHOLE_ID = 32
"""Characters of a whole note or message id (uuid4 hex); shorter is a prefix."""


class Word(str):
    """One word of a command line, and where it stood in the line (so a free-text argument can be taken raw)."""

    index: int
    start: int
    end: int

    def __new__(cls, value: str, index: int, start: int, end: int) -> Word:
        word = super().__new__(cls, value)
        word.index, word.start, word.end = index, start, end
        return word


def split_line(line: str) -> list[Word]:
    """Words as a POSIX shell splits them ('...' literal, "..." with \\ escapes, \\ outside quotes), but never
    an error: a quote with no closing partner, or a trailing backslash, is an ordinary character."""
    words: list[Word] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start, chars = i, []
        while i < n and not line[i].isspace():
            c = line[i]
            close = _closing_quote(line, i) if c in "'\"" else None
            if close is not None:
                body = line[i + 1 : close]
                chars.append(body if c == "'" else _unescape(body))
                i = close + 1
            elif c == "\\" and i + 1 < n:
                chars.append(line[i + 1])
                i += 2
            else:
                chars.append(c)
                i += 1
        words.append(Word("".join(chars), len(words), start, i))
    return words


def _closing_quote(line: str, at: int) -> int | None:
    quote, i = line[at], at + 1
    while i < len(line):
        if quote == '"' and line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            return i
        i += 1
    return None


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '"\\$`':
            i += 1
        out.append(body[i])
        i += 1
    return "".join(out)


class _FreeText(click.ParamType):
    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value  # keep the Word: ShellState.text needs its place in the line


def free_text(name: str, required: bool = True) -> Callable[[Any], Any]:
    """The last argument of a command, as free text: read it with `state.text(...)`."""
    return click.argument(name, nargs=-1, required=required, type=_FreeText())


def resolve_prefix(kind: str, ref: str, candidates: Mapping[str, str], scope: str = "") -> str:
    """The id in `candidates` (id -> a label for messages) that is `ref` or the only one starting with it.

    None: NotFound; several: InvalidArgument listing them."""
    if ref in candidates:
        return ref
    matches = sorted(i for i in candidates if ref and i.startswith(ref))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no {kind} {ref!r}{scope}")
    listed = ", ".join(f"{i[:12]} ({clip(candidates[i], 30)})" for i in matches[:10])
    more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
    raise InvalidArgument(f"{ref!r} is the start of {len(matches)} {kind} ids: {listed}{more}; type more of it")


class ShellState:
    def __init__(self, client: Client, console: Console, line: str | None = None) -> None:
        self.client = client
        self.console = console
        self._line = line
        self._names: dict[str, str] | None = None

    def names(self) -> dict[str, str]:
        """Agent id -> name, revoked agents included (fetched once per command)."""
        if self._names is None:
            self._names = {a.id: a.name for a in self.client.list_agents(include_revoked=True)}
        return self._names

    def forget_names(self) -> None:
        self._names = None

    def agent_name(self, agent_id: str) -> str:
        """The agent's name; its short id if the kernel does not know it (e.g. the admin's)."""
        return self.names().get(agent_id) or agent_id[:12]

    def agent_id(self, ref: str) -> str:
        """An agent by name, id or unique id prefix."""
        names = self.names()
        named = [i for i, name in names.items() if name == ref]
        return named[0] if named else resolve_prefix("agent", ref, names)

    def as_agent(self, ref: str) -> Client:
        """The admin's client acting in that agent's namespace."""
        return self.client.as_agent(self.agent_id(ref))

    def note_id(self, agent: Client, ref: str) -> str:
        """A note of `agent` by id or unique id prefix (among its newest notes)."""
        if len(ref) >= WHOLE_ID:
            return ref  # a whole id: the kernel checks it, and finds notes shared with the agent too
        notes, _ = agent.graph(_NOTE_SCAN, include_archived=True)
        scope = f" among the agent's newest {_NOTE_SCAN} notes (give an older note's whole id)"
        return resolve_prefix("note", ref, {n.id: n.content for n in notes}, scope)

    def text(self, words: Sequence[str]) -> str:
        """A free-text argument as typed: the line's own characters from its first word to its last, except
        that one quoted word is taken without its quotes (`add alice 'some text'` stores `some text`)."""
        if not words or self._line is None or not all(isinstance(w, Word) for w in words):
            return " ".join(words)  # given as a list of words (run_command's other form): no line to read
        first, last = words[0], words[-1]
        if [w.index for w in words] != list(range(first.index, last.index + 1)):  # type: ignore[attr-defined]
            return " ".join(words)  # options in between: the words alone
        raw = self._line[first.start : last.end]  # type: ignore[attr-defined]
        quoted = len(words) == 1 and len(raw) > 1 and raw[0] in "'\"" and raw[-1] == raw[0]
        return str(first) if quoted else raw


pass_state = click.make_pass_decorator(ShellState)


@click.group(name="", context_settings={"help_option_names": ["-h", "--help"]})
def commands() -> None:
    """Admin commands. Type 'help' or '<command> --help'."""


@commands.group()
def agents() -> None:
    """Register, list and revoke agents; reissue a lost token."""


def _print_credentials(state: ShellState, creds: AgentCredentials) -> None:
    state.console.print(f"agent [bold]{creds.agent.name}[/] id={creds.agent.id}")
    state.console.print(f"token: {creds.token}", soft_wrap=True, highlight=False)
    state.console.print("[dim]store the token now: the kernel keeps only its hash[/]")


@agents.command("create")
@click.argument("name")
@pass_state
def agents_create(state: ShellState, name: str) -> None:
    """Register an agent and print its token (shown once)."""
    _print_credentials(state, state.client.create_agent(name))


@agents.command("token")
@click.argument("agent")
@pass_state
def agents_token(state: ShellState, agent: str) -> None:
    """Issue AGENT a new token (shown once); its old token is refused from now on."""
    _print_credentials(state, state.client.reissue_token(state.agent_id(agent)))


@agents.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked agents.")
@pass_state
def agents_list(state: ShellState, include_revoked: bool) -> None:
    """List agents."""
    table = Table("id", "name", "created", "revoked")
    for a in state.client.list_agents(include_revoked=include_revoked):
        table.add_row(a.id, a.name, when(a.created_at), when(a.revoked_at))
    state.console.print(table)


@agents.command("revoke")
@click.argument("agent")
@pass_state
def agents_revoke(state: ShellState, agent: str) -> None:
    """Revoke an agent's token (its data is kept)."""
    revoked = state.client.revoke_agent(state.agent_id(agent))
    state.console.print(f"revoked {revoked.name} ({revoked.id})")


@commands.command()
@click.argument("agent", required=False)
@click.option("-n", "limit", default=30, show_default=True, help="Rows to show.")
@pass_state
def ps(state: ShellState, agent: str | None, limit: int) -> None:
    """The syscall table: running and queued first, then the most recent."""
    agent_id = state.agent_id(agent) if agent else None
    table = Table("id", "agent", "kind", "prio", "status", "wait ms", "total ms", "error")
    for s in state.client.ps(agent_id, limit):
        wait = _ms(s.started_at, s.created_at)
        total = _ms(s.finished_at, s.created_at)
        table.add_row(str(s.id), s.agent_name or s.agent_id[:12], s.kind, str(s.priority), s.status, wait, total,
                      s.error)  # fmt: skip
    state.console.print(table)


@commands.command()
@pass_state
def stats(state: ShellState) -> None:
    """Queues, per-agent waiting and turnaround times, totals."""
    st = state.client.stats()
    state.console.print(
        f"uptime {st.uptime_s:.0f}s · {st.agents_registered} agents · {st.notes} notes", highlight=False
    )
    queues = Table("queue", "queued", "running", "capacity", "workers", title="queues")
    for q in st.queues:
        queues.add_row(q.resource, str(q.queued), str(q.running), str(q.capacity), str(q.workers))
    state.console.print(queues)
    per_agent = Table("agent", "syscalls", "failed", "mean wait ms", "mean total ms", "p95 total ms",
                      title="per agent")  # fmt: skip
    for a in st.agents:
        per_agent.add_row(a.agent_name or a.agent_id[:12], str(a.syscalls), str(a.failed), f"{a.mean_waiting_ms:.2f}",
                          f"{a.mean_turnaround_ms:.2f}", f"{a.p95_turnaround_ms:.2f}")  # fmt: skip
    state.console.print(per_agent)


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


@commands.command()
@click.argument("agent", required=False)
@click.option("--files", is_flag=True, help="The file system's index (every tree) instead of memory's.")
@pass_state
def reindex(state: ShellState, agent: str | None, files: bool) -> None:
    """Rebuild the vector index from SQL (all agents, or one)."""
    reindex_with_progress(state.client, state.agent_id(agent) if agent else None, state.console, files)


@commands.command()
@pass_state
def whoami(state: ShellState) -> None:
    """Who this shell's token belongs to."""
    me = state.client.whoami()
    state.console.print("admin" if me.is_admin else f"agent {me.name} ({me.agent_id})")


@commands.command()
@pass_state
def llm(state: ShellState) -> None:
    """The model: backend, context window, policy, KV cache."""
    info = state.client.model_info()
    table = Table("", "", show_header=False)
    for key, value in [("backend", info.backend), ("model", info.model), ("path", info.path),
                       ("context", f"{info.n_ctx} tokens"), ("policy", f"{info.policy} (quantum {info.quantum})"),
                       ("context switches", str(info.context_switches))]:  # fmt: skip
        table.add_row(key, value)
    kv = info.kv
    if kv["max_batch"]:
        table.add_row("resident sessions", f"{kv['resident_sessions']:.0f} of {kv['max_batch']:.0f} (decoded as one "
                      f"batch), {kv['resident_tokens']:.0f} of {kv['kv_cells']:.0f} KV cells")  # fmt: skip
    table.add_row("KV snapshots", f"{kv['sessions']:.0f} sessions, {kv['ram_bytes'] / 2**20:.1f} MiB RAM, "
                  f"{kv['disk_bytes'] / 2**20:.1f} MiB disk, {kv['spills']:.0f} spills")  # fmt: skip
    table.add_row("KV saves / restores", f"{kv['saves']:.0f} ({kv['save_s'] * 1e3:.0f} ms) / "
                  f"{kv['restores']:.0f} ({kv['restore_s'] * 1e3:.0f} ms)")  # fmt: skip
    w = info.weights
    budget = f"{w['budget_bytes'] / 2**20:.1f} MiB" if w["budget_bytes"] else "none (all resident)"
    table.add_row(
        "weights",
        f"{w['model_bytes'] / 2**20:.1f} MiB mapped, budget {budget}, "
        f"{w['streamed_bytes'] / 2**20:.1f} MiB streamed, prefetch {'on' if w['prefetch'] else 'off'}",
    )
    table.add_row("process", f"RssAnon {w['rss_anon'] / 2**20:.0f} MiB, RssFile {w['rss_file'] / 2**20:.0f} MiB, "
                  f"peak {w['peak_rss'] / 2**20:.0f} MiB, read {w['read_bytes'] / 2**20:.0f} MiB, "
                  f"{w['major_faults']:.0f} major faults")  # fmt: skip
    state.console.print(table)


@commands.group(invoke_without_command=True)
@click.option("--watch", is_flag=True, help="Refresh live until Ctrl-C.")
@click.pass_context
def sched(ctx: click.Context, watch: bool) -> None:
    """The LLM scheduler: queue, running request, per-agent figures. Subcommands change it."""
    if ctx.invoked_subcommand is not None:
        return
    state: ShellState = ctx.find_object(ShellState)  # type: ignore[assignment]
    if not watch:
        state.console.print(_sched_view(state))
        return
    from rich.live import Live

    with Live(_sched_view(state), console=state.console, refresh_per_second=4) as live:
        try:
            while True:
                time.sleep(0.5)
                state.forget_names()  # agents come and go while it watches
                live.update(_sched_view(state))
        except KeyboardInterrupt:
            pass


def _sched_view(state: ShellState) -> Group:
    s = state.client.scheduler()
    name = state.agent_name
    head = (f"policy [bold]{s.policy}[/] · quantum {s.quantum} · {s.tokens_per_s:.1f} tok/s · "
            f"Jain fairness {s.jain_fairness:.3f} (last minute)")  # fmt: skip
    queue = Table("", "request", "agent", "class", "prio", "waited s", title="queue")
    for w in s.running:
        queue.add_row("▶", str(w.id), name(w.agent_id), "", "", "")
    for w in s.waiting:
        queue.add_row("", str(w.id), name(w.agent_id), w.job_class, str(w.priority), f"{w.waited_s:.2f}")
    agents = Table("agent", "reqs", "prompt", "gen", "cached", "queue s", "ttft s", "tpot ms", "turnaround s",
                   "preempt", "vtc", "quota/min", title="agents")  # fmt: skip
    for a in s.agents:
        agents.add_row(name(a.agent_id), str(a.requests), str(a.prompt_tokens), str(a.completion_tokens),
                       str(a.cached_tokens), f"{a.mean_queue_s:.2f}", f"{a.mean_ttft_s:.2f}",
                       f"{a.mean_tpot_s * 1e3:.1f}", f"{a.mean_turnaround_s:.2f}", str(a.preemptions),
                       f"{a.virtual_counter:.0f}", str(a.quota_tokens_per_minute or "-"))  # fmt: skip
    return Group(head, queue, agents)


@sched.command("policy")
@click.argument("policy", type=click.Choice(["fifo", "rr", "fair"]))
@click.option("-q", "--quantum", type=int, help="Tokens per turn before preemption.")
@pass_state
def sched_policy(state: ShellState, policy: str, quantum: int | None) -> None:
    """Switch the scheduling policy at run time."""
    s = state.client.set_policy(policy, quantum)
    state.console.print(f"policy {s.policy}, quantum {s.quantum}")


@sched.command("timeline")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--last", "last_s", type=float, default=0.0, help="Only the last N seconds.")
@pass_state
def sched_timeline(state: ShellState, path: Path, last_s: float) -> None:
    """Write an SVG timeline of who ran on the model when."""
    write_timeline(state.client, path, last_s)
    state.console.print(f"wrote {path}")


def write_timeline(client: Client, path: Path, last_s: float = 0.0) -> int:
    from aios.llm.timeline import render_svg

    events = client.scheduler_events(last_s)
    names = {a.id: a.name for a in client.list_agents(include_revoked=True)}
    path.write_text(render_svg(events, names))
    return len(events)


@sched.command("quota")
@click.argument("agent")
@click.argument("tokens_per_minute", type=int)
@pass_state
def sched_quota(state: ShellState, agent: str, tokens_per_minute: int) -> None:
    """Set an agent's LLM token quota per minute (0: unlimited)."""
    state.client.set_quota(state.agent_id(agent), tokens_per_minute)
    state.console.print(f"quota for {agent}: {tokens_per_minute or 'unlimited'} tokens/minute")


@commands.command()
@click.argument("agent")
@free_text("text")
@click.option("-n", "max_tokens", default=128, show_default=True, help="Most tokens to generate.")
@pass_state
def chat(state: ShellState, agent: str, text: tuple[str, ...], max_tokens: int) -> None:
    """Send one user message to the model as AGENT, streaming the reply."""
    client = state.as_agent(agent)
    for chunk in client.chat_stream([("user", state.text(text))], max_tokens=max_tokens):
        state.console.print(chunk.delta, end="", highlight=False, markup=False)
        if chunk.timing is not None:
            state.console.print(f"\n[dim]{chunk.finish_reason} · {chunk.usage.completion_tokens} tokens · "
                                f"ttft {chunk.timing.ttft_s:.2f}s · total {chunk.timing.total_s:.2f}s[/]")  # fmt: skip


@commands.group()
def memory() -> None:
    """An agent's notes on its behalf: show, history, links, archive, pin, decay, graph."""


def _note_table(notes: list, title: str = "") -> Table:  # type: ignore[type-arg]
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
    from memory.graph import to_dot, to_svg

    notes, links = _as(state, agent).graph(limit)
    out.with_suffix(".dot").write_text(to_dot(notes, links))
    out.with_suffix(".svg").write_text(to_svg(notes, links))
    state.console.print(f"wrote {out.with_suffix('.dot')} and {out.with_suffix('.svg')}: {len(notes)} notes, "
                        f"{len(links)} links")  # fmt: skip


def reindex_with_progress(client: Client, agent_id: str | None, console: Console, files: bool = False) -> int:
    columns = (TextColumn("reindex"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    done = 0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("reindex", total=None)
        for step in client.reindex(agent_id, files=files):
            progress.update(task, completed=step.done, total=step.total)
            done = step.done
    console.print(f"reindexed {done} {'files' if files else 'notes'}")
    return done


def run_command(line: str | Iterable[str], client: Client, console: Console) -> bool:
    """Run one shell command; False when it failed. Errors are printed, never raised."""
    args: list[str] = split_line(line) if isinstance(line, str) else list(line)  # type: ignore[assignment]
    if not args:
        return True
    if args[0] == "help":
        args = [*args[1:], "--help"]
    state = ShellState(client, console, line if isinstance(line, str) else None)
    try:
        commands.main(args, prog_name="", standalone_mode=False, obj=state)
        return True
    except AiosError as exc:
        _error(console, exc.message, exc.code.lower())
    except click.exceptions.Exit:
        return True
    except click.ClickException as exc:
        _error(console, exc.format_message())
    except click.exceptions.Abort:
        pass
    except OSError as exc:  # a local file a command reads or writes (graph, timeline, fs import/export)
        _error(console, str(exc))
    except Exception as exc:  # noqa: BLE001 - a shell command must not end the shell; show what went wrong
        _error(console, f"{type(exc).__name__}: {exc}")
    return False


def _error(console: Console, message: str, label: str = "error") -> None:
    # The message may quote what was typed: never read it as rich markup.
    console.print(f"[red]{label}[/]: ", end="", highlight=False)
    console.print(message, highlight=False, markup=False)


def _words(group: click.Group, prefix: str = "") -> list[str]:
    words = ["help", "exit"]
    for name, cmd in group.commands.items():
        words.append(prefix + name)
        if isinstance(cmd, click.Group):
            words += _words(cmd, f"{prefix}{name} ")
    return words


def repl(client: Client, console: Console, history_file: Path) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory

    history_file.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(history_file)),
        completer=WordCompleter(_words(commands), sentence=True),
    )
    console.print(f"aios shell on {client.target}. 'help' lists commands, Ctrl-D leaves.")
    while True:
        try:
            line = session.prompt("aios> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        if line.strip() in ("exit", "quit"):
            return
        run_command(line, client, console)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _ms(end: datetime | None, start: datetime) -> str:
    return f"{(end - start).total_seconds() * 1e3:.1f}" if end else ""


def clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


from aios import shell_context, shell_fs  # noqa: E402,F401 - registers the ctx and fs command groups
