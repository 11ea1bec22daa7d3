"""Streaming calls follow access: revoking a token or a grant ends the calls it opened, at once; one agent may
keep only so many open, and open watches hold no worker thread, so no agent can take the watch capacity."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aios import errors
from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from tests.conftest import QueueConfig, ThreadedKernel, kernel_config

_WAIT_S = 30  # a bound for a failing test, never reached by a passing one


class _Reader:
    """Reads a stream on a thread, keeping what arrives and the error that ends it."""

    def __init__(self, stream: Iterable[Any]) -> None:
        self.items: list[Any] = []
        self.error: Exception | None = None
        self.ended = threading.Event()
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Iterable[Any]) -> None:
        try:
            for item in stream:
                with self._changed:
                    self.items.append(item)
                    self._changed.notify_all()
        except Exception as exc:  # noqa: BLE001 - what ends the stream is what the test looks at
            self.error = exc
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[Any]], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: condition(self.items) or self.ended.is_set(), _WAIT_S)
        assert condition(self.items), f"the stream ended first: {self.error!r}"

    def wait_for_end(self) -> Exception | None:
        assert self.ended.wait(_WAIT_S), "the stream is still open"
        return self.error


@pytest.fixture
def admin(sqlite_kernel: Kernel) -> Iterator[Client]:
    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as client:
        yield client


def _agent(admin: Client, name: str) -> tuple[str, Client]:
    credentials = admin.create_agent(name)
    return credentials.agent.id, Client(admin.target, credentials.token)


def _paths(events: list[Any]) -> list[str]:
    return [e.path for e in events]


@pytest.mark.parametrize("how", ["revoke", "reissue"])
def test_revoking_a_token_ends_the_watch_it_opened(admin: Client, how: str) -> None:
    agent_id, agent = _agent(admin, "watcher")
    with agent:
        watch = _Reader(agent.watch("/", timeout=120))
        agent.write_file("/a.txt", "one")
        watch.wait_for(lambda events: _paths(events) == ["/a.txt"])
        if how == "revoke":
            admin.revoke_agent(agent_id)
        else:
            admin.reissue_token(agent_id)
        assert isinstance(watch.wait_for_end(), errors.Unauthenticated)
        (record,) = [s for s in admin.ps(agent_id) if s.kind == "fs.watch"]
        assert (record.status, record.error) == ("failed", "UNAUTHENTICATED")


def test_removing_a_grant_ends_the_grantees_watch_on_that_tree(admin: Client) -> None:
    owner_id, owner = _agent(admin, "owner")
    reader_id, reader = _agent(admin, "reader")
    with owner, reader:
        owner.create_tree("team")
        owner.grant("team", reader_id, "read")
        on_team = _Reader(reader.watch("/", tree="team", timeout=120))
        at_home = _Reader(reader.watch("/", timeout=120))
        owner.write_file("/plan.txt", "v1", tree="team")
        on_team.wait_for(lambda events: _paths(events) == ["/plan.txt"])

        owner.grant("team", reader_id, "")
        assert isinstance(on_team.wait_for_end(), errors.PermissionDenied)
        # Only what needed that grant ends: the reader's watch of its own tree goes on.
        reader.write_file("/mine.txt", "x")
        at_home.wait_for(lambda events: _paths(events) == ["/mine.txt"])
        assert not at_home.ended.is_set()
        with pytest.raises(errors.PermissionDenied):
            reader.watch("/", tree="team")


@pytest.fixture
def capped_kernel(tmp_path: Path, embedder: Embedder) -> Iterator[Kernel]:
    # Fewer watch workers than one agent's cap: a watch that held a worker while it waits would starve the rest.
    config = kernel_config(tmp_path / "data", limits={"max_streams_per_agent": 3},
                           queues={"watch": QueueConfig(workers=2)})  # fmt: skip
    with ThreadedKernel(config, embedder) as kernel:
        yield kernel


def test_one_agent_at_its_stream_cap_does_not_starve_the_others(capped_kernel: Kernel) -> None:
    with Client(capped_kernel.target, capped_kernel.admin_token) as admin:
        _, greedy = _agent(admin, "greedy")
        _, other = _agent(admin, "other")
        with greedy, other:
            greedy_watches = [_Reader(greedy.watch(f"/w{i}", timeout=60)) for i in range(3)]
            with pytest.raises(errors.ResourceExhausted, match="max_streams_per_agent"):
                greedy.watch("/", timeout=60)
            # Another agent's watch is served, and so are the greedy agent's own.
            watch = _Reader(other.watch("/", timeout=60))
            other.write_file("/a.txt", "one")
            watch.wait_for(lambda events: _paths(events) == ["/a.txt"])
            greedy.write_file("/w2/b.txt", "two")
            greedy_watches[2].wait_for(lambda events: _paths(events) == ["/w2", "/w2/b.txt"])


def test_revoking_an_agent_ends_its_open_chat_stream(admin: Client) -> None:
    agent_id, agent = _agent(admin, "talker")
    with agent:
        # A grammar the reply can never complete: the stream goes on until max_tokens unless something ends it.
        chunks = agent.chat_stream([("user", "Say a.")], max_tokens=2000, grammar='root ::= "a" root')
        chat = _Reader(chunks)
        chat.wait_for(lambda received: len(received) >= 1)
        admin.revoke_agent(agent_id)
        assert isinstance(chat.wait_for_end(), errors.Unauthenticated)
