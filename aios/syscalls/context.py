"""ContextService: an agent's paged context window (messages, core blocks, recall) and chat through it; with
its conversions (a reply's completion is converted as the llm service converts one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from aios._proto.aios.v1 import common_pb2, context_pb2, context_pb2_grpc, llm_pb2
from aios.memory.context import (
    AssembledContext,
    ContextEvent,
    ContextMessage,
    ContextService,
    ContextStats,
    ContextUpdate,
    CoreBlock,
    Pressure,
    RecalledItem,
    RecallHit,
    TurnResult,
)
from aios.syscalls.convert import require, to_timestamp
from aios.syscalls.dispatch import server_stream, unary
from aios.syscalls.limits import MAX_CHAT_MESSAGES, MAX_QUERY_CHARS, MAX_ROW_NUMBER, check_count, check_length
from aios.syscalls.llm import from_proto_params, to_proto_completion
from aios.syscalls.runtime import Access, Caller, SyscallRuntime

__all__ = [
    "ContextServicer",
    "from_proto_chat_messages",
    "to_proto_assembled",
    "to_proto_event",
    "to_proto_recall_hit",
    "to_proto_reply",
    "to_proto_stats",
    "to_proto_update",
]

_DEFAULT_K = 10


class ContextServicer(context_pb2_grpc.ContextServiceServicer):
    def __init__(self, runtime: SyscallRuntime, context: ContextService) -> None:
        self.runtime = runtime
        self._context = context

    @unary("context.status", "context", Access.ANY)
    def GetStatus(self, request: common_pb2.GetStatusRequest, caller: Caller) -> common_pb2.SubsystemStatus:
        c = self._context
        detail = f"serving: window {c.window} tokens, flush at {c.flush_tokens}, recall budget {c.recall_budget}"
        return common_pb2.SubsystemStatus(name="context", available=True, detail=detail)

    @unary("context.append", "context")
    def AppendMessages(self, request: context_pb2.AppendMessagesRequest, caller: Caller) -> Any:
        messages = from_proto_chat_messages(request.messages)
        return to_proto_update(self._context.append(caller.agent_id, messages))

    def _chat(self, request: context_pb2.ChatWithContextRequest, caller: Caller,
              on_text: Callable[[str], None] | None) -> Any:  # fmt: skip
        params = from_proto_params(request.params)
        if not request.params.max_tokens:
            params = dataclasses.replace(params, max_tokens=min(params.max_tokens, self._context.config.reply_reserve))
        return self._context.chat(caller.agent_id, request.content, params, priority=caller.job.record.priority,
                                  on_text=on_text, should_stop=caller.job.stopped)  # fmt: skip

    @unary("context.chat", "context")
    def ChatWithContext(self, request: context_pb2.ChatWithContextRequest, caller: Caller) -> Any:
        return to_proto_reply(self._chat(request, caller, None))

    @server_stream("context.chat_stream", "context")
    def ChatWithContextStream(
        self, request: context_pb2.ChatWithContextRequest, caller: Caller, emit: Callable[[Any], None]
    ) -> None:
        result = self._chat(request, caller, lambda delta: emit(context_pb2.ContextChunk(delta=delta)))
        emit(context_pb2.ContextChunk(reply=to_proto_reply(result)))

    @unary("context.get", "context")
    def GetContext(self, request: context_pb2.GetContextRequest, caller: Caller) -> Any:
        return to_proto_assembled(self._context.get(caller.agent_id))

    @unary("context.system_prompt", "context")
    def SetSystemPrompt(self, request: context_pb2.SetSystemPromptRequest, caller: Caller) -> Any:
        return to_proto_update(self._context.set_system_prompt(caller.agent_id, request.text))

    @unary("context.set_core", "context")
    def SetCoreBlock(self, request: context_pb2.SetCoreBlockRequest, caller: Caller) -> Any:
        update = self._context.set_core_block(caller.agent_id, request.label, request.value, request.limit_tokens)
        return to_proto_update(update)

    @unary("context.delete_core", "context")
    def DeleteCoreBlock(self, request: context_pb2.DeleteCoreBlockRequest, caller: Caller) -> Any:
        require(request.label, "label")
        return to_proto_update(self._context.delete_core_block(caller.agent_id, request.label))

    @unary("context.page_in", "context")
    def PageIn(self, request: context_pb2.PageInRequest, caller: Caller) -> Any:
        return to_proto_update(self._context.page_in(caller.agent_id, request.id, request.pin))

    @unary("context.page_out", "context")
    def PageOut(self, request: context_pb2.PageOutRequest, caller: Caller) -> Any:
        update = self._context.page_out(caller.agent_id, list(request.ids), request.oldest)
        return to_proto_update(update)

    @unary("context.pin", "context")
    def SetPinned(self, request: context_pb2.SetPinnedRequest, caller: Caller) -> Any:
        return to_proto_update(self._context.set_pinned(caller.agent_id, request.id, request.pinned))

    @unary("context.search_recall", "context")
    def SearchRecall(self, request: context_pb2.SearchRecallRequest, caller: Caller) -> Any:
        check_length(request.query, "query", MAX_QUERY_CHARS)
        hits = self._context.search_recall(caller.agent_id, request.query, request.k or _DEFAULT_K)
        return context_pb2.SearchRecallResponse(hits=[to_proto_recall_hit(h) for h in hits])

    @unary("context.stats", "context")
    def GetContextStats(self, request: context_pb2.GetContextStatsRequest, caller: Caller) -> Any:
        return to_proto_stats(self._context.stats(caller.agent_id))

    @unary("context.events", "context")
    def ListContextEvents(self, request: context_pb2.ListContextEventsRequest, caller: Caller) -> Any:
        # No event has a larger id: what comes after one is what comes after MAX_ROW_NUMBER (nothing).
        after = min(request.after_id, MAX_ROW_NUMBER)
        events = self._context.events(caller.agent_id, after, request.limit or 100)
        return context_pb2.ContextEvents(events=[to_proto_event(e) for e in events])

    @unary("context.swap_out", "context")
    def SwapOut(self, request: context_pb2.SwapOutRequest, caller: Caller) -> Any:
        where, size = self._context.swap_out(caller.agent_id, request.drop)
        return context_pb2.SwapOutResponse(where=where, bytes=size)

    @unary("context.reset", "context")
    def ResetContext(self, request: context_pb2.ResetContextRequest, caller: Caller) -> Any:
        return to_proto_update(self._context.reset(caller.agent_id))


# -- conversions -------------------------------------------------------------------------------------------------


def from_proto_chat_messages(messages: Sequence[llm_pb2.ChatMessage]) -> list[tuple[str, str]]:
    check_count(messages, "messages", MAX_CHAT_MESSAGES)
    return [(m.role, m.content) for m in messages]


def to_proto_message(m: ContextMessage) -> context_pb2.ContextMessage:
    return context_pb2.ContextMessage(
        id=m.id, seq=m.seq, role=m.role, content=m.content, tokens=m.tokens, pinned=m.pinned,
        created_at=to_timestamp(m.created_at), evicted_at=to_timestamp(m.evicted_at), note_id=m.note_id,
    )  # fmt: skip


def to_proto_block(b: CoreBlock) -> context_pb2.CoreBlock:
    return context_pb2.CoreBlock(label=b.label, value=b.value, limit_tokens=b.limit_tokens, tokens=b.tokens)


def to_proto_item(i: RecalledItem) -> context_pb2.RecalledItem:
    return context_pb2.RecalledItem(id=i.id, kind=i.kind, content=i.content, tokens=i.tokens, pinned=i.pinned,
                                    score=i.score)  # fmt: skip


def to_proto_pressure(p: Pressure) -> context_pb2.Pressure:
    return context_pb2.Pressure(
        level=p.level, fraction=p.fraction, tokens=p.tokens, window=p.window, budget=p.budget,
        warn_fraction=p.warn_fraction, flush_tokens=p.flush_tokens, peak_tokens=p.peak_tokens,
    )  # fmt: skip


def to_proto_update(u: ContextUpdate) -> context_pb2.ContextUpdate:
    return context_pb2.ContextUpdate(
        pressure=to_proto_pressure(u.pressure), messages=[to_proto_message(m) for m in u.messages],
        evicted_ids=u.evicted, recalled=[to_proto_item(i) for i in u.recalled],
    )  # fmt: skip


def to_proto_reply(r: TurnResult) -> context_pb2.ContextReply:
    return context_pb2.ContextReply(completion=to_proto_completion(r.completion), update=to_proto_update(r.update),
                                    prompt_tokens=r.prompt_tokens)  # fmt: skip


def to_proto_assembled(c: AssembledContext) -> context_pb2.AssembledContext:
    return context_pb2.AssembledContext(
        system_prompt=c.system_prompt, core=[to_proto_block(b) for b in c.core], summary=c.summary,
        recalled=[to_proto_item(i) for i in c.recalled], messages=[to_proto_message(m) for m in c.messages],
        prompt=[llm_pb2.ChatMessage(role=r, content=t) for r, t in c.prompt],
        sections=[context_pb2.ContextSection(name=s.name, tokens=s.tokens, items=s.items) for s in c.sections],
        tokens=c.tokens, exact=c.exact, pressure=to_proto_pressure(c.pressure),
    )  # fmt: skip


def to_proto_recall_hit(h: RecallHit) -> context_pb2.RecallHit:
    return context_pb2.RecallHit(note_id=h.id, message_id=h.message_id, role=h.role, content=h.content,
                                 score=h.score, created_at=to_timestamp(h.created_at))  # fmt: skip


def to_proto_stats(s: ContextStats) -> context_pb2.ContextStats:
    return context_pb2.ContextStats(**s.__dict__)


def to_proto_event(e: ContextEvent) -> context_pb2.ContextEvent:
    return context_pb2.ContextEvent(id=e.id, kind=e.kind, at=to_timestamp(e.at), fraction=e.fraction,
                                    tokens=e.tokens, detail=e.detail)  # fmt: skip
