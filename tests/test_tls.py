"""TLS on the kernel's gRPC port, with certificates this test makes: a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate (mutual TLS), and a second CA nobody should trust."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aios.cli import main
from aios.client import AsyncClient, Client
from aios.embeddings import Embedder
from aios.errors import InvalidArgument, Unavailable
from aios.kernel import Kernel
from aios.syscalls.server import server_credentials
from tests.conftest import ThreadedKernel, free_port, kernel_config
from tests.daemon import AIOS


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    stranger_cert: Path
    """A client certificate the other CA signed (its key: stranger.key)."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


Key = ec.EllipticCurvePrivateKey


def _cert(subject: str, key: Key, issuer: x509.Certificate | None, issuer_key: Key,
          extensions: list[x509.ExtensionType]) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        path.with_suffix(".key").write_bytes(pem)
    return path


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    return _cert(name, key, None, key, [x509.BasicConstraints(ca=True, path_length=None)]), key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = _ca("aios test CA")
    other, other_key = _ca("some other CA")
    server_key, client_key, stranger_key = _key(), _key(), _key()
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    server = _cert("aios kernel", server_key, ca, ca_key, [san, server_auth])
    client_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    client = _cert("an agent", client_key, ca, ca_key, [client_auth])
    stranger = _cert("a stranger", stranger_key, other, other_key, [client_auth])
    return Pki(ca=_write(d / "ca.pem", ca), server_cert=_write(d / "server.pem", server, server_key),
               server_key=d / "server.key", client_cert=_write(d / "client.pem", client, client_key),
               client_key=d / "client.key", other_ca=_write(d / "other.pem", other),
               stranger_cert=_write(d / "stranger.pem", stranger, stranger_key))  # fmt: skip


def _kernel(tmp_path: Path, embedder: Embedder, pki: Pki, mutual: bool) -> ThreadedKernel:
    tls = {"tls_cert": str(pki.server_cert), "tls_key": str(pki.server_key)}
    if mutual:
        tls["tls_client_ca"] = str(pki.ca)
    return ThreadedKernel(kernel_config(tmp_path / "data", **tls), embedder)


@pytest.fixture(scope="module")
def tls_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, pki: Pki) -> Iterator[Kernel]:
    with _kernel(tmp_path_factory.mktemp("tls"), embedder, pki, mutual=False) as k:
        yield k


@pytest.fixture(scope="module")
def mtls_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, pki: Pki) -> Iterator[Kernel]:
    with _kernel(tmp_path_factory.mktemp("mtls"), embedder, pki, mutual=True) as k:
        yield k


def _agent_token(kernel: Kernel, **tls: object) -> str:
    with Client(kernel.target, kernel.admin_token, tls=True, **tls) as admin:  # type: ignore[arg-type]
        return admin.create_agent("tls-agent").token


def test_the_sdk_over_tls_adds_and_finds_a_note(tls_kernel: Kernel, pki: Pki) -> None:
    token = _agent_token(tls_kernel, root_certificates=pki.ca)
    with Client(tls_kernel.target, token, tls=True, root_certificates=pki.ca.read_bytes()) as agent:
        note = agent.add_note("The lighthouse keeper feeds the cat at dawn.")
        assert [h.note.id for h in agent.search("who feeds the cat", k=1)] == [note.id]
    # localhost is in the certificate too
    localhost = tls_kernel.target.replace("127.0.0.1", "localhost")
    with Client(localhost, token, tls=True, root_certificates=str(pki.ca), timeout=20) as agent:
        assert agent.whoami().name == "tls-agent"


def test_the_async_client_over_tls(tls_kernel: Kernel, pki: Pki) -> None:
    async def run() -> str:
        async with AsyncClient(tls_kernel.target, tls_kernel.admin_token, tls=True, root_certificates=pki.ca) as c:
            return (await c.whoami()).name

    assert asyncio.run(run()) == "admin"


def test_a_plaintext_client_or_an_untrusting_one_is_refused(tls_kernel: Kernel, pki: Pki) -> None:
    with Client(tls_kernel.target, tls_kernel.admin_token, timeout=20) as plain:
        with pytest.raises(Unavailable, match="if the kernel uses TLS, connect with TLS: tls=True"):
            plain.whoami()

    async def plain_async() -> None:
        async with AsyncClient(tls_kernel.target, tls_kernel.admin_token, timeout=20) as c:
            await c.whoami()

    with pytest.raises(Unavailable, match="tls=True"):
        asyncio.run(plain_async())
    with Client(tls_kernel.target, tls_kernel.admin_token, tls=True, root_certificates=pki.other_ca,
                timeout=20) as wrong:  # fmt: skip
        with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
            wrong.whoami()


def test_mutual_tls_needs_the_client_certificate(mtls_kernel: Kernel, pki: Pki) -> None:
    target, token = mtls_kernel.target, mtls_kernel.admin_token
    with Client(target, token, tls=True, root_certificates=pki.ca, timeout=20) as anonymous:
        with pytest.raises(Unavailable, match="if the kernel asks for a client certificate"):
            anonymous.whoami()
    with Client(target, token, tls=True, root_certificates=pki.ca, certificate_chain=pki.client_cert,
                private_key=pki.client_key, timeout=20) as known:  # fmt: skip
        assert known.whoami().is_admin
    # a certificate the client CA did not sign
    with Client(target, token, tls=True, root_certificates=pki.ca, certificate_chain=pki.stranger_cert,
                private_key=pki.stranger_cert.with_suffix(".key"), timeout=20) as stranger:  # fmt: skip
        with pytest.raises(Unavailable):
            stranger.whoami()


def test_client_tls_options_are_checked(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="tls=True"):
        Client("127.0.0.1:1", "t", root_certificates=pki.ca)
    with pytest.raises(InvalidArgument, match="both"):
        Client("127.0.0.1:1", "t", tls=True, certificate_chain=pki.client_cert)
    with pytest.raises(InvalidArgument, match="no-such.pem"):
        Client("127.0.0.1:1", "t", tls=True, root_certificates=tmp_path / "no-such.pem")


def test_the_shell_connects_with_tls_ca(mtls_kernel: Kernel, pki: Pki) -> None:
    data_dir = str(mtls_kernel.config.data_dir)
    base = ["shell", "-c", "whoami", "--data-dir", data_dir, "--tls-ca", str(pki.ca)]
    mutual = ["--tls-client-cert", str(pki.client_cert), "--tls-client-key", str(pki.client_key)]
    done = CliRunner().invoke(main, base + mutual)
    assert done.exit_code == 0, done.output
    assert "admin" in done.output
    refused = CliRunner().invoke(main, base)
    said = " ".join(refused.output.split())  # the console wraps long lines
    assert refused.exit_code == 1 and said.startswith("unavailable:") and "--tls-client-cert" in said
    half = CliRunner().invoke(main, base + mutual[:2])
    assert half.exit_code == 1 and "go together" in half.output


def test_bad_tls_files_are_refused_with_their_name(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(InvalidArgument, match="garbage.pem"):
        server_credentials(str(garbage), str(pki.server_key))
    with pytest.raises(InvalidArgument, match="the key is not the certificate"):
        server_credentials(str(pki.server_cert), str(pki.client_key))
    with pytest.raises(InvalidArgument, match="tls_key"):
        kernel_config(tmp_path / "data", tls_cert=str(pki.server_cert))


def test_a_kernel_with_a_missing_certificate_refuses_to_start(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    args = ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()),
            "--tls-cert", str(missing), "--tls-key", str(pki.server_key)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    done = subprocess.run(AIOS + args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"tls_cert: cannot read {missing} (no such file)" in lines[0], done.stderr
