"""The semantic file system through the SDK against an in-process kernel: real SQLite / PostgreSQL, real
Chroma (embedded and server), the real embedding model and the real GGUF model. Rollbacks, history and diffs:
tests/test_fs_history.py."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios import errors
from aios.client import Client
from aios.config import FsConfig
from aios.embeddings import Embedder
from aios.kernel import Kernel
from tests.conftest import ThreadedKernel, kernel_config

TEXTS = {
    "/garden/tomatoes.md": "Tomatoes need full sun, deep watering twice a week and a stake once they flower.\n\n"
    "Pinch the suckers so the plant puts its energy into fruit.",
    "/garden/roses.md": "Roses are pruned in late winter; feed them with compost and water at the base.",
    "/cars/brakes.txt": "The brake pads squeal when worn; replace them before the rotor is scored.\n\n"
    "Bleed the brake lines after changing the fluid.",
    "/cars/tyres.txt": "Check tyre pressure monthly; rotate the tyres every 10,000 km for even wear.",
}


def _agent(admin: Client, name: str) -> Client:
    return Client(admin.target, admin.create_agent(name).token)


@pytest.fixture
def admin(sqlite_kernel: Kernel) -> Iterator[Client]:
    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as client:
        yield client


def _indexed(kernel: Kernel) -> None:
    assert kernel.files is not None and kernel.files.index.wait_idle(60)


def test_files_end_to_end_on_every_backend(kernel: Kernel) -> None:
    with Client(kernel.target, kernel.admin_token) as admin, _agent(admin, "writer") as agent:
        for path, text in TEXTS.items():
            agent.write_file(path, text)
        assert [f.path for f in agent.list_files("/")] == ["/cars", "/garden"]
        assert {f.path for f in agent.list_files("/", recursive=True, glob="*.md")} == {
            "/garden/tomatoes.md", "/garden/roses.md"
        }  # fmt: skip
        v2 = agent.write_file("/garden/roses.md", "Roses are pruned in late winter.\nMulch them in spring.\n",
                              expected_version=1)  # fmt: skip
        assert (v2.version, agent.stat("/garden/roses.md").sha256) == (2, hashlib.sha256(
            b"Roses are pruned in late winter.\nMulch them in spring.\n").hexdigest())  # fmt: skip
        assert agent.read_file("/garden/roses.md", version=1).decode() == TEXTS["/garden/roses.md"]
        assert "+Mulch them in spring." in agent.diff("/garden/roses.md", 1, 2)

        _indexed(kernel)
        hits = agent.retrieve("how do I stop my car's brakes from squealing?", k=2)
        assert hits[0].file.path == "/cars/brakes.txt"
        assert "brake pads" in hits[0].passages[0].text
        garden = agent.retrieve("watering plants", k=5, path_prefix="/garden")
        assert garden and {h.file.path for h in garden} <= {"/garden/tomatoes.md", "/garden/roses.md"}

        # Roll the whole tree back to before the roses were rewritten and the cars were deleted...
        before = agent.file_history("/")[0].change_id
        agent.delete_file("/cars", recursive=True)
        assert [f.path for f in agent.list_files("/")] == ["/garden"]
        undo = agent.rollback("/", change_id=before)
        assert {f.path for f in undo.files} == {"/cars", "/cars/brakes.txt", "/cars/tyres.txt"}
        assert agent.read_file("/cars/tyres.txt").decode() == TEXTS["/cars/tyres.txt"]
        # ...then roll the rollback back: the deletion is in force again, and nothing was lost on the way.
        agent.rollback("/", change_id=undo.change_id - 1)
        assert [f.path for f in agent.list_files("/")] == ["/garden"]
        assert agent.read_file("/cars/brakes.txt", version=1).decode() == TEXTS["/cars/brakes.txt"]
        _indexed(kernel)
        assert all(not h.file.path.startswith("/cars") for h in agent.retrieve("brake pads", k=5))


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.write_file("../etc/passwd", "x"),
        lambda a: a.write_file("/a/../../etc/passwd", "x"),
        lambda a: a.write_file("relative.txt", "x"),
        lambda a: a.write_file("/bad\x00name", "x"),
        lambda a: a.write_file("/" + "n" * 256, "x"),
        lambda a: a.write_file("/" + "/d" * 2100, "x"),
        lambda a: a.write_file("/", "x"),
        lambda a: a.read_file("/x/../y"),
        lambda a: a.move("/notes/a.txt", "/notes/a.txt/inside"),
        lambda a: a.list_files("/", tree="Not A Name"),
        lambda a: a.retrieve("", k=3),
        lambda a: a.retrieve("query", k=-1),
        lambda a: a.diff("/notes/a.txt", 0),
        lambda a: a.file_history("/", limit=-1),
        lambda a: a.grant("", "someone", "read"),
        lambda a: a.grant("team-x", "someone", "admin"),
    ],
)
def test_bad_paths_and_input_are_invalid_and_change_nothing(admin: Client, call) -> None:  # type: ignore[no-untyped-def]
    with _agent(admin, f"bad-{os.urandom(3).hex()}") as agent:
        agent.write_file("/notes/a.txt", "keep me")
        agent.create_tree("team-x")
        before = agent.file_history("/")
        with pytest.raises(errors.InvalidArgument):
            call(agent)
        assert agent.file_history("/") == before
        assert agent.read_file("/notes/a.txt") == b"keep me"


def test_clear_statuses_for_missing_conflicting_and_non_empty(admin: Client) -> None:
    with _agent(admin, "statuses") as agent:
        agent.write_file("/d/f.txt", "x")
        with pytest.raises(errors.NotFound):
            agent.read_file("/nope.txt")
        with pytest.raises(errors.NotFound):
            agent.read_file("/d/f.txt", version=7)
        with pytest.raises(errors.FailedPrecondition):
            agent.write_file("/d/f.txt", "y", expected_version=0)  # exists already
        with pytest.raises(errors.FailedPrecondition):
            agent.delete_file("/d")  # not empty
        with pytest.raises(errors.FailedPrecondition):
            agent.read_file("/d")  # a directory
        with pytest.raises(errors.FailedPrecondition):
            agent.write_file("/d/f.txt/child", "z")  # a file is not a directory
        with pytest.raises(errors.FailedPrecondition):
            agent.move("/d/f.txt", "/d")  # the target exists
        with pytest.raises(errors.NotFound):
            agent.rollback("/", change_id=10_000)
        assert agent.read_file("/d/f.txt") == b"x"


def test_concurrent_conditional_writers_one_wins_each_version(kernel: Kernel) -> None:
    with Client(kernel.target, kernel.admin_token) as admin, _agent(admin, "racer") as agent:
        agent.write_file("/counter", "0")
        won: dict[int, bytes] = {}  # version -> what the writer that made it wrote
        lost: list[int] = []

        def writer(i: int) -> None:
            for j in range(5):
                current = agent.stat("/counter").version
                content = f"writer {i} try {j}".encode()
                try:
                    won[agent.write_file("/counter", content, expected_version=current).version] = content
                except errors.FailedPrecondition:
                    lost.append(i)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        # A version only moves on when a write wins, so someone always wins; every attempt got an answer.
        assert won and len(won) + len(lost) == 20
        # Every acknowledged conditional write is exactly one version, holding what its writer wrote.
        versions = agent.file_history("/counter", limit=1000)
        assert sorted(v.version for v in versions) == sorted([1, *won])
        assert all(agent.read_file("/counter", version=v) == content for v, content in won.items())
        assert agent.read_file("/counter") == won[max(won)]

        def appender(i: int) -> None:
            for j in range(5):
                agent.write_file("/log", f"{i}:{j}\n", append=True)

        threads = [threading.Thread(target=appender, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        lines = agent.read_file("/log").decode().splitlines()
        assert sorted(lines) == sorted(f"{i}:{j}" for i in range(4) for j in range(5))  # no append lost


def test_cross_agent_access_needs_a_grant(admin: Client) -> None:
    with _agent(admin, "owner") as owner, _agent(admin, "other") as other:
        owner.write_file("/secret.txt", "owner's home")
        with pytest.raises(errors.NotFound):
            other.read_file("/secret.txt")  # its own home tree has no such file
        owner.create_tree("team")
        owner.write_file("/shared.txt", "for the team", tree="team")
        with pytest.raises(errors.PermissionDenied):
            other.read_file("/shared.txt", tree="team")
        assert all(h.file.path != "/secret.txt" for h in other.retrieve("owner's home", all_trees=True))
        other_id = other.whoami().agent_id
        owner.grant("team", other_id, "read")
        assert other.read_file("/shared.txt", tree="team") == b"for the team"
        with pytest.raises(errors.PermissionDenied):
            other.write_file("/shared.txt", "mine now", tree="team")
        owner.grant("team", other_id, "write")
        other.write_file("/shared.txt", "edited by other", tree="team")
        assert owner.file_history("/shared.txt", tree="team")[0].agent_id == other_id
        owner.grant("team", other_id, "")
        with pytest.raises(errors.PermissionDenied):
            other.list_files("/", tree="team")
        with pytest.raises(errors.PermissionDenied):
            other.grant("team", other_id, "write")
        assert [t.name for t in other.list_trees()] == [""]


def test_large_files_stream_and_the_size_limit_holds(tmp_path: Path, embedder: Embedder) -> None:
    # Messages of at most 2 MiB: the 5 MiB file must stream both ways.
    config = kernel_config(tmp_path / "data", fs={"max_file_bytes": 6 * 1024 * 1024},
                           limits={"max_message_bytes": 2 * 1024 * 1024})  # fmt: skip
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        with _agent(admin, "big") as agent:
            blob = os.urandom(5 * 1024 * 1024 + 17)
            info = agent.write_file("/big.bin", blob)
            assert (info.size, info.sha256, info.mime) == (len(blob), hashlib.sha256(blob).hexdigest(),
                                                           "application/octet-stream")  # fmt: skip
            assert agent.read_file("/big.bin") == blob
            agent.write_file("/big-copy.bin", iter([blob[:3_000_000], blob[3_000_000:]]))
            assert agent.stat("/big-copy.bin").sha256 == info.sha256
            with pytest.raises(errors.ResourceExhausted):
                agent.write_file("/too-big.bin", os.urandom(7 * 1024 * 1024))
            with pytest.raises(errors.NotFound):
                agent.stat("/too-big.bin")
            with agent.open("/notes.txt", "w") as f:
                f.write("line one\n")
            with agent.open("/notes.txt", "a") as f:
                f.write("line two\n")
            with agent.open("/notes.txt") as f:
                assert f.read() == "line one\nline two\n"
            stale = agent.open("/notes.txt", "w")
            agent.write_file("/notes.txt", "someone else")
            stale.write("mine")
            with pytest.raises(errors.FailedPrecondition):
                stale.close()


def test_watch_delivers_events_under_a_prefix(admin: Client) -> None:
    with _agent(admin, "watcher") as agent:
        # watch() returns once the kernel has subscribed: what commits next is delivered, no waiting needed.
        stream = agent.watch("/inbox", timeout=60)
        agent.write_file("/elsewhere.txt", "not watched")
        agent.write_file("/inbox/a.txt", "one")
        agent.write_file("/inbox/a.txt", "two")
        agent.delete_file("/inbox/a.txt")
        events = [event for _, event in zip(range(4), stream, strict=False)]
        stream.close()
        assert [(e.op, e.path, e.version) for e in events] == [
            ("mkdir", "/inbox", 1), ("create", "/inbox/a.txt", 1), ("write", "/inbox/a.txt", 2),
            ("delete", "/inbox/a.txt", 3),
        ]  # fmt: skip
        # `timeout` ends a watch with nothing to report: the iteration simply stops.
        assert list(agent.watch("/quiet", timeout=0.5)) == []
        with pytest.raises(errors.PermissionDenied):
            agent.watch("/", tree="no-such-tree")  # the error comes from watch() itself


def test_summarize_group_and_join(admin: Client, sqlite_kernel: Kernel) -> None:
    with _agent(admin, "analyst") as agent:
        for path, text in TEXTS.items():
            agent.write_file(path, text)
        _indexed(sqlite_kernel)
        summary = agent.summarize("/cars/brakes.txt")
        assert summary.method == "llm" and summary.text and not summary.cached
        again = agent.summarize("/cars/brakes.txt")
        assert again.cached and again.text == summary.text
        groups = agent.group_files(groups=2)
        assert sorted(sorted(f.path for f in g.files) for g in groups) == [
            ["/cars/brakes.txt", "/cars/tyres.txt"], ["/garden/roses.md", "/garden/tomatoes.md"]
        ]  # fmt: skip
        assert all(g.name for g in groups)
        pairs = agent.join_files("/garden/tomatoes.md", "/garden/roses.md", k=1)
        assert len(pairs) == 1 and "water" in pairs[0].a.text.lower() and "water" in pairs[0].b.text.lower()


def test_extractive_summary_without_an_llm(tmp_path: Path, embedder: Embedder) -> None:
    config = kernel_config(tmp_path / "data", llm={"backend": "none"})
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        with _agent(admin, "plain") as agent:
            agent.write_file("/brakes.txt", TEXTS["/cars/brakes.txt"])
            summary = agent.summarize("/brakes.txt")
            assert summary.method == "extractive" and "brake" in summary.text


def test_import_and_export_are_admin_only_and_round_trip(admin: Client, tmp_path: Path) -> None:
    source = tmp_path / "source"
    for path, text in TEXTS.items():
        (source / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (source / path.lstrip("/")).write_text(text)
    with _agent(admin, "importer") as agent:
        agent_id = agent.whoami().agent_id
        with pytest.raises(errors.PermissionDenied):
            list(agent.import_dir(agent_id, str(source)))
        progress = list(admin.import_dir(agent_id, str(source), "/imported"))
        assert progress[-1].done == progress[-1].total == len(TEXTS)
        assert agent.read_file("/imported/garden/roses.md").decode() == TEXTS["/garden/roses.md"]
        first = agent.file_history("/")[0].change_id
        agent.write_file("/imported/garden/roses.md", "changed after the import")
        out = tmp_path / "out"
        list(admin.export_tree(agent_id, str(out), "/imported", change_id=first))
        assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == {
            p.lstrip("/") for p in TEXTS
        }  # fmt: skip
        assert (out / "garden/roses.md").read_text() == TEXTS["/garden/roses.md"]
        with pytest.raises(errors.FailedPrecondition):
            list(admin.export_tree(agent_id, str(out)))  # not empty
        with pytest.raises(errors.InvalidArgument):
            list(admin.import_dir(agent_id, "relative/path"))


def test_config_rejects_bad_fs_settings(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument):
        kernel_config(tmp_path, fs={"max_file_bytes": 0})
    with pytest.raises(errors.InvalidArgument):
        kernel_config(tmp_path, fs={"bogus": 1})
    assert kernel_config(tmp_path).fs == FsConfig()


def test_admin_reindex_rebuilds_the_file_index(admin: Client, sqlite_kernel: Kernel) -> None:
    # What a rebuild restores is tested on the index itself (test_fs_services.py); this is the syscall's face.
    with _agent(admin, "reindexed") as agent:
        for path, text in TEXTS.items():
            agent.write_file(path, text)
        _indexed(sqlite_kernel)
        with pytest.raises(errors.PermissionDenied):
            list(agent.reindex(files=True))
        steps = list(admin.reindex(files=True))
        assert steps[-1].done == steps[-1].total == len(TEXTS) + 2  # two directories
        assert agent.retrieve("brake pads squeal", k=1)[0].file.path == "/cars/brakes.txt"
