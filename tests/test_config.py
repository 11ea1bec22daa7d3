from __future__ import annotations

from pathlib import Path

import pytest

from aios.config import DEFAULT_PORT, QueueConfig, load_config
from aios.errors import InvalidArgument


def test_defaults() -> None:
    config = load_config(env={})
    assert config.port == DEFAULT_PORT and config.host == "127.0.0.1"
    assert config.sqlalchemy_url.startswith("sqlite:///") and config.chroma_url is None


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "aios.toml").write_text(
        'port = 7000\nhost = "0.0.0.0"\ngrace_period_s = 3\n'
        "[limits]\nmax_batch = 10\n[queues.memory]\ncapacity = 5\nworkers = 3\n"
    )
    env = {"AIOS_DATA_DIR": str(tmp_path), "AIOS_PORT": "7001"}
    config = load_config(env=env)
    assert (config.port, config.host, config.grace_period_s) == (7001, "0.0.0.0", 3.0)
    assert config.limits.max_batch == 10 and config.limits.max_note_chars == 32_768
    assert config.queues["memory"] == QueueConfig(capacity=5, workers=3)
    assert config.queues["llm"].workers == 64
    assert load_config(env=env, port=7002, host=None).port == 7002


@pytest.mark.parametrize(
    "toml, message",
    [
        ("bogus = 1", "unknown config keys: bogus"),
        ("port = 70000", "port must be 0-65535"),
        ('port = "abc"', "expected int"),
        ("[limits]\nmax_batch = 0", "positive integer"),
        ("[limits]\nnope = 1", "unknown keys in [limits]"),
        ("[queues.gpu]\nworkers = 1", "unknown queue 'gpu'"),
        ("port = ", "cannot read config file"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "aios.toml"
    path.write_text(toml)
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path, env={})


def test_env_urls(tmp_path: Path) -> None:
    env = {"AIOS_DATABASE_URL": "postgresql+psycopg://u@h/db", "AIOS_CHROMA_URL": "http://h:8000"}
    config = load_config(env=env)
    assert config.sqlalchemy_url == "postgresql+psycopg://u@h/db" and config.chroma_url == "http://h:8000"


def test_llm_section_and_env(tmp_path: Path) -> None:
    path = tmp_path / "aios.toml"
    path.write_text('[llm]\npolicy = "rr"\nquantum = 8\nn_ctx = 2048\n')
    config = load_config(path, env={"AIOS_LLM_N_THREADS": "2"})
    assert (config.llm.policy, config.llm.quantum, config.llm.n_ctx, config.llm.n_threads) == ("rr", 8, 2048, 2)
    cases = [
        ('[llm]\npolicy = "lottery"', "llm.policy"),
        ('[llm]\nbackend = "remote"', "remote_url"),
        ("[llm]\nquantum = 0", "llm.quantum"),
        ("[llm]\nnope = 1", r"unknown keys in \[llm\]"),
    ]
    for toml, message in cases:
        path.write_text(toml)
        with pytest.raises(InvalidArgument, match=message):
            load_config(path, env={})
