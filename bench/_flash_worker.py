"""Flash benchmark, the worker: one configuration in a fresh process (`bench/flash.py --worker CFG`) loads the
model under a resident budget, prefills a prompt and decodes greedy tokens, timing each step and sampling its
memory; it prints its figures after RESULT_MARK (bench/flash.py)."""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from _common import machine_busy_s, read_text, self_cpu_s
from _flash_disk import MADV_RANDOM, cached_fraction, drop_from_cache, libc

N_CTX = 512
N_THREADS = 1
PROMPT = "<|im_start|>user\nName three rivers and say one thing about each.<|im_end|>\n<|im_start|>assistant\n"
RESULT_MARK = "@@flash-result@@ "


class AnonSampler:
    """Track the peak RssAnon from a thread polling /proc/self/status every few ms (there is no VmHWM for
    anonymous memory alone). Python code holding the GIL still lets it in every switch interval (5 ms)."""

    def __init__(self, interval_s: float = 0.004) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        match = re.search(r"^RssAnon:\s+(\d+) kB", read_text("/proc/self/status"), re.M)
        value = int(match.group(1)) * 1024 if match else 0
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> AnonSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Load the model under cfg's budget, prefill the prompt, decode cfg['tokens'] greedy tokens."""
    import aios.llm.flash as flash
    from aios.llm.flash import process_memory

    def mem() -> dict[str, int]:
        m = process_memory()
        return {"rss_anon": m.rss_anon, "rss_file": m.rss_file, "peak_rss": m.peak_rss,
                "read_bytes": m.read_bytes, "major_faults": m.major_faults}  # fmt: skip

    model = Path(cfg["model"])
    out: dict[str, Any] = {"config": cfg, "load_before": os.getloadavg()}
    out["mem_start"] = mem()
    if cfg.get("drop_cache"):
        drop_from_cache(model)
    out["cached_before_load"] = round(cached_fraction(model), 4)

    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before llama_cpp loads OpenMP
    t_import = time.perf_counter()
    import llama_cpp  # noqa: F401

    from aios.llm.kvcache import KVStore
    from aios.llm.local import LlamaCppBackend
    from aios.llm.types import SamplingParams

    out["import_s"] = time.perf_counter() - t_import
    out["mem_before_load"] = mem()
    anon_samples = [out["mem_start"]["rss_anon"], out["mem_before_load"]["rss_anon"]]

    # Time Residency.attach (it parses the GGUF's tensor table) apart from llama.cpp's own load.
    attach = {"s": 0.0, "rss_anon_before": 0, "rss_anon_after": 0}
    orig_attach = flash.Residency.attach

    def timed_attach(self: Any) -> None:
        attach["rss_anon_before"] = process_memory().rss_anon
        t = time.perf_counter()
        orig_attach(self)
        attach["s"] = time.perf_counter() - t
        attach["rss_anon_after"] = process_memory().rss_anon

    flash.Residency.attach = timed_attach  # type: ignore[method-assign]

    budget = "" if cfg["budget_pct"] >= 100 else f"{cfg['budget_pct']}%"
    with AnonSampler() as load_sampler:
        t_load = time.perf_counter()
        backend = LlamaCppBackend(model, N_CTX, N_THREADS, KVStore(1 << 30, None, 0), resident_budget=budget,
                                  prefetch=cfg["prefetch"])  # fmt: skip
        out["load_s"] = time.perf_counter() - t_load
    out["attach"] = attach
    out["peak_rss_anon_load"] = load_sampler.peak
    out["mem_after_load"] = mem()
    anon_samples.append(out["mem_after_load"]["rss_anon"])
    res = backend.residency
    out["residency"] = {
        "model_bytes": res.stats.model_bytes,
        "budget_bytes": res.stats.budget_bytes,
        "pinned_bytes": res.stats.pinned_bytes,
        "streamed_bytes": res.stats.streamed_bytes,
        "streamed_layers": res.stats.streamed_layers,
        "streamed_fraction_resident_after_load": round(res.resident_fraction(), 4),
    }
    if cfg.get("madv_random"):  # the kernel's read-around off: each fault reads what it touches
        for r in res._streamed:
            start = r.start - r.start % mmap.PAGESIZE
            if libc.madvise(start, r.length + r.start - start, MADV_RANDOM) != 0:
                raise OSError(ctypes.get_errno(), "madvise(MADV_RANDOM) failed")

    # Time the residency's own work (prefetch and eviction) and look inside one pass.
    timing = {"before_eval_s": 0.0, "after_eval_s": 0.0}
    probe: dict[str, Any] = {}
    orig_before, orig_after = res.before_eval, res.after_eval

    def before_eval() -> None:
        t = time.perf_counter()
        orig_before()
        timing["before_eval_s"] += time.perf_counter() - t

    def after_eval() -> None:
        if probe.get("armed"):  # the streamed weights as the pass left them, before eviction
            probe.update(mem_in_pass=mem(), streamed_fraction_resident_in_pass=round(res.resident_fraction(), 4))
            probe["armed"] = False
        t = time.perf_counter()
        orig_after()
        timing["after_eval_s"] += time.perf_counter() - t

    res.before_eval, res.after_eval = before_eval, after_eval  # type: ignore[method-assign]

    prompt = backend.tokenize(PROMPT)
    sampler = backend.new_sampler(SamplingParams(temperature=0.0))
    m0 = mem()
    with AnonSampler() as prefill_sampler:
        t_prefill = time.perf_counter()
        backend.prepare("bench", prompt)
        backend.feed({"bench": prompt[-1]})
        token = backend.sample("bench", sampler)
        t_first = time.perf_counter()
    m1 = mem()
    anon_samples += [m1["rss_anon"], prefill_sampler.peak]
    out.update(
        prompt_tokens=len(prompt),
        prefill_and_first_token_s=t_first - t_prefill,
        load_to_first_token_s=t_first - t_load,
        first_token_wall_time=time.time(),
        prefill_read_bytes=m1["read_bytes"] - m0["read_bytes"],
    )

    tokens = [token]
    n = cfg["tokens"]
    timing = {"before_eval_s": 0.0, "after_eval_s": 0.0}
    per_token: list[float] = []
    m0, cpu0, busy0 = mem(), self_cpu_s(), machine_busy_s()
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        backend.feed({"bench": token})
        token = backend.sample("bench", sampler)
        per_token.append(time.perf_counter() - t)
        tokens.append(token)
        if i % 8 == 7:
            anon_samples.append(process_memory().rss_anon)
    wall = time.perf_counter() - t0
    m1, cpu1, busy1 = mem(), self_cpu_s(), machine_busy_s()
    anon_samples.append(m1["rss_anon"])
    if n:
        probe["armed"] = True
        backend.feed({"bench": token})
        anon_samples.append(probe.get("mem_in_pass", m1)["rss_anon"])
    probe.pop("armed", None)
    per_token.sort()
    out.update(
        decode_tokens=n,
        decode_s=wall,
        tok_per_s=n / wall if wall else None,
        ms_per_token_p50=statistics.median(per_token) * 1000 if per_token else None,
        ms_per_token_max=per_token[-1] * 1000 if per_token else None,
        read_bytes_per_token=(m1["read_bytes"] - m0["read_bytes"]) / n if n else None,
        major_faults_per_token=(m1["major_faults"] - m0["major_faults"]) / n if n else None,
        prefetch_ms_per_token=timing["before_eval_s"] / n * 1000 if n else None,
        evict_ms_per_token=timing["after_eval_s"] / n * 1000 if n else None,
        decode_cpu_s=cpu1 - cpu0,
        others_cores=max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / wall if wall else None,
        tokens=tokens,
        probe=probe,
        peak_rss_anon_decode=max(anon_samples),  # all but load's transient: KV cache, buffers, leftovers
        peak_rss_anon=max(max(anon_samples), load_sampler.peak),
        mem_end=m1,
        load_after=os.getloadavg(),
    )
    backend.close()
    return out
