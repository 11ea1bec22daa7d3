"""Isolation between agents beyond access checks: caches, metrics, kernel-wide figures and existence oracles.

Each test is a probe one agent could run to learn about another; on the code before issue 12 each one told.
One kernel (SQLite, the real embedding model and the real small LLM) serves the module; every test makes its
own agents.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from itertools import count

import pytest

from aios import errors
from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from tests.conftest import ThreadedKernel, kernel_config

REPORT = "Quarterly report. Revenue grew 12 percent to 4.2 million euros. Berlin office opens in March."
_names = count()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    config = kernel_config(tmp_path_factory.mktemp("isolation") / "data", fs={"summary_tokens": 16})
    with ThreadedKernel(config, embedder) as k:
        assert k.llm.available, k.llm.unavailable_reason
        yield k


@pytest.fixture(scope="module")
def admin(kernel: Kernel) -> Iterator[Client]:
    with Client(kernel.target, kernel.admin_token) as client:
        yield client


@pytest.fixture
def agents(kernel: Kernel, admin: Client) -> Iterator[tuple[Client, Client, Client]]:
    """Three new agents: a (the owner of things), b (a friend it shares with), e (an outsider probing)."""
    clients = [Client(kernel.target, admin.create_agent(f"{role}-{next(_names)}").token) for role in "abe"]
    yield clients[0], clients[1], clients[2]
    for client in clients:
        client.close()


def test_the_summary_cache_answers_only_within_a_tree_the_caller_reads(agents: tuple[Client, ...]) -> None:
    a, b, e = agents
    a.write_file("/report.md", REPORT)
    assert not a.summarize("/report.md").cached
    assert a.summarize("/report.md").cached  # still a cache, for the tree it was made in
    e.write_file("/guess.md", REPORT)  # the outsider writes the owner's exact bytes
    assert not e.summarize("/guess.md").cached
    # A shared tree is one cache for everyone who reads it.
    team = f"team-{uuid.uuid4().hex[:8]}"
    a.create_tree(team)
    a.grant(team, b.whoami().agent_id, "read")
    a.write_file("/report.md", REPORT, tree=team)
    assert not b.summarize("/report.md", tree=team).cached
    assert a.summarize("/report.md", tree=team).cached


def _scrape(kernel: Kernel, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(f"http://127.0.0.1:{kernel.metrics_port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_metrics_are_the_admins_only(kernel: Kernel, admin: Client) -> None:
    creds = admin.create_agent(f"scraper-{next(_names)}")
    with Client(kernel.target, creds.token) as agent:
        agent.add_note("counted in the metrics")
    for token in (None, "", "aios_not-a-token", creds.token):  # an agent's own valid token included
        assert _scrape(kernel, token) == (401, ""), token
    status, text = _scrape(kernel, kernel.admin_token)
    assert status == 200 and f'aios_agent_info{{agent="{creds.agent.name}",agent_id="{creds.agent.id}"}}' in text


def test_model_info_shows_an_agent_its_own_kv_cache_only(admin: Client, agents: tuple[Client, ...]) -> None:
    a, _, e = agents
    a.chat([("user", "Hello")], max_tokens=2, session="isolation")
    mine, outsider, kernel_wide = a.model_info(), e.model_info(), admin.model_info()
    assert mine.kv["resident_sessions"] + mine.kv["sessions"] >= 1
    assert kernel_wide.kv["resident_sessions"] >= mine.kv["resident_sessions"]
    # The outsider ran nothing: none of the owner's KV use, nor the figures every agent's work moves.
    assert (outsider.kv["resident_sessions"], outsider.kv["resident_tokens"], outsider.kv["sessions"]) == (0, 0, 0)
    assert outsider.kv["saves"] == outsider.kv["restores"] == outsider.context_switches == 0
    assert outsider.weights["rss_anon"] == outsider.weights["read_bytes"] == 0
    assert kernel_wide.weights["rss_anon"] > 0
    assert (outsider.model, outsider.n_ctx, outsider.kv["kv_cells"]) == (kernel_wide.model, kernel_wide.n_ctx,
                                                                          kernel_wide.kv["kv_cells"])  # fmt: skip


def test_the_file_index_backlog_is_the_callers_own(kernel: Kernel, admin: Client, agents: tuple[Client, ...]) -> None:
    a, _, e = agents
    assert kernel.files is not None and kernel.files.index is not None
    index = kernel.files.index
    index._write.acquire()  # noqa: SLF001 - holds the indexer: what the owner writes stays behind meanwhile
    try:
        a.write_file("/pending.md", "waits for the indexer")
        assert "waiting to be indexed" in a.status("files").detail
        assert "waiting to be indexed" in admin.status("files").detail
        assert e.status("files").detail == "serving"
    finally:
        index._write.release()  # noqa: SLF001
    assert index.wait_idle(60)
    assert a.status("files").detail == "serving"


def test_sharing_answers_alike_for_an_agent_and_an_id_no_agent_has(agents: tuple[Client, ...]) -> None:
    a, b, e = agents
    b_id, nobody = b.whoami().agent_id, uuid.uuid4().hex
    note = a.add_note("The wifi password is hunter2-lighthouse.")
    assert a.share_note(note.id, [b_id]).shared_with == [b_id]
    assert sorted(a.share_note(note.id, [nobody]).shared_with) == sorted([b_id, nobody])
    assert a.add_note("Another note.", share_with=[nobody]).shared_with == [nobody]
    assert b.get_note(note.id).content == note.content  # sharing with a real agent still works
    with pytest.raises(errors.NotFound):
        e.get_note(note.id)
    with pytest.raises(errors.InvalidArgument):
        a.share_note(note.id, ["nobody"])  # the form of an id is checked, which tells nothing
    with pytest.raises(errors.ResourceExhausted):  # and kept ids of nobody do not pile up without bound
        a.share_note(note.id, [uuid.uuid4().hex for _ in range(255)])
    assert len(a.get_note(note.id).shared_with) == 2
    # Granting a tree likewise.
    team = f"grants-{uuid.uuid4().hex[:8]}"
    a.create_tree(team)
    assert a.grant(team, nobody, "read").grants == {nobody: "read"}
    assert a.grant(team, b_id, "read").grants == {nobody: "read", b_id: "read"}


def test_a_tree_that_is_absent_and_one_that_is_not_yours_answer_alike(agents: tuple[Client, ...]) -> None:
    a, _, e = agents
    taken = f"private-{uuid.uuid4().hex[:8]}"
    absent = f"absent-{uuid.uuid4().hex[:8]}"
    a.create_tree(taken)
    a.write_file("/x.txt", "x", tree=taken)
    answers = []
    for name in (taken, absent):
        for probe in (lambda t: e.list_files("/", tree=t), lambda t: e.read_file("/x.txt", tree=t),
                      lambda t: e.write_file("/y.txt", "y", tree=t)):  # fmt: skip
            with pytest.raises(errors.AiosError) as caught:
                probe(name)
            answers.append((type(caught.value), caught.value.message.replace(name, "<tree>")))
    assert len(set(answers)) == 1 and answers[0][0] is errors.PermissionDenied, answers


def test_a_shared_notes_history_names_no_note_the_reader_cannot_see(agents: tuple[Client, ...]) -> None:
    a, b, _ = agents
    b_id = b.whoami().agent_id
    old = a.add_note("Our staging database runs PostgreSQL 15 on port 5432.",
                     keywords=["staging database", "postgresql"], share_with=[b_id])  # fmt: skip
    private = a.add_note("The staging database PostgreSQL server was upgraded to version 16.",
                         keywords=["staging database", "upgrade"])  # fmt: skip
    assert [v.cause for v in a.history(old.id)] == ["created", f"evolution:{private.id}"]
    assert [v.cause for v in b.history(old.id)] == ["created", "evolution"]
    assert a.undo_evolution(private.id) == 1
    assert [v.cause for v in b.history(old.id)][-1] == "undo evolution"
    # A cause the reader can see stays named.
    a.share_note(private.id, [b_id])
    assert [v.cause for v in b.history(old.id)] == [v.cause for v in a.history(old.id)]
