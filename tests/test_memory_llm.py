"""Links judged by the LLM and the neighbour evolution it proposes (aios/memory/linking.py), after the write, in
the background class. The real SmolLM2 model through the kernel's scheduler; a scripted fake only for the
state machine (bad replies fall back to the similarity decision; LLM evolution is undone like any other), with the
service built on the storage fixture (no kernel)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.memory import MemoryService, NewNote, NoteUpdate
from aios.memory.grounding import Grounding
from aios.memory.linking import LLM_REASON_PREFIX, link_schema, parse_links
from tests.conftest import Storage

OLD = "Our staging database runs PostgreSQL 15 on port 5432."
NEW = "The staging database PostgreSQL server was upgraded to version 16 last night."
UNRELATED = "My dentist appointment is on the 14th at noon."


@pytest.fixture
def memory(storage: Storage) -> Iterator[MemoryService]:
    service = MemoryService(storage.engine, storage.embedder, storage.vectors, agents=storage.agents)
    yield service
    service.stop_enrichment()
    service.close()


def _wait(memory: MemoryService, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while memory.enrichment_backlog() and time.time() < deadline:
        time.sleep(0.1)
    assert memory.enrichment_backlog() == 0, "the background LLM step did not finish"


def _note(content: str) -> NewNote:
    """Given keywords: a note written before the model is on (its tags and context stay free to evolve)."""
    return NewNote(content, keywords=["staging database", "postgresql"] if "PostgreSQL" in content else ["dentist"])


def _judged(content: str) -> NewNote:
    """Every enrichment field given: nothing to enrich, so the only LLM work is the link judgement."""
    note = _note(content)
    return NewNote(content, keywords=note.keywords, context=content, tags=["db"])


def test_link_reply_parsing_is_validated() -> None:
    good = parse_links(json.dumps({"related": [
        {"candidate": 2, "reason": " Same  database. ", "tags": ["Ops Team", "ops-team", "db"], "context": "The "
         "staging database was upgraded."},
        {"candidate": 2, "reason": "duplicate", "tags": [], "context": ""},
        {"candidate": 1, "reason": "also related", "tags": [], "context": "short"},
    ]}), 2)  # fmt: skip
    assert good is not None and [j.candidate for j in good] == [1, 0]
    assert good[0].reason == "Same database" and good[0].tags == ["ops-team", "db"]
    assert good[0].context == "The staging database was upgraded." and good[1].context is None
    assert parse_links('{"related": []}', 3) == []  # the model may judge nothing related
    bad_replies = [
        "not json",
        "[]",
        '{"links": []}',
        '{"related": [{"candidate": 3, "reason": "out of range", "tags": [], "context": ""}]}',
        '{"related": [{"candidate": true, "reason": "a boolean", "tags": [], "context": ""}]}',
        '{"related": [{"candidate": 1, "reason": "", "tags": [], "context": ""}]}',
        '{"related": ["1"]}',
    ]
    for bad in bad_replies:
        assert parse_links(bad, 2) is None, bad
    schema = link_schema(3)["properties"]["related"]
    assert schema["maxItems"] == 3 and schema["items"]["properties"]["candidate"]["enum"] == [1, 2, 3]


class ScriptedLLM:
    """Replies in order; records the prompts it saw."""

    available = True

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.prompts, self.kw = list(replies), [], []

    def chat(self, agent_id: str, messages: list[Any], params: Any, **kw: Any) -> Any:
        self.prompts.append(messages[-1].content)
        self.kw.append((params, kw))
        return SimpleNamespace(text=self.replies.pop(0), finish_reason="stop")


def test_llm_links_replace_similarity_links_and_evolution_undoes(memory: MemoryService, storage: Storage) -> None:
    a = storage.new_agent("judged")
    old, unrelated = memory.add(a, [_note(OLD), _note(UNRELATED)])
    llm = ScriptedLLM([json.dumps({"related": [{"candidate": 1, "reason": "both about the staging database",
                                                "tags": ["upgrade"], "context": "The staging database, now on "
                                                "PostgreSQL 16."}]})])  # fmt: skip
    memory.start_enrichment(llm)
    (new,) = memory.add(a, [_judged(NEW)])
    _, links = memory.neighbours(a, new.id)
    assert [x.reason.split(" ")[0] for x in links] == ["cosine"]  # provisional, until the LLM has judged
    assert memory.get(a, old.id).version == 1  # evolution waits for the judgement too
    _wait(memory)

    (prompt,) = llm.prompts
    assert "1. " + OLD in prompt and UNRELATED not in prompt and old.id not in prompt  # numbered, no ids
    params, kw = llm.kw[0]
    assert kw["job_class"].value == "background" and json.loads(params.json_schema) == link_schema(1)
    (link,) = memory.neighbours(a, new.id)[1]
    assert (link.to_id, link.kind, link.reason) == (old.id, "related", LLM_REASON_PREFIX + "both about the "
                                                   "staging database")  # fmt: skip
    evolved = memory.get(a, old.id)
    assert evolved.version == 2 and "upgrade" in evolved.tags  # grounded: the new note says "upgraded"
    assert evolved.context == old.context  # the proposal is further from the note than its own first sentence
    assert memory.history(a, old.id)[-1].cause == f"evolution:{new.id}"
    assert memory.undo_evolution(a, new.id) == 1
    reverted = memory.get(a, old.id)
    assert (reverted.tags, reverted.context, reverted.version) == (old.tags, old.context, 3)
    assert memory.get(a, unrelated.id).version == 1

    # A bad reply: the similarity decision stands and the neighbour evolves extractively.
    llm.replies = ['{"related": [{"candidate": 7, "reason": "no such candidate", "tags": [], "context": ""}]}']
    (again,) = memory.add(a, [_judged(NEW.replace("last night", "this morning"))])
    _wait(memory)
    reasons = {x.to_id: x.reason for x in memory.neighbours(a, again.id)[1] if x.from_id == again.id}
    assert reasons and all(r.startswith("cosine") for r in reasons.values()) and old.id in reasons
    assert memory.history(a, old.id)[-1].cause == f"evolution:{again.id}"


def test_llm_judges_links_with_the_real_model(sqlite_kernel: Kernel, embedder: Embedder) -> None:
    assert sqlite_kernel.llm.available, sqlite_kernel.llm.unavailable_reason
    memory = sqlite_kernel.memory
    a = sqlite_kernel.agents.create("smol-linker")[0].id
    old, _ = memory.add(a, [_note(OLD), _note(UNRELATED)])
    memory.start_enrichment(sqlite_kernel.llm)
    (new,) = memory.add(a, [_judged(NEW)])
    _wait(memory)
    events = [e for e in sqlite_kernel.llm.events() if e.agent_id == a]
    assert events and all(e.job_class == "background" for e in events)  # one judgement, in the background class
    (link,) = [x for x in memory.neighbours(a, new.id)[1] if x.from_id == new.id]
    assert link.to_id == old.id  # the upgrade is linked to the database note
    # The 135M model's reason (greedy, so always the same) is "20-Nov 3": a date and a number neither note
    # holds. Refused: the similarity link stands. Any reason it gives must be grounded in the two notes.
    offered = memory.enrichment_stats()["reason"]
    assert offered["offered"] == 1
    if link.reason.startswith(LLM_REASON_PREFIX):
        assert offered["accepted"] == 1 and Grounding(embedder.encode).reason(
            link.reason.removeprefix(LLM_REASON_PREFIX), OLD, NEW
        )
    else:
        assert offered["accepted"] == 0 and link.reason.startswith("cosine")
    history = memory.history(a, old.id)
    assert history[-1].cause == f"evolution:{new.id}" and memory.get(a, old.id).version == 2
    assert memory.undo_evolution(a, new.id) == 1
    assert memory.get(a, old.id).tags == old.tags and memory.get(a, old.id).context == old.context


class ModelStandIn:
    """Answers the two kinds of background request by their schema: enrichment replies in order, link
    judgements from `judge(n)` for the n candidates offered. With `gated`, an enrichment answer waits until
    the test opens the gate: the window in which a user edits a note whose enrichment is being computed."""

    available = True

    def __init__(self, enrich: list[str], judge: Any = None, gated: bool = False) -> None:
        self.enrich, self.judge = list(enrich), judge or (lambda n: '{"related": []}')
        self.prompts: list[str] = []  # enrichment prompts
        self.asked, self.gate = threading.Event(), threading.Event()
        if not gated:
            self.gate.set()

    def chat(self, agent_id: str, messages: list[Any], params: Any, **kw: Any) -> Any:
        schema = json.loads(params.json_schema)
        if "related" in schema["properties"]:
            n = schema["properties"]["related"]["maxItems"]
            return SimpleNamespace(text=self.judge(n), finish_reason="stop")
        self.prompts.append(messages[-1].content)
        self.asked.set()
        assert self.gate.wait(60)
        return SimpleNamespace(text=self.enrich.pop(0), finish_reason="stop")


def _relate_all(reason: str, tags: list[str], context: str) -> Any:
    """A link judgement that calls every candidate offered related, with this reason, tags and context."""
    item = {"reason": reason, "tags": tags, "context": context}
    return lambda n: json.dumps({"related": [{"candidate": i, **item} for i in range(1, n + 1)]})


def _enrichment(keywords: list[str], context: str, tags: list[str]) -> str:
    return json.dumps({"keywords": keywords, "context": context, "tags": tags})


ACME = "Pay the Acme invoice of 1,200 EUR by Friday; accounts payable needs the signed receipt."
ACME_CONTEXT = "Accounts payable: Acme invoice deadline"
# What the bundled model answered for a note like this one: a context that is one word, keywords not in it.
GARBAGE = _enrichment(["acme", "note", "note1234567890"], "date", ["awesome", "invoice"])


def test_enrichment_fills_only_what_the_user_left_empty_and_when_grounded(
    memory: MemoryService, storage: Storage
) -> None:
    a = storage.new_agent("acme-clerk")
    llm = ModelStandIn([GARBAGE, GARBAGE])
    memory.start_enrichment(llm)
    (mine, bare) = memory.add(a, [NewNote(ACME, context=ACME_CONTEXT), NewNote(ACME)])
    assert mine.user_fields == ["context"] and bare.user_fields == []
    _wait(memory)
    mine, bare = memory.get(a, mine.id), memory.get(a, bare.id)
    assert mine.context == ACME_CONTEXT  # the user's words stay
    for note in (mine, bare):
        assert note.context != "date"  # one word is further from the note than its first sentence
        assert "acme" in note.keywords and not {"note", "note1234567890"} & set(note.keywords)
        assert "invoice" in note.tags and "awesome" not in note.tags
        assert note.enrichment == "llm" and memory.history(a, note.id)[-1].cause == "enrichment:llm"
    assert bare.context == "Pay the Acme invoice of 1,200 EUR by Friday; accounts payable needs the signed receipt."
    stats = memory.enrichment_stats()
    assert stats["keywords"] == {"offered": 6, "accepted": 2} and stats["context"] == {"offered": 1, "accepted": 0}

    # Nothing grounded: the note keeps its extractive enrichment, no new version, and says so.
    llm.enrich = [_enrichment(["tuesday meeting"], "A note", ["awesome"])]
    (third,) = memory.add(a, [NewNote("Water the ferns on the balcony every other day.")])
    _wait(memory)
    third = memory.get(a, third.id)
    assert third.enrichment == "llm_rejected" and third.version == 1


def test_a_user_edit_wins_over_a_pending_enrichment(memory: MemoryService, storage: Storage) -> None:
    a = storage.new_agent("racer")
    proposal = _enrichment(["acme invoice", "receipt"], "Acme invoice of 1,200 EUR due by Friday.", ["receipt"])
    llm = ModelStandIn([proposal], gated=True)
    memory.start_enrichment(llm)
    (note,) = memory.add(a, [NewNote(ACME)])
    assert llm.asked.wait(60)  # the model is answering now
    edited = memory.update(a, note.id, NoteUpdate(context=ACME_CONTEXT, keywords=["acme", "payable"]))
    llm.gate.set()
    _wait(memory)
    final = memory.get(a, note.id)
    assert (final.context, final.keywords) == (ACME_CONTEXT, ["acme", "payable"])  # no lost update
    assert set(final.user_fields) == {"context", "keywords"} and "receipt" in final.tags  # tags were free
    assert [v.cause for v in memory.history(a, note.id)] == ["created", "update", "enrichment:llm"]
    assert final.version == edited.version + 1

    # The content itself edited while the model reads the old text: the model is asked about the new text.
    later = ModelStandIn([proposal, _enrichment(["standup"], "Standup", ["work"])], gated=True)
    memory.stop_enrichment()
    memory.start_enrichment(later)
    (other,) = memory.add(a, [NewNote(ACME)])
    assert later.asked.wait(60)
    memory.update(a, other.id, NoteUpdate(content="Standup moved to 10:00 in room Orion."))
    later.gate.set()
    _wait(memory)
    assert len(later.prompts) == 2 and "Orion" in later.prompts[1]
    assert "receipt" not in memory.get(a, other.id).keywords  # nothing proposed for the old text landed


def test_kernel_jobs_never_touch_tags_or_contexts_the_user_set(memory: MemoryService, storage: Storage) -> None:
    a = storage.new_agent("tagger")
    old, free = memory.add(a, [NewNote(OLD, keywords=_note(OLD).keywords, tags=["ops"], context="Staging DB facts"),
                               _note(OLD.replace("Our", "The"))])  # fmt: skip
    # Extractive evolution (no model): the free neighbour gains the shared keywords, the tagged one does not.
    (new,) = memory.add(a, [_note(NEW)])
    assert memory.get(a, old.id).version == 1 and memory.get(a, free.id).version == 2
    # The model's judgement proposes tags and contexts for both; only the free one may take them.
    llm = ModelStandIn(
        [],
        judge=_relate_all(
            "both about the staging database",
            ["upgrade"],
            "The staging database PostgreSQL was upgraded to version 16.",
        ),
    )
    memory.start_enrichment(llm)
    (newer,) = memory.add(a, [_judged(NEW.replace("last night", "on Sunday"))])
    _wait(memory)
    kept = memory.get(a, old.id)
    assert (kept.tags, kept.context, kept.version) == (["ops"], "Staging DB facts", 1)
    assert "upgrade" in memory.get(a, free.id).tags
    assert memory.history(a, free.id)[-1].cause == f"evolution:{newer.id}"


def test_link_reasons_that_cite_what_neither_note_says_are_refused(memory: MemoryService, storage: Storage) -> None:
    a = storage.new_agent("cited")
    (old,) = memory.add(a, [_note(OLD)])
    llm = ModelStandIn([], judge=_relate_all("PostgreSQL 20 released on 20-Nov", [], ""))
    memory.start_enrichment(llm)
    (new,) = memory.add(a, [_judged(NEW)])
    _wait(memory)
    (link,) = [x for x in memory.neighbours(a, new.id)[1] if x.from_id == new.id]
    assert link.to_id == old.id and link.reason.startswith("cosine")  # the similarity link stands
    reasons = memory.enrichment_stats()["reason"]
    assert reasons["offered"] >= 1 and reasons["accepted"] == 0
