"""Saved KV states of sessions that are not in the model's context: RAM up to a budget, then disk.

A snapshot is only a cache (the tokens can always be prefilled again), so past the disk budget the
least recently used snapshots are dropped.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KVStats", "KVStore"]


@dataclass
class _Snapshot:
    tokens: list[int]
    size: int
    data: bytes | None = None
    path: Path | None = None


@dataclass
class KVStats:
    saves: int = 0
    restores: int = 0
    bytes_saved: int = 0
    bytes_restored: int = 0
    save_s: float = 0.0
    restore_s: float = 0.0
    spills: int = 0
    drops: int = 0
    ram_bytes: int = 0
    disk_bytes: int = 0
    sessions: int = 0
    resident_sessions: int = 0
    """Filled by the LLM service from the backend: sessions in the model's context, and their cells."""
    resident_tokens: int = 0
    kv_cells: int = 0
    max_batch: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class KVStore:
    def __init__(self, ram_budget: int, disk_dir: Path | None, disk_budget: int) -> None:
        self._ram_budget = ram_budget
        self._disk_dir = disk_dir
        self._disk_budget = disk_budget if disk_dir else 0
        self._snaps: OrderedDict[str, _Snapshot] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = KVStats()

    def tokens(self, key: str) -> list[int] | None:
        with self._lock:
            snap = self._snaps.get(key)
            return snap.tokens if snap else None

    def put(self, key: str, tokens: list[int], data: bytes, elapsed_s: float) -> None:
        with self._lock:
            self._discard(key)
            self._snaps[key] = _Snapshot(list(tokens), len(data), data=data)
            self.stats.saves += 1
            self.stats.bytes_saved += len(data)
            self.stats.save_s += elapsed_s
            self.stats.ram_bytes += len(data)
            self._enforce_budgets()

    def take(self, key: str) -> tuple[list[int], bytes] | None:
        """The snapshot for `key`, loaded from disk if it was spilled. It stays stored."""
        with self._lock:
            snap = self._snaps.get(key)
            if snap is None:
                return None
            self._snaps.move_to_end(key)
            if snap.data is not None:
                return snap.tokens, snap.data
            assert snap.path is not None
            return snap.tokens, snap.path.read_bytes()

    def restored(self, size: int, elapsed_s: float) -> None:
        with self._lock:
            self.stats.restores += 1
            self.stats.bytes_restored += size
            self.stats.restore_s += elapsed_s

    def spill(self, key: str) -> int:
        """Move `key`'s snapshot from RAM to disk now (an idle session); the bytes moved, 0 if none were in RAM."""
        with self._lock:
            snap = self._snaps.get(key)
            if snap is None or snap.data is None or self._disk_dir is None or snap.size > self._disk_budget:
                return 0
            self._to_disk(key, snap)
            for other, s in list(self._snaps.items()):
                if self.stats.disk_bytes <= self._disk_budget:
                    break
                if s.path is not None and other != key:
                    self._discard(other)
                    self.stats.drops += 1
            return snap.size

    def forget(self, key: str) -> None:
        with self._lock:
            self._discard(key)

    def snapshot_stats(self) -> KVStats:
        with self._lock:
            self.stats.sessions = len(self._snaps)
            return KVStats(**self.stats.__dict__)

    def usage(self, prefix: str) -> KVStats:
        """What the snapshots whose keys start with `prefix` (one agent's sessions) hold: sessions, RAM and disk
        bytes; the counters, which all sessions share, are left 0."""
        with self._lock:
            mine = [s for k, s in self._snaps.items() if k.startswith(prefix)]
        return KVStats(ram_bytes=sum(s.size for s in mine if s.data is not None),
                       disk_bytes=sum(s.size for s in mine if s.path is not None), sessions=len(mine))  # fmt: skip

    def _discard(self, key: str) -> None:
        snap = self._snaps.pop(key, None)
        if snap is None:
            return
        if snap.data is not None:
            self.stats.ram_bytes -= snap.size
        if snap.path is not None:
            self.stats.disk_bytes -= snap.size
            snap.path.unlink(missing_ok=True)

    def _to_disk(self, key: str, snap: _Snapshot) -> None:
        assert self._disk_dir is not None and snap.data is not None
        self._disk_dir.mkdir(parents=True, exist_ok=True)
        path = self._disk_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".kv")
        started = time.perf_counter()
        path.write_bytes(snap.data)
        self.stats.extra["spill_s"] = self.stats.extra.get("spill_s", 0.0) + time.perf_counter() - started
        snap.path, snap.data = path, None
        self.stats.ram_bytes -= snap.size
        self.stats.disk_bytes += snap.size
        self.stats.spills += 1

    def _enforce_budgets(self) -> None:
        for key, snap in list(self._snaps.items()):  # oldest first
            if self.stats.ram_bytes <= self._ram_budget:
                break
            if snap.data is None:
                continue
            if self._disk_dir is not None and snap.size <= self._disk_budget:
                self._to_disk(key, snap)
            else:
                self._discard(key)
                self.stats.drops += 1
        for key, snap in list(self._snaps.items()):
            if self.stats.disk_bytes <= self._disk_budget:
                break
            if snap.path is not None:
                self._discard(key)
                self.stats.drops += 1
