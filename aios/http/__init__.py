"""The kernel's HTTP face: OpenAI-compatible /v1 (chat, completions, models, embeddings), /health, /ready and
/metrics, served by uvicorn in the kernel's event loop. It is a translation layer: each /v1 request is the agent's
syscall, made with the SDK's AsyncClient over the gRPC server's internal listener."""

from aios.http.app import Lifespan, build_app
from aios.http.clients import ClientPool
from aios.http.hooks import KernelHooks, Readiness, TlsFiles, readiness
from aios.http.server import HttpServer
from aios.http.translate import CONTEXT_MODEL

__all__ = [
    "CONTEXT_MODEL",
    "ClientPool",
    "HttpServer",
    "KernelHooks",
    "Lifespan",
    "Readiness",
    "TlsFiles",
    "readiness",
    "build_app",
]
