"""Agentic memory: enrichment, links and evolution (with undo), hybrid search signals and filters,
sharing, versions, and the forgetting curve with an injected clock. Real SQLite/PostgreSQL, real Chroma,
the real embedding model; the service built on the storage fixture (no kernel), the SDK test through a kernel.
tests/test_memory_parts.py tests its parts alone (enrichment parsing, the retention curve, the decay job ...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from aios.kernel import Kernel
from aios.memory import ForgettingConfig, MemoryService, NewNote, NoteUpdate, SearchFilters, retention
from tests.conftest import Storage

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(any_storage: Storage) -> Iterator[tuple[MemoryService, Clock, Storage]]:
    """A memory service on each storage mode, whose clock the test moves."""
    clock = Clock()
    s = any_storage
    service = MemoryService(s.engine, s.embedder, s.vectors, s.config.limits, clock, agents=s.agents)
    yield service, clock, s
    service.stop_enrichment()
    service.close()


def _agent(storage: Storage, name: str) -> str:
    return storage.new_agent(name)


def test_add_enriches_links_and_evolves(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, clock, storage = clocked
    a = _agent(storage, "zettel")
    (plain,) = memory.add(a, [NewNote("Our staging database runs PostgreSQL 15 on port 5432.")])
    assert plain.keywords and plain.context and plain.tags and plain.enrichment == "extractive"
    memory.delete(a, plain.id)
    # Keywords given, tags left to the kernel: a new neighbour may evolve them (a user's own tags it never does).
    (old,) = memory.add(a, [NewNote("Our staging database runs PostgreSQL 15 on port 5432.",
                                    keywords=["staging database", "postgresql"])])  # fmt: skip
    clock.now += 60
    (new,) = memory.add(a, [NewNote("The staging database PostgreSQL server was upgraded to version 16.",
                                    keywords=["staging database", "upgrade"])])  # fmt: skip
    neighbours, links = memory.neighbours(a, new.id)
    assert [n.id for n in neighbours] == [old.id]
    (link,) = links
    assert (link.from_id, link.to_id) == (new.id, old.id) and "cosine" in link.reason and link.weight >= 0.6
    evolved = memory.get(a, old.id)
    assert evolved.version == 2 and set(evolved.tags) > set(old.tags)
    history = memory.history(a, old.id)
    assert [v.cause for v in history] == ["created", f"evolution:{new.id}"]

    assert memory.undo_evolution(a, new.id) == 1
    reverted = memory.get(a, old.id)
    assert reverted.tags == old.tags and reverted.version == 3
    assert memory.history(a, old.id)[-1].cause == f"undo evolution:{new.id}"
    with pytest.raises(NotFound):
        memory.undo_evolution(a, "0" * 32)


def test_hybrid_search_signals_filters_and_links(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, clock, storage = clocked
    a = _agent(storage, "searcher")
    notes = memory.add(a, [
        NewNote("Invoice INV-20931 was paid on March 3rd.", tags=["billing"], category="finance"),
        NewNote("The cat knocked the vase off the shelf.", tags=["home"], category="life",
                event_at=clock.now - 30 * DAY),
        NewNote("Quarterly revenue grew by twelve percent.", tags=["billing", "report"], category="finance"),
    ])  # fmt: skip
    hits = memory.search(a, "INV-20931", k=3)
    assert hits[0].note.id == notes[0].id
    assert "lexical" in hits[0].signals and "dense" in hits[0].signals and "retention" in hits[0].signals
    assert [h.note.id for h in memory.search(a, "money", k=5, filters=SearchFilters(category="life"))] == [notes[1].id]
    tagged = memory.search(a, "numbers", k=5, filters=SearchFilters(tags=["report"]))
    assert [h.note.id for h in tagged] == [notes[2].id]
    recent = memory.search(a, "vase", k=5, filters=SearchFilters(event_after=clock.now - DAY))
    assert notes[1].id not in [h.note.id for h in recent]

    memory.link(a, notes[0].id, notes[1].id, kind="see-also", reason="test", weight=0.9)
    expanded = memory.search(a, "INV-20931 paid", k=1, expand_links=True)
    linked = [h for h in expanded if h.note.id == notes[1].id]
    assert linked and linked[0].signals.get("link") == 0.9
    with pytest.raises(InvalidArgument):
        memory.search(a, "x", filters=SearchFilters(scope="everyone"))


def test_sharing_is_read_only_and_explicit(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, _, storage = clocked
    a, b, c = _agent(storage, "owner"), _agent(storage, "friend"), _agent(storage, "stranger")
    (note,) = memory.add(a, [NewNote("The wifi password is hunter2-lighthouse.", share_with=[b])])
    assert memory.get(a, note.id).shared_with == [b]
    assert memory.get(b, note.id).content == note.content
    assert [h.note.id for h in memory.search(b, "wifi password", k=3)] == [note.id]
    assert memory.search(b, "wifi password", k=3, filters=SearchFilters(scope="own")) == []
    for call in (lambda: memory.get(c, note.id), lambda: memory.history(c, note.id)):
        with pytest.raises(NotFound):
            call()
    assert memory.search(c, "wifi password lighthouse", k=3) == []
    with pytest.raises(PermissionDenied):
        memory.update(b, note.id, NoteUpdate(content="changed"))
    with pytest.raises(PermissionDenied):
        memory.delete(b, note.id)
    memory.share(a, note.id, [b], share=False)
    with pytest.raises(NotFound):
        memory.get(b, note.id)
    # An id no agent has is accepted (refusing it would tell which ids are agents') and reaches nobody.
    (unknown,) = memory.add(a, [NewNote("x", share_with=["f" * 32])])
    assert memory.get(a, unknown.id).shared_with == ["f" * 32]
    with pytest.raises(InvalidArgument):
        memory.add(a, [NewNote("x", share_with=["nobody"])])  # not the form of an agent id


def test_updates_are_versions_with_optimistic_concurrency(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, _, storage = clocked
    a = _agent(storage, "editor")
    (note,) = memory.add(a, [NewNote("Meeting with Dana on Tuesday.")])
    updated = memory.update(a, note.id, NoteUpdate(content="Meeting with Dana moved to Thursday.", expected_version=1))
    assert updated.version == 2
    assert memory.search(a, "Thursday meeting", k=1)[0].note.id == note.id  # re-embedded and re-indexed
    with pytest.raises(FailedPrecondition):
        memory.update(a, note.id, NoteUpdate(context="stale", expected_version=1))
    assert [v.content for v in memory.history(a, note.id)] == [note.content, updated.content]
    with pytest.raises(InvalidArgument):
        memory.update(a, note.id, NoteUpdate(importance=2.0))


def test_forgetting_curve_archives_and_nothing_is_lost(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, clock, storage = clocked
    a = _agent(storage, "forgetful")
    recalled, ignored, pinned, important = memory.add(a, [
        NewNote("Alpha project kickoff notes"), NewNote("Beta lunch order"), NewNote("Gamma API key location",
        pinned=True), NewNote("Delta wedding anniversary date", importance=1.0),
    ])  # fmt: skip
    for day in (1, 3, 7):
        clock.now = recalled.created_at + day * DAY
        assert memory.search(a, "Alpha project kickoff", k=1)[0].note.id == recalled.id
    memory.flush_recalls()
    assert memory.get(a, recalled.id).strength_s > ignored.strength_s
    clock.now = recalled.created_at + 14 * DAY
    assert memory.decay(a) == 1  # only the ignored note faded below the threshold
    assert memory.get(a, ignored.id).archived_at is not None
    assert ignored.id not in [h.note.id for h in memory.search(a, "Beta lunch order", k=5)]
    found = memory.search(a, "Beta lunch order", k=5, filters=SearchFilters(include_archived=True))
    assert found[0].note.id == ignored.id
    assert memory.count(a) == 4  # archived, not deleted
    restored = memory.set_flags(a, ignored.id, archived=False)
    assert restored.archived_at is None and restored.retention == pytest.approx(1.0)
    clock.now += 365 * DAY
    memory.decay(a)
    assert memory.get(a, pinned.id).archived_at is None and memory.get(a, pinned.id).retention == 1.0
    assert memory.count(a) == 4 and memory.stats(a).archived == 3


def test_flush_recalls_writes_each_note_its_own_count(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, clock, storage = clocked
    a = _agent(storage, "recaller")
    twice, once = memory.add(a, [NewNote("Orion standup moved to room nine"), NewNote("Vega invoice paid in June")])
    clock.now += DAY
    for query in ("Orion standup room", "Orion standup"):
        assert memory.search(a, query, k=1)[0].note.id == twice.id
    clock.now += DAY
    assert memory.search(a, "Vega invoice", k=1)[0].note.id == once.id
    assert memory.flush_recalls() == 2
    got = {n.id: n for n in memory.get_many(a, [twice.id, once.id])}
    assert (got[twice.id].access_count, got[once.id].access_count) == (2, 1)
    assert got[twice.id].last_accessed == twice.created_at + DAY
    assert got[once.id].last_accessed == once.created_at + 2 * DAY
    assert got[twice.id].strength_s > got[once.id].strength_s > once.strength_s


def test_nothing_is_lost_by_archiving(clocked) -> None:  # type: ignore[no-untyped-def]
    """Decay archives exactly the notes whose retention fell below the threshold and deletes nothing: every
    note stays readable, searchable with include_archived, and restorable."""
    memory, clock, storage = clocked
    a = _agent(storage, "forgetful")
    ages = [0.0, 1.0, 5.0, 12.0, 30.0, 90.0, 400.0]  # days since each note was written (never recalled)
    today = clock.now
    written = {}
    for age in ages:
        clock.now = today - age * DAY
        (note,) = memory.add(a, [NewNote(f"Fact number {int(age)}: the cellar keeps {int(age)} bottles of wine.")])
        written[note.id] = note
    clock.now = today
    expected = {i for i, n in written.items()
                if retention(today - n.last_accessed, n.strength_s) < ForgettingConfig().archive_below}  # fmt: skip
    assert expected and expected != set(written)  # the ages straddle the threshold
    assert memory.decay(a) == len(expected)
    after = {n.id: n for n in memory.get_many(a, list(written))}
    assert set(after) == set(written)  # nothing deleted
    assert {i for i, n in after.items() if n.archived_at is not None} == expected
    hits = memory.search(a, "bottles of wine in the cellar", k=20, filters=SearchFilters(include_archived=True))
    assert {h.note.id for h in hits} == set(written)
    for note_id in expected:
        assert memory.set_flags(a, note_id, archived=False).archived_at is None
    assert memory.count(a) == len(written)


def test_kernel_memory_over_the_sdk(kernel: Kernel, tmp_path: Path) -> None:
    from aios import errors
    from aios.client import Client

    with Client(kernel.target, kernel.admin_token) as admin:
        a, b = admin.create_agent("sdk-a"), admin.create_agent("sdk-b")
    with Client(kernel.target, a.token) as alice, Client(kernel.target, b.token) as bob:
        first = alice.add_note("Standup is at 9:30 in room Orion.", tags=["work"], importance=0.5)
        second = alice.add_note("Room Orion standup moved to 10:00.", share_with=[b.agent.id])
        hits = alice.search("when is standup", k=2, expand_links=True)
        assert {h.note.id for h in hits} == {first.id, second.id} and all(h.signals for h in hits)
        assert bob.search("standup time", k=5)[0].note.id == second.id
        assert alice.neighbours(second.id)[1][0].to_id == first.id
        assert alice.history(first.id)[0].cause == "created"
        assert alice.update_note(first.id, context="daily standup", expected_version=alice.get_note(first.id).version)
        assert alice.archive_note(first.id).archived_at is not None
        assert alice.restore_note(first.id).archived_at is None
        assert alice.pin_note(first.id).pinned
        assert alice.link_notes(first.id, second.id, kind="update-of").kind == "update-of"
        alice.unlink_notes(first.id, second.id)
        assert alice.run_decay() == 0
        alice.pin_note(first.id, False)  # pinned notes are never consolidated
        report = alice.consolidate(min_age_s=0, min_group=2)
        assert report.groups == 1 and report.archived == 2 and report.profile_id
        assert alice.memory_stats().notes == 2  # the summary and the profile; the sources are archived
        with pytest.raises(errors.PermissionDenied):
            bob.update_note(second.id, content="mine now")
        with pytest.raises(errors.NotFound):
            bob.get_note(first.id)


def test_enrichment_state_machine_with_a_fake_llm(clocked) -> None:  # type: ignore[no-untyped-def]
    """Only the state machine: pending -> llm (valid JSON) / llm_failed (invalid) / pending (model gone).
    Replies depend on the note asked about: the enrichment workers take notes in any order."""
    import time as _time
    from types import SimpleNamespace

    memory, _, storage = clocked
    replies = {"espresso": '{"keywords": ["Espresso", "lunar rover"], "context": "About coffee.", "tags": ["x"]}',
               "x y z": "garbage"}  # fmt: skip

    class FakeLLM:
        available = True

        def chat(self, agent_id, messages, params, **kw):  # type: ignore[no-untyped-def]
            for key, reply in replies.items():
                if key in messages[-1].content:
                    return SimpleNamespace(text=reply, finish_reason="stop")
            raise RuntimeError("model gone")

    memory.start_enrichment(FakeLLM())
    a = _agent(storage, "enriched")
    good, bad, later = memory.add(a, [NewNote("I drink espresso daily."), NewNote("x y z"), NewNote("later")])
    assert good.enrichment == "llm_pending"
    deadline = _time.time() + 20
    while memory.enrichment_backlog() and _time.time() < deadline:
        _time.sleep(0.05)
    memory.stop_enrichment()
    got = memory.get(a, good.id)
    # Grounded keywords only ("lunar rover" is not in the note, nor close to it); the one-word context is
    # further from the note than its own sentence, so the extractive context stays.
    assert got.enrichment == "llm" and got.keywords[0] == "espresso" and "lunar rover" not in got.keywords
    assert got.context == good.context
    assert memory.history(a, good.id)[-1].cause == "enrichment:llm"
    assert memory.get(a, bad.id).enrichment == "llm_failed" and memory.get(a, bad.id).version == 1
    assert memory.get(a, later.id).enrichment == "llm_pending"  # picked up again at the next start


def test_link_judgements_wait_in_a_queue_that_survives_a_restart(clocked) -> None:  # type: ignore[no-untyped-def]
    """A note's LLM link judgement is queued with the note; while the model cannot be asked it stays queued
    (the provisional similarity links stand), and the next start judges it."""
    import time as _time
    from types import SimpleNamespace

    import sqlalchemy as sa

    from aios.memory._schema import note_link_queue

    memory, _, storage = clocked
    a = _agent(storage, "linker")
    first = memory.add(a, [NewNote("I drink a double espresso every morning before work.", keywords=["espresso"])])

    class Gone:
        available = True

        def chat(self, agent_id, messages, params, **kw):  # type: ignore[no-untyped-def]
            raise RuntimeError("model gone")

    class Judge:
        available = True

        def chat(self, agent_id, messages, params, **kw):  # type: ignore[no-untyped-def]
            reply = ('{"related": [{"candidate": 1, "reason": "both about the morning espresso", "tags": ["coffee"], '
                     '"context": "The morning espresso habit before work."}]}')  # fmt: skip
            return SimpleNamespace(text=reply, finish_reason="stop")

    def queued() -> set[str]:
        with storage.engine.connect() as conn:
            return set(conn.execute(sa.select(note_link_queue.c.note_id)).scalars())

    def drain() -> None:
        deadline = _time.time() + 20
        while memory.enrichment_backlog() and _time.time() < deadline:
            _time.sleep(0.05)

    memory.start_enrichment(Gone())
    (second,) = memory.add(a, [NewNote("Every morning I have a double espresso.", keywords=["espresso"])])
    drain()
    memory.stop_enrichment()  # the kernel stops (or dies) with the judgement not made
    assert queued() == {second.id}
    _, links = memory.neighbours(a, second.id)
    assert [x.reason.startswith("cosine") for x in links if x.to_id == first[0].id] == [True]  # provisional

    memory.start_enrichment(Judge())  # the next start
    drain()
    memory.stop_enrichment()
    assert queued() == set()
    _, links = memory.neighbours(a, second.id)
    assert [x.reason for x in links if x.to_id == first[0].id] == ["llm: both about the morning espresso"]
    # The proposed context is further from the note than the note's own sentence: not taken (grounding).
    assert memory.get(a, first[0].id).context == first[0].context


def test_consolidation_summarises_old_related_notes_and_keeps_a_profile(clocked) -> None:  # type: ignore[no-untyped-def]
    memory, clock, storage = clocked
    a = _agent(storage, "traveller")
    trip = memory.add(a, [
        NewNote("Booked the flight to Paris for the May trip."),
        NewNote("The Paris trip hotel is near the Louvre, booked for May."),
        NewNote("For the Paris trip in May we reserved a dinner cruise on the Seine."),
        NewNote("Paris trip budget for May: 1800 euros including the hotel and flight."),
    ])  # fmt: skip
    other = memory.add(a, [NewNote("My dentist appointment is on the 14th.", importance=1.0)])
    assert memory.consolidate(a).groups == 0  # nothing is old or fading yet
    clock.now += 10 * DAY
    report = memory.consolidate(a)
    assert report.groups == 1 and report.archived == 4 and len(report.summaries) == 1
    summary = memory.get(a, report.summaries[0])
    assert summary.category == "summary" and "Paris" in summary.content
    _, links = memory.neighbours(a, summary.id)
    assert {x.to_id for x in links if x.kind == "summarizes"} == {n.id for n in trip}
    assert all(memory.get(a, n.id).archived_at is not None for n in trip)  # archived, not lost
    assert memory.get(a, other[0].id).archived_at is None
    profile = memory.get(a, report.profile_id)
    assert profile.category == "profile" and profile.pinned and "traveller" in profile.content
    hits = memory.search(a, "how much is the Paris budget", k=1)
    assert hits[0].note.id == summary.id  # the summary stands in for its archived sources
    again = memory.consolidate(a)
    assert again.groups == 0 and again.profile_id == report.profile_id
