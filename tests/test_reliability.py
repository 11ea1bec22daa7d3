"""Reliability (issue 12): a restart always comes back, a failed start says why, bad values are INVALID_ARGUMENT.

Real kernels (SQLite, the real embedding model); the `aios` command in a subprocess where the exit status counts.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from aios import errors
from aios._db import create_engine
from aios.cli import main
from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.memory.context._schema import context_messages, context_quarantine
from aios.text import MAX_TERM, keywords_of
from tests.conftest import ThreadedKernel, kernel_config

CHECKSUM = "a3" * 64 + "f"  # a pasted sha512-like checksum: one 129-character "word"


def _agent(kernel: Kernel, name: str) -> tuple[Client, str]:
    with Client(kernel.target, kernel.admin_token) as admin:
        creds = admin.create_agent(name)
    return Client(kernel.target, creds.token, timeout=120), creds.agent.id


def test_extracted_keywords_are_what_a_note_may_hold() -> None:
    long_pair = "x" * 40 + " " + "y" * 40  # a recurring pair of long words makes an 81-character phrase
    for text in (f"the checksum is {CHECKSUM} for the release", f"{long_pair}. {long_pair}."):
        keywords = keywords_of(text)
        assert keywords and all(len(k) <= MAX_TERM for k in keywords), keywords


def test_a_long_word_pages_out_and_the_kernel_restarts(tmp_path: Path, embedder: Embedder) -> None:
    config = kernel_config(tmp_path / "data")
    with ThreadedKernel(config, embedder) as kernel:
        client, _ = _agent(kernel, "paster")
        with client:
            update = client.append_message(f"the sha512 of the release is {CHECKSUM}")
            client.page_out(ids=[m.id for m in update.messages])
            hits = client.search_recall("sha512 release", k=5)
            assert any(CHECKSUM in h.content for h in hits)
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        assert admin.whoami() is not None


def _insert_evicted(url: str, agent_id: str, content: str) -> str:
    message_id = uuid.uuid4().hex
    engine = create_engine(url)
    with engine.begin() as conn:
        seq = conn.execute(sa.select(sa.func.count()).select_from(context_messages)).scalar_one() + 1000
        conn.execute(sa.insert(context_messages).values(
            id=message_id, agent_id=agent_id, seq=seq, role="user", content=content, tokens=1, pinned=False,
            created_at=1.0, evicted_at=2.0, note_id=None))  # fmt: skip
    engine.dispose()
    return message_id


def test_a_row_repair_cannot_write_is_quarantined_and_the_kernel_serves(tmp_path: Path, embedder: Embedder) -> None:
    config = kernel_config(tmp_path / "data")
    with ThreadedKernel(config, embedder) as kernel:
        client, agent_id = _agent(kernel, "crashed")
        client.close()
    # What a crash between the eviction's commit and its recall note leaves: one row memory refuses (a NUL,
    # written by an older kernel), one it accepts.
    bad = _insert_evicted(config.sqlalchemy_url, agent_id, "a NUL \x00 from an older kernel")
    good = _insert_evicted(config.sqlalchemy_url, agent_id, "the staging database moved to Riga")
    for _ in range(2):  # and every later start too
        with ThreadedKernel(config, embedder):
            pass
    engine = create_engine(config.sqlalchemy_url)
    with engine.connect() as conn:
        note_ids = dict(conn.execute(sa.select(context_messages.c.id, context_messages.c.note_id)).all())
        held = conn.execute(sa.select(context_quarantine.c.message_id)).scalars().all()
    engine.dispose()
    assert note_ids[good] and note_ids[bad] is None and held == [bad]  # kept, not deleted, quarantined once
    result = CliRunner().invoke(main, ["admin", "doctor", "--data-dir", str(config.data_dir)])
    assert result.exit_code == 0, result.output
    assert bad in result.output and agent_id in result.output and "INVALID_ARGUMENT" in result.output
    assert good not in result.output


def test_a_failed_start_reports_its_cause(tmp_path: Path, embedder: Embedder) -> None:
    config = kernel_config(tmp_path / "data", context={"window_tokens": 100})
    kernel = Kernel(config, embedder=embedder)
    with pytest.raises(errors.InvalidArgument, match="context window"):
        asyncio.run(kernel.start())


def test_serve_exits_non_zero_with_the_cause(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "aios.toml").write_text("[context]\nwindow_tokens = 100\n")
    proc = subprocess.run([sys.executable, "-m", "aios.cli", "serve", "--data-dir", str(data), "--port", "0"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode != 0
    assert "context window of" in proc.stderr and "SchedulerNotRunning" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Client]:
    with ThreadedKernel(kernel_config(tmp_path_factory.mktemp("rel") / "data"), embedder) as kernel:
        client, _ = _agent(kernel, "values")
        with client:
            client.add_note("we met in Lisbon yesterday to plan next week")
            yield client


def test_a_tag_filter_longer_than_a_note_may_hold_is_refused(agent: Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="tags"):
        agent.search("Lisbon", tags=["t"] * 10_000)
    assert agent.search("Lisbon", tags=["t"] * 32) == []


@pytest.mark.parametrize("as_of", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)])
@pytest.mark.parametrize("query", ["yesterday", "last week", "this weekend", "last month", "this month",
                                   "last year", "this year", "in December", "next week"])  # fmt: skip
def test_time_expressions_at_the_ends_of_time(agent: Client, as_of: datetime, query: str) -> None:
    hits = agent.search(f"Lisbon {query}", as_of=as_of)
    assert [h.note.content for h in hits] == ["we met in Lisbon yesterday to plan next week"]


def test_context_events_after_the_largest_id_are_none(agent: Client) -> None:
    agent.append_message("hello there, a first message")
    assert agent.context_events(after_id=0)
    assert agent.context_events(after_id=2**64 - 1) == []


def test_page_out_takes_at_most_a_batch_of_ids(agent: Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="at most"):
        agent.page_out(ids=["x"] * 1_001)
