"""gRPC servicers: each method converts the request, calls one subsystem service, converts the reply."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agents import AgentService
from aios._proto.aios.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    llm_pb2,
    llm_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from aios.errors import InvalidArgument
from aios.llm import LLMService
from fs import FileService
from memory import MemoryService
from syscalls import convert
from syscalls.dispatch import Access, Caller, SyscallRuntime, server_stream, unary
from syscalls.limits import (
    MAX_LINK_REASON_CHARS,
    MAX_QUERY_CHARS,
    MAX_SESSION_CHARS,
    MAX_SHARE_AGENTS,
    check_count,
    check_length,
)

__all__ = ["AdminServicer", "LLMServicer", "MemoryServicer"]

_DEFAULT_K = 10
_MAX_PS = 1000


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self, runtime: SyscallRuntime, agents: AgentService, memory: MemoryService, files: FileService
    ) -> None:
        self.runtime = runtime
        self._agents = agents
        self._memory = memory
        self._files = files
        self._started = time.time()

    @unary("admin.identity", "admin", Access.ANY)
    def GetIdentity(self, request: admin_pb2.GetIdentityRequest, caller: Caller) -> admin_pb2.Identity:
        p = caller.principal
        return admin_pb2.Identity(agent_id="" if p.is_admin else p.agent_id, name=p.name, is_admin=p.is_admin)

    @unary("admin.create_agent", "admin", Access.ADMIN)
    def CreateAgent(self, request: admin_pb2.CreateAgentRequest, caller: Caller) -> Any:
        agent, token = self._agents.create(request.name)
        return admin_pb2.CreateAgentResponse(agent=convert.to_proto_agent(agent), token=token)

    @unary("admin.list_agents", "admin", Access.ADMIN)
    def ListAgents(self, request: admin_pb2.ListAgentsRequest, caller: Caller) -> Any:
        agents = self._agents.list(include_revoked=request.include_revoked)
        return admin_pb2.ListAgentsResponse(agents=[convert.to_proto_agent(a) for a in agents])

    @unary("admin.revoke_agent", "admin", Access.ADMIN)
    def RevokeAgent(self, request: admin_pb2.RevokeAgentRequest, caller: Caller) -> admin_pb2.Agent:
        _require(request.agent_id, "agent_id")
        return convert.to_proto_agent(self._agents.revoke(request.agent_id))

    @unary("admin.reissue_token", "admin", Access.ADMIN)
    def ReissueToken(self, request: admin_pb2.ReissueTokenRequest, caller: Caller) -> Any:
        _require(request.agent_id, "agent_id")
        agent, token = self._agents.reissue(request.agent_id)
        return admin_pb2.ReissueTokenResponse(agent=convert.to_proto_agent(agent), token=token)

    @unary("admin.ps", "admin", Access.ADMIN)
    def ListSyscalls(self, request: admin_pb2.ListSyscallsRequest, caller: Caller) -> Any:
        if request.limit > _MAX_PS:
            raise InvalidArgument(f"limit must be at most {_MAX_PS}")
        records = self.runtime.table.recent(request.agent_id or None, request.limit or 50)
        syscalls = [convert.to_proto_syscall(r) for r in records]
        _name_agents(syscalls, self._agents.names())
        return admin_pb2.ListSyscallsResponse(syscalls=syscalls)

    @unary("admin.stats", "admin", Access.ADMIN)
    def GetStats(self, request: admin_pb2.GetStatsRequest, caller: Caller) -> admin_pb2.KernelStats:
        queues = [
            admin_pb2.QueueStats(
                resource=q.name, queued=q.queued, running=q.running, capacity=q.capacity, workers=q.workers
            )
            for q in self.runtime.queues.values()
        ]
        per_agent = [convert.to_proto_agent_metrics(m) for m in self.runtime.table.metrics()]
        _name_agents(per_agent, self._agents.names())
        return admin_pb2.KernelStats(
            queues=queues,
            agents=per_agent,
            notes=self._memory.count(),
            agents_registered=self._agents.count(),
            uptime_s=time.time() - self._started,
        )

    @server_stream("admin.reindex", "memory", Access.ADMIN)
    def Reindex(self, request: admin_pb2.ReindexRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        agent_id = request.agent_id or None
        if request.files:
            if agent_id is not None:
                raise InvalidArgument("the file index is rebuilt whole: leave agent_id empty")
            self._files.index.reindex(
                lambda done, total: emit(admin_pb2.ReindexProgress(done=done, total=total)), caller.job.stopped
            )
            return
        if agent_id is not None:
            self._agents.get(agent_id)
        emit(admin_pb2.ReindexProgress(done=0, total=self._memory.count(agent_id)))
        self._memory.reindex(
            agent_id,
            progress=lambda done, total: emit(admin_pb2.ReindexProgress(done=done, total=total)),
            should_stop=caller.job.stopped,
        )


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, runtime: SyscallRuntime, memory: MemoryService) -> None:
        self.runtime = runtime
        self._memory = memory

    @unary("memory.add", "memory")
    def AddNote(self, request: memory_pb2.AddNoteRequest, caller: Caller) -> memory_pb2.Note:
        (note,) = self._memory.add(caller.agent_id, [convert.from_proto_new_note(request.note)])
        return convert.to_proto_note(note)

    @unary("memory.add_batch", "memory")
    def AddNotes(self, request: memory_pb2.AddNotesRequest, caller: Caller) -> Any:
        notes = self._memory.add(caller.agent_id, [convert.from_proto_new_note(n) for n in request.notes])
        return memory_pb2.AddNotesResponse(notes=[convert.to_proto_note(n) for n in notes])

    @unary("memory.get", "memory")
    def GetNote(self, request: memory_pb2.GetNoteRequest, caller: Caller) -> memory_pb2.Note:
        return convert.to_proto_note(self._memory.get(caller.agent_id, request.id))

    @unary("memory.delete", "memory")
    def DeleteNote(self, request: memory_pb2.DeleteNoteRequest, caller: Caller) -> Any:
        self._memory.delete(caller.agent_id, request.id)
        return memory_pb2.DeleteNoteResponse()

    @unary("memory.search", "memory")
    def SearchNotes(self, request: memory_pb2.SearchNotesRequest, caller: Caller) -> Any:
        check_length(request.query, "query", MAX_QUERY_CHARS)
        filters = convert.from_proto_filters(request)
        hits = self._memory.search(caller.agent_id, request.query, request.k or _DEFAULT_K, filters,
                                   expand_links=request.expand_links,
                                   as_of=convert.from_timestamp(request, "as_of"))  # fmt: skip
        return memory_pb2.SearchNotesResponse(hits=[convert.to_proto_search_hit(h) for h in hits])

    @unary("memory.update", "memory")
    def UpdateNote(self, request: memory_pb2.UpdateNoteRequest, caller: Caller) -> memory_pb2.Note:
        return convert.to_proto_note(
            self._memory.update(caller.agent_id, request.id, convert.from_proto_update(request))
        )

    @unary("memory.flags", "memory")
    def SetNoteFlags(self, request: memory_pb2.SetNoteFlagsRequest, caller: Caller) -> memory_pb2.Note:
        archived = request.archived if request.HasField("archived") else None
        pinned = request.pinned if request.HasField("pinned") else None
        if archived is None and pinned is None:
            raise InvalidArgument("set archived or pinned")
        return convert.to_proto_note(
            self._memory.set_flags(caller.agent_id, request.id, archived=archived, pinned=pinned)
        )

    @unary("memory.share", "memory")
    def ShareNote(self, request: memory_pb2.ShareNoteRequest, caller: Caller) -> memory_pb2.Note:
        if not request.agent_ids:
            raise InvalidArgument("agent_ids is required")
        check_count(request.agent_ids, "agent_ids", MAX_SHARE_AGENTS)
        note = self._memory.share(caller.agent_id, request.id, list(request.agent_ids), share=not request.unshare)
        return convert.to_proto_note(note)

    @unary("memory.link", "memory")
    def LinkNotes(self, request: memory_pb2.LinkNotesRequest, caller: Caller) -> memory_pb2.NoteLink:
        weight = request.weight if request.HasField("weight") else 1.0
        if not 0.0 <= weight <= 1.0:  # it scales the score of what a search reaches over the link
            raise InvalidArgument(f"weight must be between 0 and 1, got {weight}")
        check_length(request.reason, "reason", MAX_LINK_REASON_CHARS)
        link = self._memory.link(caller.agent_id, request.from_id, request.to_id, request.kind or "related",
                                 request.reason, weight)  # fmt: skip
        return convert.to_proto_link(link)

    @unary("memory.unlink", "memory")
    def UnlinkNotes(self, request: memory_pb2.UnlinkNotesRequest, caller: Caller) -> Any:
        self._memory.unlink(caller.agent_id, request.from_id, request.to_id)
        return memory_pb2.UnlinkNotesResponse()

    @unary("memory.neighbours", "memory")
    def GetNeighbours(self, request: memory_pb2.GetNeighboursRequest, caller: Caller) -> Any:
        notes, links = self._memory.neighbours(caller.agent_id, request.id, request.depth or 1)
        return memory_pb2.NeighboursResponse(notes=[convert.to_proto_note(n) for n in notes],
                                             links=[convert.to_proto_link(link) for link in links])  # fmt: skip

    @unary("memory.history", "memory")
    def GetHistory(self, request: memory_pb2.GetHistoryRequest, caller: Caller) -> Any:
        versions = self._memory.history(caller.agent_id, request.id)
        return memory_pb2.HistoryResponse(versions=[convert.to_proto_version(v) for v in versions])

    @unary("memory.undo_evolution", "memory")
    def UndoEvolution(self, request: memory_pb2.UndoEvolutionRequest, caller: Caller) -> Any:
        _require(request.note_id, "note_id")
        return memory_pb2.UndoEvolutionResponse(reverted=self._memory.undo_evolution(caller.agent_id, request.note_id))

    @unary("memory.decay", "memory")
    def RunDecay(self, request: memory_pb2.RunDecayRequest, caller: Caller) -> Any:
        return memory_pb2.RunDecayResponse(archived=self._memory.decay(caller.agent_id))

    @unary("memory.consolidate", "memory")
    def Consolidate(self, request: memory_pb2.ConsolidateRequest, caller: Caller) -> Any:
        options: dict[str, Any] = {"min_group": request.min_group or 3}
        for key in ("min_age_s", "weak_below"):
            if request.HasField(key):
                options[key] = getattr(request, key)
        if options["min_group"] < 2 or options.get("min_age_s", 0) < 0 or not 0 <= options.get("weak_below", 0) <= 1:
            raise InvalidArgument("min_group must be at least 2, min_age_s >= 0 and weak_below in [0, 1]")
        report = self._memory.consolidate(caller.agent_id, **options)
        return memory_pb2.ConsolidateResponse(groups=report.groups, summary_ids=report.summaries,
                                              archived=report.archived, profile_id=report.profile_id)  # fmt: skip

    @unary("memory.graph", "memory")
    def GetGraph(self, request: memory_pb2.GetGraphRequest, caller: Caller) -> Any:
        notes, links = self._memory.graph(caller.agent_id, request.limit or 200, request.include_archived)
        return memory_pb2.NeighboursResponse(notes=[convert.to_proto_note(n) for n in notes],
                                             links=[convert.to_proto_link(link) for link in links])  # fmt: skip

    @unary("memory.stats", "memory")
    def GetMemoryStats(self, request: memory_pb2.GetMemoryStatsRequest, caller: Caller) -> Any:
        return convert.to_proto_memory_stats(self._memory.stats(caller.agent_id))


class LLMServicer(llm_pb2_grpc.LLMServiceServicer):
    def __init__(self, runtime: SyscallRuntime, llm: LLMService, agents: AgentService) -> None:
        self.runtime = runtime
        self._llm = llm
        self._agents = agents

    def _options(self, request: Any, caller: Caller, emit: Callable[[Any], None] | None = None) -> dict[str, Any]:
        on_text = (lambda delta: emit(llm_pb2.CompletionChunk(delta=delta))) if emit else None
        check_length(request.session, "session", MAX_SESSION_CHARS)
        return {"session": request.session, "priority": caller.job.record.priority, "on_text": on_text,
                "should_stop": caller.job.stopped}  # fmt: skip

    @unary("llm.status", "llm", Access.ANY)
    def GetStatus(self, request: common_pb2.GetStatusRequest, caller: Caller) -> common_pb2.SubsystemStatus:
        detail = "serving" if self._llm.available else self._llm.unavailable_reason
        return common_pb2.SubsystemStatus(name="llm", available=self._llm.available, detail=detail)

    @unary("llm.chat", "llm")
    def Chat(self, request: llm_pb2.ChatRequest, caller: Caller) -> llm_pb2.Completion:
        messages, params = convert.from_proto_messages(request.messages), convert.from_proto_params(request.params)
        return convert.to_proto_completion(
            self._llm.chat(caller.agent_id, messages, params, **self._options(request, caller))
        )

    @server_stream("llm.chat_stream", "llm")
    def ChatStream(self, request: llm_pb2.ChatRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        messages, params = convert.from_proto_messages(request.messages), convert.from_proto_params(request.params)
        completion = self._llm.chat(caller.agent_id, messages, params, **self._options(request, caller, emit))
        emit(convert.to_proto_last_chunk(completion))

    @unary("llm.complete", "llm")
    def Complete(self, request: llm_pb2.CompleteRequest, caller: Caller) -> llm_pb2.Completion:
        params = convert.from_proto_params(request.params)
        completion = self._llm.complete(caller.agent_id, request.prompt, params, **self._options(request, caller))
        return convert.to_proto_completion(completion)

    @server_stream("llm.complete_stream", "llm")
    def CompleteStream(self, request: llm_pb2.CompleteRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        params = convert.from_proto_params(request.params)
        completion = self._llm.complete(caller.agent_id, request.prompt, params, **self._options(request, caller, emit))
        emit(convert.to_proto_last_chunk(completion))

    @unary("llm.count_tokens", "llm", Access.ANY)
    def CountTokens(self, request: llm_pb2.CountTokensRequest, caller: Caller) -> llm_pb2.CountTokensResponse:
        messages = convert.from_proto_messages(request.messages)
        return llm_pb2.CountTokensResponse(tokens=self._llm.count_tokens(request.text, messages or None))

    @unary("llm.model_info", "llm", Access.ANY)
    def GetModelInfo(self, request: llm_pb2.GetModelInfoRequest, caller: Caller) -> llm_pb2.ModelInfo:
        p = caller.principal  # an agent sees its own sessions' KV use, the admin the kernel's
        return convert.to_proto_model_info(self._llm.info(None if p.is_admin else p.agent_id))

    @unary("llm.scheduler", "admin", Access.ADMIN)
    def GetScheduler(self, request: llm_pb2.GetSchedulerRequest, caller: Caller) -> llm_pb2.SchedulerState:
        return convert.to_proto_scheduler_state(self._llm.scheduler_state())

    @unary("llm.set_policy", "admin", Access.ADMIN)
    def SetSchedulerPolicy(self, request: llm_pb2.SetSchedulerPolicyRequest, caller: Caller) -> Any:
        self._llm.set_policy(request.policy, request.quantum or None)
        return convert.to_proto_scheduler_state(self._llm.scheduler_state())

    @unary("llm.set_quota", "admin", Access.ADMIN)
    def SetQuota(self, request: llm_pb2.SetQuotaRequest, caller: Caller) -> llm_pb2.SetQuotaResponse:
        _require(request.agent_id, "agent_id")
        self._agents.get(request.agent_id)
        self._llm.set_quota(request.agent_id, request.tokens_per_minute)
        return llm_pb2.SetQuotaResponse()

    @unary("llm.events", "admin", Access.ADMIN)
    def GetSchedulerEvents(self, request: llm_pb2.GetSchedulerEventsRequest, caller: Caller) -> Any:
        if request.last_s < 0:
            raise InvalidArgument("last_s must not be negative")
        events = self._llm.events(request.last_s)
        return llm_pb2.SchedulerEvents(events=[convert.to_proto_run_event(e) for e in events])


def _name_agents(messages: list[Any], names: dict[str, str]) -> None:
    """Fill each message's agent_name from its agent_id (left empty for an id no longer known)."""
    for message in messages:
        message.agent_name = names.get(message.agent_id, "")


def _require(value: str, name: str) -> None:
    if not value:
        raise InvalidArgument(f"{name} is required")
