from aios._proto.aios.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class SamplingParams(_message.Message):
    __slots__ = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "stop", "json_schema", "grammar")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_P_FIELD_NUMBER: _ClassVar[int]
    REPEAT_PENALTY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    GRAMMAR_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float
    seed: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    json_schema: str
    grammar: str
    def __init__(self, max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., top_k: _Optional[int] = ..., min_p: _Optional[float] = ..., repeat_penalty: _Optional[float] = ..., seed: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., json_schema: _Optional[str] = ..., grammar: _Optional[str] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("messages", "params", "session")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    params: SamplingParams
    session: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., params: _Optional[_Union[SamplingParams, _Mapping]] = ..., session: _Optional[str] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("prompt", "params", "session")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    params: SamplingParams
    session: str
    def __init__(self, prompt: _Optional[str] = ..., params: _Optional[_Union[SamplingParams, _Mapping]] = ..., session: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cached_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ...) -> None: ...

class Timing(_message.Message):
    __slots__ = ("queue_s", "ttft_s", "total_s", "preemptions", "context_switches")
    QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    TOTAL_S_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_SWITCHES_FIELD_NUMBER: _ClassVar[int]
    queue_s: float
    ttft_s: float
    total_s: float
    preemptions: int
    context_switches: int
    def __init__(self, queue_s: _Optional[float] = ..., ttft_s: _Optional[float] = ..., total_s: _Optional[float] = ..., preemptions: _Optional[int] = ..., context_switches: _Optional[int] = ...) -> None: ...

class Completion(_message.Message):
    __slots__ = ("text", "finish_reason", "usage", "timing")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    text: str
    finish_reason: str
    usage: Usage
    timing: Timing
    def __init__(self, text: _Optional[str] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., timing: _Optional[_Union[Timing, _Mapping]] = ...) -> None: ...

class CompletionChunk(_message.Message):
    __slots__ = ("delta", "finish_reason", "usage", "timing")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    delta: str
    finish_reason: str
    usage: Usage
    timing: Timing
    def __init__(self, delta: _Optional[str] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., timing: _Optional[_Union[Timing, _Mapping]] = ...) -> None: ...

class CountTokensRequest(_message.Message):
    __slots__ = ("text", "messages")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    text: str
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    def __init__(self, text: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    def __init__(self, tokens: _Optional[int] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KVCacheInfo(_message.Message):
    __slots__ = ("saves", "restores", "bytes_saved", "bytes_restored", "save_s", "restore_s", "spills", "ram_bytes", "disk_bytes", "sessions", "resident_sessions", "resident_tokens", "kv_cells", "max_batch")
    SAVES_FIELD_NUMBER: _ClassVar[int]
    RESTORES_FIELD_NUMBER: _ClassVar[int]
    BYTES_SAVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RESTORED_FIELD_NUMBER: _ClassVar[int]
    SAVE_S_FIELD_NUMBER: _ClassVar[int]
    RESTORE_S_FIELD_NUMBER: _ClassVar[int]
    SPILLS_FIELD_NUMBER: _ClassVar[int]
    RAM_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    KV_CELLS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    saves: int
    restores: int
    bytes_saved: int
    bytes_restored: int
    save_s: float
    restore_s: float
    spills: int
    ram_bytes: int
    disk_bytes: int
    sessions: int
    resident_sessions: int
    resident_tokens: int
    kv_cells: int
    max_batch: int
    def __init__(self, saves: _Optional[int] = ..., restores: _Optional[int] = ..., bytes_saved: _Optional[int] = ..., bytes_restored: _Optional[int] = ..., save_s: _Optional[float] = ..., restore_s: _Optional[float] = ..., spills: _Optional[int] = ..., ram_bytes: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., sessions: _Optional[int] = ..., resident_sessions: _Optional[int] = ..., resident_tokens: _Optional[int] = ..., kv_cells: _Optional[int] = ..., max_batch: _Optional[int] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("backend", "model", "path", "n_ctx", "policy", "quantum", "context_switches", "kv", "weights")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    N_CTX_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_SWITCHES_FIELD_NUMBER: _ClassVar[int]
    KV_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    path: str
    n_ctx: int
    policy: str
    quantum: int
    context_switches: int
    kv: KVCacheInfo
    weights: WeightsInfo
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., path: _Optional[str] = ..., n_ctx: _Optional[int] = ..., policy: _Optional[str] = ..., quantum: _Optional[int] = ..., context_switches: _Optional[int] = ..., kv: _Optional[_Union[KVCacheInfo, _Mapping]] = ..., weights: _Optional[_Union[WeightsInfo, _Mapping]] = ...) -> None: ...

class WeightsInfo(_message.Message):
    __slots__ = ("model_bytes", "budget_bytes", "pinned_bytes", "streamed_bytes", "prefetch", "rss_anon", "rss_file", "peak_rss", "read_bytes", "major_faults")
    MODEL_BYTES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    PINNED_BYTES_FIELD_NUMBER: _ClassVar[int]
    STREAMED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_FIELD_NUMBER: _ClassVar[int]
    RSS_ANON_FIELD_NUMBER: _ClassVar[int]
    RSS_FILE_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_FIELD_NUMBER: _ClassVar[int]
    READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAJOR_FAULTS_FIELD_NUMBER: _ClassVar[int]
    model_bytes: int
    budget_bytes: int
    pinned_bytes: int
    streamed_bytes: int
    prefetch: bool
    rss_anon: int
    rss_file: int
    peak_rss: int
    read_bytes: int
    major_faults: int
    def __init__(self, model_bytes: _Optional[int] = ..., budget_bytes: _Optional[int] = ..., pinned_bytes: _Optional[int] = ..., streamed_bytes: _Optional[int] = ..., prefetch: _Optional[bool] = ..., rss_anon: _Optional[int] = ..., rss_file: _Optional[int] = ..., peak_rss: _Optional[int] = ..., read_bytes: _Optional[int] = ..., major_faults: _Optional[int] = ...) -> None: ...

class GetSchedulerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WaitingRequest(_message.Message):
    __slots__ = ("id", "agent_id", "job_class", "priority", "waited_s")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_CLASS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    id: int
    agent_id: str
    job_class: str
    priority: int
    waited_s: float
    def __init__(self, id: _Optional[int] = ..., agent_id: _Optional[str] = ..., job_class: _Optional[str] = ..., priority: _Optional[int] = ..., waited_s: _Optional[float] = ...) -> None: ...

class AgentLLMStats(_message.Message):
    __slots__ = ("agent_id", "requests", "prompt_tokens", "completion_tokens", "cached_tokens", "mean_queue_s", "mean_ttft_s", "mean_tpot_s", "mean_turnaround_s", "preemptions", "virtual_counter", "quota_tokens_per_minute")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_S_FIELD_NUMBER: _ClassVar[int]
    MEAN_TTFT_S_FIELD_NUMBER: _ClassVar[int]
    MEAN_TPOT_S_FIELD_NUMBER: _ClassVar[int]
    MEAN_TURNAROUND_S_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_COUNTER_FIELD_NUMBER: _ClassVar[int]
    QUOTA_TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    mean_queue_s: float
    mean_ttft_s: float
    mean_tpot_s: float
    mean_turnaround_s: float
    preemptions: int
    virtual_counter: float
    quota_tokens_per_minute: int
    def __init__(self, agent_id: _Optional[str] = ..., requests: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., mean_queue_s: _Optional[float] = ..., mean_ttft_s: _Optional[float] = ..., mean_tpot_s: _Optional[float] = ..., mean_turnaround_s: _Optional[float] = ..., preemptions: _Optional[int] = ..., virtual_counter: _Optional[float] = ..., quota_tokens_per_minute: _Optional[int] = ...) -> None: ...

class SchedulerState(_message.Message):
    __slots__ = ("policy", "quantum", "running", "waiting", "agents", "jain_fairness", "tokens_per_s")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    JAIN_FAIRNESS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    policy: str
    quantum: int
    running: _containers.RepeatedCompositeFieldContainer[WaitingRequest]
    waiting: _containers.RepeatedCompositeFieldContainer[WaitingRequest]
    agents: _containers.RepeatedCompositeFieldContainer[AgentLLMStats]
    jain_fairness: float
    tokens_per_s: float
    def __init__(self, policy: _Optional[str] = ..., quantum: _Optional[int] = ..., running: _Optional[_Iterable[_Union[WaitingRequest, _Mapping]]] = ..., waiting: _Optional[_Iterable[_Union[WaitingRequest, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentLLMStats, _Mapping]]] = ..., jain_fairness: _Optional[float] = ..., tokens_per_s: _Optional[float] = ...) -> None: ...

class SetSchedulerPolicyRequest(_message.Message):
    __slots__ = ("policy", "quantum")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_FIELD_NUMBER: _ClassVar[int]
    policy: str
    quantum: int
    def __init__(self, policy: _Optional[str] = ..., quantum: _Optional[int] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("agent_id", "tokens_per_minute")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    tokens_per_minute: int
    def __init__(self, agent_id: _Optional[str] = ..., tokens_per_minute: _Optional[int] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSchedulerEventsRequest(_message.Message):
    __slots__ = ("last_s",)
    LAST_S_FIELD_NUMBER: _ClassVar[int]
    last_s: float
    def __init__(self, last_s: _Optional[float] = ...) -> None: ...

class SchedulerEvent(_message.Message):
    __slots__ = ("request_id", "agent_id", "job_class", "start_s", "end_s", "prefilled", "generated", "switched", "finished")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_CLASS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    PREFILLED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    SWITCHED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    agent_id: str
    job_class: str
    start_s: float
    end_s: float
    prefilled: int
    generated: int
    switched: bool
    finished: bool
    def __init__(self, request_id: _Optional[int] = ..., agent_id: _Optional[str] = ..., job_class: _Optional[str] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., prefilled: _Optional[int] = ..., generated: _Optional[int] = ..., switched: _Optional[bool] = ..., finished: _Optional[bool] = ...) -> None: ...

class SchedulerEvents(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[SchedulerEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[SchedulerEvent, _Mapping]]] = ...) -> None: ...
