"""The gRPC server: our servicers plus the standard health and reflection services."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aios.errors import Unavailable
from syscalls.decoding import RequestDecoding

__all__ = ["SyscallServer"]


def _service_of(servicer: Any) -> tuple[Any, str]:
    """(add_<Service>Servicer_to_server, full service name) for an instance of a generated servicer base."""
    base = next(c for c in type(servicer).__mro__ if c.__module__.endswith("_pb2_grpc"))
    stubs = importlib.import_module(base.__module__)
    messages = importlib.import_module(base.__module__.removesuffix("_grpc"))
    service = base.__name__.removesuffix("Servicer")
    return getattr(stubs, f"add_{base.__name__}_to_server"), messages.DESCRIPTOR.services_by_name[service].full_name


class SyscallServer:
    def __init__(self, servicers: Sequence[Any], host: str, port: int, max_message_bytes: int) -> None:
        self._server = grpc.aio.server(
            interceptors=[RequestDecoding()],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                # gRPC sets SO_REUSEPORT by default: a second kernel on the same port would bind without an error
                # and the OS would split connections between the two.
                ("grpc.so_reuseport", 0),
            ],
        )
        names = []
        for servicer in servicers:
            add, name = _service_of(servicer)
            add(servicer, self._server)
            names.append(name)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
        self.service_names = names
        reflection.enable_server_reflection(names, self._server)
        busy = f"cannot listen on {host}:{port}: the port is in use (another aios kernel?) or the address is not local"
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            raise Unavailable(busy) from None
        if self.port == 0:
            raise Unavailable(busy)

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
