import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from aios._proto.aios.v1 import common_pb2 as _common_pb2
from aios._proto.aios.v1 import llm_pb2 as _llm_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContextMessage(_message.Message):
    __slots__ = ("id", "seq", "role", "content", "tokens", "pinned", "created_at", "evicted_at", "note_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EVICTED_AT_FIELD_NUMBER: _ClassVar[int]
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    seq: int
    role: str
    content: str
    tokens: int
    pinned: bool
    created_at: _timestamp_pb2.Timestamp
    evicted_at: _timestamp_pb2.Timestamp
    note_id: str
    def __init__(self, id: _Optional[str] = ..., seq: _Optional[int] = ..., role: _Optional[str] = ..., content: _Optional[str] = ..., tokens: _Optional[int] = ..., pinned: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evicted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note_id: _Optional[str] = ...) -> None: ...

class CoreBlock(_message.Message):
    __slots__ = ("label", "value", "limit_tokens", "tokens")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: str
    limit_tokens: int
    tokens: int
    def __init__(self, label: _Optional[str] = ..., value: _Optional[str] = ..., limit_tokens: _Optional[int] = ..., tokens: _Optional[int] = ...) -> None: ...

class RecalledItem(_message.Message):
    __slots__ = ("id", "kind", "content", "tokens", "pinned", "score")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    content: str
    tokens: int
    pinned: bool
    score: float
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., content: _Optional[str] = ..., tokens: _Optional[int] = ..., pinned: _Optional[bool] = ..., score: _Optional[float] = ...) -> None: ...

class ContextSection(_message.Message):
    __slots__ = ("name", "tokens", "items")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tokens: int
    items: int
    def __init__(self, name: _Optional[str] = ..., tokens: _Optional[int] = ..., items: _Optional[int] = ...) -> None: ...

class Pressure(_message.Message):
    __slots__ = ("level", "fraction", "tokens", "window", "budget", "warn_fraction", "flush_tokens", "peak_tokens")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    WARN_FRACTION_FIELD_NUMBER: _ClassVar[int]
    FLUSH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PEAK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    level: str
    fraction: float
    tokens: int
    window: int
    budget: int
    warn_fraction: float
    flush_tokens: int
    peak_tokens: int
    def __init__(self, level: _Optional[str] = ..., fraction: _Optional[float] = ..., tokens: _Optional[int] = ..., window: _Optional[int] = ..., budget: _Optional[int] = ..., warn_fraction: _Optional[float] = ..., flush_tokens: _Optional[int] = ..., peak_tokens: _Optional[int] = ...) -> None: ...

class ContextUpdate(_message.Message):
    __slots__ = ("pressure", "messages", "evicted_ids", "recalled")
    PRESSURE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    EVICTED_IDS_FIELD_NUMBER: _ClassVar[int]
    RECALLED_FIELD_NUMBER: _ClassVar[int]
    pressure: Pressure
    messages: _containers.RepeatedCompositeFieldContainer[ContextMessage]
    evicted_ids: _containers.RepeatedScalarFieldContainer[str]
    recalled: _containers.RepeatedCompositeFieldContainer[RecalledItem]
    def __init__(self, pressure: _Optional[_Union[Pressure, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[ContextMessage, _Mapping]]] = ..., evicted_ids: _Optional[_Iterable[str]] = ..., recalled: _Optional[_Iterable[_Union[RecalledItem, _Mapping]]] = ...) -> None: ...

class AppendMessagesRequest(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_llm_pb2.ChatMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[_llm_pb2.ChatMessage, _Mapping]]] = ...) -> None: ...

class ChatWithContextRequest(_message.Message):
    __slots__ = ("content", "params")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    content: str
    params: _llm_pb2.SamplingParams
    def __init__(self, content: _Optional[str] = ..., params: _Optional[_Union[_llm_pb2.SamplingParams, _Mapping]] = ...) -> None: ...

class ContextReply(_message.Message):
    __slots__ = ("completion", "update", "prompt_tokens")
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    completion: _llm_pb2.Completion
    update: ContextUpdate
    prompt_tokens: int
    def __init__(self, completion: _Optional[_Union[_llm_pb2.Completion, _Mapping]] = ..., update: _Optional[_Union[ContextUpdate, _Mapping]] = ..., prompt_tokens: _Optional[int] = ...) -> None: ...

class ContextChunk(_message.Message):
    __slots__ = ("delta", "reply")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    delta: str
    reply: ContextReply
    def __init__(self, delta: _Optional[str] = ..., reply: _Optional[_Union[ContextReply, _Mapping]] = ...) -> None: ...

class GetContextRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AssembledContext(_message.Message):
    __slots__ = ("system_prompt", "core", "summary", "recalled", "messages", "prompt", "sections", "tokens", "exact", "pressure")
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    CORE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RECALLED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    PRESSURE_FIELD_NUMBER: _ClassVar[int]
    system_prompt: str
    core: _containers.RepeatedCompositeFieldContainer[CoreBlock]
    summary: str
    recalled: _containers.RepeatedCompositeFieldContainer[RecalledItem]
    messages: _containers.RepeatedCompositeFieldContainer[ContextMessage]
    prompt: _containers.RepeatedCompositeFieldContainer[_llm_pb2.ChatMessage]
    sections: _containers.RepeatedCompositeFieldContainer[ContextSection]
    tokens: int
    exact: bool
    pressure: Pressure
    def __init__(self, system_prompt: _Optional[str] = ..., core: _Optional[_Iterable[_Union[CoreBlock, _Mapping]]] = ..., summary: _Optional[str] = ..., recalled: _Optional[_Iterable[_Union[RecalledItem, _Mapping]]] = ..., messages: _Optional[_Iterable[_Union[ContextMessage, _Mapping]]] = ..., prompt: _Optional[_Iterable[_Union[_llm_pb2.ChatMessage, _Mapping]]] = ..., sections: _Optional[_Iterable[_Union[ContextSection, _Mapping]]] = ..., tokens: _Optional[int] = ..., exact: _Optional[bool] = ..., pressure: _Optional[_Union[Pressure, _Mapping]] = ...) -> None: ...

class SetSystemPromptRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class SetCoreBlockRequest(_message.Message):
    __slots__ = ("label", "value", "limit_tokens")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: str
    limit_tokens: int
    def __init__(self, label: _Optional[str] = ..., value: _Optional[str] = ..., limit_tokens: _Optional[int] = ...) -> None: ...

class DeleteCoreBlockRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class PageInRequest(_message.Message):
    __slots__ = ("id", "pin")
    ID_FIELD_NUMBER: _ClassVar[int]
    PIN_FIELD_NUMBER: _ClassVar[int]
    id: str
    pin: bool
    def __init__(self, id: _Optional[str] = ..., pin: _Optional[bool] = ...) -> None: ...

class PageOutRequest(_message.Message):
    __slots__ = ("ids", "oldest")
    IDS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    oldest: int
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., oldest: _Optional[int] = ...) -> None: ...

class SetPinnedRequest(_message.Message):
    __slots__ = ("id", "pinned")
    ID_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    id: str
    pinned: bool
    def __init__(self, id: _Optional[str] = ..., pinned: _Optional[bool] = ...) -> None: ...

class SearchRecallRequest(_message.Message):
    __slots__ = ("query", "k")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class RecallHit(_message.Message):
    __slots__ = ("note_id", "message_id", "role", "content", "score", "created_at")
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    note_id: str
    message_id: str
    role: str
    content: str
    score: float
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, note_id: _Optional[str] = ..., message_id: _Optional[str] = ..., role: _Optional[str] = ..., content: _Optional[str] = ..., score: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchRecallResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[RecallHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[RecallHit, _Mapping]]] = ...) -> None: ...

class GetContextStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContextStats(_message.Message):
    __slots__ = ("page_outs", "flushes", "page_ins", "recall_queries", "recall_hits", "hit_rate", "summary_tokens", "active_messages", "evicted_messages", "tokens", "window", "warnings", "kv_swaps")
    PAGE_OUTS_FIELD_NUMBER: _ClassVar[int]
    FLUSHES_FIELD_NUMBER: _ClassVar[int]
    PAGE_INS_FIELD_NUMBER: _ClassVar[int]
    RECALL_QUERIES_FIELD_NUMBER: _ClassVar[int]
    RECALL_HITS_FIELD_NUMBER: _ClassVar[int]
    HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    EVICTED_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    KV_SWAPS_FIELD_NUMBER: _ClassVar[int]
    page_outs: int
    flushes: int
    page_ins: int
    recall_queries: int
    recall_hits: int
    hit_rate: float
    summary_tokens: int
    active_messages: int
    evicted_messages: int
    tokens: int
    window: int
    warnings: int
    kv_swaps: int
    def __init__(self, page_outs: _Optional[int] = ..., flushes: _Optional[int] = ..., page_ins: _Optional[int] = ..., recall_queries: _Optional[int] = ..., recall_hits: _Optional[int] = ..., hit_rate: _Optional[float] = ..., summary_tokens: _Optional[int] = ..., active_messages: _Optional[int] = ..., evicted_messages: _Optional[int] = ..., tokens: _Optional[int] = ..., window: _Optional[int] = ..., warnings: _Optional[int] = ..., kv_swaps: _Optional[int] = ...) -> None: ...

class ListContextEventsRequest(_message.Message):
    __slots__ = ("after_id", "limit")
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after_id: int
    limit: int
    def __init__(self, after_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ContextEvent(_message.Message):
    __slots__ = ("id", "kind", "at", "fraction", "tokens", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    at: _timestamp_pb2.Timestamp
    fraction: float
    tokens: int
    detail: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fraction: _Optional[float] = ..., tokens: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class ContextEvents(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ContextEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[ContextEvent, _Mapping]]] = ...) -> None: ...

class SwapOutRequest(_message.Message):
    __slots__ = ("drop",)
    DROP_FIELD_NUMBER: _ClassVar[int]
    drop: bool
    def __init__(self, drop: _Optional[bool] = ...) -> None: ...

class SwapOutResponse(_message.Message):
    __slots__ = ("where", "bytes")
    WHERE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    where: str
    bytes: int
    def __init__(self, where: _Optional[str] = ..., bytes: _Optional[int] = ...) -> None: ...

class ResetContextRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
