"""Running commands: one line (`aios shell -c`, errors printed, never raised) and the interactive REPL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click
from rich.console import Console

from aios.client import Client
from aios.errors import AiosError
from aios.shell._line import split_line
from aios.shell._state import ShellState, commands

__all__ = ["repl", "run_command"]


def run_command(line: str | Iterable[str], client: Client, console: Console) -> bool:
    """Run one shell command; False when it failed. Errors are printed, never raised."""
    args: list[str] = [*split_line(line)] if isinstance(line, str) else list(line)
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
