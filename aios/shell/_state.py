"""What every shell command shares: the root command group, the state a command gets (the admin's client,
the console, the line as typed), agents and ids by name or unique prefix, and small text formatting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import click
from rich.console import Console

from aios.client import Client
from aios.errors import InvalidArgument, NotFound
from aios.shell._line import Word

__all__ = ["WHOLE_ID", "ShellState", "clip", "commands", "ms", "pass_state", "resolve_prefix", "when"]

_NOTE_SCAN = 2000
"""Newest notes of an agent searched for a note id prefix (the kernel's largest graph page)."""
WHOLE_ID = 32
"""Characters of a whole note or message id (uuid4 hex); shorter is a prefix."""


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
        placed = [w for w in words if isinstance(w, Word)]
        if not words or self._line is None or len(placed) != len(words):
            return " ".join(words)  # given as a list of words (run_command's other form): no line to read
        first, last = placed[0], placed[-1]
        if [w.position for w in placed] != list(range(first.position, last.position + 1)):
            return " ".join(words)  # options in between: the words alone
        raw = self._line[first.start : last.end]
        quoted = len(words) == 1 and len(raw) > 1 and raw[0] in "'\"" and raw[-1] == raw[0]
        return str(first) if quoted else raw


pass_state = click.make_pass_decorator(ShellState)


@click.group(name="", context_settings={"help_option_names": ["-h", "--help"]})
def commands() -> None:
    """Admin commands. Type 'help' or '<command> --help'."""


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def ms(end: datetime | None, start: datetime) -> str:
    return f"{(end - start).total_seconds() * 1e3:.1f}" if end else ""


def clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
