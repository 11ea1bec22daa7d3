"""Context-paging syscalls: request builders, and the conversions of the window, its pressure and paging
events from protobuf."""

from __future__ import annotations

from typing import Any

from aios._proto.aios.v1 import context_pb2, context_pb2_grpc
from aios.client import _types as t
from aios.client._inputs import Sampling
from aios.client._ops.llm import Messages, completion_of, messages_to_proto, sampling_to_proto
from aios.client._ops.op import Op, opt_time, requests_checked, time_of

__all__ = ["ContextOps"]


@requests_checked
class ContextOps:
    def __init__(self, channel: Any) -> None:
        self.stub = context_pb2_grpc.ContextServiceStub(channel)

    def append_messages(self, messages: Messages) -> Op:
        request = context_pb2.AppendMessagesRequest(messages=messages_to_proto(messages))
        return Op(self.stub.AppendMessages, request, _update)

    def chat_with_context(self, content: str, sampling: Sampling, stream: bool) -> Op:
        params = sampling_to_proto(sampling, default_max_tokens=0)  # 0: the kernel's reply reserve
        request = context_pb2.ChatWithContextRequest(content=content, params=params)
        if stream:
            return Op(self.stub.ChatWithContextStream, request, _chunk)
        return Op(self.stub.ChatWithContext, request, _reply)

    def get_context(self) -> Op:
        return Op(self.stub.GetContext, context_pb2.GetContextRequest(), _assembled)

    def set_system_prompt(self, text: str) -> Op:
        return Op(self.stub.SetSystemPrompt, context_pb2.SetSystemPromptRequest(text=text), _update)

    def set_core_block(self, label: str, value: str, limit_tokens: int) -> Op:
        request = context_pb2.SetCoreBlockRequest(label=label, value=value, limit_tokens=limit_tokens)
        return Op(self.stub.SetCoreBlock, request, _update)

    def delete_core_block(self, label: str) -> Op:
        return Op(self.stub.DeleteCoreBlock, context_pb2.DeleteCoreBlockRequest(label=label), _update)

    def page_in(self, item_id: str, pin: bool) -> Op:
        return Op(self.stub.PageIn, context_pb2.PageInRequest(id=item_id, pin=pin), _update)

    def page_out(self, ids: list[str] | None, oldest: int) -> Op:
        return Op(self.stub.PageOut, context_pb2.PageOutRequest(ids=ids or [], oldest=oldest), _update)

    def set_pinned(self, item_id: str, pinned: bool) -> Op:
        return Op(self.stub.SetPinned, context_pb2.SetPinnedRequest(id=item_id, pinned=pinned), _update)

    def search_recall(self, query: str, k: int) -> Op:
        return Op(
            self.stub.SearchRecall,
            context_pb2.SearchRecallRequest(query=query, k=k),
            lambda r: [
                t.RecallHit(h.note_id, h.message_id, h.role, h.content, h.score, time_of(h.created_at)) for h in r.hits
            ],
        )

    def context_stats(self) -> Op:
        return Op(
            self.stub.GetContextStats,
            context_pb2.GetContextStatsRequest(),
            lambda r: t.ContextStats(**{f.name: getattr(r, f.name) for f in r.DESCRIPTOR.fields}),
        )

    def context_events(self, after_id: int, limit: int) -> Op:
        return Op(
            self.stub.ListContextEvents,
            context_pb2.ListContextEventsRequest(after_id=after_id, limit=limit),
            lambda r: [t.ContextEvent(e.id, e.kind, time_of(e.at), e.fraction, e.tokens, e.detail) for e in r.events],
        )

    def reset(self) -> Op:
        return Op(self.stub.ResetContext, context_pb2.ResetContextRequest(), _update)

    def swap_out(self, drop: bool) -> Op:
        return Op(self.stub.SwapOut, context_pb2.SwapOutRequest(drop=drop), lambda r: t.KVSwap(r.where, r.bytes))


def _message(m: context_pb2.ContextMessage) -> t.ContextMessage:
    return t.ContextMessage(m.id, m.seq, m.role, m.content, m.tokens, m.pinned, time_of(m.created_at),
                            opt_time(m, "evicted_at"), m.note_id)  # fmt: skip


def _recalled(i: context_pb2.RecalledItem) -> t.RecalledItem:
    return t.RecalledItem(i.id, i.kind, i.content, i.tokens, i.pinned, i.score)


def _pressure(p: context_pb2.Pressure) -> t.Pressure:
    return t.Pressure(p.level, p.fraction, p.tokens, p.window, p.budget, p.warn_fraction, p.flush_tokens,
                      p.peak_tokens)  # fmt: skip


def _update(u: context_pb2.ContextUpdate) -> t.ContextUpdate:
    return t.ContextUpdate(_pressure(u.pressure), [_message(m) for m in u.messages], list(u.evicted_ids),
                           [_recalled(i) for i in u.recalled])  # fmt: skip


def _reply(r: context_pb2.ContextReply) -> t.ContextReply:
    return t.ContextReply(completion_of(r.completion), _update(r.update), r.prompt_tokens)


def _chunk(c: context_pb2.ContextChunk) -> t.ContextChunk:
    return t.ContextChunk(c.delta, _reply(c.reply) if c.HasField("reply") else None)


def _assembled(c: context_pb2.AssembledContext) -> t.AssembledContext:
    return t.AssembledContext(
        c.system_prompt, [t.CoreBlock(b.label, b.value, b.limit_tokens, b.tokens) for b in c.core], c.summary,
        [_recalled(i) for i in c.recalled], [_message(m) for m in c.messages],
        [(m.role, m.content) for m in c.prompt], [t.ContextSection(s.name, s.tokens, s.items) for s in c.sections],
        c.tokens, c.exact, _pressure(c.pressure),
    )  # fmt: skip
