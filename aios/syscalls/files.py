"""FileService: trees, files and their versions, watches, semantic retrieval, host import/export; with its
conversions."""

from __future__ import annotations

import contextlib
import errno
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from aios._proto.aios.v1 import common_pb2, files_pb2, files_pb2_grpc
from aios.errors import FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from aios.fs import (
    ChangeRecord,
    ChangeResult,
    ChunkHit,
    FileEvent,
    FileGroup,
    FileHistory,
    FileInfo,
    FileService,
    FileVersion,
    PassagePair,
    RetrieveFilters,
    RetrieveHit,
    Summary,
    Transfer,
    Tree,
    export_tree,
    import_dir,
)
from aios.syscalls.convert import from_timestamp, require, to_timestamp
from aios.syscalls.dispatch import client_stream, server_stream, unary
from aios.syscalls.limits import (
    MAX_GLOB_CHARS,
    MAX_KEYWORD_CHARS,
    MAX_MIME_CHARS,
    MAX_QUERY_CHARS,
    MAX_RETRIEVE_KEYWORDS,
    check_count,
    check_length,
    check_row_numbers,
)
from aios.syscalls.runtime import Access, Caller, SyscallRuntime

__all__ = ["FileServicer", "to_proto_change", "to_proto_event", "to_proto_file", "to_proto_group",
           "to_proto_history", "to_proto_hit", "to_proto_pair", "to_proto_subscribed", "to_proto_summary",
           "to_proto_transfer", "to_proto_tree", "to_proto_version"]  # fmt: skip

_READ_CHUNK = 1 << 20


@contextlib.contextmanager
def _host_refusals(host_path: str) -> Iterator[None]:
    """What the host's file system refuses under `host_path` (a name too long, a symlink loop, a file where a
    directory must be, no permission) is the caller's to fix, not a bug. A full disk is left to syscalls.status."""
    try:
        yield
    except OSError as exc:
        filename = exc.filename if isinstance(exc.filename, str) else ""
        if not host_path or not filename.startswith(host_path) or exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        error = InvalidArgument if exc.errno == errno.ENAMETOOLONG else FailedPrecondition
        raise error(f"{filename}: {exc.strerror or exc}") from exc


def _expected(request: Any) -> int | None:
    check_row_numbers(request, "expected_version")
    return request.expected_version if request.HasField("expected_version") else None


class FileServicer(files_pb2_grpc.FileServiceServicer):
    def __init__(self, runtime: SyscallRuntime, files: FileService, max_message_bytes: int) -> None:
        self.runtime = runtime
        self._fs = files
        self._max_message = max_message_bytes
        files.trees.on_access_removed(self._access_removed)

    def _access_removed(self, tree_id: str, agent_id: str) -> None:
        error = PermissionDenied("your access to the tree this call reads was removed")
        self.runtime.streams.end(agent_id, error, tree_id)

    @unary("fs.status", "fs", Access.ANY)
    def GetStatus(self, request: common_pb2.GetStatusRequest, caller: Caller) -> common_pb2.SubsystemStatus:
        index = self._fs.index
        detail = "serving" if index is not None else "serving (no semantic index)"
        if index is not None:  # an agent's own trees' backlog; the kernel's to the admin
            p = caller.principal
            backlog = self._fs.index_backlog(None if p.is_admin else p.agent_id)
            detail += f"; {backlog} files waiting to be indexed" if backlog else ""
        return common_pb2.SubsystemStatus(name="files", available=True, detail=detail)

    @unary("fs.write", "fs")
    def Write(self, request: files_pb2.WriteRequest, caller: Caller) -> files_pb2.FileInfo:
        check_length(request.mime, "mime", MAX_MIME_CHARS)
        info = self._fs.write(caller.agent_id, request.tree, request.path, request.content, append=request.append,
                              expected_version=_expected(request), mime=request.mime)  # fmt: skip
        return to_proto_file(info)

    @client_stream("fs.write_stream", "fs")
    def WriteStream(self, messages: Iterator[files_pb2.WriteChunk], caller: Caller) -> files_pb2.FileInfo:
        header = next(messages, None)
        if header is None or header.WhichOneof("part") != "header":
            raise InvalidArgument("the first message of WriteStream must be a header")
        h = header.header
        if h.content:
            raise InvalidArgument("send the content as data messages after the header")
        check_length(h.mime, "mime", MAX_MIME_CHARS)

        def data() -> Iterator[bytes]:
            for message in messages:
                if message.WhichOneof("part") != "data":
                    raise InvalidArgument("only data messages may follow the header")
                yield message.data

        info = self._fs.write(caller.agent_id, h.tree, h.path, data(), append=h.append,
                              expected_version=_expected(h), mime=h.mime)  # fmt: skip
        return to_proto_file(info)

    @unary("fs.read", "fs")
    def Read(self, request: files_pb2.ReadRequest, caller: Caller) -> files_pb2.ReadResponse:
        check_row_numbers(request, "version")
        info, content = self._fs.read(caller.agent_id, request.tree, request.path, request.version)
        if len(content) > self._max_message - 4096:
            raise ResourceExhausted(f"{info.path} is {info.size} bytes, more than one message holds: use ReadStream")
        return files_pb2.ReadResponse(info=to_proto_file(info), content=content)

    @server_stream("fs.read_stream", "fs")
    def ReadStream(self, request: files_pb2.ReadRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        check_row_numbers(request, "version")
        info, chunks = self._fs.open(caller.agent_id, request.tree, request.path, request.version)
        emit(files_pb2.ReadChunk(info=to_proto_file(info)))
        for chunk in chunks:
            if caller.job.stopped():
                return
            emit(files_pb2.ReadChunk(data=chunk))

    @unary("fs.stat", "fs")
    def Stat(self, request: files_pb2.StatRequest, caller: Caller) -> files_pb2.FileInfo:
        check_row_numbers(request, "version")
        return to_proto_file(self._fs.stat(caller.agent_id, request.tree, request.path, request.version))

    @unary("fs.list", "fs")
    def List(self, request: files_pb2.ListRequest, caller: Caller) -> files_pb2.ListResponse:
        check_length(request.glob, "glob", MAX_GLOB_CHARS)
        entries = self._fs.list(caller.agent_id, request.tree, request.path or "/", request.glob, request.recursive,
                                request.include_deleted)  # fmt: skip
        return files_pb2.ListResponse(entries=[to_proto_file(f) for f in entries])

    @unary("fs.mkdir", "fs")
    def MakeDir(self, request: files_pb2.MakeDirRequest, caller: Caller) -> files_pb2.FileInfo:
        return to_proto_file(self._fs.mkdir(caller.agent_id, request.tree, request.path))

    @unary("fs.delete", "fs")
    def Delete(self, request: files_pb2.DeleteRequest, caller: Caller) -> files_pb2.ChangeResponse:
        change = self._fs.delete(caller.agent_id, request.tree, request.path, request.recursive, _expected(request))
        return to_proto_change(change)

    @unary("fs.move", "fs")
    def Move(self, request: files_pb2.MoveRequest, caller: Caller) -> files_pb2.FileInfo:
        info = self._fs.move(caller.agent_id, request.tree, request.src, request.dst, _expected(request))
        return to_proto_file(info)

    @unary("fs.copy", "fs")
    def Copy(self, request: files_pb2.CopyRequest, caller: Caller) -> files_pb2.FileInfo:
        return to_proto_file(self._fs.copy(caller.agent_id, request.tree, request.src, request.dst))

    @unary("fs.history", "fs")
    def History(self, request: files_pb2.FileHistoryRequest, caller: Caller) -> Any:
        return to_proto_history(self._fs.history(caller.agent_id, request.tree, request.path or "/",
                                                         request.limit))  # fmt: skip

    @unary("fs.diff", "fs")
    def Diff(self, request: files_pb2.DiffRequest, caller: Caller) -> files_pb2.DiffResponse:
        check_row_numbers(request, "from_version", "to_version")
        diff = self._fs.diff(caller.agent_id, request.tree, request.path, request.from_version, request.to_version,
                             request.context_lines or 3)  # fmt: skip
        return files_pb2.DiffResponse(diff=diff)

    @unary("fs.rollback", "fs")
    def Rollback(self, request: files_pb2.RollbackRequest, caller: Caller) -> files_pb2.ChangeResponse:
        check_row_numbers(request, "version", "change_id")
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument("give a version, a change_id or a point in time (at)")
        change = self._fs.rollback(
            caller.agent_id, request.tree, request.path or "/",
            version=request.version if target == "version" else None,
            change_id=request.change_id if target == "change_id" else None,
            at=from_timestamp(request, "at") if target == "at" else None,
        )  # fmt: skip
        return to_proto_change(change)

    @unary("fs.retrieve", "fs")
    def Retrieve(self, request: files_pb2.RetrieveRequest, caller: Caller) -> files_pb2.RetrieveResponse:
        check_count(request.keywords, "keywords", MAX_RETRIEVE_KEYWORDS)
        for keyword in request.keywords:
            check_length(keyword, "a keyword", MAX_KEYWORD_CHARS)
        check_length(request.query, "query", MAX_QUERY_CHARS)
        check_length(request.glob, "glob", MAX_GLOB_CHARS)
        check_length(request.mime_prefix, "mime_prefix", MAX_MIME_CHARS)
        filters = RetrieveFilters(request.path_prefix or "/", request.glob, list(request.keywords),
                                  request.mime_prefix)  # fmt: skip
        hits = self._fs.retrieve(caller.agent_id, request.tree, request.query, request.k or 5, filters,
                                 request.all_trees)  # fmt: skip
        return files_pb2.RetrieveResponse(hits=[to_proto_hit(h) for h in hits])

    # Waits for the model, like an llm syscall: it runs on the llm queue, not on the two fs workers.
    @unary("fs.summarize", "llm")
    def Summarize(self, request: files_pb2.SummarizeRequest, caller: Caller) -> files_pb2.Summary:
        check_row_numbers(request, "version")
        summary = self._fs.summarize(caller.agent_id, request.tree, request.path, request.version,
                                     priority=caller.job.record.priority, should_stop=caller.job.stopped)  # fmt: skip
        return to_proto_summary(summary)

    @unary("fs.group_by", "fs")
    def GroupBy(self, request: files_pb2.GroupByRequest, caller: Caller) -> files_pb2.GroupByResponse:
        check_length(request.query, "query", MAX_QUERY_CHARS)
        groups = self._fs.group_by(caller.agent_id, request.tree, request.query, request.groups,
                                   request.path_prefix or "/", request.limit)  # fmt: skip
        return files_pb2.GroupByResponse(groups=[to_proto_group(g) for g in groups])

    @unary("fs.join", "fs")
    def Join(self, request: files_pb2.JoinRequest, caller: Caller) -> files_pb2.JoinResponse:
        pairs = self._fs.join(caller.agent_id, request.tree, request.path_a, request.tree_b or request.tree,
                              request.path_b, request.k or 5)  # fmt: skip
        return files_pb2.JoinResponse(pairs=[to_proto_pair(p) for p in pairs])

    @server_stream("fs.watch", "watch", held=True)
    def Watch(self, request: files_pb2.WatchRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        stream = caller.stream
        assert stream is not None  # a server_stream call has one
        first = threading.Lock()  # the "subscribed" message goes out before any event

        def deliver(event: FileEvent) -> None:  # on the writer's thread
            with first:
                emit(to_proto_event(event, request.tree))

        with first:
            subscription = self._fs.watch(caller.agent_id, request.tree, request.path_prefix, deliver,
                                          stream.needs_tree)  # fmt: skip
            stream.on_close(subscription.close)
            # Tells the caller the subscription is in place, so it can act knowing it will see what follows.
            emit(to_proto_subscribed(request.tree, subscription.prefix, time.time()))

    @unary("fs.create_tree", "fs")
    def CreateTree(self, request: files_pb2.CreateTreeRequest, caller: Caller) -> files_pb2.Tree:
        return to_proto_tree(self._fs.trees.create(caller.agent_id, request.name))

    @unary("fs.grant", "fs")
    def Grant(self, request: files_pb2.GrantRequest, caller: Caller) -> files_pb2.Tree:
        require(request.agent_id, "agent_id")
        tree = self._fs.trees.grant(caller.agent_id, request.tree, request.agent_id, request.mode)
        return to_proto_tree(tree)

    @unary("fs.list_trees", "fs")
    def ListTrees(self, request: files_pb2.ListTreesRequest, caller: Caller) -> files_pb2.ListTreesResponse:
        trees = self._fs.trees.list(caller.agent_id)
        return files_pb2.ListTreesResponse(trees=[to_proto_tree(t) for t in trees])

    @server_stream("fs.import", "fs", Access.ADMIN)
    def Import(self, request: files_pb2.ImportRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        agent = self._agent(request.agent_id)
        with _host_refusals(request.host_path):
            import_dir(self._fs, agent, request.tree, request.host_path, request.dest,
                       lambda t: emit(to_proto_transfer(t)), caller.job.stopped)  # fmt: skip

    @server_stream("fs.export", "fs", Access.ADMIN)
    def Export(self, request: files_pb2.ExportRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        check_row_numbers(request, "change_id")
        agent = self._agent(request.agent_id)
        with _host_refusals(request.host_path):
            export_tree(self._fs, agent, request.tree, request.path, request.host_path, request.change_id,
                        lambda t: emit(to_proto_transfer(t)), caller.job.stopped)  # fmt: skip

    def _agent(self, agent_id: str) -> str:
        require(agent_id, "agent_id")
        return self.runtime.agents.get(agent_id).id


# -- conversions -------------------------------------------------------------------------------------------------


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
