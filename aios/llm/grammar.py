"""Constrained-output inputs (GBNF grammars, JSON schemas) checked in Python before llama.cpp sees them.

llama.cpp trusts its grammar: a character class that matches nothing leaves the sampler with no allowed token
and aborts the process (SIGABRT), `{5,1}` underflows a counter and allocates without bound, repetitions of
repetitions multiply, and `json.loads` of a deeply nested schema raises RecursionError. So a grammar is parsed
here first (aios/llm/gbnf.py), following llama.cpp's own parser (src/llama-grammar.cpp) token for token, with
bounds on its size, nesting, repetition counts and the rules it expands to, and every terminal must match a
character the model can produce. What passes cannot abort or blow up the compile: the bounds make llama.cpp's
work small, and the only refusal left to it is left recursion, a clean NULL (LlamaCppBackend.check_constraint
compiles each new grammar once, in the caller's thread, before any request runs). A JSON schema is bounded the
same way before llama-cpp-python turns it into GBNF, whose output is then checked like any grammar.

What is not bounded here: a highly ambiguous grammar keeps many parse stacks alive while sampling, so each
token takes longer than the last; the core ends such a request at its first token over
`aios.llm.core.MAX_CONSTRAINED_SAMPLE_S` (INVALID_ARGUMENT), which bounds what it costs the other agents.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from aios.llm.gbnf import ALL_CHARS, MAX_REPEAT, MAX_TEXT, GrammarError, check_gbnf

__all__ = [
    "ALL_CHARS",
    "GrammarError",
    "check_constraint",
    "check_gbnf",
    "check_json_schema",
    "producible_chars",
    "to_gbnf",
]

MAX_GENERATED = 1024 * 1024  # characters of GBNF converted from a schema
MAX_SCHEMA_DEPTH = 32  # nesting of a JSON schema's objects and arrays
MAX_SCHEMA_COUNTS = 4096  # sum of a schema's length/item bounds: the converter writes out each repetition
MAX_SCHEMA_KEY = 256  # characters of a property name (rule names are made of them)
MAX_SCHEMA_INT = 10**18

_SCHEMA_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def producible_chars(single_bytes: set[int]) -> tuple[tuple[int, int], ...]:
    """The code points a byte-level vocabulary can always produce, from the bytes it has a one-byte token for:
    an ASCII character by its own token, a longer one by its lead byte then continuation bytes (llama.cpp
    matches a partial UTF-8 sequence against the grammar's class)."""
    ranges = [(b, b) for b in sorted(single_bytes) if 0 < b < 0x80]
    if set(range(0x80, 0xC0)) <= single_bytes:
        for lead in sorted(b for b in single_bytes if 0xC2 <= b <= 0xF4):
            bits, tail, least = (5, 6, 0x80) if lead < 0xE0 else (4, 12, 0x800) if lead < 0xF0 else (3, 18, 0x10000)
            low = (lead & ((1 << bits) - 1)) << tail
            ranges.append((max(low, least), min(low | ((1 << tail) - 1), 0x10FFFF)))  # no overlong forms
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


@lru_cache(maxsize=256)
def to_gbnf(grammar: str | None, json_schema: str | None, producible: tuple[tuple[int, int], ...]) -> str:
    """The checked GBNF for a request's grammar or JSON schema ("" for neither), cached by text: the checks
    and the schema conversion run once per distinct input."""
    if json_schema:
        check_json_schema(json_schema)
        from llama_cpp.llama_grammar import json_schema_to_gbnf  # loads llama.cpp: only with the local backend

        try:
            gbnf = json_schema_to_gbnf(json_schema)
        except Exception as exc:  # the converter raises what it likes (ValueError, KeyError, ...)
            raise GrammarError(f"json_schema cannot be turned into a grammar: {exc!r}") from None
        check_gbnf(gbnf, producible, MAX_GENERATED, what="the grammar of json_schema")
        return gbnf
    if grammar:
        check_gbnf(grammar, producible)
        return grammar
    return ""


def check_constraint(grammar: str | None, json_schema: str | None) -> None:
    """Check a request's grammar or JSON schema without a model's vocabulary (a remote server's model)."""
    if json_schema:
        check_json_schema(json_schema)
    elif grammar:
        check_gbnf(grammar)


def check_json_schema(text: str) -> Any:
    """The parsed schema; GrammarError unless it is a JSON object within the size, nesting and count bounds."""
    if len(text) > MAX_TEXT:
        raise GrammarError(f"json_schema is {len(text)} characters; at most {MAX_TEXT}")
    depth = _json_depth(text)
    if depth > MAX_SCHEMA_DEPTH:
        raise GrammarError(f"json_schema nests {depth} levels deep; at most {MAX_SCHEMA_DEPTH}")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise GrammarError(f"json_schema is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise GrammarError("json_schema must be a JSON object")
    counts = _schema_counts(schema)
    if counts > MAX_SCHEMA_COUNTS:
        raise GrammarError(f"json_schema's length and item bounds add up to {counts}; at most {MAX_SCHEMA_COUNTS}")
    return schema


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings, counted without parsing (json.loads recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _schema_counts(node: Any) -> int:
    """The sum of the repetition bounds a schema asks for; GrammarError for a bound out of range."""
    total = 0
    if isinstance(node, list):
        return sum(_schema_counts(item) for item in node)
    if isinstance(node, bool) or not isinstance(node, (dict, int)):
        return 0
    if isinstance(node, int):
        if abs(node) > MAX_SCHEMA_INT:
            raise GrammarError(f"json_schema: the number {node} is out of range (at most {MAX_SCHEMA_INT})")
        return 0
    for key, value in node.items():
        if len(key) > MAX_SCHEMA_KEY:
            raise GrammarError(f"json_schema: a key of {len(key)} characters; at most {MAX_SCHEMA_KEY}")
        if key in _SCHEMA_COUNTS and isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= MAX_REPEAT:
                raise GrammarError(f"json_schema: {key} {value} is out of range 0-{MAX_REPEAT}")
            total += value
        elif key == "pattern" and isinstance(value, str):
            total += _pattern_counts(value)
        total += _schema_counts(value)
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"), ("minProperties", "maxProperties")):
        if isinstance(node.get(low), int) and isinstance(node.get(high), int) and node[low] > node[high]:
            raise GrammarError(f"json_schema: {low} {node[low]} exceeds {high} {node[high]}")
    return total


def _pattern_counts(pattern: str) -> int:
    """What a pattern's quantifiers cost: the converter writes out nested repetitions, so their product."""
    if len(pattern) > MAX_SCHEMA_KEY * 4:
        raise GrammarError(f"json_schema: a pattern of {len(pattern)} characters; at most {MAX_SCHEMA_KEY * 4}")
    product = 1
    for m in _QUANTIFIER.finditer(pattern):
        numbers = [g for g in m.groups() if g]
        if any(len(n) > 4 or int(n) > MAX_REPEAT for n in numbers):
            raise GrammarError(f"json_schema: pattern repetition {m.group()} exceeds {MAX_REPEAT}")
        product *= max([1, *map(int, numbers)])
        if product > MAX_SCHEMA_COUNTS:
            raise GrammarError(f"json_schema: pattern {pattern!r} repeats more than {MAX_SCHEMA_COUNTS} times")
    return product
