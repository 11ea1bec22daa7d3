"""`Client.open` and `AsyncClient.open`: small file objects over the file syscalls (read whole on open,
written whole on close)."""

from __future__ import annotations

import io
from typing import Any, Self

from aios.errors import InvalidArgument, NotFound

__all__ = ["AsyncRemoteFile", "RemoteFile", "open_remote", "open_remote_async"]


class RemoteFile(io.BytesIO):
    """A bytes buffer that writes itself back as a new version when closed (write and append modes)."""

    def __init__(self, client: Any, path: str, mode: str, tree: str) -> None:
        self._client, self._path, self._mode, self._tree = client, path, mode, tree
        self._expected: int | None = None
        initial = b""
        if mode == "r":
            initial = client.read_file(path, tree=tree)
        elif mode == "w":
            try:
                self._expected = client.stat(path, tree=tree).version
            except NotFound:
                self._expected = 0
        super().__init__(initial)
        self.info: Any = None

    def readable(self) -> bool:
        return self._mode == "r"

    def writable(self) -> bool:
        return self._mode in ("w", "a")

    def close(self) -> None:
        if not self.closed and self._mode in ("w", "a"):
            write = _write_back(self._mode, self._expected)
            self.info = self._client.write_file(self._path, self.getvalue(), tree=self._tree, **write)
        super().close()


class AsyncRemoteFile:
    """What `await AsyncClient.open(...)` gives: the content in memory (read when opened); `await f.close()`,
    or leaving `async with`, writes it back as a new version in write and append modes."""

    def __init__(self, client: Any, path: str, mode: str, tree: str, initial: bytes, expected: int | None,
                 encoding: str | None) -> None:  # fmt: skip
        self._client, self._path, self._mode, self._tree, self._expected = client, path, mode, tree, expected
        self._raw = io.BytesIO(initial)
        self._buffer: Any = self._raw if encoding is None else io.TextIOWrapper(self._raw, encoding=encoding)
        self.info: Any = None

    @property
    def closed(self) -> bool:
        return bool(self._buffer.closed)

    def readable(self) -> bool:
        return self._mode == "r"

    def writable(self) -> bool:
        return self._mode in ("w", "a")

    async def read(self, size: int = -1) -> Any:
        self._check(self.readable(), "read")
        return self._buffer.read(size)

    async def readline(self) -> Any:
        self._check(self.readable(), "read")
        return self._buffer.readline()

    async def write(self, data: Any) -> int:
        self._check(self.writable(), "write")
        return int(self._buffer.write(data))

    async def close(self) -> None:
        if self.closed:
            return
        if self.writable():
            self._buffer.flush()
            write = _write_back(self._mode, self._expected)
            self.info = await self._client.write_file(self._path, self._raw.getvalue(), tree=self._tree, **write)
        self._buffer.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check(self, allowed: bool, what: str) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not allowed:
            raise io.UnsupportedOperation(f"not {what}able: opened with mode {self._mode!r}")


def _split_mode(mode: str) -> tuple[str, bool]:
    """("r" | "w" | "a", binary) of an open() mode."""
    kind, binary = mode.replace("b", "").replace("t", ""), "b" in mode
    if kind not in ("r", "w", "a") or ("b" in mode and "t" in mode):
        raise InvalidArgument(f"mode must be r, w or a, with b or t; got {mode!r}")
    return kind, binary


def _write_back(mode: str, expected: int | None) -> dict[str, Any]:
    """write_file's options on close: append, or conditional on the version seen at open (so a concurrent
    writer since then makes the write fail instead of being overwritten)."""
    return {"append": True} if mode == "a" else {"expected_version": expected}


def open_remote(client: Any, path: str, mode: str, tree: str, encoding: str | None) -> Any:
    kind, binary = _split_mode(mode)
    raw = RemoteFile(client, path, kind, tree)
    return raw if binary else io.TextIOWrapper(raw, encoding=encoding or "utf-8")


async def open_remote_async(client: Any, path: str, mode: str, tree: str, encoding: str | None) -> AsyncRemoteFile:
    kind, binary = _split_mode(mode)
    initial, expected = b"", None
    if kind == "r":
        initial = await client.read_file(path, tree=tree)
    elif kind == "w":
        try:
            expected = (await client.stat(path, tree=tree)).version
        except NotFound:
            expected = 0
    return AsyncRemoteFile(client, path, kind, tree, initial, expected, None if binary else encoding or "utf-8")
