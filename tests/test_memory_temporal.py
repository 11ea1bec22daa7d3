"""Time-aware ranking: time expressions in a query, resolved against `as_of`, re-rank notes by how close their
event time is (aios/memory/temporal.py). Real SQLite, Chroma and embedding model; the SDK over gRPC."""

from __future__ import annotations

import datetime as dt

import pytest

from aios import errors
from aios.client import Client
from aios.errors import InvalidArgument
from aios.kernel import Kernel
from aios.memory import NewNote
from aios.memory.temporal import DAY, proximity, windows_of

FRIDAY = dt.datetime(2023, 5, 5, 16, 42, tzinfo=dt.UTC).timestamp()


def _days(query: str, as_of: float = FRIDAY) -> list[tuple[str, str]]:
    day = lambda t: dt.datetime.fromtimestamp(t, dt.UTC).strftime("%m-%d")  # noqa: E731
    return [(day(a), day(b)) for a, b in windows_of(query, as_of)]


@pytest.mark.parametrize(("query", "expected"), [
    ("what did I do yesterday?", [("05-04", "05-05")]),
    ("the book I finished two weeks ago", [("04-18", "04-25")]),
    ("3 days ago", [("05-02", "05-03")]),
    ("where was I last week", [("04-24", "05-01")]),
    ("jewelry I got last Saturday", [("04-29", "04-30")]),
    ("last friday", [("04-28", "04-29")]),  # strictly before today, a Friday
    ("last month", [("04-01", "05-01")]),
    ("flights in March and April", [("03-01", "04-01"), ("04-01", "05-01")]),
    ("in June", [("06-01", "07-01")]),  # the latest June not after as_of: 2022
    ("on May 3rd, 2022", [("05-03", "05-04")]),
    ("the 14th of June", [("06-14", "06-15")]),
    ("2023-02-01", [("02-01", "02-02")]),
    ("what is the capital of France", []),
    ("I may go to the gym", []),
])  # fmt: skip
def test_time_expressions(query: str, expected: list[tuple[str, str]]) -> None:
    assert _days(query) == expected


def test_proximity_is_one_inside_and_decays_outside() -> None:
    window = [(10 * DAY, 11 * DAY)]
    assert proximity(10.5 * DAY, window) == 1.0
    assert 1.0 > proximity(12 * DAY, window) > proximity(14 * DAY, window) > 0.0
    assert proximity(9 * DAY, window) == pytest.approx(proximity(12 * DAY, window))


def test_search_ranks_by_the_time_the_query_names(sqlite_kernel: Kernel) -> None:
    memory = sqlite_kernel.memory
    a = sqlite_kernel.agents.create("diarist")[0].id
    ago = lambda days: FRIDAY - days * DAY  # noqa: E731
    early, late = memory.add(a, [
        NewNote("I went hiking in the hills with Sam.", event_at=ago(30)),
        NewNote("I went hiking in the hills with Kim.", event_at=ago(14)),
    ])  # fmt: skip
    plain = memory.search(a, "hiking in the hills", k=2, as_of=FRIDAY)
    assert all("time" not in h.signals for h in plain)  # no time named: no time signal
    for query, first in (("who did I go hiking with two weeks ago", late), ("hiking a month ago", early)):
        hits = memory.search(a, query, k=2, as_of=FRIDAY)
        assert hits[0].note.id == first.id, query
        assert hits[0].signals["time"] == 1.0 > hits[1].signals["time"]
    with pytest.raises(InvalidArgument):
        memory.search(a, "hiking yesterday", as_of=float("nan"))

    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        agent = admin.as_agent(a)
        hits = agent.search("hiking two weeks ago", k=2, as_of=dt.datetime.fromtimestamp(FRIDAY, dt.UTC))
        assert hits[0].note.id == late.id and hits[0].signals["time"] == 1.0
        now_hits = agent.search("hiking two weeks ago", k=2)  # as_of defaults to now: both are far from it
        assert all(h.signals["time"] < 0.01 for h in now_hits)
        with pytest.raises(errors.InvalidArgument):
            agent.search("", as_of=FRIDAY)
