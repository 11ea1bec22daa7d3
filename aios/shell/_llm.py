"""Model commands: llm (the model and its KV cache), sched (the scheduler: view, policy, timeline, quota), chat."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Group
from rich.table import Table

from aios.client import Client
from aios.render.timeline import render_svg
from aios.shell._line import free_text
from aios.shell._state import ShellState, commands, pass_state

__all__ = ["chat", "llm", "sched", "write_timeline"]


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
    state = ctx.find_object(ShellState)
    assert state is not None, "run_command passes the state"
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
        if chunk.timing is not None and chunk.usage is not None:
            state.console.print(f"\n[dim]{chunk.finish_reason} · {chunk.usage.completion_tokens} tokens · "
                                f"ttft {chunk.timing.ttft_s:.2f}s · total {chunk.timing.total_s:.2f}s[/]")  # fmt: skip
