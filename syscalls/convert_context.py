"""Conversions between the context protobufs and memory.context's domain objects (to_proto_* / from_proto_*)."""

from __future__ import annotations

from collections.abc import Sequence

from aios._proto.aios.v1 import context_pb2, llm_pb2
from memory.context import (
    AssembledContext,
    ContextEvent,
    ContextMessage,
    ContextStats,
    ContextUpdate,
    CoreBlock,
    Pressure,
    RecalledItem,
    RecallHit,
    TurnResult,
)
from syscalls.convert import to_proto_completion, to_timestamp
from syscalls.limits import MAX_CHAT_MESSAGES, check_count

__all__ = [
    "from_proto_chat_messages",
    "to_proto_assembled",
    "to_proto_event",
    "to_proto_recall_hit",
    "to_proto_reply",
    "to_proto_stats",
    "to_proto_update",
]


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
                                    prompt_tokens=r.prompt_tokens)  # type: ignore[arg-type]  # fmt: skip


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
