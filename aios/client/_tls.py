"""The channel credentials of a client that speaks TLS to the kernel (`Client(..., tls=True)`)."""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from aios.errors import InvalidArgument

__all__ = ["PEM", "channel_credentials", "closed_hint"]

PEM = bytes | str | os.PathLike[str]
"""PEM data as bytes, or the path of a PEM file."""


def _pem(value: PEM | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{what}: cannot read {value}: {exc.strerror or exc}") from None


def channel_credentials(
    tls: bool,
    root_certificates: PEM | None = None,
    certificate_chain: PEM | None = None,
    private_key: PEM | None = None,
) -> grpc.ChannelCredentials | None:
    """None for a plaintext channel; with `tls`, credentials trusting `root_certificates` (default: the system's
    roots) and, for mutual TLS, presenting `certificate_chain` signed for `private_key`."""
    if not tls:
        if root_certificates is not None or certificate_chain is not None or private_key is not None:
            raise InvalidArgument("root_certificates, certificate_chain and private_key need tls=True")
        return None
    if (certificate_chain is None) != (private_key is None):
        raise InvalidArgument("mutual TLS needs both certificate_chain and private_key")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates, "root_certificates"),
        private_key=_pem(private_key, "private_key"),
        certificate_chain=_pem(certificate_chain, "certificate_chain"),
    )


def closed_hint(tls: bool, certificate_chain: PEM | None) -> str:
    """What a connection the kernel closes at once (a handshake it refused) most likely means, for the error."""
    if not tls:
        return "if the kernel uses TLS, connect with TLS: tls=True in the SDK, --tls-ca in aios shell"
    if certificate_chain is None:
        return (
            "if the kernel asks for a client certificate, pass one: certificate_chain and private_key in the SDK, "
            "--tls-client-cert and --tls-client-key in aios shell"
        )
    return ""
