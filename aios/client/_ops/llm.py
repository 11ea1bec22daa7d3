"""LLM syscalls: request builders (messages, sampling), and the conversions of completions, the model and the
scheduler from protobuf."""

from __future__ import annotations

import json
from typing import Any

from aios._proto.aios.v1 import llm_pb2, llm_pb2_grpc
from aios.client import _types as t
from aios.client._inputs import Sampling, check_options
from aios.client._ops.op import Op, requests_checked

__all__ = ["LLMOps", "Messages", "completion_of", "messages_to_proto", "sampling_to_proto"]

Messages = list[dict[str, str]] | list[tuple[str, str]]


@requests_checked
class LLMOps:
    def __init__(self, channel: Any) -> None:
        self.stub = llm_pb2_grpc.LLMServiceStub(channel)

    def chat(self, messages: Messages, session: str, sampling: Sampling, stream: bool) -> Op:
        params = sampling_to_proto(sampling)
        request = llm_pb2.ChatRequest(messages=messages_to_proto(messages), params=params, session=session)
        if stream:
            return Op(self.stub.ChatStream, request, _chunk)
        return Op(self.stub.Chat, request, completion_of)

    def complete(self, prompt: str, session: str, sampling: Sampling, stream: bool) -> Op:
        request = llm_pb2.CompleteRequest(prompt=prompt, params=sampling_to_proto(sampling), session=session)
        if stream:
            return Op(self.stub.CompleteStream, request, _chunk)
        return Op(self.stub.Complete, request, completion_of)

    def count_tokens(self, text: str, messages: Messages | None) -> Op:
        request = llm_pb2.CountTokensRequest(text=text, messages=messages_to_proto(messages or []))
        return Op(self.stub.CountTokens, request, lambda r: r.tokens)

    def model_info(self) -> Op:
        return Op(self.stub.GetModelInfo, llm_pb2.GetModelInfoRequest(), _model_info)

    def scheduler(self) -> Op:
        return Op(self.stub.GetScheduler, llm_pb2.GetSchedulerRequest(), _scheduler)

    def set_policy(self, policy: str, quantum: int | None) -> Op:
        request = llm_pb2.SetSchedulerPolicyRequest(policy=policy, quantum=quantum or 0)
        return Op(self.stub.SetSchedulerPolicy, request, _scheduler)

    def scheduler_events(self, last_s: float) -> Op:
        return Op(
            self.stub.GetSchedulerEvents,
            llm_pb2.GetSchedulerEventsRequest(last_s=last_s),
            lambda r: [
                t.SchedulerEvent(e.request_id, e.agent_id, e.job_class, e.start_s, e.end_s, e.prefilled, e.generated,
                                 e.switched, e.finished)
                for e in r.events
            ],
        )  # fmt: skip

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> Op:
        request = llm_pb2.SetQuotaRequest(agent_id=agent_id, tokens_per_minute=tokens_per_minute)
        return Op(self.stub.SetQuota, request, lambda r: None)


def messages_to_proto(messages: Messages) -> list[llm_pb2.ChatMessage]:
    out = []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        out.append(llm_pb2.ChatMessage(role=role, content=content))
    return out


def sampling_to_proto(sampling: Sampling, default_max_tokens: int = 256) -> llm_pb2.SamplingParams:
    """Sampling options; one left out (or None) keeps the kernel's default (temperature 0: greedy)."""
    check_options(sampling, Sampling, "sampling")
    given: dict[str, Any] = {key: value for key, value in sampling.items() if value is not None}
    if isinstance(given.get("json_schema"), dict):
        given["json_schema"] = json.dumps(given["json_schema"])
    return llm_pb2.SamplingParams(**{"max_tokens": default_max_tokens, **given})


def _usage(u: llm_pb2.Usage) -> t.Usage:
    return t.Usage(u.prompt_tokens, u.completion_tokens, u.cached_tokens)


def _timing(x: llm_pb2.Timing) -> t.Timing:
    return t.Timing(x.queue_s, x.ttft_s, x.total_s, x.preemptions, x.context_switches)


def completion_of(c: llm_pb2.Completion) -> t.Completion:
    return t.Completion(c.text, c.finish_reason, _usage(c.usage), _timing(c.timing))


def _chunk(c: llm_pb2.CompletionChunk) -> t.CompletionChunk:
    last = bool(c.finish_reason)
    return t.CompletionChunk(c.delta, c.finish_reason, _usage(c.usage) if last else None,
                             _timing(c.timing) if last else None)  # fmt: skip


def _model_info(m: llm_pb2.ModelInfo) -> t.ModelInfo:
    kv = {f.name: getattr(m.kv, f.name) for f in m.kv.DESCRIPTOR.fields}
    weights = {f.name: getattr(m.weights, f.name) for f in m.weights.DESCRIPTOR.fields}
    return t.ModelInfo(m.backend, m.model, m.path, m.n_ctx, m.policy, m.quantum, m.context_switches, kv, weights)


def _waiting(w: llm_pb2.WaitingRequest) -> t.WaitingRequest:
    return t.WaitingRequest(w.id, w.agent_id, w.job_class, w.priority, w.waited_s)


def _scheduler(s: llm_pb2.SchedulerState) -> t.SchedulerState:
    agents = [
        t.LLMAgentStats(a.agent_id, a.requests, a.prompt_tokens, a.completion_tokens, a.cached_tokens,
                        a.mean_queue_s, a.mean_ttft_s, a.mean_tpot_s, a.mean_turnaround_s, a.preemptions,
                        a.virtual_counter, a.quota_tokens_per_minute)
        for a in s.agents
    ]  # fmt: skip
    return t.SchedulerState(s.policy, s.quantum, [_waiting(w) for w in s.running], [_waiting(w) for w in s.waiting],
                            agents, s.jain_fairness, s.tokens_per_s)  # fmt: skip
