"""Weights streamed from flash: keep a resident budget of the memory-mapped GGUF, prefetch the rest.

llama.cpp maps the model file (MAP_POPULATE reads it all at load). Under a budget, the kernel keeps the
tensors every token needs at once resident (token embeddings, which SmolLM2 also uses as the output
matrix, norms, then attention), fills what budget is left with the first layers' FFN, and evicts the
other layers' FFN ranges (madvise MADV_PAGEOUT, fadvise DONTNEED). Before each forward pass it asks the OS to read the
evicted ranges back in layer order (MADV_WILLNEED: large, ordered, asynchronous reads instead of one
4 KiB page fault at a time); after it, they are evicted again to stay within the budget.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import resource
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ProcessMemory", "Residency", "ResidencyStats", "parse_budget", "process_memory", "tensor_table"]

MADV_WILLNEED = 3
MADV_PAGEOUT = 21
_PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def parse_budget(text: str | None, model_bytes: int) -> int | None:
    """'50%', '48MB', '1.5GiB' or a byte count to bytes; None/''/'100%' for no budget."""
    if not text:
        return None
    match = re.fullmatch(r"\s*([\d.]+)\s*(%|b|kb|mb|gb|kib|mib|gib)?\s*", text.lower())
    if not match:
        raise ValueError(f"resident budget must look like 50% or 64MB, got {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "b"
    if unit == "%":
        if not 0 < value <= 100:
            raise ValueError("a resident budget in % must be in (0, 100]")
        return None if value == 100 else int(model_bytes * value / 100)
    scale = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[unit]
    return int(value * scale)


@dataclass
class _Range:
    start: int  # address
    offset: int  # in the file
    length: int
    layer: int  # -1: not a layer tensor
    kind: str  # embd | norm | attn | ffn | other


@dataclass
class ResidencyStats:
    model_bytes: int = 0
    budget_bytes: int | None = None
    pinned_bytes: int = 0
    streamed_bytes: int = 0
    streamed_layers: list[int] = field(default_factory=list)
    prefetch_enabled: bool = True
    prefetches: int = 0
    evictions: int = 0


@dataclass(frozen=True)
class ProcessMemory:
    rss_anon: int
    rss_file: int
    peak_rss: int
    read_bytes: int
    major_faults: int


def process_memory() -> ProcessMemory:
    status = Path("/proc/self/status").read_text()

    def kb(key: str) -> int:
        match = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) * 1024 if match else 0

    io = Path("/proc/self/io").read_text() if Path("/proc/self/io").exists() else ""
    read = re.search(r"^read_bytes:\s+(\d+)", io, re.M)
    return ProcessMemory(kb("RssAnon"), kb("RssFile"), kb("VmHWM"), int(read.group(1)) if read else 0,
                         resource.getrusage(resource.RUSAGE_SELF).ru_majflt)  # fmt: skip


def _madvise(start: int, length: int, advice: int) -> None:
    aligned = start - start % _PAGE
    length += start - aligned
    if _libc.madvise(ctypes.c_void_p(aligned), ctypes.c_size_t(length), advice) != 0:
        raise OSError(ctypes.get_errno(), f"madvise({advice}) failed: {os.strerror(ctypes.get_errno())}")


def _merge(ranges: list[_Range]) -> list[tuple[int, int, int]]:
    """(address, file offset, length) runs of adjacent ranges, in the given order."""
    runs: list[list[int]] = []
    for r in ranges:
        if runs and runs[-1][0] + runs[-1][2] == r.start and runs[-1][1] + runs[-1][2] == r.offset:
            runs[-1][2] += r.length
        else:
            runs.append([r.start, r.offset, r.length])
    return [(a, o, n) for a, o, n in runs]


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def tensor_table(path: Path) -> list[tuple[int, int, str]]:
    """(file offset, bytes, name) of every tensor in a GGUF file, from its header alone.

    A tensor's size is the distance to the next tensor (or the end of the file), alignment padding
    included. Reading only the header takes milliseconds and no memory, unlike a full GGUF reader.
    """
    with open(path, "rb") as f:

        def read(fmt: str) -> Any:
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def string() -> str:
            return f.read(read("Q")).decode("utf-8", errors="replace")

        def value(kind: int) -> Any:
            if kind == 8:
                return string()
            if kind == 9:
                item, count = read("I"), read("Q")
                if item in _SCALARS:  # skip numeric arrays (the vocabulary scores) in one seek
                    f.seek(count * struct.calcsize(_SCALARS[item]), 1)
                    return None
                return [value(item) for _ in range(count)]
            return read(_SCALARS[kind])

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, n_tensors, n_kv = read("I"), read("Q"), read("Q")
        if version < 2:
            raise ValueError(f"GGUF version {version} is not supported")
        alignment = 32
        for _ in range(n_kv):
            key, kind = string(), read("I")
            got = value(kind)
            if key == "general.alignment":
                alignment = int(got)
        infos = []
        for _ in range(n_tensors):
            name = string()
            n_dims = read("I")
            f.seek(8 * n_dims + 4, 1)  # dims, ggml type
            infos.append((read("Q"), name))
        start = -(-f.tell() // alignment) * alignment
    size = path.stat().st_size
    ordered = sorted(infos)
    ends = [o for o, _ in ordered[1:]] + [size - start]
    return [(start + o, end - o, name) for (o, name), end in zip(ordered, ends, strict=True)]


def _kind(name: str) -> str:
    if name.startswith("token_embd") or name.startswith("output."):
        return "embd"
    if "norm" in name:
        return "norm"
    if ".attn_" in name:
        return "attn"
    if ".ffn_" in name:
        return "ffn"
    return "other"


class Residency:
    """Attach after llama.cpp has mapped the model; call before_eval()/after_eval() around each decode."""

    def __init__(self, model_path: Path, budget_bytes: int | None, prefetch: bool = True) -> None:
        self.model_path = model_path.resolve()
        self.budget = budget_bytes
        self.prefetch = prefetch
        self.stats = ResidencyStats(
            model_bytes=self.model_path.stat().st_size, budget_bytes=budget_bytes, prefetch_enabled=prefetch
        )
        if budget_bytes is None:
            self.stats.pinned_bytes = self.stats.model_bytes
        self._ranges: list[_Range] = []
        self._streamed: list[_Range] = []
        self._runs: list[tuple[int, int, int]] = []
        self._fd = os.open(self.model_path, os.O_RDONLY)

    def resident_fraction(self) -> float:
        """Share of the streamed ranges' pages now in memory (mincore), 0 when nothing is streamed."""
        total = resident = 0
        for r in self._streamed:
            start = r.start - r.start % _PAGE
            pages = (r.length + r.start - start + _PAGE - 1) // _PAGE
            vec = (ctypes.c_ubyte * pages)()
            if _libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(pages * _PAGE), vec) == 0:
                total += pages
                resident += sum(v & 1 for v in vec)
        return resident / total if total else 0.0

    def attach(self) -> None:
        tensors = tensor_table(self.model_path)
        mappings = self._mappings()
        if not mappings:
            raise RuntimeError(f"{self.model_path} is not memory-mapped by this process")
        for offset, size, name in sorted(tensors):
            address = self._address(mappings, offset)
            if address is None:
                continue
            layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
            self._ranges.append(_Range(address, offset, size, layer, _kind(name)))
        self._plan()
        os.fsync(self._fd)  # a freshly written model has dirty pages, which cannot be evicted
        self._evict()

    def _mappings(self) -> list[tuple[int, int, int]]:
        maps = []
        for line in Path("/proc/self/maps").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and Path(parts[5]) == self.model_path:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                maps.append((start, end, int(parts[2], 16)))
        return maps

    @staticmethod
    def _address(mappings: list[tuple[int, int, int]], offset: int) -> int | None:
        for start, end, file_offset in reversed(mappings):
            if file_offset <= offset < file_offset + (end - start):
                return start + offset - file_offset
        return None

    def _plan(self) -> None:
        """Which ranges stay resident: everything needed every token first, then early layers' FFN."""
        if self.budget is None:
            return
        priority = {"embd": 0, "norm": 0, "other": 0, "attn": 1, "ffn": 2}
        order = sorted(self._ranges, key=lambda r: (priority[r.kind], r.layer, r.start))
        left = self.budget
        streaming_layers = False
        for r in order:
            # Whole-model tensors that fit stay resident even when a bigger one (the embeddings) does not;
            # among layer tensors, the earliest layers stay and every later one streams.
            if r.length <= left and not (streaming_layers and r.layer >= 0):
                left -= r.length
                self.stats.pinned_bytes += r.length
            else:
                streaming_layers = streaming_layers or r.layer >= 0
                self._streamed.append(r)
        # Layer order (tensors are stored in name order: blk.1, blk.10, ..., blk.2): what is needed first
        # is read first. Adjacent ranges are merged so each eviction is one call per run of bytes.
        self._streamed.sort(key=lambda r: (r.layer, r.start))
        self._runs = _merge(self._streamed)
        self.stats.streamed_bytes = sum(r.length for r in self._streamed)
        self.stats.streamed_layers = sorted({r.layer for r in self._streamed if r.layer >= 0})

    def _evict(self) -> None:
        # MADV_PAGEOUT reclaims the pages this process maps; fadvise DONTNEED drops them from the page cache,
        # so the next use really reads them from storage, as on a machine without spare memory. The first
        # DONTNEED drains every CPU's LRU batches (fresh pages in them cannot be paged out). MADV_DONTNEED
        # would be cheaper, but measured with a cache warmed by large reads it left ~90 % of the pages
        # cached (large folios straddling a run's ends are skipped whole); PAGEOUT splits them.
        for start, offset, length in self._runs:
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)
            _madvise(start, length, MADV_PAGEOUT)
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)
        self.stats.evictions += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def before_eval(self) -> None:
        if self._streamed and self.prefetch:
            for start, _, length in self._runs:
                _madvise(start, length, MADV_WILLNEED)
            self.stats.prefetches += 1

    def after_eval(self) -> None:
        if self._streamed:
            self._evict()
