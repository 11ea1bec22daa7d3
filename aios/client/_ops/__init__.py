"""Every syscall the SDK makes, built once for `Client` and `AsyncClient`: one module per service, each with
its request builders (methods returning an `Op`) and its conversions from protobuf to the result types."""

from __future__ import annotations

from typing import Any

from aios._proto.aios.v1 import common_pb2
from aios.client import _types as t
from aios.client._ops.admin import AdminOps
from aios.client._ops.context import ContextOps
from aios.client._ops.files import FileOps
from aios.client._ops.llm import LLMOps
from aios.client._ops.memory import MemoryOps
from aios.client._ops.op import Op, requests_checked
from aios.errors import InvalidArgument

__all__ = ["Op", "Operations"]


@requests_checked
class Operations:
    """The builders of every service over one channel (shared by a client and its `as_agent` views)."""

    def __init__(self, channel: Any) -> None:
        self.admin = AdminOps(channel)
        self.memory = MemoryOps(channel)
        self.files = FileOps(channel)
        self.context = ContextOps(channel)
        self.llm = LLMOps(channel)

    def status(self, subsystem: str) -> Op:
        stubs: dict[str, Any] = {"files": self.files.stub, "context": self.context.stub, "llm": self.llm.stub}
        if subsystem not in stubs:
            raise InvalidArgument(f"unknown subsystem {subsystem!r}; one of {', '.join(stubs)}")
        return Op(
            stubs[subsystem].GetStatus,
            common_pb2.GetStatusRequest(),
            lambda r: t.SubsystemStatus(r.name, r.available, r.detail),
        )
