import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyscallStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYSCALL_STATUS_UNSPECIFIED: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_QUEUED: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_RUNNING: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_DONE: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_FAILED: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_CANCELLED: _ClassVar[SyscallStatus]
    SYSCALL_STATUS_REJECTED: _ClassVar[SyscallStatus]
SYSCALL_STATUS_UNSPECIFIED: SyscallStatus
SYSCALL_STATUS_QUEUED: SyscallStatus
SYSCALL_STATUS_RUNNING: SyscallStatus
SYSCALL_STATUS_DONE: SyscallStatus
SYSCALL_STATUS_FAILED: SyscallStatus
SYSCALL_STATUS_CANCELLED: SyscallStatus
SYSCALL_STATUS_REJECTED: SyscallStatus

class GetIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Identity(_message.Message):
    __slots__ = ("agent_id", "name", "is_admin")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_ADMIN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    is_admin: bool
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., is_admin: _Optional[bool] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "name", "created_at", "revoked_at", "revoked")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    revoked: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked: _Optional[bool] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent", "token")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    token: str
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("include_revoked",)
    INCLUDE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    include_revoked: bool
    def __init__(self, include_revoked: _Optional[bool] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class RevokeAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ReissueTokenRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ReissueTokenResponse(_message.Message):
    __slots__ = ("agent", "token")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    token: str
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class Syscall(_message.Message):
    __slots__ = ("id", "agent_id", "kind", "resource", "priority", "deadline", "created_at", "started_at", "finished_at", "status", "error", "agent_name")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    id: int
    agent_id: str
    kind: str
    resource: str
    priority: int
    deadline: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    status: SyscallStatus
    error: str
    agent_name: str
    def __init__(self, id: _Optional[int] = ..., agent_id: _Optional[str] = ..., kind: _Optional[str] = ..., resource: _Optional[str] = ..., priority: _Optional[int] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[SyscallStatus, str]] = ..., error: _Optional[str] = ..., agent_name: _Optional[str] = ...) -> None: ...

class ListSyscallsRequest(_message.Message):
    __slots__ = ("agent_id", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListSyscallsResponse(_message.Message):
    __slots__ = ("syscalls",)
    SYSCALLS_FIELD_NUMBER: _ClassVar[int]
    syscalls: _containers.RepeatedCompositeFieldContainer[Syscall]
    def __init__(self, syscalls: _Optional[_Iterable[_Union[Syscall, _Mapping]]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("resource", "queued", "running", "capacity", "workers")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    resource: str
    queued: int
    running: int
    capacity: int
    workers: int
    def __init__(self, resource: _Optional[str] = ..., queued: _Optional[int] = ..., running: _Optional[int] = ..., capacity: _Optional[int] = ..., workers: _Optional[int] = ...) -> None: ...

class AgentSyscallStats(_message.Message):
    __slots__ = ("agent_id", "syscalls", "failed", "mean_waiting_ms", "mean_turnaround_ms", "p95_turnaround_ms", "agent_name")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SYSCALLS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    MEAN_WAITING_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TURNAROUND_MS_FIELD_NUMBER: _ClassVar[int]
    P95_TURNAROUND_MS_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    syscalls: int
    failed: int
    mean_waiting_ms: float
    mean_turnaround_ms: float
    p95_turnaround_ms: float
    agent_name: str
    def __init__(self, agent_id: _Optional[str] = ..., syscalls: _Optional[int] = ..., failed: _Optional[int] = ..., mean_waiting_ms: _Optional[float] = ..., mean_turnaround_ms: _Optional[float] = ..., p95_turnaround_ms: _Optional[float] = ..., agent_name: _Optional[str] = ...) -> None: ...

class KernelStats(_message.Message):
    __slots__ = ("queues", "agents", "notes", "agents_registered", "uptime_s")
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    agents: _containers.RepeatedCompositeFieldContainer[AgentSyscallStats]
    notes: int
    agents_registered: int
    uptime_s: float
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentSyscallStats, _Mapping]]] = ..., notes: _Optional[int] = ..., agents_registered: _Optional[int] = ..., uptime_s: _Optional[float] = ...) -> None: ...

class ReindexRequest(_message.Message):
    __slots__ = ("agent_id", "files")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    files: bool
    def __init__(self, agent_id: _Optional[str] = ..., files: _Optional[bool] = ...) -> None: ...

class ReindexProgress(_message.Message):
    __slots__ = ("done", "total")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...
