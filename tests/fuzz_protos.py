"""Hypothesis strategies for request bodies, built from the protobuf descriptors (the half of the fuzzer that knows
protobuf; tests/test_fuzz.py sends what these draw to a real kernel).

`request_bodies(descriptor, hints)` draws the bytes a client could put on the wire for one request message:

- a well-typed message: every field drawn from its type (ints at the ends of int32/int64/uint32/uint64, NaN and
  infinities for floats, empty, odd and huge strings and bytes, Timestamps outside the representable years,
  unknown enum numbers, repeated fields from empty to tens of thousands of items, maps, at most one member of each
  oneof, proto3 `optional` fields present with their default value), with `hints` (values known to the kernel:
  note ids, paths, roles ...) mixed in by field name so the fuzzer gets past "not found" into the code behind.
  Such a message is tame (plausible values throughout), tame but for one wild field, or wild throughout;
- random bytes;
- a well-typed message with bytes flipped, inserted, deleted or the end cut off;
- hand-made wire records: wrong wire types for known field numbers, overlong varints, lengths past the end,
  invalid UTF-8 in string fields, groups, field number 0.

Each draw is `(mode, bytes)`, mode one of `MODES`, so a run can report what it sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

__all__ = [
    "INT32",
    "INT64",
    "MODES",
    "UINT32",
    "UINT64",
    "Hints",
    "int_range",
    "integers",
    "messages",
    "request_bodies",
    "texts",
    "timestamps",
    "wire_records",
]

Hints = Mapping[str, Sequence[Any]]  # field name -> values worth trying there (besides what its type draws)

INT32 = (-(1 << 31), (1 << 31) - 1)
INT64 = (-(1 << 63), (1 << 63) - 1)
UINT32 = (0, (1 << 32) - 1)
UINT64 = (0, (1 << 64) - 1)
MODES = ("message", "random", "mutated", "wire")

_F = FieldDescriptor
_RANGES = {
    _F.TYPE_INT32: INT32, _F.TYPE_SINT32: INT32, _F.TYPE_SFIXED32: INT32, _F.TYPE_ENUM: INT32,
    _F.TYPE_INT64: INT64, _F.TYPE_SINT64: INT64, _F.TYPE_SFIXED64: INT64,
    _F.TYPE_UINT32: UINT32, _F.TYPE_FIXED32: UINT32, _F.TYPE_UINT64: UINT64, _F.TYPE_FIXED64: UINT64,
}  # fmt: skip

# The years a Timestamp may name (0001-01-01 to 9999-12-31), and the values just outside.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799
_FIXED_NOW = 1_750_000_000  # not time.time(): a derandomized run draws the same bytes every time

# A request stays well under the kernel's 16 MiB message limit: a repeated field of huge items gets fewer of them.
_REQUEST_BUDGET = 4 << 20
_DEPTH = 4  # no request nests deeper; a recursive message type stops here
_HUGE_SIZES = (64, 65, 128, 129, 4096, 4097, 32_768, 32_769, 65_536, 1 << 20, (1 << 20) + 1)
_BIG_COUNTS = (9, 33, 65, 101, 257, 1001, 1025, 4097, 40_000)  # past the limits a field may have, and SQL's
_HUGE_UNITS = ("a", "é", " ", "\x00", "word ", "🙂", "\n\n", "/a", "*")
_ODD_TEXT = (
    "", " ", "\x00", "a\x00b", "\n", "\t", ".", "..", "/", "//", "/.", "/..", "/../..", "../etc/passwd", "/a/../..",
    "/a/", "*", "**", "**/*", "[", "[!", "[]", "?", "%s%n%x", "{}", "{0}", "\\", '"', "'", "' OR '1'='1' --",
    "NULL", "None", "-1", "0", "1e309", "NaN", "inf", "\u202e", "\ufeff", "\u0085", "\u2028", "\U0010ffff", "é",
    "e\u0301", "日本語", "🙂", "ǅ", "İ", "a" * 64, "a" * 65, "x" * 129, "a b", " lead", "trail ", "A.B_C-d",
)  # fmt: skip
_ODD_BYTES = (b"", b"\x00", b"\xff\xfe\xfd", b"\xc3\x28", "héllo\nworld\n".encode(), b"%PDF-1.4\n",
              b"\x89PNG\r\n\x1a\n", b"\xef\xbb\xbfbom", b"\x00" * 9, b"line\r\n" * 3)  # fmt: skip


def int_range(field: FieldDescriptor) -> tuple[int, int] | None:
    """The values an integer field (enums included) can hold, or None for other fields."""
    return _RANGES.get(field.type)


def integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Any integer of the range, its ends and the values programs get wrong (0, -1, 2^31, 2^53 + 1 ...)."""
    marks = (lo, lo + 1, hi - 1, hi, -2, -1, 0, 1, 2, 3, 5, 8, 10, 16, 50, 64, 100, 200, 201, 255, 256, 1000, 1001,
             2000, 2001, 4096, 4097, 65_535, 65_536, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 53) + 1,
             MIN_SECONDS - 1, MAX_SECONDS + 1)  # fmt: skip
    edges = sorted({v for v in marks if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(max(lo, -3), min(hi, 20)), st.integers(lo, hi))


def _floats(width: int) -> st.SearchStrategy[float]:
    extreme = 3.4028234663852886e38 if width == 32 else 1.7976931348623157e308
    tiny = 1.401298464324817e-45 if width == 32 else 5e-324
    edges = [0.0, -0.0, 0.5, 1.0, -1.0, 1.0000001, 2.0, 2.5, 1e6, extreme, -extreme, tiny, math.nan, math.inf,
             -math.inf]  # fmt: skip
    return st.one_of(st.sampled_from(edges), st.floats(width=width))


def _sized(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def texts() -> st.SearchStrategy[str]:
    """Strings: odd ones (NUL, path tricks, globs, quotes, bidi marks, astral characters), random Unicode, and
    huge ones at the lengths limits sit at (64, 128, 4096, 32768, 2^20, and one more)."""
    huge = st.builds(_sized, st.sampled_from(_HUGE_UNITS), st.sampled_from(_HUGE_SIZES))
    return st.one_of(st.sampled_from(_ODD_TEXT), st.text(max_size=16), st.text(max_size=300), huge)


def _bytes() -> st.SearchStrategy[bytes]:
    huge = st.builds(
        lambda b, n: b * n, st.sampled_from([b"a", b"\x00", b"\xff", b"ab\n"]), st.sampled_from(_HUGE_SIZES)
    )
    return st.one_of(st.sampled_from(_ODD_BYTES), st.binary(max_size=64), huge)


def timestamps(cls: type[Message]) -> st.SearchStrategy[Message]:
    """google.protobuf.Timestamp at and past the ends of what it may hold (years 1-9999, nanos 0-999999999)."""
    seconds = st.one_of(
        st.sampled_from([0, 1, -1, _FIXED_NOW, _FIXED_NOW - 86_400, _FIXED_NOW + 86_400 * 365, MIN_SECONDS,
                         MIN_SECONDS - 1, MAX_SECONDS, MAX_SECONDS + 1, *INT64]),
        st.integers(*INT64),
    )  # fmt: skip
    nanos = st.one_of(st.sampled_from([0, 1, 999_999_999, 1_000_000_000, -1, *INT32]), st.integers(*INT32))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _approx_size(value: Any) -> int:
    if isinstance(value, Message):
        return value.ByteSize() + 2
    if isinstance(value, str | bytes):
        return len(value) * (4 if isinstance(value, str) else 1) + 2
    return 10


def _repeated(item: st.SearchStrategy[Any], scalar_text: bool) -> st.SearchStrategy[list[Any]]:
    """Mostly a few items; sometimes many copies (or, for strings, many distinct values) to find missing bounds."""

    def many(x: Any, n: int) -> list[Any]:
        n = max(1, min(n, _REQUEST_BUDGET // _approx_size(x)))
        if not scalar_text:
            return [x] * n
        # Distinct values of the same length and alphabet (an agent id stays 32 hex digits), to get past dedup.
        return [x[: max(0, len(x) - len(str(i)))] + str(i) for i in range(n)]

    return st.one_of(
        st.lists(item, max_size=4), st.lists(item, max_size=4), st.builds(many, item, st.sampled_from(_BIG_COUNTS))
    )


class _Builder:
    """Per field two strategies: `tame` (hints, short plain text, small numbers, valid times: a request the kernel
    may well accept) and `wild` (anything the type holds). A message is tame, tame with one wild field (what finds
    a missing check behind the others), or wild throughout."""

    def __init__(self, hints: Hints, overrides: Mapping[str, st.SearchStrategy[Any]]) -> None:
        self.hints = hints
        self.overrides = overrides

    def scalar(self, field: FieldDescriptor, depth: int, wild: bool) -> st.SearchStrategy[Any]:
        if field.name in self.overrides:
            return self.overrides[field.name]
        t = field.type
        if t == _F.TYPE_MESSAGE or t == _F.TYPE_GROUP:
            return self.message(field.message_type, depth + 1, wild)
        known = [v for v in (_as_field_type(v, t) for v in self.hints.get(field.name, ())) if v is not None]
        base = (_wild if wild else _tame)(field)
        if not known:
            return base
        # Known values more often than the type's (tame: 4 in 5; wild: 2 in 3): they get past "not found" to the
        # code behind it.
        return st.one_of(*[st.sampled_from(known)] * (2 if wild else 4), base)

    def plan(self, field: FieldDescriptor, depth: int, wild: bool) -> st.SearchStrategy[Any]:
        """What to set the (non-oneof) field to."""
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            entries = st.dictionaries(self.scalar(key, depth, wild), self.scalar(value, depth, wild), max_size=4)
            if wild and key.type == _F.TYPE_STRING:
                many = st.builds(lambda v, n: {f"k{i}": v for i in range(n)}, self.scalar(value, depth, wild),
                                 st.sampled_from(_BIG_COUNTS[:6]))  # fmt: skip
                entries = st.one_of(entries, many)
            return entries
        if field.is_repeated:
            item = self.scalar(field, depth, wild)
            if not wild:
                return st.lists(item, min_size=1, max_size=3)
            return _repeated(item, field.type == _F.TYPE_STRING)
        return self.scalar(field, depth, wild)

    def message(self, descriptor: Descriptor, depth: int = 0, wild: bool | None = None) -> st.SearchStrategy[Message]:
        """`wild`: None for the three kinds of message (see the class), else throughout tame or wild."""
        cls = message_factory.GetMessageClass(descriptor)
        if descriptor.full_name == "google.protobuf.Timestamp":
            return timestamps(cls) if wild is not False else _tame_timestamps(cls)
        if depth > _DEPTH:
            return st.just(cls())
        # (fields, tame strategies, wild strategies): one field, or the members of a oneof (at most one is set)
        plans: list[tuple[list[FieldDescriptor], list[st.SearchStrategy[Any]], list[st.SearchStrategy[Any]]]] = []
        for oneof in descriptor.oneofs:
            members = list(oneof.fields)
            if not _synthetic(oneof):
                plans.append((members, [self.scalar(f, depth, False) for f in members],
                              [self.scalar(f, depth, True) for f in members]))  # fmt: skip
        for f in descriptor.fields:
            if f.containing_oneof is None or _synthetic(f.containing_oneof):
                plans.append(([f], [self.plan(f, depth, False)], [self.plan(f, depth, True)]))
        oneofs = {i for i, (fields, _, _) in enumerate(plans) if fields[0].containing_oneof is not None
                  and not _synthetic(fields[0].containing_oneof)}  # fmt: skip

        @st.composite
        def build(draw: st.DrawFn) -> Message:
            if wild is None:
                kind = draw(st.sampled_from(["tame", "one wild", "wild"]))
                wild_at = draw(st.integers(0, max(0, len(plans) - 1))) if kind == "one wild" else -1
            else:
                kind, wild_at = ("wild" if wild else "tame"), -1
            msg = cls()
            for i, (fields, tame, untamed) in enumerate(plans):
                strategies = untamed if kind == "wild" or i == wild_at else tame
                if i in oneofs:
                    choice = draw(st.integers(-1, len(fields) - 1))  # a real oneof: at most one member
                    if choice >= 0:
                        _set(msg, fields[choice], draw(strategies[choice]))
                elif i == wild_at or draw(st.integers(0, 4)) >= (2 if kind == "wild" else 1):  # tame: set 4 in 5
                    _set(msg, fields[0], draw(strategies[0]))
            return msg

        return build()


def _synthetic(oneof: Any) -> bool:
    """The oneof protoc makes for a proto3 `optional` field."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _tame(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t == _F.TYPE_STRING:
        return st.one_of(st.sampled_from(["a", "hello world", "x-1", "Notes.md"]),
                         st.text("abcdefghijklmnopqrstuvwxyz0123456789 -_.", min_size=1, max_size=12))  # fmt: skip
    if t == _F.TYPE_BYTES:
        return st.one_of(st.sampled_from([b"hello\n", b"a,b\n1,2\n"]), st.binary(max_size=16))
    if t in (_F.TYPE_FLOAT, _F.TYPE_DOUBLE):
        return st.sampled_from([0.25, 0.5, 1.0])
    if t == _F.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    lo, hi = _RANGES[t]
    return st.integers(max(lo, 0), min(hi, 10))


def _wild(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t == _F.TYPE_STRING:
        return texts()
    if t == _F.TYPE_BYTES:
        return _bytes()
    if t in (_F.TYPE_FLOAT, _F.TYPE_DOUBLE):
        return _floats(32 if t == _F.TYPE_FLOAT else 64)
    if t == _F.TYPE_ENUM:  # proto3 enums are open: a number no value names must be handled too
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), integers(*INT32))
    return integers(*_RANGES[t])


def _tame_timestamps(cls: type[Message]) -> st.SearchStrategy[Message]:
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), st.integers(_FIXED_NOW - 86_400 * 400, _FIXED_NOW + 86_400),
                     st.integers(0, 999_999_999))  # fmt: skip


def _as_field_type(value: Any, t: int) -> Any:
    """A hint as the field's type holds it (a str hint for a bytes field is encoded), or None if it cannot be."""
    if t == _F.TYPE_BYTES:
        return value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else None
    if t == _F.TYPE_STRING:
        return value if isinstance(value, str) else None
    if t == _F.TYPE_BOOL:
        return value if isinstance(value, bool) else None
    if t in (_F.TYPE_FLOAT, _F.TYPE_DOUBLE):
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _set(msg: Message, field: FieldDescriptor, value: Any) -> None:
    if isinstance(value, dict):  # a map
        container = getattr(msg, field.name)
        for k, v in value.items():
            if isinstance(v, Message):
                container[k].CopyFrom(v)
            else:
                container[k] = v
    elif isinstance(value, list):
        getattr(msg, field.name).extend(value)
    elif isinstance(value, Message):
        getattr(msg, field.name).CopyFrom(value)
    else:
        setattr(msg, field.name, value)


def messages(
    descriptor: Descriptor, hints: Hints | None = None, overrides: Mapping[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Message]:
    """Well-typed messages of `descriptor`. `hints`: values to try by field name; `overrides`: the strategy to
    use instead for a field name (e.g. to keep a host path inside a temporary directory)."""
    return _Builder(hints or {}, overrides or {}).message(descriptor)


# -- the wire --------------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def wire_records(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Hand-made wire records: the message's field numbers (and others, and the invalid 0 and 19000-19999) with
    any wire type (6 and 7 do not exist), overlong varints, lengths past the end, invalid UTF-8, groups."""
    numbers = [f.number for f in descriptor.fields] or [1]
    number = st.one_of(st.sampled_from(numbers), st.sampled_from(numbers), st.sampled_from([0, 19_000, (1 << 29) - 1]),
                       st.integers(1, 64))  # fmt: skip
    utf8_breakers = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80", b"\xe2\x82"])
    payload = st.one_of(utf8_breakers, st.binary(max_size=24))

    @st.composite
    def record(draw: st.DrawFn) -> bytes:
        wire_type = draw(st.integers(0, 7))
        tag = _varint((draw(number) << 3) | wire_type)
        if wire_type == 0:
            body = draw(st.one_of(st.integers(*UINT64).map(_varint), st.just(b"\xff" * 10 + b"\x01"), st.just(b"\x80")))
        elif wire_type == 1:
            body = draw(st.binary(min_size=8, max_size=8))
        elif wire_type == 2:
            data = draw(payload)
            length = draw(st.sampled_from([len(data), len(data), len(data) + 1, (1 << 31) - 1, (1 << 64) - 1]))
            body = _varint(length) + data
        elif wire_type == 5:
            body = draw(st.binary(min_size=4, max_size=4))
        else:  # 3, 4 (start/end group) and 6, 7 carry nothing
            body = b""
        return tag + body

    return st.lists(record(), min_size=1, max_size=6).map(b"".join)


@st.composite
def _mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[max(0, at - 16) : at]
    return bytes(data)


def request_bodies(
    descriptor: Descriptor, hints: Hints | None = None, overrides: Mapping[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[tuple[str, bytes]]:
    """(mode, serialized request): well-typed messages half the time, hostile bytes the other half."""
    typed = messages(descriptor, hints, overrides).map(lambda m: m.SerializeToString())
    return st.one_of(
        typed.map(lambda b: ("message", b)),
        typed.map(lambda b: ("message", b)),
        st.binary(max_size=256).map(lambda b: ("random", b)),
        _mutated(typed).map(lambda b: ("mutated", b)),
        wire_records(descriptor).map(lambda b: ("wire", b)),
    )
