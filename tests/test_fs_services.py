"""The file system's services built directly on the `storage` fixture (SQLite, embedded Chroma, the real
embedder; no kernel, no model): retention, the change log's watchers and listeners, the semantic index's
rebuild and backlog, and summaries through the LLM port."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aios import errors
from aios.config import FsConfig
from aios.fs import BlobStore, FileEvent, FileService, SemanticIndex
from aios.fs.index import collection
from aios.llm import ChatMessage, Completion, JobClass, LLMPort, SamplingParams, Usage
from tests.conftest import Storage

TEXTS = {
    "/garden/tomatoes.md": "Tomatoes need full sun, deep watering twice a week and a stake once they flower.",
    "/garden/roses.md": "Roses are pruned in late winter; feed them with compost and water at the base.",
    "/cars/brakes.txt": "The brake pads squeal when worn; replace them before the rotor is scored.",
    "/cars/tyres.txt": "Check tyre pressure monthly; rotate the tyres every 10,000 km for even wear.",
}


@contextlib.contextmanager
def file_service(
    storage: Storage, *, indexed: bool = True, start: bool = True, llm: LLMPort | None = None, **fs: Any
) -> Iterator[FileService]:
    """A FileService as the kernel wires it (with its semantic index unless `indexed` is false)."""
    config = dataclasses.replace(storage.config.fs, **fs)
    blobs = BlobStore(storage.config.data_dir / "blobs", storage.engine)
    index = SemanticIndex(storage.engine, storage.embedder, storage.vectors, blobs, config) if indexed else None
    files = FileService(storage.engine, blobs, config, index=index, llm=llm)
    if start:
        files.start()
    try:
        yield files
    finally:
        files.stop()


def test_retention_keeps_the_current_version(storage: Storage) -> None:
    agent = storage.new_agent("keeper")
    with file_service(storage, indexed=False, keep_versions=2) as files:
        for i in range(5):
            files.write(agent, "", "/f.txt", f"version {i + 1}".encode())
        files.write(agent, "", "/g.txt", b"only one")
        assert files.prune() == 3
        assert [v.version for v in files.history(agent, "", "/f.txt").versions] == [5, 4]
        assert files.read(agent, "", "/f.txt")[1] == b"version 5"
        assert files.read(agent, "", "/g.txt")[1] == b"only one"
        with pytest.raises(errors.NotFound):
            files.read(agent, "", "/f.txt", version=1)
        assert files.prune() == 0  # nothing more to drop


def test_no_retention_policy_drops_nothing(storage: Storage) -> None:
    agent = storage.new_agent()
    with file_service(storage, indexed=False, keep_versions=0, keep_days=0.0) as files:
        for i in range(3):
            files.write(agent, "", "/f.txt", f"v{i}".encode())
        assert files.prune() == 0
        assert len(files.history(agent, "", "/f.txt").versions) == 3


def test_a_commit_reaches_watchers_under_the_prefix_and_the_commit_listeners(storage: Storage) -> None:
    agent = storage.new_agent("watcher")
    with file_service(storage, indexed=False) as files:
        events: list[FileEvent] = []
        committed: list[list[str]] = []
        files.on_commit(committed.append)
        held: list[str] = []
        subscription = files.watch(agent, "", "/inbox", events.append, held.append)
        assert held == [files.resolve(agent, "", "read").id]

        def broken(event: FileEvent) -> None:
            raise RuntimeError("a subscriber's bug")

        files.watch(agent, "", "/", broken)  # unsubscribed by its first failure; the others still hear
        files.write(agent, "", "/elsewhere.txt", b"not watched")
        files.write(agent, "", "/inbox/a.txt", b"one")
        files.delete(agent, "", "/inbox/a.txt")
        subscription.close()
        files.write(agent, "", "/inbox/b.txt", b"after close")
        assert [(e.op, e.path, e.version) for e in events] == [
            ("mkdir", "/inbox", 1), ("create", "/inbox/a.txt", 1), ("delete", "/inbox/a.txt", 2)
        ]  # fmt: skip
        assert len({e.change_id for e in events}) == 2 and all(e.agent_id == agent for e in events)
        assert [len(ids) for ids in committed] == [1, 2, 1, 1]  # one call per change, with every file it touched


def test_semantic_operations_need_the_index(storage: Storage) -> None:
    agent = storage.new_agent()
    with file_service(storage, indexed=False) as files:
        files.write(agent, "", "/a.txt", b"some text")
        assert files.index is None
        for call in (
            lambda: files.retrieve(agent, "", "text"),
            lambda: files.summarize(agent, "", "/a.txt"),
            lambda: files.index_backlog(agent),
        ):
            with pytest.raises(errors.Unavailable):
                call()


def test_the_backlog_counts_the_callers_trees_until_the_worker_indexes_them(storage: Storage) -> None:
    writer, other = storage.new_agent("writer"), storage.new_agent("other")
    with file_service(storage, start=False) as files:
        assert files.index is not None
        files.write(writer, "", "/notes/a.md", b"waits for the indexer")
        assert files.index_backlog(writer) == 2  # the file and its directory
        assert files.index_backlog(other) == 0
        assert files.index_backlog(None) == 2
        files.start()
        assert files.index.wait_idle(60)
        assert files.index_backlog(writer) == files.index_backlog(None) == 0


def test_reindex_rebuilds_the_lost_vectors_from_sql(storage: Storage) -> None:
    agent = storage.new_agent("reindexed")
    with file_service(storage) as files:
        assert files.index is not None
        for path, text in TEXTS.items():
            files.write(agent, "", path, text.encode())
        assert files.index.wait_idle(60)
        name = collection(files.resolve(agent, "", "read").id)
        before = storage.vectors.ids(name)
        assert before
        storage.vectors.drop(name)  # the derived index is lost
        steps: list[tuple[int, int]] = []
        assert files.index.reindex(lambda done, total: steps.append((done, total))) == len(TEXTS) + 2  # two directories
        assert steps[-1] == (len(TEXTS) + 2, len(TEXTS) + 2)
        assert len(storage.vectors.ids(name)) == len(before)
        assert files.retrieve(agent, "", "brake pads squeal", k=1)[0].file.path == "/cars/brakes.txt"


def test_reindex_stopped_early_leaves_the_rest_to_the_worker(storage: Storage) -> None:
    agent = storage.new_agent()
    with file_service(storage) as files:
        assert files.index is not None
        for path, text in TEXTS.items():
            files.write(agent, "", path, text.encode())
        assert files.index.wait_idle(60)
        assert files.index.reindex(should_stop=lambda: True) == 0
        assert files.index.wait_idle(60)
        assert files.retrieve(agent, "", "tyre pressure", k=1)[0].file.path == "/cars/tyres.txt"


class _Model:
    """An LLMPort that answers every chat with one fixed line and records what it was asked."""

    available = True
    unavailable_reason = ""
    n_ctx = 600
    exact_tokens = False

    def __init__(self) -> None:
        self.calls: list[tuple[list[ChatMessage], SamplingParams, dict[str, Any]]] = []

    def chat(
        self, agent_id: str, messages: list[ChatMessage], params: SamplingParams, *, session: str = "",
        priority: int = 5, job_class: JobClass = JobClass.AGENT, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:  # fmt: skip
        self.calls.append((messages, params, {"agent_id": agent_id, "priority": priority, "stop": should_stop}))
        return Completion(" The gist. ", "stop", Usage(0, 0), 0.0, 0.0, 0.0, 0, 0)

    def count_tokens(self, text: str) -> int:
        return len(text)

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        return ""

    def check_params(self, params: SamplingParams) -> None:
        pass

    def swap_out(self, agent_id: str, session: str = "", drop: bool = False) -> tuple[str, int]:
        return "", 0


def test_a_summary_goes_through_the_llm_port_within_its_window_and_is_cached_per_tree(storage: Storage) -> None:
    agent, other = storage.new_agent("summarised"), storage.new_agent("other")
    model = _Model()
    long = " ".join(f"Sentence {i} is about brakes and tyres." for i in range(300))
    with file_service(storage, indexed=True, start=False, llm=model) as files:
        files.write(agent, "", "/long.txt", long.encode())
        files.write(other, "", "/same.txt", long.encode())
        stop = lambda: False  # noqa: E731
        summary = files.summarize(agent, "", "/long.txt", priority=2, should_stop=stop)
        assert (summary.text, summary.method, summary.cached) == ("The gist.", "llm", False)
        ((messages, params, options),) = model.calls
        # The window (n_ctx) leaves room for the answer: a long text is cut to its key sentences first.
        assert len(messages[-1].content) <= 1000 < len(long)
        assert params.max_tokens == FsConfig().summary_tokens
        assert options == {"agent_id": agent, "priority": 2, "stop": stop}
        assert files.summarize(agent, "", "/long.txt").cached
        assert not files.summarize(other, "", "/same.txt").cached  # another tree: its own summary
        assert len(model.calls) == 2
