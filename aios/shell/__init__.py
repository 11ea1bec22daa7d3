"""The admin shell: `aios shell` (a REPL with history and tab completion) and `aios shell -c "<command>"`.

Each shell command is a click command over the SDK, so the REPL and `-c` share one parser and help.
A line is split like a POSIX shell's, except that nothing in it is an error: a quote with no closing partner
is an ordinary character (`chat alice What's up?`), and a free-text argument (the message of `chat`, the
content of `add`, the query of `search` ...) is taken as typed. Agents are named or given by id, and every id
may be shortened to a unique prefix (`resolve_prefix`).

Client side only: the shell imports the SDK and aios.render, never the server (pyproject's import contracts).
One module per command group; importing them registers their commands on `commands`.
"""

from aios.shell import _admin, _context, _fs, _llm, _memory  # noqa: F401 - registers the command groups
from aios.shell._admin import reindex_with_progress
from aios.shell._line import Word, free_text, split_line
from aios.shell._llm import write_timeline
from aios.shell._repl import repl, run_command
from aios.shell._state import WHOLE_ID, ShellState, clip, commands, pass_state, resolve_prefix, when

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
    "write_timeline",
]
