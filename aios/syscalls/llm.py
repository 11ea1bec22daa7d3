"""LLMService: chat and completion (whole or streamed), tokens, model info and the scheduler; with its
conversions (`from_proto_params` and `to_proto_completion` serve the context service too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aios._proto.aios.v1 import common_pb2, llm_pb2, llm_pb2_grpc
from aios.agents import AgentService
from aios.errors import InvalidArgument
from aios.llm import ChatMessage, Completion, LLMService, ModelInfo, RunEvent, SamplingParams, SchedulerState
from aios.syscalls.convert import require
from aios.syscalls.dispatch import server_stream, unary
from aios.syscalls.limits import MAX_CHAT_MESSAGES, MAX_SESSION_CHARS, check_count, check_length
from aios.syscalls.runtime import Access, Caller, SyscallRuntime

__all__ = [
    "LLMServicer",
    "from_proto_messages",
    "from_proto_params",
    "to_proto_completion",
    "to_proto_last_chunk",
    "to_proto_model_info",
    "to_proto_run_event",
    "to_proto_scheduler_state",
]


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
        messages, params = from_proto_messages(request.messages), from_proto_params(request.params)
        return to_proto_completion(self._llm.chat(caller.agent_id, messages, params, **self._options(request, caller)))

    @server_stream("llm.chat_stream", "llm")
    def ChatStream(self, request: llm_pb2.ChatRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        messages, params = from_proto_messages(request.messages), from_proto_params(request.params)
        completion = self._llm.chat(caller.agent_id, messages, params, **self._options(request, caller, emit))
        emit(to_proto_last_chunk(completion))

    @unary("llm.complete", "llm")
    def Complete(self, request: llm_pb2.CompleteRequest, caller: Caller) -> llm_pb2.Completion:
        params = from_proto_params(request.params)
        completion = self._llm.complete(caller.agent_id, request.prompt, params, **self._options(request, caller))
        return to_proto_completion(completion)

    @server_stream("llm.complete_stream", "llm")
    def CompleteStream(self, request: llm_pb2.CompleteRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        params = from_proto_params(request.params)
        completion = self._llm.complete(caller.agent_id, request.prompt, params, **self._options(request, caller, emit))
        emit(to_proto_last_chunk(completion))

    @unary("llm.count_tokens", "llm", Access.ANY)
    def CountTokens(self, request: llm_pb2.CountTokensRequest, caller: Caller) -> llm_pb2.CountTokensResponse:
        messages = from_proto_messages(request.messages)
        return llm_pb2.CountTokensResponse(tokens=self._llm.count_tokens(request.text, messages or None))

    @unary("llm.model_info", "llm", Access.ANY)
    def GetModelInfo(self, request: llm_pb2.GetModelInfoRequest, caller: Caller) -> llm_pb2.ModelInfo:
        p = caller.principal  # an agent sees its own sessions' KV use, the admin the kernel's
        return to_proto_model_info(self._llm.info(None if p.is_admin else p.agent_id))

    @unary("llm.scheduler", "admin", Access.ADMIN)
    def GetScheduler(self, request: llm_pb2.GetSchedulerRequest, caller: Caller) -> llm_pb2.SchedulerState:
        return to_proto_scheduler_state(self._llm.scheduler_state())

    @unary("llm.set_policy", "admin", Access.ADMIN)
    def SetSchedulerPolicy(self, request: llm_pb2.SetSchedulerPolicyRequest, caller: Caller) -> Any:
        self._llm.set_policy(request.policy, request.quantum or None)
        return to_proto_scheduler_state(self._llm.scheduler_state())

    @unary("llm.set_quota", "admin", Access.ADMIN)
    def SetQuota(self, request: llm_pb2.SetQuotaRequest, caller: Caller) -> llm_pb2.SetQuotaResponse:
        require(request.agent_id, "agent_id")
        self._agents.get(request.agent_id)
        self._llm.set_quota(request.agent_id, request.tokens_per_minute)
        return llm_pb2.SetQuotaResponse()

    @unary("llm.events", "admin", Access.ADMIN)
    def GetSchedulerEvents(self, request: llm_pb2.GetSchedulerEventsRequest, caller: Caller) -> Any:
        if request.last_s < 0:
            raise InvalidArgument("last_s must not be negative")
        events = self._llm.events(request.last_s)
        return llm_pb2.SchedulerEvents(events=[to_proto_run_event(e) for e in events])


# -- conversions -------------------------------------------------------------------------------------------------


def from_proto_messages(messages: Sequence[llm_pb2.ChatMessage]) -> list[ChatMessage]:
    check_count(messages, "messages", MAX_CHAT_MESSAGES)
    return [ChatMessage(m.role, m.content) for m in messages]


def from_proto_params(p: llm_pb2.SamplingParams) -> SamplingParams:
    defaults = SamplingParams()
    return SamplingParams(
        max_tokens=p.max_tokens or defaults.max_tokens,
        temperature=p.temperature if p.HasField("temperature") else defaults.temperature,
        top_p=p.top_p if p.HasField("top_p") else defaults.top_p,
        top_k=p.top_k if p.HasField("top_k") else defaults.top_k,
        min_p=p.min_p if p.HasField("min_p") else defaults.min_p,
        repeat_penalty=p.repeat_penalty if p.HasField("repeat_penalty") else defaults.repeat_penalty,
        seed=p.seed if p.HasField("seed") else None,
        stop=tuple(p.stop),
        grammar=p.grammar or None,
        json_schema=p.json_schema or None,
    )


def _usage(c: Completion) -> llm_pb2.Usage:
    return llm_pb2.Usage(prompt_tokens=c.usage.prompt_tokens, completion_tokens=c.usage.completion_tokens,
                         cached_tokens=c.usage.cached_tokens)  # fmt: skip


def _timing(c: Completion) -> llm_pb2.Timing:
    return llm_pb2.Timing(queue_s=c.queue_s, ttft_s=c.ttft_s, total_s=c.total_s, preemptions=c.preemptions,
                          context_switches=c.context_switches)  # fmt: skip


def to_proto_completion(c: Completion) -> llm_pb2.Completion:
    return llm_pb2.Completion(text=c.text, finish_reason=c.finish_reason, usage=_usage(c), timing=_timing(c))


def to_proto_last_chunk(c: Completion) -> llm_pb2.CompletionChunk:
    return llm_pb2.CompletionChunk(finish_reason=c.finish_reason, usage=_usage(c), timing=_timing(c))


def to_proto_model_info(info: ModelInfo) -> llm_pb2.ModelInfo:
    kv, w, mem = info.kv, info.weights, info.memory
    weights = llm_pb2.WeightsInfo()
    if w is not None:
        weights = llm_pb2.WeightsInfo(
            model_bytes=w.model_bytes, budget_bytes=w.budget_bytes or 0, pinned_bytes=w.pinned_bytes,
            streamed_bytes=w.streamed_bytes, prefetch=w.prefetch_enabled,
        )  # fmt: skip
    if mem is not None:
        weights.rss_anon, weights.rss_file, weights.peak_rss = mem.rss_anon, mem.rss_file, mem.peak_rss
        weights.read_bytes, weights.major_faults = mem.read_bytes, mem.major_faults
    return llm_pb2.ModelInfo(
        weights=weights,
        backend=info.backend, model=info.model, path=info.path, n_ctx=info.n_ctx, policy=info.policy,
        quantum=info.quantum, context_switches=info.context_switches,
        kv=llm_pb2.KVCacheInfo(
            saves=kv.saves, restores=kv.restores, bytes_saved=kv.bytes_saved, bytes_restored=kv.bytes_restored,
            save_s=kv.save_s, restore_s=kv.restore_s, spills=kv.spills, ram_bytes=kv.ram_bytes,
            disk_bytes=kv.disk_bytes, sessions=kv.sessions, resident_sessions=kv.resident_sessions,
            resident_tokens=kv.resident_tokens, kv_cells=kv.kv_cells, max_batch=kv.max_batch,
        ),
    )  # fmt: skip


def to_proto_run_event(e: RunEvent) -> llm_pb2.SchedulerEvent:
    return llm_pb2.SchedulerEvent(
        request_id=e.request_id, agent_id=e.agent_id, job_class=e.job_class, start_s=e.start, end_s=e.end,
        prefilled=e.prefilled, generated=e.generated, switched=e.switched, finished=e.finished,
    )  # fmt: skip


def to_proto_scheduler_state(s: SchedulerState) -> llm_pb2.SchedulerState:
    def waiting(row: tuple[int, str, str, int, float]) -> llm_pb2.WaitingRequest:
        return llm_pb2.WaitingRequest(id=row[0], agent_id=row[1], job_class=row[2], priority=row[3], waited_s=row[4])

    agents = [
        llm_pb2.AgentLLMStats(
            agent_id=a.agent_id, requests=a.requests, prompt_tokens=a.prompt_tokens,
            completion_tokens=a.completion_tokens, cached_tokens=a.cached_tokens, mean_queue_s=a.mean(a.queue_s),
            mean_ttft_s=a.mean(a.ttft_s), mean_tpot_s=a.mean(a.tpot_s), mean_turnaround_s=a.mean(a.turnaround_s),
            preemptions=a.preemptions, virtual_counter=s.counters.get(a.agent_id, 0.0),
            quota_tokens_per_minute=s.quotas.get(a.agent_id, 0),
        )
        for a in s.agents
    ]  # fmt: skip
    return llm_pb2.SchedulerState(
        policy=s.policy, quantum=s.quantum,
        running=[llm_pb2.WaitingRequest(id=r[0], agent_id=r[1]) for r in s.running],
        waiting=[waiting(w) for w in s.waiting], agents=agents, jain_fairness=s.jain_fairness,
        tokens_per_s=s.tokens_per_s,
    )  # fmt: skip
