"""Admin commands: agents (create, token, list, revoke), ps, stats, whoami, reindex."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aios.client import AgentCredentials, Client
from aios.shell._state import ShellState, commands, ms, pass_state, when

__all__ = ["agents", "ps", "reindex", "reindex_with_progress", "stats", "whoami"]


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
        wait = ms(s.started_at, s.created_at)
        total = ms(s.finished_at, s.created_at)
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
