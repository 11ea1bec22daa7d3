"""The gRPC server: our servicers plus the standard health and reflection services."""

from __future__ import annotations

import importlib
import os
import secrets
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aios.errors import InvalidArgument, Unavailable
from aios.syscalls.decoding import RequestDecoding

__all__ = ["SyscallServer", "server_credentials"]


def _service_of(servicer: Any) -> tuple[Any, str]:
    """(add_<Service>Servicer_to_server, full service name) for an instance of a generated servicer base."""
    base = next(c for c in type(servicer).__mro__ if c.__module__.endswith("_pb2_grpc"))
    stubs = importlib.import_module(base.__module__)
    messages = importlib.import_module(base.__module__.removesuffix("_grpc"))
    service = base.__name__.removesuffix("Servicer")
    return getattr(stubs, f"add_{base.__name__}_to_server"), messages.DESCRIPTOR.services_by_name[service].full_name


def server_credentials(cert: str, key: str, client_ca: str | None = None) -> grpc.ServerCredentials:
    """TLS credentials from PEM files; `client_ca` set: mutual TLS (a client must show a certificate it signed).

    The files are loaded into an ssl context first: a bad file is refused here with its name, not at the first
    handshake (where gRPC only logs it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:
        raise InvalidArgument(f"cannot use TLS certificate {cert} with key {key}: {_reason(exc)}") from None
    try:
        if client_ca:
            context.load_verify_locations(client_ca)
    except OSError as exc:
        raise InvalidArgument(f"cannot use TLS client CA {client_ca}: {_reason(exc)}") from None
    ca = Path(client_ca).read_bytes() if client_ca else None
    pair = (Path(key).read_bytes(), Path(cert).read_bytes())
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def _reason(exc: OSError) -> str:
    if not isinstance(exc, ssl.SSLError):
        return exc.strerror or str(exc)
    if exc.reason == "KEY_VALUES_MISMATCH":
        return "the key is not the certificate's"
    return "not a PEM certificate and private key" if exc.library == "SSL" else f"{exc.reason or exc}"


class SyscallServer:
    def __init__(
        self,
        servicers: Sequence[Any],
        host: str,
        port: int,
        max_message_bytes: int,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        """`credentials`: TLS on the port (`server_credentials`); None: plaintext."""
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
            address = f"{host}:{port}"
            if credentials is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, credentials)
        except RuntimeError:
            raise Unavailable(busy) from None
        if self.port == 0:
            raise Unavailable(busy)
        self.internal_target = self._add_internal_listener()

    def _add_internal_listener(self) -> str | None:
        """A plaintext listener on an abstract unix socket (no file; the name is random), for the kernel's own
        faces (the HTTP face's SDK clients): it works whatever TLS the TCP port asks for. Callers still need a
        token. None where the platform has no abstract sockets (then the faces dial the TCP port)."""
        target = f"unix-abstract:aios-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            return target if self._server.add_insecure_port(target) else None
        except RuntimeError:
            return None

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
