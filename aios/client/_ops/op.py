"""An operation, built once for both clients: (stub method, request, parser); timestamp conversions.

A builder returns an `Op`; `Client` makes the call and `AsyncClient` awaits it. `requests_checked` wraps
every builder of a class so a request protobuf that refuses to build is an InvalidArgument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from aios.client._inputs import Time
from aios.errors import InvalidArgument

__all__ = ["Op", "opt_time", "requests_checked", "time_of", "timestamp"]


class Op(NamedTuple):
    method: Any
    request: Any
    parse: Callable[[Any], Any]


_Builder = TypeVar("_Builder", bound=Callable[..., Any])
_Class = TypeVar("_Class", bound=type)


def _refusals_are_invalid(build: _Builder) -> _Builder:
    @functools.wraps(build)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return build(*args, **kwargs)
        except (TypeError, ValueError) as exc:  # protobuf's word for a wrong type or an out-of-range value
            raise InvalidArgument(f"{build.__name__}: {exc}") from None

    return checked  # type: ignore[return-value]  # functools.wraps keeps the signature; mypy cannot see it


def requests_checked(cls: _Class) -> _Class:
    """Wrap every request builder (a method returning an Op) so a request protobuf refuses to build, e.g.
    a negative k or a metadata value that is not a string, is an InvalidArgument like the kernel's own
    refusals. Done once here, so no builder can forget it and the clients' `_call` stays a plain call."""
    for name, member in list(vars(cls).items()):
        if callable(member) and getattr(member, "__annotations__", {}).get("return") == "Op":
            setattr(cls, name, _refusals_are_invalid(member))
    return cls


def time_of(ts: Timestamp) -> datetime:
    return ts.ToDatetime().astimezone()


def opt_time(msg: Any, field: str) -> datetime | None:
    """The message's timestamp `field` as a datetime, None when it is not set."""
    return time_of(getattr(msg, field)) if msg.HasField(field) else None


def timestamp(value: Time, what: str) -> Timestamp:
    if isinstance(value, bool) or not isinstance(value, datetime | int | float):
        raise InvalidArgument(f"{what} must be a datetime or seconds since the epoch, got {value!r}")
    ts = Timestamp()
    seconds = value.timestamp() if isinstance(value, datetime) else value
    try:
        ts.FromNanoseconds(int(seconds * 1e9))
    except (OverflowError, ValueError):  # NaN, infinity, or beyond the years 1-9999 a Timestamp holds
        raise InvalidArgument(f"{what} is not a time a timestamp can hold: {value!r}") from None
    return ts
