"""The fuzzer's LLM requests meet the real model (tests/test_fuzz.py fuzzes every RPC on the fake backend): drawn
Chat, Complete, CountTokens and ChatWithContext requests, max_tokens 1-2, through the real tokenizer, chat template
and constraint checks. Budget: a tenth of AIOS_FUZZ_SECONDS, and AIOS_FUZZ_EXAMPLES up to 15 per RPC.
tests/test_llm_inputs.py holds its regressions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aios.client import Client
from aios.kernel import Kernel
from tests.fuzz_protos import messages, texts
from tests.fuzz_world import BAD, EXAMPLES, MIN_CASES, RPCS, SECONDS, SETTINGS, Rpc

_LLM_RPCS = [r for r in RPCS if r.name in ("LLMService.Chat", "LLMService.Complete", "LLMService.CountTokens",
                                           "ContextService.ChatWithContext")]  # fmt: skip


@pytest.fixture(scope="module")
def real_model(llm_kernel: Kernel) -> Iterator[tuple[Kernel, str]]:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        yield llm_kernel, admin.create_agent("fuzz-real").token


@pytest.mark.parametrize("rpc", _LLM_RPCS, ids=lambda r: r.name)
def test_llm_inputs_with_the_real_model(real_model: tuple[Kernel, str], rpc: Rpc) -> None:
    """Well-typed LLM requests (max_tokens 1 or 2, so the model stops at once) meet the real tokenizer, chat
    template and constraint checks: never INTERNAL or UNKNOWN. Texts stay short here: prefilling a long one
    takes seconds on one thread, and tests/test_llm_inputs.py sends the huge ones."""
    kernel, token = real_model
    hints = {"role": ["user", "assistant", "system"], "grammar": ['root ::= "yes" | "no"'],
             "json_schema": ['{"type": "boolean"}']}  # fmt: skip
    text = st.one_of(st.just("Say hello."), texts().filter(lambda t: len(t) <= 300))
    overrides = {"content": text, "prompt": text, "text": text}
    strategy = messages(rpc.request, hints, overrides)
    with grpc.insecure_channel(kernel.target) as channel:
        send = channel.unary_unary(rpc.path)
        stop_at, cases = time.monotonic() + max(2.0, SECONDS / 10), [0]

        @settings(SETTINGS, max_examples=min(EXAMPLES, 15))
        @given(request=strategy)
        def case(request: Any) -> None:
            if time.monotonic() > stop_at and cases[0] >= MIN_CASES:
                return
            cases[0] += 1
            if "params" in rpc.request.fields_by_name:  # present, or the default of 256 tokens applies
                request.params.max_tokens = max(1, min(request.params.max_tokens, 2))
            try:
                send(request.SerializeToString(), metadata=[("authorization", f"Bearer {token}")], timeout=120)
            except grpc.RpcError as exc:
                assert exc.code().name not in BAD, f"{rpc.name}: {exc.code().name} {exc.details()}"

        case()
