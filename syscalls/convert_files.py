"""Conversions between the file system's protobuf messages and fs domain objects."""

from __future__ import annotations

from aios._proto.aios.v1 import files_pb2
from fs import (
    ChangeRecord,
    ChangeResult,
    ChunkHit,
    FileEvent,
    FileGroup,
    FileHistory,
    FileInfo,
    FileVersion,
    PassagePair,
    RetrieveHit,
    Summary,
    Transfer,
    Tree,
)
from syscalls.convert import to_timestamp

__all__ = ["to_proto_change", "to_proto_event", "to_proto_file", "to_proto_group", "to_proto_history", "to_proto_hit",
           "to_proto_pair", "to_proto_subscribed", "to_proto_summary", "to_proto_transfer", "to_proto_tree",
           "to_proto_version"]  # fmt: skip


def to_proto_file(f: FileInfo) -> files_pb2.FileInfo:
    return files_pb2.FileInfo(
        tree=f.tree, path=f.path, is_dir=f.is_dir, version=f.version, size=f.size, sha256=f.sha256, mime=f.mime,
        created_at=to_timestamp(f.created_at), modified_at=to_timestamp(f.modified_at), deleted=f.deleted,
        change_id=f.change_id,
    )  # fmt: skip


def to_proto_change(c: ChangeResult) -> files_pb2.ChangeResponse:
    return files_pb2.ChangeResponse(change_id=c.change_id, files=[to_proto_file(f) for f in c.files])


def to_proto_version(v: FileVersion) -> files_pb2.FileVersion:
    return files_pb2.FileVersion(
        path=v.path, version=v.version, change_id=v.change_id, op=v.op, size=v.size, sha256=v.sha256,
        deleted=v.deleted, agent_id=v.agent_id, detail=v.detail, at=to_timestamp(v.at),
    )  # fmt: skip


def _record(c: ChangeRecord) -> files_pb2.ChangeRecord:
    return files_pb2.ChangeRecord(
        change_id=c.change_id, op=c.op, path=c.path, agent_id=c.agent_id, detail=c.detail, at=to_timestamp(c.at),
        files=[to_proto_version(v) for v in c.files],
    )  # fmt: skip


def to_proto_history(h: FileHistory) -> files_pb2.FileHistoryResponse:
    # `versions` is also filled for a directory (every version its changes made): what clients that predate
    # `changes` read.
    versions = h.versions or [v for c in h.changes for v in c.files]
    return files_pb2.FileHistoryResponse(versions=[to_proto_version(v) for v in versions],
                                         changes=[_record(c) for c in h.changes], is_dir=h.is_dir)  # fmt: skip


def _chunk(c: ChunkHit) -> files_pb2.ChunkHit:
    return files_pb2.ChunkHit(text=c.text, start=c.start, end=c.end, score=c.score)


def to_proto_hit(h: RetrieveHit) -> files_pb2.RetrieveHit:
    return files_pb2.RetrieveHit(file=to_proto_file(h.file), score=h.score, chunks=[_chunk(c) for c in h.chunks])


def to_proto_summary(s: Summary) -> files_pb2.Summary:
    return files_pb2.Summary(path=s.path, version=s.version, text=s.text, method=s.method, cached=s.cached)


def to_proto_group(g: FileGroup) -> files_pb2.FileGroup:
    return files_pb2.FileGroup(name=g.name, keywords=g.keywords, files=[to_proto_file(f) for f in g.files])


def to_proto_pair(p: PassagePair) -> files_pb2.PassagePair:
    return files_pb2.PassagePair(a=_chunk(p.a), b=_chunk(p.b), score=p.score)


def to_proto_event(e: FileEvent, tree: str) -> files_pb2.FileEvent:
    return files_pb2.FileEvent(change_id=e.change_id, op=e.op, tree=tree, path=e.path, version=e.version,
                               agent_id=e.agent_id, at=to_timestamp(e.at))  # fmt: skip


def to_proto_subscribed(tree: str, prefix: str, at: float) -> files_pb2.FileEvent:
    """The first message of a Watch stream: from here on, every change under `prefix` is delivered."""
    return files_pb2.FileEvent(op="subscribed", tree=tree, path=prefix, at=to_timestamp(at))


def to_proto_tree(t: Tree) -> files_pb2.Tree:
    return files_pb2.Tree(name=t.name, owner_id=t.owner_id, kind=t.kind, grants=t.grants, access=t.access)


def to_proto_transfer(t: Transfer) -> files_pb2.TransferProgress:
    return files_pb2.TransferProgress(done=t.done, total=t.total, bytes=t.bytes, path=t.path)
