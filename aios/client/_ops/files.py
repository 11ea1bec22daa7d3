"""File syscalls: request builders (contents sent in one message or streamed), and the conversions of files,
versions, changes and hits from protobuf."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aios._proto.aios.v1 import files_pb2, files_pb2_grpc
from aios.client import _types as t
from aios.client._inputs import RetrieveFilters, check_options
from aios.client._ops.op import Op, requests_checked, time_of, timestamp
from aios.errors import InvalidArgument

__all__ = ["STREAM_CHUNK", "FileOps"]

STREAM_CHUNK = 1 << 20
"""Bytes per message when a file is streamed."""


@requests_checked
class FileOps:
    def __init__(self, channel: Any) -> None:
        self.stub = files_pb2_grpc.FileServiceStub(channel)

    def write_file(self, path: str, data: Any, tree: str, append: bool, expected: int | None, mime: str) -> Op:
        """One Write message for a small content, else a WriteStream of chunks (iterables and file objects)."""
        request = files_pb2.WriteRequest(tree=tree, path=path, append=append, mime=mime)
        if expected is not None:
            request.expected_version = expected
        small = _small_payload(data)
        if small is not None:
            request.content = small
            return Op(self.stub.Write, request, _file)

        def messages() -> Iterator[files_pb2.WriteChunk]:
            yield files_pb2.WriteChunk(header=request)
            for chunk in _payload_chunks(data):
                for i in range(0, len(chunk), STREAM_CHUNK):
                    yield files_pb2.WriteChunk(data=bytes(chunk[i : i + STREAM_CHUNK]))

        return Op(self.stub.WriteStream, messages(), _file)

    def read_file(self, path: str, tree: str, version: int, stream: bool) -> Op:
        request = files_pb2.ReadRequest(tree=tree, path=path, version=version)
        if stream:
            return Op(self.stub.ReadStream, request, _read_chunk)
        return Op(self.stub.Read, request, lambda r: r.content)

    def stat(self, path: str, tree: str, version: int) -> Op:
        return Op(self.stub.Stat, files_pb2.StatRequest(tree=tree, path=path, version=version), _file)

    def list_files(self, path: str, tree: str, glob: str, recursive: bool, include_deleted: bool) -> Op:
        request = files_pb2.ListRequest(tree=tree, path=path, glob=glob, recursive=recursive,
                                        include_deleted=include_deleted)  # fmt: skip
        return Op(self.stub.List, request, lambda r: [_file(f) for f in r.entries])

    def mkdir(self, path: str, tree: str) -> Op:
        return Op(self.stub.MakeDir, files_pb2.MakeDirRequest(tree=tree, path=path), _file)

    def delete_file(self, path: str, tree: str, recursive: bool, expected: int | None) -> Op:
        request = files_pb2.DeleteRequest(tree=tree, path=path, recursive=recursive)
        if expected is not None:
            request.expected_version = expected
        return Op(self.stub.Delete, request, _change)

    def move(self, src: str, dst: str, tree: str, expected: int | None) -> Op:
        request = files_pb2.MoveRequest(tree=tree, src=src, dst=dst)
        if expected is not None:
            request.expected_version = expected
        return Op(self.stub.Move, request, _file)

    def copy(self, src: str, dst: str, tree: str) -> Op:
        return Op(self.stub.Copy, files_pb2.CopyRequest(tree=tree, src=src, dst=dst), _file)

    def file_history(self, path: str, tree: str, limit: int) -> Op:
        return Op(self.stub.History, files_pb2.FileHistoryRequest(tree=tree, path=path, limit=limit), _history)

    def diff(self, path: str, from_version: int, to_version: int, tree: str, context_lines: int) -> Op:
        request = files_pb2.DiffRequest(tree=tree, path=path, from_version=from_version, to_version=to_version,
                                        context_lines=context_lines)  # fmt: skip
        return Op(self.stub.Diff, request, lambda r: r.diff)

    def rollback(self, path: str, tree: str, version: int | None, change_id: int | None, at: Any) -> Op:
        if sum(x is not None for x in (version, change_id, at)) != 1:
            raise InvalidArgument("rollback needs exactly one of version=, change_id= or at=")
        request = files_pb2.RollbackRequest(tree=tree, path=path)
        if version is not None:
            request.version = version
        elif change_id is not None:
            request.change_id = change_id
        else:
            request.at.CopyFrom(timestamp(at, "at"))
        return Op(self.stub.Rollback, request, _change)

    def retrieve(self, query: str, k: int, tree: str, options: RetrieveFilters) -> Op:
        check_options(options, RetrieveFilters, "retrieve")
        request = files_pb2.RetrieveRequest(tree=tree, query=query, k=k, **options)
        return Op(self.stub.Retrieve, request, lambda r: [_file_hit(h) for h in r.hits])

    def summarize(self, path: str, tree: str, version: int) -> Op:
        request = files_pb2.SummarizeRequest(tree=tree, path=path, version=version)
        return Op(self.stub.Summarize, request,
                  lambda s: t.FileSummary(s.path, s.version, s.text, s.method, s.cached))  # fmt: skip

    def group_files(self, query: str, groups: int, tree: str, path_prefix: str, limit: int) -> Op:
        request = files_pb2.GroupByRequest(tree=tree, query=query, groups=groups, path_prefix=path_prefix, limit=limit)
        return Op(self.stub.GroupBy, request, lambda r: [
            t.FileGroup(g.name, list(g.keywords), [_file(f) for f in g.files]) for g in r.groups
        ])  # fmt: skip

    def join_files(self, path_a: str, path_b: str, k: int, tree: str, tree_b: str) -> Op:
        request = files_pb2.JoinRequest(tree=tree, path_a=path_a, tree_b=tree_b, path_b=path_b, k=k)
        return Op(self.stub.Join, request, lambda r: [
            t.PassagePair(_passage(p.a), _passage(p.b), p.score) for p in r.pairs
        ])  # fmt: skip

    def watch(self, path_prefix: str, tree: str) -> Op:
        request = files_pb2.WatchRequest(tree=tree, path_prefix=path_prefix)
        return Op(self.stub.Watch, request, lambda e: t.FileEvent(
            e.change_id, e.op, e.tree, e.path, e.version, e.agent_id, time_of(e.at)
        ))  # fmt: skip

    def create_tree(self, name: str) -> Op:
        return Op(self.stub.CreateTree, files_pb2.CreateTreeRequest(name=name), _tree)

    def grant(self, tree: str, agent_id: str, mode: str) -> Op:
        return Op(self.stub.Grant, files_pb2.GrantRequest(tree=tree, agent_id=agent_id, mode=mode), _tree)

    def list_trees(self) -> Op:
        return Op(self.stub.ListTrees, files_pb2.ListTreesRequest(), lambda r: [_tree(x) for x in r.trees])

    def import_dir(self, agent_id: str, host_path: str, dest: str, tree: str) -> Op:
        request = files_pb2.ImportRequest(agent_id=agent_id, tree=tree, host_path=host_path, dest=dest)
        return Op(self.stub.Import, request, _transfer)

    def export_tree(self, agent_id: str, host_path: str, path: str, tree: str, change_id: int) -> Op:
        request = files_pb2.ExportRequest(agent_id=agent_id, tree=tree, path=path, host_path=host_path,
                                          change_id=change_id)  # fmt: skip
        return Op(self.stub.Export, request, _transfer)


def _file(f: files_pb2.FileInfo) -> t.FileInfo:
    return t.FileInfo(f.tree, f.path, f.is_dir, f.version, f.size, f.sha256, f.mime, time_of(f.created_at),
                      time_of(f.modified_at), f.deleted, f.change_id)  # fmt: skip


def _change(c: files_pb2.ChangeResponse) -> t.FileChange:
    return t.FileChange(c.change_id, [_file(f) for f in c.files])


def _version(v: files_pb2.FileVersion) -> t.FileVersion:
    return t.FileVersion(v.path, v.version, v.change_id, v.op, v.size, v.sha256, v.deleted, v.agent_id, v.detail,
                         time_of(v.at))  # fmt: skip


def _history(r: files_pb2.FileHistoryResponse) -> list[t.FileVersion] | list[t.FileChangeRecord]:
    if not r.is_dir:
        return [_version(v) for v in r.versions]
    return [
        t.FileChangeRecord(c.change_id, c.op, c.path, c.agent_id, c.detail, time_of(c.at),
                           [_version(v) for v in c.files])
        for c in r.changes
    ]  # fmt: skip


def _passage(c: files_pb2.ChunkHit) -> t.Passage:
    return t.Passage(c.text, c.start, c.end, c.score)


def _file_hit(h: files_pb2.RetrieveHit) -> t.FileHit:
    return t.FileHit(_file(h.file), h.score, [_passage(c) for c in h.chunks])


def _tree(x: files_pb2.Tree) -> t.FileTree:
    return t.FileTree(x.name, x.owner_id, x.kind, dict(x.grants), x.access)


def _transfer(x: files_pb2.TransferProgress) -> t.TransferProgress:
    return t.TransferProgress(x.done, x.total, x.bytes, x.path)


def _read_chunk(c: files_pb2.ReadChunk) -> tuple[t.FileInfo | None, bytes]:
    return (_file(c.info) if c.HasField("info") else None), c.data


def _small_payload(data: Any) -> bytes | None:
    """The bytes to send in one Write message, or None when `data` must be streamed."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray | memoryview) and len(data) <= 4 * STREAM_CHUNK:
        return bytes(data)
    return None


def _payload_chunks(data: Any) -> Iterator[bytes]:
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    elif hasattr(data, "read"):
        while chunk := data.read(STREAM_CHUNK):
            yield chunk.encode() if isinstance(chunk, str) else chunk
    else:
        for chunk in data:
            yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)
