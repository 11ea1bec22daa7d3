"""Retention: old versions dropped by the policy (keep_versions / keep_days), never a file's current one, and
the blobs no version references any more; on a worker of its own (aios/lifecycle.py) when a policy is set."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.config import FsConfig
from aios.fs._schema import fs_blobs, fs_files, fs_versions
from aios.fs.blobs import BlobStore
from aios.lifecycle import Worker

__all__ = ["Retention"]

log = logging.getLogger("aios.fs")


class Retention:
    def __init__(self, engine: Engine, blobs: BlobStore, config: FsConfig, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._blobs = blobs
        self._config = config
        self._clock = clock
        self.worker = Worker.every("fs-retention", config.retention_interval_s, self._prune_logged, join_s=10)

    def start(self) -> None:
        if self._config.keep_versions or self._config.keep_days:
            self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def prune(self) -> int:
        """Apply the retention policy; never drops a file's current version. Returns how many versions were
        dropped; blobs no version references are deleted."""
        keep_n, keep_s = self._config.keep_versions, self._config.keep_days * 86_400
        if not keep_n and not keep_s:
            return 0
        cutoff = self._clock() - keep_s if keep_s else None
        with self._engine.begin() as conn:
            rank = sa.func.row_number().over(partition_by=fs_versions.c.file_id,
                                             order_by=fs_versions.c.version.desc()).label("rank")  # fmt: skip
            ranked = sa.select(fs_versions.c.file_id, fs_versions.c.version, fs_versions.c.at, rank).subquery()
            rows = conn.execute(
                sa.select(ranked.c.file_id, ranked.c.version)
                .join(fs_files, fs_files.c.id == ranked.c.file_id)
                .where(
                    ranked.c.version < fs_files.c.version,
                    sa.or_(
                        ranked.c.rank > keep_n if keep_n else sa.false(),
                        ranked.c.at < cutoff if cutoff is not None else sa.false(),
                    ),
                )
            ).all()
            for file_id, version in rows:
                conn.execute(
                    sa.delete(fs_versions).where(fs_versions.c.file_id == file_id, fs_versions.c.version == version)
                )
            referenced = {s for (s,) in conn.execute(sa.select(fs_versions.c.sha256).distinct()) if s}
            conn.execute(sa.delete(fs_blobs).where(fs_blobs.c.sha256.not_in(referenced)) if referenced
                         else sa.delete(fs_blobs))  # fmt: skip
        self._blobs.collect(referenced)
        return len(rows)

    def _prune_logged(self) -> None:
        if dropped := self.prune():
            log.info("fs retention dropped %d old versions", dropped)
