"""The admin shell: `aios shell` (a REPL with history and tab completion) and `aios shell -c "<command>"`.

Each shell command is a click command over the SDK, so the REPL and `-c` share one parser and help.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aios.client import Client
from aios.errors import AiosError, NotFound

__all__ = ["commands", "run_command", "repl", "reindex_with_progress"]


class ShellState:
    def __init__(self, client: Client, console: Console) -> None:
        self.client = client
        self.console = console

    def agent_id(self, name_or_id: str) -> str:
        for agent in self.client.list_agents(include_revoked=True):
            if name_or_id in (agent.id, agent.name):
                return agent.id
        raise NotFound(f"no agent named or with id {name_or_id!r}")


pass_state = click.make_pass_decorator(ShellState)


@click.group(name="", context_settings={"help_option_names": ["-h", "--help"]})
def commands() -> None:
    """Admin commands. Type 'help' or '<command> --help'."""


@commands.group()
def agents() -> None:
    """Register, list and revoke agents."""


@agents.command("create")
@click.argument("name")
@pass_state
def agents_create(state: ShellState, name: str) -> None:
    """Register an agent and print its token (shown once)."""
    creds = state.client.create_agent(name)
    state.console.print(f"agent [bold]{creds.agent.name}[/] id={creds.agent.id}")
    state.console.print(f"token: {creds.token}", soft_wrap=True, highlight=False)
    state.console.print("[dim]store the token now: the kernel keeps only its hash[/]")


@agents.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked agents.")
@pass_state
def agents_list(state: ShellState, include_revoked: bool) -> None:
    """List agents."""
    table = Table("id", "name", "created", "revoked")
    for a in state.client.list_agents(include_revoked=include_revoked):
        table.add_row(a.id, a.name, _when(a.created_at), _when(a.revoked_at))
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
        table.add_row(str(s.id), s.agent_id[:8], s.kind, str(s.priority), s.status, wait, total, s.error)
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
        per_agent.add_row(a.agent_id[:8], str(a.syscalls), str(a.failed), f"{a.mean_waiting_ms:.2f}",
                          f"{a.mean_turnaround_ms:.2f}", f"{a.p95_turnaround_ms:.2f}")  # fmt: skip
    state.console.print(per_agent)


@commands.command()
@click.argument("agent")
@click.argument("query", nargs=-1, required=True)
@click.option("-k", default=5, show_default=True, help="Hits to return.")
@pass_state
def search(state: ShellState, agent: str, query: tuple[str, ...], k: int) -> None:
    """Search AGENT's memory (name or id) on its behalf."""
    hits = state.client.as_agent(state.agent_id(agent)).search(" ".join(query), k)
    table = Table("score", "id", "content")
    for hit in hits:
        table.add_row(f"{hit.score:.3f}", hit.note.id[:12], _clip(hit.note.content))
    state.console.print(table)


@commands.command()
@click.argument("agent")
@click.argument("text", nargs=-1, required=True)
@pass_state
def add(state: ShellState, agent: str, text: tuple[str, ...]) -> None:
    """Add a note to AGENT's memory on its behalf."""
    note = state.client.as_agent(state.agent_id(agent)).add_note(" ".join(text))
    state.console.print(f"added {note.id}")


@commands.command()
@click.argument("agent", required=False)
@pass_state
def reindex(state: ShellState, agent: str | None) -> None:
    """Rebuild the vector index from SQL (all agents, or one)."""
    reindex_with_progress(state.client, state.agent_id(agent) if agent else None, state.console)


@commands.command()
@pass_state
def whoami(state: ShellState) -> None:
    """Who this shell's token belongs to."""
    me = state.client.whoami()
    state.console.print("admin" if me.is_admin else f"agent {me.name} ({me.agent_id})")


def reindex_with_progress(client: Client, agent_id: str | None, console: Console) -> int:
    columns = (TextColumn("reindex"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    done = 0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("reindex", total=None)
        for step in client.reindex(agent_id):
            progress.update(task, completed=step.done, total=step.total)
            done = step.done
    console.print(f"reindexed {done} notes")
    return done


def run_command(line: str | Iterable[str], client: Client, console: Console) -> bool:
    """Run one shell command; False when it failed. Errors are printed, never raised."""
    args = shlex.split(line) if isinstance(line, str) else list(line)
    if not args:
        return True
    if args[0] == "help":
        args = [*args[1:], "--help"]
    try:
        commands.main(args, prog_name="", standalone_mode=False, obj=ShellState(client, console))
        return True
    except AiosError as exc:
        console.print(f"[red]{exc.code.lower()}[/]: {exc.message}", highlight=False)
    except click.exceptions.Exit:
        return True
    except click.ClickException as exc:
        console.print(f"[red]error[/]: {exc.format_message()}", highlight=False)
    except click.exceptions.Abort:
        pass
    return False


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


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _ms(end: datetime | None, start: datetime) -> str:
    return f"{(end - start).total_seconds() * 1e3:.1f}" if end else ""


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
