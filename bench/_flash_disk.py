"""Flash benchmark, the page cache and the disk: how much of a file is cached, dropping and warming it, and the
disk's read throughput, which bounds streamed decode (bench/flash.py)."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import time
from pathlib import Path
from typing import Any

from _common import read_text

MB = 1e6
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MADV_RANDOM = 1


def cached_fraction(path: Path) -> float:
    """Share of the file's pages in the page cache (mincore over a fresh mapping that touches nothing)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return float("nan")
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        try:
            if libc.mincore(addr, size, vec) != 0:
                return float("nan")
        finally:
            libc.munmap(addr, size)
        return sum(v & 1 for v in vec) / pages
    finally:
        os.close(fd)


def drop_from_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 22):
            pass


def disk_throughput(path: Path) -> dict[str, Any]:
    """Read the (private) model file cold: O_DIRECT in 1 MiB and 8 MiB blocks, buffered after DONTNEED (with the
    kernel's readahead), and 4 KiB O_DIRECT reads at random offsets (one page fault that reads one page)."""
    size = path.stat().st_size
    out: dict[str, Any] = {"file_bytes": size}
    buf = mmap.mmap(-1, 8 << 20)  # page-aligned, as O_DIRECT needs
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            for label, block in (("1mib", 1 << 20), ("8mib", 8 << 20)):
                drop_from_cache(path)
                with memoryview(buf)[:block] as view:
                    t, done = time.perf_counter(), 0
                    while True:
                        got = os.preadv(fd, [view], done)
                        done += got
                        if got < block:
                            break
                out[f"odirect_{label}_mb_s"] = round(done / (time.perf_counter() - t) / MB, 1)
            rng = random.Random(7)
            offsets = [rng.randrange(size // 4096) * 4096 for _ in range(256)]
            with memoryview(buf)[:4096] as small:
                t = time.perf_counter()
                for off in offsets:
                    os.preadv(fd, [small], off)
            out["odirect_4kib_random_ms"] = round((time.perf_counter() - t) / len(offsets) * 1000, 3)
        finally:
            os.close(fd)
    except OSError as exc:  # a file system without O_DIRECT
        out["odirect_error"] = str(exc)
    finally:
        buf.close()
    drop_from_cache(path)
    t = time.perf_counter()
    warm_cache(path)
    out["buffered_cold_mb_s"] = round(size / (time.perf_counter() - t) / MB, 1)
    return out


def storage_info(path: Path) -> dict[str, Any]:
    st = os.stat(path)
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    block = Path("/sys/dev/block") / dev
    queue = block / "queue" if (block / "queue").exists() else block / ".." / "queue"
    name = block.resolve().name if block.exists() else None
    return {
        "device": name,
        "dev": dev,
        "read_ahead_kb": _int(
            read_text(f"/sys/class/bdi/{dev}/read_ahead_kb") or read_text(str(queue / "read_ahead_kb"))
        ),
        "rotational": _int(read_text(str(queue / "rotational"))),
        "page_cluster": _int(read_text("/proc/sys/vm/page-cluster")),
        "mount": _mount(path),
    }


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _mount(path: Path) -> str | None:
    best = None
    for line in read_text("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and str(path).startswith(parts[1]) and (best is None or len(parts[1]) >= len(best[1])):
            best = parts
    return f"{best[0]} on {best[1]} ({best[2]})" if best else None
