"""Weights from flash: a resident budget over the memory-mapped model, with eviction and prefetch.

The model is copied to a private file first: pages another process maps too (another kernel using the
packaged model) cannot be paged out, which would make the test measure nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aios.llm.flash import parse_budget, process_memory
from aios.llm.kvcache import KVStore
from aios.llm.local import LlamaCppBackend, default_model_path
from aios.llm.types import SamplingParams

PROMPT = "<|im_start|>user\nName three rivers.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def private_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.gguf"
    shutil.copyfile(default_model_path(), path)
    return path


def _generate(backend: LlamaCppBackend, n: int = 16) -> list[int]:
    sampler = backend.new_sampler(SamplingParams(temperature=0.0))
    prompt = backend.tokenize(PROMPT)
    backend.prepare("s", prompt)
    backend.feed({"s": prompt[-1]})
    out = []
    for _ in range(n):
        token = backend.sample("s", sampler)
        out.append(token)
        backend.feed({"s": token})
    return out


@pytest.mark.parametrize("prefetch", [True, False])
def test_budget_evicts_ffn_and_output_is_unchanged(private_model: Path, prefetch: bool) -> None:
    full = LlamaCppBackend(private_model, 512, 1, KVStore(1 << 30, None, 0))
    expected = _generate(full)
    full.close()

    with open(private_model, "rb") as f:  # a cache warmed by large reads (large folios), as after a copy
        while f.read(1 << 22):
            pass
    budgeted = LlamaCppBackend(private_model, 512, 1, KVStore(1 << 30, None, 0), resident_budget="50%",
                               prefetch=prefetch)  # fmt: skip
    stats = budgeted.residency.stats
    assert stats.budget_bytes == private_model.stat().st_size // 2
    assert stats.pinned_bytes <= stats.budget_bytes < stats.pinned_bytes + stats.streamed_bytes
    assert stats.streamed_layers and budgeted.residency.resident_fraction() < 0.2  # evicted after load
    before = process_memory()
    assert _generate(budgeted) == expected  # streaming weights changes speed, never the result
    after = process_memory()
    # Every pass reads the streamed weights back from storage (16 passes; boundary pages may stay cached).
    assert after.read_bytes - before.read_bytes >= 16 * stats.streamed_bytes * 0.9
    assert budgeted.residency.resident_fraction() < 0.2  # and evicted again after each pass
    assert stats.evictions > 16 and (stats.prefetches > 16) == prefetch
    budgeted.close()


def test_parse_budget() -> None:
    assert parse_budget("50%", 1000) == 500
    assert parse_budget("100%", 1000) is None and parse_budget("", 1000) is None
    assert parse_budget("64MB", 1) == 64_000_000 and parse_budget("1MiB", 1) == 1 << 20
    for bad in ["lots", "0%", "150%"]:
        with pytest.raises(ValueError):
            parse_budget(bad, 1000)


def test_tensor_table_matches_the_gguf_reader(private_model: Path) -> None:
    from gguf import GGUFReader

    from aios.llm.flash import tensor_table

    ours = {name: (offset, size) for offset, size, name in tensor_table(private_model)}
    reader = GGUFReader(str(private_model))
    theirs = {t.name: (int(t.data_offset), int(t.n_bytes)) for t in reader.tensors}
    assert ours.keys() == theirs.keys()
    for name, (offset, n_bytes) in theirs.items():
        assert ours[name][0] == offset and n_bytes <= ours[name][1] < n_bytes + 64  # padding only
