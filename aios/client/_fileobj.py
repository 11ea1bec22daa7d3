"""`Client.open`: a small file object over the file syscalls (read whole on open, written whole on close)."""

from __future__ import annotations

import io
from typing import Any

from aios.errors import InvalidArgument, NotFound

__all__ = ["RemoteFile", "open_remote"]


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
            data = self.getvalue()
            if self._mode == "a":
                self.info = self._client.write_file(self._path, data, tree=self._tree, append=True)
            else:  # conditional: a concurrent writer since open() makes this fail instead of being overwritten
                self.info = self._client.write_file(self._path, data, tree=self._tree,
                                                    expected_version=self._expected)  # fmt: skip
        super().close()


def open_remote(client: Any, path: str, mode: str, tree: str, encoding: str | None) -> Any:
    kind, binary = mode.replace("b", "").replace("t", ""), "b" in mode
    if kind not in ("r", "w", "a") or ("b" in mode and "t" in mode):
        raise InvalidArgument(f"mode must be r, w or a, with b or t; got {mode!r}")
    raw = RemoteFile(client, path, kind, tree)
    return raw if binary else io.TextIOWrapper(raw, encoding=encoding or "utf-8")
