"""The file system's one face: trees and grants, versioned files and directories, history, diff, rollback,
retention, watch, and the semantic operations. `FileService` holds the parts and hands each call to the part
that answers it:

- `trees` (fs.trees): which tree a name means for an agent, and whether it may read or write it;
- `reader` (fs.reading) and `writer` (fs.writing): the files. Every mutation is one change through the change
  log (fs.changelog), which applies the edits a pure plan (fs.plans) computed; contents live in the blob store
  (fs.blobs), written and synced before the change commits; SQL holds everything else and is the truth;
- `retention` (fs.retention): old versions and unreferenced blobs dropped by the policy;
- `semantics` (fs.semantic): retrieve, summarize, group, join, over the semantic index the kernel gives (fs.index),
  which hears of each commit through the change log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from aios.config import FsConfig
from aios.errors import Unavailable
from aios.fs import paths
from aios.fs.blobs import BlobStore
from aios.fs.changelog import ChangeLog
from aios.fs.events import Subscription
from aios.fs.index import SemanticIndex
from aios.fs.models import FileEvent, FileGroup, PassagePair, RetrieveFilters, RetrieveHit, Summary
from aios.fs.reading import FileReader
from aios.fs.retention import Retention
from aios.fs.search import ChunkSearch
from aios.fs.semantic import FileSemantics
from aios.fs.summaries import Summaries
from aios.fs.trees import Trees
from aios.fs.writing import FileWriter

if TYPE_CHECKING:
    from aios.llm import LLMPort

__all__ = ["FileService"]


class FileService:
    def __init__(
        self, engine: Engine, blobs: BlobStore, config: FsConfig, clock: Callable[[], float] = time.time, *,
        index: SemanticIndex | None = None, llm: LLMPort | None = None,
    ) -> None:  # fmt: skip
        self.blobs = blobs
        self.config = config
        self.trees = Trees(engine, clock)
        self.changes = ChangeLog(engine, blobs, clock)
        self.events = self.changes.events
        self.reader = FileReader(engine, blobs, self.trees)
        self.writer = FileWriter(engine, self.changes, blobs, self.trees, config)
        self.retention = Retention(engine, blobs, config, clock)
        self.semantics: FileSemantics | None = None
        if index is not None:
            self.changes.on_commit(index.schedule)
            summaries = Summaries(engine, blobs, config, clock, llm)
            self.semantics = FileSemantics(self.trees, self.reader, index, ChunkSearch(engine, index), summaries)
        # Each call, and the part that answers it.
        self.resolve = self.trees.resolve
        self.stat = self.reader.stat
        self.read = self.reader.read
        self.open = self.reader.open
        self.list = self.reader.list
        self.history = self.reader.history
        self.diff = self.reader.diff
        self.snapshot = self.reader.snapshot
        self.count = self.reader.count
        self.write = self.writer.write
        self.put_many = self.writer.put_many
        self.mkdir = self.writer.mkdir
        self.delete = self.writer.delete
        self.move = self.writer.move
        self.copy = self.writer.copy
        self.rollback = self.writer.rollback
        self.prune = self.retention.prune
        self.on_commit = self.changes.on_commit

    def start(self) -> None:
        """The index first: it repairs itself and queues what is behind before the retention thread runs."""
        if self.index is not None:
            self.index.start()
        self.retention.start()

    def stop(self) -> None:
        self.retention.stop()
        if self.index is not None:
            self.index.stop()

    def watch(
        self,
        agent_id: str,
        tree: str,
        prefix: str,
        deliver: Callable[[FileEvent], None],
        hold: Callable[[str], None] = lambda tree_id: None,
    ) -> Subscription:
        """Subscribe `deliver` to the changes under `prefix` that commit from now on; close the subscription
        when done. `hold(tree_id)` runs once read access is checked, so that removing that access from now on
        can end the watch (`Trees.on_access_removed`); access is checked again after it, so a removal just
        before is not missed either."""
        ref = self.trees.resolve(agent_id, tree, "read")
        hold(ref.id)
        self.trees.resolve(agent_id, tree, "read")
        return self.events.subscribe(ref.id, paths.normalize(prefix or "/"), deliver)

    # -- the semantic layer ----------------------------------------------------------------------------

    @property
    def index(self) -> SemanticIndex | None:
        return None if self.semantics is None else self.semantics.index

    def _semantic(self) -> FileSemantics:
        if self.semantics is None:
            raise Unavailable("the semantic index is not running in this kernel")
        return self.semantics

    def retrieve(
        self, agent_id: str, tree: str, query: str, k: int = 5, filters: RetrieveFilters | None = None,
        all_trees: bool = False,
    ) -> list[RetrieveHit]:  # fmt: skip
        return self._semantic().retrieve(agent_id, tree, query, k, filters, all_trees)

    def summarize(
        self, agent_id: str, tree: str, path: str, version: int = 0, *, priority: int = 5,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Summary:  # fmt: skip
        return self._semantic().summarize(agent_id, tree, path, version, priority=priority, should_stop=should_stop)

    def index_backlog(self, agent_id: str | None = None) -> int:
        return self._semantic().index_backlog(agent_id)

    def group_by(
        self, agent_id: str, tree: str, query: str = "", groups: int = 0, path_prefix: str = "/", limit: int = 200
    ) -> list[FileGroup]:
        return self._semantic().group_by(agent_id, tree, query, groups, path_prefix, limit)

    def join(self, agent_id: str, tree: str, path_a: str, tree_b: str, path_b: str, k: int = 5) -> list[PassagePair]:
        return self._semantic().join(agent_id, tree, path_a, tree_b, path_b, k)
