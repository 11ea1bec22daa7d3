import datetime

from aios._proto.aios.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileInfo(_message.Message):
    __slots__ = ("tree", "path", "is_dir", "version", "size", "sha256", "mime", "created_at", "modified_at", "deleted", "change_id")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    is_dir: bool
    version: int
    size: int
    sha256: str
    mime: str
    created_at: _timestamp_pb2.Timestamp
    modified_at: _timestamp_pb2.Timestamp
    deleted: bool
    change_id: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., version: _Optional[int] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., mime: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., modified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted: _Optional[bool] = ..., change_id: _Optional[int] = ...) -> None: ...

class WriteRequest(_message.Message):
    __slots__ = ("tree", "path", "content", "append", "expected_version", "mime")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    APPEND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    content: bytes
    append: bool
    expected_version: int
    mime: str
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., content: _Optional[bytes] = ..., append: _Optional[bool] = ..., expected_version: _Optional[int] = ..., mime: _Optional[str] = ...) -> None: ...

class WriteChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: WriteRequest
    data: bytes
    def __init__(self, header: _Optional[_Union[WriteRequest, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("tree", "path", "version")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    version: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ("info", "content")
    INFO_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    info: FileInfo
    content: bytes
    def __init__(self, info: _Optional[_Union[FileInfo, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class ReadChunk(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: FileInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[FileInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class StatRequest(_message.Message):
    __slots__ = ("tree", "path", "version")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    version: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("tree", "path", "glob", "recursive", "include_deleted")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    GLOB_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    glob: str
    recursive: bool
    include_deleted: bool
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., glob: _Optional[str] = ..., recursive: _Optional[bool] = ..., include_deleted: _Optional[bool] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[FileInfo]
    def __init__(self, entries: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...

class MakeDirRequest(_message.Message):
    __slots__ = ("tree", "path")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("tree", "path", "recursive", "expected_version")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    recursive: bool
    expected_version: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ChangeResponse(_message.Message):
    __slots__ = ("change_id", "files")
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    change_id: int
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    def __init__(self, change_id: _Optional[int] = ..., files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...

class MoveRequest(_message.Message):
    __slots__ = ("tree", "src", "dst", "expected_version")
    TREE_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    tree: str
    src: str
    dst: str
    expected_version: int
    def __init__(self, tree: _Optional[str] = ..., src: _Optional[str] = ..., dst: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class CopyRequest(_message.Message):
    __slots__ = ("tree", "src", "dst")
    TREE_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    tree: str
    src: str
    dst: str
    def __init__(self, tree: _Optional[str] = ..., src: _Optional[str] = ..., dst: _Optional[str] = ...) -> None: ...

class FileVersion(_message.Message):
    __slots__ = ("path", "version", "change_id", "op", "size", "sha256", "deleted", "agent_id", "detail", "at")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: int
    change_id: int
    op: str
    size: int
    sha256: str
    deleted: bool
    agent_id: str
    detail: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, path: _Optional[str] = ..., version: _Optional[int] = ..., change_id: _Optional[int] = ..., op: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., deleted: _Optional[bool] = ..., agent_id: _Optional[str] = ..., detail: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FileHistoryRequest(_message.Message):
    __slots__ = ("tree", "path", "limit")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    limit: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class FileHistoryResponse(_message.Message):
    __slots__ = ("versions", "changes", "is_dir")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[FileVersion]
    changes: _containers.RepeatedCompositeFieldContainer[ChangeRecord]
    is_dir: bool
    def __init__(self, versions: _Optional[_Iterable[_Union[FileVersion, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[ChangeRecord, _Mapping]]] = ..., is_dir: _Optional[bool] = ...) -> None: ...

class ChangeRecord(_message.Message):
    __slots__ = ("change_id", "op", "path", "agent_id", "detail", "at", "files")
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    change_id: int
    op: str
    path: str
    agent_id: str
    detail: str
    at: _timestamp_pb2.Timestamp
    files: _containers.RepeatedCompositeFieldContainer[FileVersion]
    def __init__(self, change_id: _Optional[int] = ..., op: _Optional[str] = ..., path: _Optional[str] = ..., agent_id: _Optional[str] = ..., detail: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files: _Optional[_Iterable[_Union[FileVersion, _Mapping]]] = ...) -> None: ...

class DiffRequest(_message.Message):
    __slots__ = ("tree", "path", "from_version", "to_version", "context_lines")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LINES_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    from_version: int
    to_version: int
    context_lines: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., context_lines: _Optional[int] = ...) -> None: ...

class DiffResponse(_message.Message):
    __slots__ = ("diff",)
    DIFF_FIELD_NUMBER: _ClassVar[int]
    diff: str
    def __init__(self, diff: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("tree", "path", "version", "change_id", "at")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    version: int
    change_id: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., change_id: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("tree", "query", "k", "path_prefix", "glob", "keywords", "mime_prefix", "all_trees")
    TREE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    GLOB_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    MIME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ALL_TREES_FIELD_NUMBER: _ClassVar[int]
    tree: str
    query: str
    k: int
    path_prefix: str
    glob: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    mime_prefix: str
    all_trees: bool
    def __init__(self, tree: _Optional[str] = ..., query: _Optional[str] = ..., k: _Optional[int] = ..., path_prefix: _Optional[str] = ..., glob: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., mime_prefix: _Optional[str] = ..., all_trees: _Optional[bool] = ...) -> None: ...

class ChunkHit(_message.Message):
    __slots__ = ("text", "start", "end", "score")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: int
    end: int
    score: float
    def __init__(self, text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class RetrieveHit(_message.Message):
    __slots__ = ("file", "score", "chunks")
    FILE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    file: FileInfo
    score: float
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkHit]
    def __init__(self, file: _Optional[_Union[FileInfo, _Mapping]] = ..., score: _Optional[float] = ..., chunks: _Optional[_Iterable[_Union[ChunkHit, _Mapping]]] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[RetrieveHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[RetrieveHit, _Mapping]]] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("tree", "path", "version")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path: str
    version: int
    def __init__(self, tree: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("path", "version", "text", "method", "cached")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: int
    text: str
    method: str
    cached: bool
    def __init__(self, path: _Optional[str] = ..., version: _Optional[int] = ..., text: _Optional[str] = ..., method: _Optional[str] = ..., cached: _Optional[bool] = ...) -> None: ...

class GroupByRequest(_message.Message):
    __slots__ = ("tree", "query", "groups", "path_prefix", "limit")
    TREE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tree: str
    query: str
    groups: int
    path_prefix: str
    limit: int
    def __init__(self, tree: _Optional[str] = ..., query: _Optional[str] = ..., groups: _Optional[int] = ..., path_prefix: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class FileGroup(_message.Message):
    __slots__ = ("name", "keywords", "files")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    name: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    def __init__(self, name: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...

class GroupByResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[FileGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[FileGroup, _Mapping]]] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("tree", "path_a", "tree_b", "path_b", "k")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_A_FIELD_NUMBER: _ClassVar[int]
    TREE_B_FIELD_NUMBER: _ClassVar[int]
    PATH_B_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path_a: str
    tree_b: str
    path_b: str
    k: int
    def __init__(self, tree: _Optional[str] = ..., path_a: _Optional[str] = ..., tree_b: _Optional[str] = ..., path_b: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class PassagePair(_message.Message):
    __slots__ = ("a", "b", "score")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    a: ChunkHit
    b: ChunkHit
    score: float
    def __init__(self, a: _Optional[_Union[ChunkHit, _Mapping]] = ..., b: _Optional[_Union[ChunkHit, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[PassagePair]
    def __init__(self, pairs: _Optional[_Iterable[_Union[PassagePair, _Mapping]]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("tree", "path_prefix")
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    tree: str
    path_prefix: str
    def __init__(self, tree: _Optional[str] = ..., path_prefix: _Optional[str] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("change_id", "op", "tree", "path", "version", "agent_id", "at")
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    change_id: int
    op: str
    tree: str
    path: str
    version: int
    agent_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, change_id: _Optional[int] = ..., op: _Optional[str] = ..., tree: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., agent_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Tree(_message.Message):
    __slots__ = ("name", "owner_id", "kind", "grants", "access")
    class GrantsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner_id: str
    kind: str
    grants: _containers.ScalarMap[str, str]
    access: str
    def __init__(self, name: _Optional[str] = ..., owner_id: _Optional[str] = ..., kind: _Optional[str] = ..., grants: _Optional[_Mapping[str, str]] = ..., access: _Optional[str] = ...) -> None: ...

class CreateTreeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GrantRequest(_message.Message):
    __slots__ = ("tree", "agent_id", "mode")
    TREE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    tree: str
    agent_id: str
    mode: str
    def __init__(self, tree: _Optional[str] = ..., agent_id: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...

class ListTreesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTreesResponse(_message.Message):
    __slots__ = ("trees",)
    TREES_FIELD_NUMBER: _ClassVar[int]
    trees: _containers.RepeatedCompositeFieldContainer[Tree]
    def __init__(self, trees: _Optional[_Iterable[_Union[Tree, _Mapping]]] = ...) -> None: ...

class ImportRequest(_message.Message):
    __slots__ = ("agent_id", "tree", "host_path", "dest")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tree: str
    host_path: str
    dest: str
    def __init__(self, agent_id: _Optional[str] = ..., tree: _Optional[str] = ..., host_path: _Optional[str] = ..., dest: _Optional[str] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("agent_id", "tree", "path", "host_path", "change_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tree: str
    path: str
    host_path: str
    change_id: int
    def __init__(self, agent_id: _Optional[str] = ..., tree: _Optional[str] = ..., path: _Optional[str] = ..., host_path: _Optional[str] = ..., change_id: _Optional[int] = ...) -> None: ...

class TransferProgress(_message.Message):
    __slots__ = ("done", "total", "bytes", "path")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    bytes: int
    path: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., bytes: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...
