import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Note(_message.Message):
    __slots__ = ("id", "agent_id", "content", "metadata", "created_at", "keywords", "context", "tags", "category", "event_at", "last_accessed", "access_count", "strength_s", "importance", "pinned", "archived_at", "enrichment", "version", "shared_with", "retention", "user_fields")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    EVENT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACCESSED_FIELD_NUMBER: _ClassVar[int]
    ACCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_S_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_AT_FIELD_NUMBER: _ClassVar[int]
    ENRICHMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHARED_WITH_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    content: str
    metadata: _containers.ScalarMap[str, str]
    created_at: _timestamp_pb2.Timestamp
    keywords: _containers.RepeatedScalarFieldContainer[str]
    context: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    category: str
    event_at: _timestamp_pb2.Timestamp
    last_accessed: _timestamp_pb2.Timestamp
    access_count: int
    strength_s: float
    importance: float
    pinned: bool
    archived_at: _timestamp_pb2.Timestamp
    enrichment: str
    version: int
    shared_with: _containers.RepeatedScalarFieldContainer[str]
    retention: float
    user_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., keywords: _Optional[_Iterable[str]] = ..., context: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., event_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_accessed: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., access_count: _Optional[int] = ..., strength_s: _Optional[float] = ..., importance: _Optional[float] = ..., pinned: _Optional[bool] = ..., archived_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., enrichment: _Optional[str] = ..., version: _Optional[int] = ..., shared_with: _Optional[_Iterable[str]] = ..., retention: _Optional[float] = ..., user_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class NewNote(_message.Message):
    __slots__ = ("content", "metadata", "keywords", "context", "tags", "category", "event_at", "importance", "pinned", "share_with")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    EVENT_AT_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    SHARE_WITH_FIELD_NUMBER: _ClassVar[int]
    content: str
    metadata: _containers.ScalarMap[str, str]
    keywords: _containers.RepeatedScalarFieldContainer[str]
    context: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    category: str
    event_at: _timestamp_pb2.Timestamp
    importance: float
    pinned: bool
    share_with: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, content: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., keywords: _Optional[_Iterable[str]] = ..., context: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., event_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., importance: _Optional[float] = ..., pinned: _Optional[bool] = ..., share_with: _Optional[_Iterable[str]] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: NewNote
    def __init__(self, note: _Optional[_Union[NewNote, _Mapping]] = ...) -> None: ...

class AddNotesRequest(_message.Message):
    __slots__ = ("notes",)
    NOTES_FIELD_NUMBER: _ClassVar[int]
    notes: _containers.RepeatedCompositeFieldContainer[NewNote]
    def __init__(self, notes: _Optional[_Iterable[_Union[NewNote, _Mapping]]] = ...) -> None: ...

class AddNotesResponse(_message.Message):
    __slots__ = ("notes",)
    NOTES_FIELD_NUMBER: _ClassVar[int]
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    def __init__(self, notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ...) -> None: ...

class GetNoteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteNoteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteNoteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SearchNotesRequest(_message.Message):
    __slots__ = ("query", "k", "tags", "category", "created_after", "created_before", "event_after", "event_before", "scope", "include_archived", "expand_links", "as_of")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EVENT_AFTER_FIELD_NUMBER: _ClassVar[int]
    EVENT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    EXPAND_LINKS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    category: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    event_after: _timestamp_pb2.Timestamp
    event_before: _timestamp_pb2.Timestamp
    scope: str
    include_archived: bool
    expand_links: bool
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scope: _Optional[str] = ..., include_archived: _Optional[bool] = ..., expand_links: _Optional[bool] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("note", "score", "signals")
    class SignalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    note: Note
    score: float
    signals: _containers.ScalarMap[str, float]
    def __init__(self, note: _Optional[_Union[Note, _Mapping]] = ..., score: _Optional[float] = ..., signals: _Optional[_Mapping[str, float]] = ...) -> None: ...

class SearchNotesResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ...) -> None: ...

class UpdateNoteRequest(_message.Message):
    __slots__ = ("id", "content", "context", "keywords", "set_keywords", "tags", "set_tags", "category", "importance", "expected_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    SET_KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    SET_TAGS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    content: str
    context: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    set_keywords: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    set_tags: bool
    category: str
    importance: float
    expected_version: int
    def __init__(self, id: _Optional[str] = ..., content: _Optional[str] = ..., context: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., set_keywords: _Optional[bool] = ..., tags: _Optional[_Iterable[str]] = ..., set_tags: _Optional[bool] = ..., category: _Optional[str] = ..., importance: _Optional[float] = ..., expected_version: _Optional[int] = ...) -> None: ...

class SetNoteFlagsRequest(_message.Message):
    __slots__ = ("id", "archived", "pinned")
    ID_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    id: str
    archived: bool
    pinned: bool
    def __init__(self, id: _Optional[str] = ..., archived: _Optional[bool] = ..., pinned: _Optional[bool] = ...) -> None: ...

class ShareNoteRequest(_message.Message):
    __slots__ = ("id", "agent_ids", "unshare")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    UNSHARE_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    unshare: bool
    def __init__(self, id: _Optional[str] = ..., agent_ids: _Optional[_Iterable[str]] = ..., unshare: _Optional[bool] = ...) -> None: ...

class NoteLink(_message.Message):
    __slots__ = ("from_id", "to_id", "kind", "reason", "weight", "created_at")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    kind: str
    reason: str
    weight: float
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., kind: _Optional[str] = ..., reason: _Optional[str] = ..., weight: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LinkNotesRequest(_message.Message):
    __slots__ = ("from_id", "to_id", "kind", "reason", "weight")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    kind: str
    reason: str
    weight: float
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., kind: _Optional[str] = ..., reason: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class UnlinkNotesRequest(_message.Message):
    __slots__ = ("from_id", "to_id")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ...) -> None: ...

class UnlinkNotesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetNeighboursRequest(_message.Message):
    __slots__ = ("id", "depth")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    depth: int
    def __init__(self, id: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class NeighboursResponse(_message.Message):
    __slots__ = ("notes", "links")
    NOTES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    links: _containers.RepeatedCompositeFieldContainer[NoteLink]
    def __init__(self, notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[NoteLink, _Mapping]]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class NoteVersion(_message.Message):
    __slots__ = ("version", "content", "context", "keywords", "tags", "category", "cause", "created_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    content: str
    context: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    category: str
    cause: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., content: _Optional[str] = ..., context: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., cause: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[NoteVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[NoteVersion, _Mapping]]] = ...) -> None: ...

class UndoEvolutionRequest(_message.Message):
    __slots__ = ("note_id",)
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    note_id: str
    def __init__(self, note_id: _Optional[str] = ...) -> None: ...

class UndoEvolutionResponse(_message.Message):
    __slots__ = ("reverted",)
    REVERTED_FIELD_NUMBER: _ClassVar[int]
    reverted: int
    def __init__(self, reverted: _Optional[int] = ...) -> None: ...

class RunDecayRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunDecayResponse(_message.Message):
    __slots__ = ("archived",)
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    archived: int
    def __init__(self, archived: _Optional[int] = ...) -> None: ...

class GetMemoryStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConsolidateRequest(_message.Message):
    __slots__ = ("min_age_s", "weak_below", "min_group")
    MIN_AGE_S_FIELD_NUMBER: _ClassVar[int]
    WEAK_BELOW_FIELD_NUMBER: _ClassVar[int]
    MIN_GROUP_FIELD_NUMBER: _ClassVar[int]
    min_age_s: float
    weak_below: float
    min_group: int
    def __init__(self, min_age_s: _Optional[float] = ..., weak_below: _Optional[float] = ..., min_group: _Optional[int] = ...) -> None: ...

class ConsolidateResponse(_message.Message):
    __slots__ = ("groups", "summary_ids", "archived", "profile_id")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_IDS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    groups: int
    summary_ids: _containers.RepeatedScalarFieldContainer[str]
    archived: int
    profile_id: str
    def __init__(self, groups: _Optional[int] = ..., summary_ids: _Optional[_Iterable[str]] = ..., archived: _Optional[int] = ..., profile_id: _Optional[str] = ...) -> None: ...

class GetGraphRequest(_message.Message):
    __slots__ = ("limit", "include_archived")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    limit: int
    include_archived: bool
    def __init__(self, limit: _Optional[int] = ..., include_archived: _Optional[bool] = ...) -> None: ...

class MemoryStats(_message.Message):
    __slots__ = ("notes", "archived", "pinned", "links", "shared_with_me", "mean_retention")
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    SHARED_WITH_ME_FIELD_NUMBER: _ClassVar[int]
    MEAN_RETENTION_FIELD_NUMBER: _ClassVar[int]
    notes: int
    archived: int
    pinned: int
    links: int
    shared_with_me: int
    mean_retention: float
    def __init__(self, notes: _Optional[int] = ..., archived: _Optional[int] = ..., pinned: _Optional[int] = ..., links: _Optional[int] = ..., shared_with_me: _Optional[int] = ..., mean_retention: _Optional[float] = ...) -> None: ...
