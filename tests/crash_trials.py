"""The crash trials of tests/test_crash.py: three clients stream writes (single and batched note adds, file writes,
appends, directory rollbacks) until the kernel is killed; a Trial records what each was told (the writes
acknowledged, and the one each stream had in flight), and `verify` counts what the restarted kernel lost or doubled
of them and checks it can find them.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aios.client import Client
from aios.errors import AiosError, NotFound
from tests.daemon import Daemon, wait_idle

_WORDS = (
    "harbour lantern orchard violin glacier compass meadow anvil saffron quarry falcon tundra ledger cobalt".split()
)


def _text(rng: random.Random, what: str, trial: int, i: int) -> str:
    """Unique and findable: three random words and a token no other text has."""
    a, b, c = rng.sample(_WORDS, 3)
    return f"{what} {trial}-{i}: the {a} beside the {b} keeps the {c}, code q{trial}{what[0]}{i}z"


@dataclass
class Trial:
    """What the clients of one trial were told: the writes acknowledged, and the one each stream had in flight
    when the kernel died (which may or may not have landed, but only whole and only once)."""

    n: int
    notes: dict[str, str] = field(default_factory=dict)  # content -> id, acknowledged
    note_batches: list[list[str]] = field(default_factory=list)
    files: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # path -> (content, version, sha256)
    lines: list[str] = field(default_factory=list)  # appended to `log`, acknowledged
    rollbacks: list[int] = field(default_factory=list)  # change ids, acknowledged
    state_a: int = 0  # the change the rollbacks return the directory to
    in_flight: dict[str, Any] = field(default_factory=dict)  # stream -> what it had sent, unanswered
    errors: list[tuple[float, str]] = field(default_factory=list)
    killed_at: float = 0.0

    @property
    def log(self) -> str:
        return f"/t{self.n}/log.txt"

    @property
    def directory(self) -> str:
        return f"/t{self.n}/dir"

    def acks(self) -> int:
        return len(self.notes) + len(self.files) + len(self.lines) + len(self.rollbacks)


def _stream(trial: Trial, name: str, client: Client, step: Callable[[int], None]) -> None:
    """Run `step(i)` for i = 0, 1, ... until a call fails (the kernel was killed)."""
    i = 0
    try:
        while True:
            step(i)
            trial.in_flight.pop(name, None)
            i += 1
    except AiosError as exc:
        trial.errors.append((time.time(), f"{name}: {type(exc).__name__}: {exc.message}"))
    finally:
        client.close()


def _notes(trial: Trial, client: Client, rng: random.Random) -> Callable[[int], None]:
    def step(i: int) -> None:
        contents = [_text(rng, "note", trial.n, 10 * i + j) for j in range(1 if i % 2 else 3)]
        trial.in_flight["notes"] = contents
        added = [client.add_note(contents[0])] if len(contents) == 1 else client.add_notes(contents)
        trial.notes.update({c: n.id for c, n in zip(contents, added, strict=True)})
        if len(contents) > 1:
            trial.note_batches.append(contents)

    return step


def _files(trial: Trial, client: Client, rng: random.Random) -> Callable[[int], None]:
    def step(i: int) -> None:
        text = _text(rng, "file", trial.n, i)
        if i % 2:
            trial.in_flight["files"] = ("line", text)
            client.write_file(trial.log, text + "\n", append=True)
            trial.lines.append(text)
        else:
            path = f"/t{trial.n}/w{i}.txt"
            trial.in_flight["files"] = ("file", path)
            info = client.write_file(path, text)
            trial.files[path] = (text, info.version, info.sha256)

    return step


def _rollbacks(trial: Trial, client: Client) -> Callable[[int], None]:
    """Directory a/b/c in state A; then, over and over: b/c/d rewritten (state B, three changes) and the
    directory rolled back to A (one change that must restore all four files, or none)."""
    d = trial.directory

    def step(i: int) -> None:
        if i == 0:
            for name in "abc":
                trial.state_a = client.write_file(f"{d}/{name}.txt", f"state A of {name} in trial {trial.n}").change_id
            return
        for name in "bcd":
            client.write_file(f"{d}/{name}.txt", f"state B{i} of {name}")
        trial.in_flight["rollbacks"] = True
        trial.rollbacks.append(client.rollback(d, change_id=trial.state_a).change_id)

    return step


def run_trial(daemon: Daemon, token: str, trial: Trial, rng: random.Random) -> None:
    """Stream writes from three clients; SIGKILL the kernel once a random number of them were acknowledged."""
    clients = [Client(daemon.target, token) for _ in range(3)]
    steps = {"notes": _notes(trial, clients[0], random.Random(rng.random())),
             "files": _files(trial, clients[1], random.Random(rng.random())),
             "rollbacks": _rollbacks(trial, clients[2])}  # fmt: skip
    threads = [threading.Thread(target=_stream, args=(trial, name, client, step), daemon=True)
               for (name, step), client in zip(steps.items(), clients, strict=True)]  # fmt: skip
    kill_after = rng.randint(3, 40)
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while trial.acks() < kill_after and not trial.errors:
        assert time.time() < deadline, f"trial {trial.n}: only {trial.acks()} writes acknowledged in 60 s"
        time.sleep(0.005)
    trial.killed_at = time.time()
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    for t in threads:
        t.join(60)
    early = [e for at, e in trial.errors if at < trial.killed_at]
    assert not early, f"trial {trial.n}: a write failed before the kill: {early}"


def poll(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while not check():
        if time.time() > deadline:
            raise AssertionError(f"{what} within {timeout_s:.0f} s")
        time.sleep(0.2)


def verify(agent: Client, trial: Trial, *, search: bool = True) -> dict[str, int]:
    """Count what the restarted kernel lost or doubled of the trial's acknowledged writes; check it can find them."""
    count = {"notes": len(trial.notes), "files": len(trial.files), "appends": len(trial.lines),
             "rollbacks": len(trial.rollbacks), "lost": 0, "duplicated": 0, "in_flight_kept": 0}  # fmt: skip
    notes, _ = agent.graph(limit=2000, include_archived=True)
    stored = Counter(n.content for n in notes)
    ids = {n.content: n.id for n in notes}
    for content, note_id in trial.notes.items():
        count["lost"] += stored[content] == 0 or ids[content] != note_id
        count["duplicated"] += stored[content] > 1
    pending = trial.in_flight.get("notes", [])
    landed = [stored[c] for c in pending if c not in trial.notes]
    assert landed in ([], [0] * len(landed), [1] * len(landed)), f"a batch landed in part or twice: {landed}"
    count["in_flight_kept"] += bool(landed and landed[0])

    for path, (_, version, sha) in trial.files.items():
        try:
            count["lost"] += agent.stat(path, version=version).sha256 != sha
            count["duplicated"] += len(agent.file_history(path)) != 1
        except NotFound:
            count["lost"] += 1
    kind, pending_file = trial.in_flight.get("files", ("", ""))
    if kind == "file" and pending_file not in trial.files:
        try:
            count["duplicated"] += len(agent.file_history(pending_file)) != 1
            count["in_flight_kept"] += 1
        except NotFound:
            pass
    if trial.lines or kind == "line":
        try:
            lines = Counter(agent.read_file(trial.log).decode().splitlines())
        except NotFound:  # right only when its first append was in flight and did not land; else counted lost below
            lines = Counter()
        count["lost"] += sum(lines[text] == 0 for text in trial.lines)
        count["duplicated"] += sum(n > 1 for n in lines.values())
        allowed = {*trial.lines, pending_file} if kind == "line" else set(trial.lines)
        assert set(lines) <= allowed, f"lines nobody appended: {set(lines) - allowed}"
        if lines:
            assert len(agent.file_history(trial.log, limit=10_000)) == sum(lines.values()), "one version per append"
        count["in_flight_kept"] += kind == "line" and pending_file not in trial.lines and lines[pending_file] == 1

    count["lost"] += _verify_rollbacks(agent, trial, count)
    if search:
        _verify_findable(agent, trial)
    return count


def _verify_rollbacks(agent: Client, trial: Trial, count: dict[str, int]) -> int:
    """Replay the directory's history: right after every rollback it is exactly as after the change it names,
    every acknowledged rollback is in it, and what it holds now is what the history says."""
    if not trial.state_a:
        return 0
    history = sorted(agent.file_history(trial.directory, limit=10_000), key=lambda c: c.change_id)
    state: dict[str, str] = {}
    after: dict[int, dict[str, str]] = {}
    for change in history:
        for v in change.files:
            if v.deleted:
                state.pop(v.path, None)
            elif v.sha256:
                state[v.path] = v.sha256
        after[change.change_id] = dict(state)
    done = [c.change_id for c in history if c.op == "rollback"]
    for change_id in done:
        assert after[change_id] == after[trial.state_a], f"rollback {change_id} was not all or nothing"
    extra = len(done) - len(trial.rollbacks)
    assert extra in ((0, 1) if trial.in_flight.get("rollbacks") else (0,)), f"{extra} rollbacks nobody asked for"
    count["in_flight_kept"] += extra
    now = {f.path: f.sha256 for f in agent.list_files(trial.directory, recursive=True) if not f.is_dir}
    assert now == state, "the directory is not what its history says"
    return len(set(trial.rollbacks) - set(done))


def _verify_findable(agent: Client, trial: Trial) -> None:
    for content, note_id in trial.notes.items():
        poll(lambda c=content, i=note_id: i in {h.note.id for h in agent.search(c, k=10)},
              f"note {content!r} not found by search")  # fmt: skip
    wait_idle(agent)
    findable = {path: content for path, (content, _, _) in trial.files.items()}
    if trial.lines:
        findable[trial.log] = trial.lines[-1]
    for path, content in findable.items():  # the log holds many lines: its code word picks it out
        code = content.rsplit(" ", 1)[1]
        poll(lambda p=path, c=content, w=code: p in {h.file.path for h in agent.retrieve(c, k=3, keywords=[w])},
              f"{path} not found by retrieve")  # fmt: skip
