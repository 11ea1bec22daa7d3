"""The client's file methods: versioned files, history and rollback, retrieval by meaning, watching, trees,
import and export. `tree`: "" is the agent's own tree; otherwise a shared tree it owns or was granted."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, Unpack

from aios.client import _types as t
from aios.client._base import map_errors
from aios.client._fileobj import open_remote
from aios.client._inputs import RetrieveFilters
from aios.client._sync.caller import Caller
from aios.errors import DeadlineExceeded, ResourceExhausted

__all__ = ["FileCalls"]


class FileCalls(Caller):
    def write_file(
        self, path: str, data: bytes | str | Iterable[bytes] | BinaryIO, *, tree: str = "", append: bool = False,
        expected_version: int | None = None, mime: str = "",
    ) -> t.FileInfo:  # fmt: skip
        """Write (or append to) a file as a new version; parents are created. `expected_version` makes the
        write conditional (0: only if the file does not exist) and fails with FailedPrecondition otherwise.
        Large contents, iterables and file objects are streamed."""
        return self._call(self._ops.files.write_file(path, data, tree, append, expected_version, mime))

    def read_file(self, path: str, *, tree: str = "", version: int = 0) -> bytes:
        """The file's content (version 0: the current one); one message, or streamed when it is large."""
        try:
            return self._call(self._ops.files.read_file(path, tree, version, stream=False))
        except ResourceExhausted:  # larger than one message
            chunks = self._stream(self._ops.files.read_file(path, tree, version, stream=True))
            return b"".join([data for _, data in chunks])

    def open(self, path: str, mode: str = "r", *, tree: str = "", encoding: str | None = None) -> Any:
        """A file object: "r"/"rb" reads the current version; "w"/"wb" and "a"/"ab" write a new version when
        closed ("w" only if nobody changed the file since it was opened). AsyncClient: awaited, and so are the
        object's read, write and close (`async with await client.open(...) as f`)."""
        return open_remote(self, path, mode, tree, encoding)

    def stat(self, path: str, *, tree: str = "", version: int = 0) -> t.FileInfo:
        return self._call(self._ops.files.stat(path, tree, version))

    def list_files(
        self, path: str = "/", *, tree: str = "", glob: str = "", recursive: bool = False,
        include_deleted: bool = False,
    ) -> list[t.FileInfo]:  # fmt: skip
        return self._call(self._ops.files.list_files(path, tree, glob, recursive, include_deleted))

    def mkdir(self, path: str, *, tree: str = "") -> t.FileInfo:
        return self._call(self._ops.files.mkdir(path, tree))

    def delete_file(
        self, path: str, *, tree: str = "", recursive: bool = False, expected_version: int | None = None
    ) -> t.FileChange:
        """Delete a file or directory; a deletion is a version too (read old versions, or roll back)."""
        return self._call(self._ops.files.delete_file(path, tree, recursive, expected_version))

    def move(self, src: str, dst: str, *, tree: str = "", expected_version: int | None = None) -> t.FileInfo:
        return self._call(self._ops.files.move(src, dst, tree, expected_version))

    def copy(self, src: str, dst: str, *, tree: str = "") -> t.FileInfo:
        return self._call(self._ops.files.copy(src, dst, tree))

    def file_history(
        self, path: str = "/", *, tree: str = "", limit: int = 100
    ) -> list[t.FileVersion] | list[t.FileChangeRecord]:
        """Newest first: a file's versions (FileVersion), or a directory's changes (FileChangeRecord: one per
        change, with the versions it made below the directory in `files`). Both have `change_id`, `op`,
        `path`, `agent_id`, `detail` and `at`: `rollback("/", change_id=file_history("/")[1].change_id)` undoes
        the latest change. `limit` counts rows (versions or changes)."""
        return self._call(self._ops.files.file_history(path, tree, limit))

    def diff(self, path: str, from_version: int, to_version: int = 0, *, tree: str = "", context_lines: int = 3) -> str:
        """A unified diff (`diff -u`, with its "\\ No newline at end of file"); to_version 0: the current one."""
        return self._call(self._ops.files.diff(path, from_version, to_version, tree, context_lines))

    def rollback(
        self, path: str = "/", *, tree: str = "", version: int | None = None, change_id: int | None = None,
        at: datetime | float | None = None,
    ) -> t.FileChange:  # fmt: skip
        """Restore a file to a version, or a file or directory tree to its state after a change or at a time.
        The rollback is a new change, so it can be rolled back too. FailedPrecondition when it is already in
        that state (nothing would change, and nothing is recorded)."""
        return self._call(self._ops.files.rollback(path, tree, version, change_id, at))

    def retrieve(
        self, query: str, k: int = 5, *, tree: str = "", **filters: Unpack[RetrieveFilters]
    ) -> list[t.FileHit]:
        """Files by meaning and words, with their best passages. `filters`: path_prefix, glob, keywords
        (all must occur), mime_prefix, all_trees (search every tree you can read)."""
        return self._call(self._ops.files.retrieve(query, k, tree, filters))

    def summarize(self, path: str, *, tree: str = "", version: int = 0) -> t.FileSummary:
        return self._call(self._ops.files.summarize(path, tree, version))

    def group_files(
        self, query: str = "", *, groups: int = 0, tree: str = "", path_prefix: str = "/", limit: int = 0
    ) -> list[t.FileGroup]:
        return self._call(self._ops.files.group_files(query, groups, tree, path_prefix, limit))

    def join_files(
        self, path_a: str, path_b: str, k: int = 5, *, tree: str = "", tree_b: str = ""
    ) -> list[t.PassagePair]:
        return self._call(self._ops.files.join_files(path_a, path_b, k, tree, tree_b))

    def watch(
        self, path_prefix: str = "/", *, tree: str = "", timeout: float | None = None
    ) -> Generator[t.FileEvent, None, None]:
        """Change events under `path_prefix` (create, write, append, move, copy, delete, rollback, mkdir,
        import) in the order they commit: `for event in client.watch("/inbox", timeout=60): ...`
        (AsyncClient: `async for event in await client.watch(...)`).

        Returns once the kernel has subscribed (its first message says so; this method consumes it), so every
        change that commits after `watch()` returns is delivered: no need to wait before acting. A missing
        tree or a bad prefix raises here.

        The events have no end of their own: the iterator ends `timeout` seconds after the call, or when it
        is closed (`.close()`, `await .aclose()`); with `timeout=None` a loop over it waits for events until then."""
        op = self._ops.files.watch(path_prefix, tree)
        call = op.method(op.request, metadata=self._metadata, timeout=timeout)
        try:
            with map_errors():
                next(iter(call))  # the kernel's "subscribed" message
        except BaseException:
            call.cancel()
            raise
        return _events(call, op.parse)

    def create_tree(self, name: str) -> t.FileTree:
        return self._call(self._ops.files.create_tree(name))

    def grant(self, tree: str, agent_id: str, mode: str = "read") -> t.FileTree:
        """Give an agent read or write access to a shared tree you own; mode "" revokes."""
        return self._call(self._ops.files.grant(tree, agent_id, mode))

    def list_trees(self) -> list[t.FileTree]:
        return self._call(self._ops.files.list_trees())

    def import_dir(
        self, agent_id: str, host_path: str, dest: str = "/", *, tree: str = ""
    ) -> Iterator[t.TransferProgress]:
        """Admin: copy a directory of the kernel's machine into an agent's tree (one change); yields progress."""
        yield from self._stream(self._ops.files.import_dir(agent_id, host_path, dest, tree))

    def export_tree(
        self, agent_id: str, host_path: str, path: str = "/", *, tree: str = "", change_id: int = 0
    ) -> Iterator[t.TransferProgress]:
        """Admin: write a tree (as of `change_id`, 0: now) to a new directory on the kernel's machine."""
        yield from self._stream(self._ops.files.export_tree(agent_id, host_path, path, tree, change_id))


def _events(call: Any, parse: Callable[[Any], t.FileEvent]) -> Generator[t.FileEvent, None, None]:
    try:
        with map_errors():
            for message in call:  # the same iterator watch() read the first message from
                yield parse(message)
    except DeadlineExceeded:
        return  # the caller's `timeout`: watching is over
    finally:
        call.cancel()
