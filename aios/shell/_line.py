"""Reading a command line: words split like a POSIX shell's but never an error, and free-text arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["Word", "free_text", "split_line"]


class Word(str):
    """One word of a command line, and where it stood in the line (so a free-text argument can be taken raw)."""

    position: int
    """Its place among the line's words (0: the command)."""
    start: int
    end: int

    def __new__(cls, value: str, position: int, start: int, end: int) -> Word:
        word = super().__new__(cls, value)
        word.position, word.start, word.end = position, start, end
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
