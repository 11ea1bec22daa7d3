"""The blocking client: `Client`, made of one method group per service over `Caller`.

This package is the SDK's one hand-written surface: scripts/gen_async_client.py writes AsyncClient
(aios/client/_async/) from it, and tests/test_sdk_generated.py fails when the two differ.
"""

from __future__ import annotations

from aios.client._sync.admin import AdminCalls
from aios.client._sync.context import ContextCalls
from aios.client._sync.files import FileCalls
from aios.client._sync.llm import LLMCalls
from aios.client._sync.memory import MemoryCalls

__all__ = ["Client"]


class Client(MemoryCalls, AdminCalls, LLMCalls, ContextCalls, FileCalls):
    """Blocking client. `Client(target, token)`; token defaults to $AIOS_TOKEN, target to $AIOS_TARGET.
    A kernel with TLS: `Client(target, token, tls=True, root_certificates=<CA file or PEM bytes>)`."""
