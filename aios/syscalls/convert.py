"""What every service module's conversions share: timestamps both ways, and the check that a field was given.

Each service converts its own messages in its own module (`to_proto_*` / `from_proto_*` beside its servicer);
only what several of them need lives here.
"""

from __future__ import annotations

import math

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from aios.errors import InvalidArgument

__all__ = ["from_timestamp", "require", "to_timestamp"]

# The range a Timestamp may hold (0001-01-01 to 9999-12-31): beyond it the reply could not carry the time back.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
# The last float before year 10000: 9999-12-31T23:59:59.999999999 as a float rounds up to year 10000, which
# datetime cannot hold (a search with that as_of answered INTERNAL).
_LAST_SECOND = math.nextafter(_MAX_SECONDS + 1, 0)


def to_timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def from_timestamp(msg: Message, field: str) -> float | None:
    """Seconds since the epoch in `msg`'s Timestamp field `field`, None if unset."""
    if not msg.HasField(field):
        return None
    ts = getattr(msg, field)
    if not (_MIN_SECONDS <= ts.seconds <= _MAX_SECONDS and 0 <= ts.nanos < 1_000_000_000):
        raise InvalidArgument(f"{field} is not a valid timestamp (years 1-9999, nanos 0-999999999)")
    return min(ts.ToNanoseconds() / 1e9, _LAST_SECOND)


def require(value: str, name: str) -> None:
    """A string field the syscall cannot do without."""
    if not value:
        raise InvalidArgument(f"{name} is required")
