"""The gRPC face of context paging: each method converts the request, calls ContextService, converts the reply."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from aios._proto.aios.v1 import common_pb2, context_pb2, context_pb2_grpc
from aios.errors import InvalidArgument
from memory.context import ContextService
from syscalls import convert, convert_context
from syscalls.dispatch import Access, Caller, SyscallRuntime, server_stream, unary
from syscalls.limits import MAX_QUERY_CHARS, MAX_ROW_NUMBER, check_length

__all__ = ["ContextServicer"]

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
        messages = convert_context.from_proto_chat_messages(request.messages)
        return convert_context.to_proto_update(self._context.append(caller.agent_id, messages))

    def _chat(self, request: context_pb2.ChatWithContextRequest, caller: Caller,
              on_text: Callable[[str], None] | None) -> Any:  # fmt: skip
        params = convert.from_proto_params(request.params)
        if not request.params.max_tokens:
            params = dataclasses.replace(params, max_tokens=min(params.max_tokens, self._context.config.reply_reserve))
        return self._context.chat(caller.agent_id, request.content, params, priority=caller.job.record.priority,
                                  on_text=on_text, should_stop=caller.job.stopped)  # fmt: skip

    @unary("context.chat", "context")
    def ChatWithContext(self, request: context_pb2.ChatWithContextRequest, caller: Caller) -> Any:
        return convert_context.to_proto_reply(self._chat(request, caller, None))

    @server_stream("context.chat_stream", "context")
    def ChatWithContextStream(
        self, request: context_pb2.ChatWithContextRequest, caller: Caller, emit: Callable[[Any], None]
    ) -> None:
        result = self._chat(request, caller, lambda delta: emit(context_pb2.ContextChunk(delta=delta)))
        emit(context_pb2.ContextChunk(reply=convert_context.to_proto_reply(result)))

    @unary("context.get", "context")
    def GetContext(self, request: context_pb2.GetContextRequest, caller: Caller) -> Any:
        return convert_context.to_proto_assembled(self._context.get(caller.agent_id))

    @unary("context.system_prompt", "context")
    def SetSystemPrompt(self, request: context_pb2.SetSystemPromptRequest, caller: Caller) -> Any:
        return convert_context.to_proto_update(self._context.set_system_prompt(caller.agent_id, request.text))

    @unary("context.set_core", "context")
    def SetCoreBlock(self, request: context_pb2.SetCoreBlockRequest, caller: Caller) -> Any:
        update = self._context.set_core_block(caller.agent_id, request.label, request.value, request.limit_tokens)
        return convert_context.to_proto_update(update)

    @unary("context.delete_core", "context")
    def DeleteCoreBlock(self, request: context_pb2.DeleteCoreBlockRequest, caller: Caller) -> Any:
        if not request.label:
            raise InvalidArgument("label is required")
        return convert_context.to_proto_update(self._context.delete_core_block(caller.agent_id, request.label))

    @unary("context.page_in", "context")
    def PageIn(self, request: context_pb2.PageInRequest, caller: Caller) -> Any:
        return convert_context.to_proto_update(self._context.page_in(caller.agent_id, request.id, request.pin))

    @unary("context.page_out", "context")
    def PageOut(self, request: context_pb2.PageOutRequest, caller: Caller) -> Any:
        update = self._context.page_out(caller.agent_id, list(request.ids), request.oldest)
        return convert_context.to_proto_update(update)

    @unary("context.pin", "context")
    def SetPinned(self, request: context_pb2.SetPinnedRequest, caller: Caller) -> Any:
        return convert_context.to_proto_update(self._context.set_pinned(caller.agent_id, request.id, request.pinned))

    @unary("context.search_recall", "context")
    def SearchRecall(self, request: context_pb2.SearchRecallRequest, caller: Caller) -> Any:
        check_length(request.query, "query", MAX_QUERY_CHARS)
        hits = self._context.search_recall(caller.agent_id, request.query, request.k or _DEFAULT_K)
        return context_pb2.SearchRecallResponse(hits=[convert_context.to_proto_recall_hit(h) for h in hits])

    @unary("context.stats", "context")
    def GetContextStats(self, request: context_pb2.GetContextStatsRequest, caller: Caller) -> Any:
        return convert_context.to_proto_stats(self._context.stats(caller.agent_id))

    @unary("context.events", "context")
    def ListContextEvents(self, request: context_pb2.ListContextEventsRequest, caller: Caller) -> Any:
        # No event has a larger id: what comes after one is what comes after MAX_ROW_NUMBER (nothing).
        after = min(request.after_id, MAX_ROW_NUMBER)
        events = self._context.events(caller.agent_id, after, request.limit or 100)
        return context_pb2.ContextEvents(events=[convert_context.to_proto_event(e) for e in events])

    @unary("context.swap_out", "context")
    def SwapOut(self, request: context_pb2.SwapOutRequest, caller: Caller) -> Any:
        where, size = self._context.swap_out(caller.agent_id, request.drop)
        return context_pb2.SwapOutResponse(where=where, bytes=size)
