"""SIGTERM while the model's users still run: the kernel exits 0 and keeps every acknowledged write.

Note enrichment runs on worker threads that tokenize and wait for the model; a stop that freed the model
before they ended crashed the process (exit -11) at nearly every SIGTERM with notes pending.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from aios.client import Client
from tests.conftest import free_port
from tests.daemon import Daemon

NOTES = 40


def test_sigterm_with_enrichment_pending_exits_0_and_keeps_the_notes(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", free_port())
    try:
        daemon.start(AIOS_LLM_ENRICHMENT="on")
        with Client(daemon.target, daemon.token) as admin:
            token = admin.create_agent("writer").token
            with Client(daemon.target, token) as agent:
                acked = agent.add_notes([f"note {i}: Alice moved the review of project {i} to Tuesday at {i % 12 + 1}"
                                         for i in range(NOTES)])  # fmt: skip
                acked.append(agent.add_note("the spare key is under the blue flowerpot"))
            assert all(n.enrichment == "llm_pending" for n in acked)
            deadline = time.monotonic() + 30
            while not admin.scheduler().running:  # SIGTERM while the model generates for the enrichment workers
                assert time.monotonic() < deadline, "the enrichment never reached the model"
                time.sleep(0.05)
        assert daemon.stop(signal.SIGTERM) == 0

        daemon.start(AIOS_LLM_BACKEND="none")  # no model, no enrichment: what the stop left is what is stored
        with Client(daemon.target, token) as agent:
            for note in acked:
                stored = agent.get_note(note.id)
                assert (stored.content, stored.created_at) == (note.content, note.created_at)
                assert stored.enrichment in ("llm_pending", "llm", "llm_rejected", "llm_failed")
            pending = sum(agent.get_note(n.id).enrichment == "llm_pending" for n in acked)
        assert 0 < pending  # the stop interrupted the enrichment; those notes wait for the next start
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        if daemon.proc is not None:
            daemon.proc.kill()
            daemon.proc.wait()
