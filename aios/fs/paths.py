"""Paths and tree names: normalised, validated, never able to leave their tree."""

from __future__ import annotations

import fnmatch
import re

from aios.errors import InvalidArgument

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "ancestors", "check_tree_name", "entry", "is_under", "like_prefix",
           "matches", "normalize", "parent", "relative"]  # fmt: skip

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
_TREE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def normalize(path: str, what: str = "path") -> str:
    """ "/a//b/./c/" -> "/a/b/c". Relative paths, `..`, NUL bytes and over-long names are refused."""
    if not path:
        raise InvalidArgument(f"{what} is required")
    if "\x00" in path:
        raise InvalidArgument(f"{what} must not contain NUL bytes")
    if not path.startswith("/"):
        raise InvalidArgument(f"{what} must be absolute (start with /), got {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"{what} must not contain '..'")
    for part in parts:
        if len(part.encode()) > MAX_NAME_BYTES:
            raise InvalidArgument(f"a name in {what} is longer than {MAX_NAME_BYTES} bytes")
        if any(ord(c) < 32 for c in part):
            raise InvalidArgument(f"{what} must not contain control characters")
    result = "/" + "/".join(parts)
    if len(result.encode()) > MAX_PATH_BYTES:
        raise InvalidArgument(f"{what} is longer than {MAX_PATH_BYTES} bytes")
    return result


def entry(path: str, what: str = "path") -> str:
    """`normalize`d, naming something below "/" (what a write, a delete or a move acts on)."""
    path = normalize(path, what)
    if path == "/":
        raise InvalidArgument(f"{what} must name something below /")
    return path


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def ancestors(path: str) -> list[str]:
    """Directories above `path`, outermost first, without "/" itself: "/a/b/c" -> ["/a", "/a/b"]."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def is_under(path: str, prefix: str) -> bool:
    """True for `prefix` itself and everything below it."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def relative(path: str, base: str) -> str:
    return path[len(base) :].lstrip("/") if base != "/" else path.lstrip("/")


def matches(path: str, base: str, glob: str) -> bool:
    """fnmatch on the path relative to `base` ("*" also crosses "/"); an empty glob matches everything."""
    return not glob or fnmatch.fnmatchcase(relative(path, base), glob)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for everything strictly below `prefix`, with LIKE's wildcards escaped (escape char \\)."""
    escaped = prefix.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


def check_tree_name(name: str) -> str:
    if not _TREE_NAME.fullmatch(name):
        raise InvalidArgument(
            f"tree name must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit;"
            f" got {name!r}"
        )
    return name
