"""The gRPC server: our servicers plus the standard health and reflection services."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from agents import AgentService
from aios._proto.aios.v1 import admin_pb2, admin_pb2_grpc, llm_pb2, llm_pb2_grpc, memory_pb2, memory_pb2_grpc
from aios.errors import Unavailable
from aios.llm import LLMService
from memory import MemoryService
from syscalls.dispatch import SyscallRuntime
from syscalls.servicers import AdminServicer, LLMServicer, MemoryServicer, unavailable_servicers

__all__ = ["SyscallServer"]


class SyscallServer:
    def __init__(
        self,
        runtime: SyscallRuntime,
        agents: AgentService,
        memory: MemoryService,
        llm: LLMService,
        host: str,
        port: int,
        max_message_bytes: int,
    ) -> None:
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ]
        )
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(runtime, agents, memory), self._server)
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(runtime, memory), self._server)
        llm_pb2_grpc.add_LLMServiceServicer_to_server(LLMServicer(runtime, llm, agents), self._server)
        for servicer, add in unavailable_servicers(runtime):
            add(servicer, self._server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names = [
            d.full_name
            for module in (admin_pb2, memory_pb2, llm_pb2)
            for d in module.DESCRIPTOR.services_by_name.values()
        ] + [
            "aios.v1.FileService", "aios.v1.ContextService",
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME,
        ]  # fmt: skip
        self.service_names = names
        reflection.enable_server_reflection(names, self._server)
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:
            raise Unavailable(f"cannot listen on {host}:{port}: {exc}") from exc
        if self.port == 0:
            raise Unavailable(f"cannot listen on {host}:{port}: address in use?")

    async def start(self) -> None:
        await self._server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float) -> None:
        """Refuse new RPCs, let in-flight ones finish within `grace_s`, then cancel the rest."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace_s)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()
