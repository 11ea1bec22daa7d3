"""The semantic operations on files as an agent asks for them: retrieve, summarize, group, join, the index
backlog. Each checks access through the trees and reads rows through the reader, then hands the work to the
search (fs.search), the summaries (fs.summaries) or the index (fs.index). Holds them; none of them holds it.
"""

from __future__ import annotations

from collections.abc import Callable

from aios.errors import FailedPrecondition, InvalidArgument
from aios.fs import paths, rows
from aios.fs.index import SemanticIndex
from aios.fs.models import FileGroup, PassagePair, RetrieveFilters, RetrieveHit, Summary
from aios.fs.reading import FileReader
from aios.fs.search import ChunkSearch
from aios.fs.summaries import Summaries
from aios.fs.trees import TreeRef, Trees

__all__ = ["FileSemantics"]


class FileSemantics:
    def __init__(
        self, trees: Trees, reader: FileReader, index: SemanticIndex, search: ChunkSearch, summaries: Summaries
    ) -> None:
        self._trees = trees
        self._reader = reader
        self.index = index
        self._search = search
        self._summaries = summaries

    def retrieve(
        self, agent_id: str, tree: str, query: str, k: int = 5, filters: RetrieveFilters | None = None,
        all_trees: bool = False,
    ) -> list[RetrieveHit]:  # fmt: skip
        """Files whose text matches `query` by meaning and by words, best first, with the passages."""
        trees = self._trees.readable(agent_id) if all_trees else [self._trees.resolve(agent_id, tree, "read")]
        found = self._search.retrieve(trees, query, k, filters or RetrieveFilters())
        files = self._reader.by_ids([file_id for _, file_id, _, _ in found])  # one query for every hit's file
        return [RetrieveHit(rows.to_info(ref, files[file_id]), score, chunks)
                for ref, file_id, score, chunks in found
                if file_id in files and files[file_id].live]  # fmt: skip

    def summarize(
        self, agent_id: str, tree: str, path: str, version: int = 0, *, priority: int = 5,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Summary:  # fmt: skip
        ref = self._trees.resolve(agent_id, tree, "read")
        info = self._reader.readable(agent_id, tree, path, version)
        # Cached per tree: a hit only for content summarised in a tree the caller reads, never another's.
        return self._summaries.summarize(agent_id, ref.id, info.path, info.version, info.sha256, priority=priority,
                                         should_stop=should_stop)  # fmt: skip

    def index_backlog(self, agent_id: str | None = None) -> int:
        """Files waiting to be (re)indexed in the trees the agent reads; in the whole kernel for None. An agent's
        figure moves with its own trees only, not with what other agents write."""
        if agent_id is None:
            return self.index.backlog
        return self.index.behind(t.id for t in self._trees.readable(agent_id))

    def group_by(
        self, agent_id: str, tree: str, query: str = "", groups: int = 0, path_prefix: str = "/", limit: int = 200
    ) -> list[FileGroup]:
        """Files (those matching `query`, or all under `path_prefix`) clustered by topic, each group named."""
        if not 0 <= groups <= 50 or not 0 <= limit <= 1000:
            raise InvalidArgument("groups must be 0-50 and limit 0-1000")
        ref = self._trees.resolve(agent_id, tree, "read")
        limit = limit or 200
        prefix = paths.normalize(path_prefix or "/", "path_prefix")
        if query.strip():
            found = self.retrieve(agent_id, tree, query, min(limit, 200), RetrieveFilters(path_prefix=prefix))
            at = self._reader.at_paths(ref, [h.file.path for h in found])
            ids = [at[h.file.path].id for h in found if h.file.path in at]
        else:
            ids = self._reader.file_ids(ref, prefix, limit)
        out = []
        for name, keywords, members in self._search.group(ref, ids, groups):
            files = self._reader.by_ids(members)
            out.append(FileGroup(name, keywords, [rows.to_info(ref, files[f]) for f in members if f in files]))
        return out

    def join(self, agent_id: str, tree: str, path_a: str, tree_b: str, path_b: str, k: int = 5) -> list[PassagePair]:
        """The passages of two files that are most alike."""
        sides: list[tuple[TreeRef, str]] = []
        for t, p in ((tree, path_a), (tree_b, path_b)):
            ref = self._trees.resolve(agent_id, t, "read")
            row = self._reader.live(ref, paths.entry(p))
            if row.kind != "file":
                raise FailedPrecondition(f"{row.path} is a directory")
            sides.append((ref, row.id))
        return self._search.join(sides[0], sides[1], k)
