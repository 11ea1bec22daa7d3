#!/usr/bin/env python
"""LLM weights from flash: decode speed and memory of a memory-mapped model under a resident budget.

`aios.llm.flash.Residency` keeps embeddings, norms, attention and as many early-layer FFN tensors as fit in
a budget resident and evicts the rest of the mapped GGUF after every forward pass (MADV_PAGEOUT + fadvise
DONTNEED, so they are really read from storage again). Naive: the evicted weights come back by page faults
only; prefetch: MADV_WILLNEED over the evicted ranges before each pass. This script measures, each
configuration in a fresh subprocess (so RSS and the page cache do not leak from one to the next), on a
private copy of the model (pages another process maps cannot be evicted):

1. decode: tokens/s over N greedy tokens after a short prompt, bytes read and major faults per token, at
   resident budgets 100 / 75 / 50 / 25 % of the model, naive vs prefetch; plus, at 50 %, naive with the
   kernel's fault read-around disabled (MADV_RANDOM on the streamed ranges: one page per fault);
2. time to first token, cold (the model dropped from the page cache before loading) and warm (cached);
3. RssAnon: at start, just before loading the model (the interpreter and libraries) and its peak;
4. the disk's read throughput (O_DIRECT, buffered after DONTNEED, 4 KiB random reads), which bounds
   streamed decode.

Writes the JSON result (default bench/results/flash.json) and regenerates the
`## LLM: weights from flash` section of docs/benchmarks.md from it.

    .venv/bin/python bench/flash.py                 # the full run (a few minutes)
    .venv/bin/python bench/flash.py --quick         # 1 round, 16 tokens, no TTFT repeats
    .venv/bin/python bench/flash.py --docs-only     # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import display_path, git_state, machine_busy_s, read_text, self_cpu_s, write_docs
from _common import machine_info as common_machine_info

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "flash.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## LLM: weights from flash"
REPRODUCE = ".venv/bin/python bench/flash.py"

BUDGETS = (100, 75, 50, 25)
N_CTX = 512
N_THREADS = 1
PROMPT = "<|im_start|>user\nName three rivers and say one thing about each.<|im_end|>\n<|im_start|>assistant\n"
GOAL_PREFETCH_VS_NAIVE = 3.5  # at 50 %: prefetch tok/s / naive tok/s, at least
GOAL_PREFETCH_VS_RESIDENT = 0.30  # at 50 %: prefetch tok/s / fully resident tok/s, at least
GOAL_PEAK_ANON = 0.5  # peak RssAnon / model size, below
RESULT_MARK = "@@flash-result@@ "
MB = 1e6
ROUND_KEYS = ("tok_per_s", "read_bytes_per_token", "major_faults_per_token", "prefetch_ms_per_token",
              "evict_ms_per_token", "others_cores", "peak_rss_anon")  # fmt: skip

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MADV_RANDOM = 1


# -- helpers shared by the parent and the workers ---------------------------------------------------


def cached_fraction(path: Path) -> float:
    """Share of the file's pages in the page cache (mincore over a fresh mapping that touches nothing)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            return float("nan")
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        try:
            if _libc.mincore(addr, size, vec) != 0:
                return float("nan")
        finally:
            _libc.munmap(addr, size)
        return sum(v & 1 for v in vec) / pages
    finally:
        os.close(fd)


def drop_from_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 22):
            pass


# -- the worker: one configuration in a fresh process -------------------------------------------------


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
            if _libc.madvise(start, r.length + r.start - start, MADV_RANDOM) != 0:
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


# -- the disk -----------------------------------------------------------------------------------------


def disk_throughput(path: Path) -> dict[str, Any]:
    """Read the (private) model file cold: O_DIRECT in 1 MiB and 8 MiB blocks, buffered after DONTNEED (with the
    kernel's readahead), and 4 KiB O_DIRECT reads at random offsets (one page fault that reads one page)."""
    size = path.stat().st_size
    out: dict[str, Any] = {"file_bytes": size}
    buf = mmap.mmap(-1, 8 << 20)  # page-aligned, as O_DIRECT needs
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            for label, block in (("1mib", 1 << 20), ("8mib", 8 << 20)):
                drop_from_cache(path)
                with memoryview(buf)[:block] as view:
                    t, done = time.perf_counter(), 0
                    while True:
                        got = os.preadv(fd, [view], done)
                        done += got
                        if got < block:
                            break
                out[f"odirect_{label}_mb_s"] = round(done / (time.perf_counter() - t) / MB, 1)
            rng = random.Random(7)
            offsets = [rng.randrange(size // 4096) * 4096 for _ in range(256)]
            with memoryview(buf)[:4096] as small:
                t = time.perf_counter()
                for off in offsets:
                    os.preadv(fd, [small], off)
            out["odirect_4kib_random_ms"] = round((time.perf_counter() - t) / len(offsets) * 1000, 3)
        finally:
            os.close(fd)
    except OSError as exc:  # a file system without O_DIRECT
        out["odirect_error"] = str(exc)
    finally:
        buf.close()
    drop_from_cache(path)
    t = time.perf_counter()
    warm_cache(path)
    out["buffered_cold_mb_s"] = round(size / (time.perf_counter() - t) / MB, 1)
    return out


def storage_info(path: Path) -> dict[str, Any]:
    st = os.stat(path)
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    block = Path("/sys/dev/block") / dev
    queue = block / "queue" if (block / "queue").exists() else block / ".." / "queue"
    name = block.resolve().name if block.exists() else None
    return {
        "device": name,
        "dev": dev,
        "read_ahead_kb": _int(
            read_text(f"/sys/class/bdi/{dev}/read_ahead_kb") or read_text(str(queue / "read_ahead_kb"))
        ),
        "rotational": _int(read_text(str(queue / "rotational"))),
        "page_cluster": _int(read_text("/proc/sys/vm/page-cluster")),
        "mount": _mount(path),
    }


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _mount(path: Path) -> str | None:
    best = None
    for line in read_text("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and str(path).startswith(parts[1]) and (best is None or len(parts[1]) >= len(best[1])):
            best = parts
    return f"{best[0]} on {best[1]} ({best[2]})" if best else None


# -- machine ------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return common_machine_info({"llama_cpp_python": "llama_cpp_python", "gguf": "gguf", "aios": "aios"})


# -- the run ------------------------------------------------------------------------------------------


def spawn(cfg: dict[str, Any]) -> dict[str, Any]:
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)],
        capture_output=True, text=True, env=env, timeout=1800, cwd=ROOT,
    )  # fmt: skip
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith(RESULT_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"worker {cfg} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line[len(RESULT_MARK) :])
    result["spawn_to_first_token_s"] = result.pop("first_token_wall_time") - started
    return result


def decode_configs(budgets: tuple[int, ...]) -> list[tuple[str, dict[str, Any]]]:
    configs: list[tuple[str, dict[str, Any]]] = []
    for pct in budgets:
        if pct >= 100:
            configs.append((f"{pct}% resident", {"budget_pct": pct, "prefetch": True}))
            continue
        configs.append((f"{pct}% naive", {"budget_pct": pct, "prefetch": False}))
        configs.append((f"{pct}% prefetch", {"budget_pct": pct, "prefetch": True}))
        if pct == 50:
            configs.append(
                (f"{pct}% naive, no read-around", {"budget_pct": pct, "prefetch": False, "madv_random": True})
            )
    return configs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median tok/s (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["tok_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("tok_per_s", "ms_per_token_p50", "ms_per_token_max", "read_bytes_per_token", "major_faults_per_token",
            "prefetch_ms_per_token", "evict_ms_per_token", "decode_cpu_s", "decode_s", "others_cores",
            "peak_rss_anon", "peak_rss_anon_decode", "peak_rss_anon_load", "load_s", "prefill_and_first_token_s",
            "load_to_first_token_s")  # fmt: skip
    s = {k: _round(run[k]) for k in keys}
    s["cpu_share"] = _round(run["decode_cpu_s"] / run["decode_s"]) if run["decode_s"] else None
    s["residency"] = run["residency"]
    for key in ("mem_start", "mem_before_load", "mem_after_load"):
        s[key] = run[key]
    s["probe"], s["attach"] = run["probe"], {k: _round(v) for k, v in run["attach"].items()}
    for key in ("load_before", "load_after"):
        s[key] = [round(x, 2) for x in run[key]]
    return s


def _round(x: Any, digits: int = 4) -> Any:
    return round(x, digits) if isinstance(x, float) else x


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    load_start = os.getloadavg()
    machine = machine_info()
    from aios.llm.local import default_model_path

    source = default_model_path()
    tmp = Path(tempfile.mkdtemp(prefix="aios-flash-bench-"))
    try:
        model = tmp / "model.gguf"
        with console.status(f"copying {source.name} to a private file"):
            shutil.copyfile(source, model)
            fd = os.open(model, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        model_bytes = model.stat().st_size
        console.log(f"model {source.name}: {model_bytes / MB:.1f} MB, private copy {model}")

        decode = decode_configs(args.budgets)
        ttft = [
            ("cold, 100% resident", {"budget_pct": 100, "prefetch": True, "drop_cache": True}),
            ("warm, 100% resident", {"budget_pct": 100, "prefetch": True, "drop_cache": False}),
            ("cold, 50% prefetch", {"budget_pct": 50, "prefetch": True, "drop_cache": True}),
            ("warm, 50% prefetch", {"budget_pct": 50, "prefetch": True, "drop_cache": False}),
        ]
        plan: list[tuple[str, str, dict[str, Any]]] = []
        for _ in range(args.rounds):  # rounds interleave the configurations, so a load spike hits them all
            plan += [("decode", name, cfg | {"tokens": args.tokens}) for name, cfg in decode]
        for _ in range(args.ttft_rounds):
            plan += [("ttft", name, cfg | {"tokens": 0}) for name, cfg in ttft]

        decode_runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in decode}
        ttft_runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in ttft}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("disk read throughput", total=len(plan) + 2)
            disk = storage_info(model) | {"runs": [disk_throughput(model)]}
            progress.advance(task)
            for kind, name, cfg in plan:
                progress.update(task, description=f"{kind}: {name}")
                if not cfg.get("drop_cache"):
                    warm_cache(model)  # every configuration starts from the whole file cached
                got = spawn(cfg | {"model": str(model)})
                (decode_runs if kind == "decode" else ttft_runs)[name].append(got)
                if kind == "decode":
                    progress.console.log(
                        f"{name}: {got['tok_per_s']:.1f} tok/s, {got['read_bytes_per_token'] / MB:.2f} MB read and "
                        f"{got['major_faults_per_token']:.1f} major faults per token, load {got['load_after'][0]:.2f}"
                    )
                else:
                    progress.console.log(
                        f"{name}: first token after {got['load_to_first_token_s'] * 1000:.0f} ms "
                        f"(cached before load {got['cached_before_load']:.0%})"
                    )
                progress.advance(task)
            progress.update(task, description="disk read throughput, again")
            disk["runs"].append(disk_throughput(model))  # the disk is shared too: once before, once after
            progress.advance(task)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    configs: dict[str, Any] = {}
    for name, runs in decode_runs.items():
        med = _median_run(runs)
        configs[name] = _summary(med) | {
            "budget_pct": med["config"]["budget_pct"],
            "prefetch": med["config"]["prefetch"],
            "madv_random": bool(med["config"].get("madv_random")),
            "rounds_tok_per_s": [round(r["tok_per_s"], 2) for r in runs],
            "rounds": [
                {k: _round(r[k]) for k in ROUND_KEYS}
                | {
                    "cpu_share": _round(r["decode_cpu_s"] / r["decode_s"]),
                    "load_1min_before_after": [round(r["load_before"][0], 2), round(r["load_after"][0], 2)],
                }
                for r in runs
            ],
        }
    first = next(iter(decode_runs.values()))[0]
    same_output = {name: all(r["tokens"] == first["tokens"] for r in runs) for name, runs in decode_runs.items()}
    ttft_out = {
        name: {
            "load_to_first_token_s": _round(statistics.median(r["load_to_first_token_s"] for r in runs)),
            "runs_load_to_first_token_s": [_round(r["load_to_first_token_s"]) for r in runs],
            "load_s": _round(statistics.median(r["load_s"] for r in runs)),
            "prefill_and_first_token_s": _round(statistics.median(r["prefill_and_first_token_s"] for r in runs)),
            "spawn_to_first_token_s": _round(statistics.median(r["spawn_to_first_token_s"] for r in runs)),
            "import_s": _round(statistics.median(r["import_s"] for r in runs)),
            "cached_before_load": [r["cached_before_load"] for r in runs],
            "read_bytes_load": [r["mem_after_load"]["read_bytes"] - r["mem_before_load"]["read_bytes"] for r in runs],
            "read_bytes_prefill": [r["prefill_read_bytes"] for r in runs],
            "prompt_tokens": runs[0]["prompt_tokens"],
        }
        for name, runs in ttft_runs.items()
    }

    def tps(name: str) -> float | None:
        return configs[name]["tok_per_s"] if name in configs else None

    naive50, prefetch50, resident = tps("50% naive"), tps("50% prefetch"), tps("100% resident")
    vs_naive = prefetch50 / naive50 if prefetch50 and naive50 else None
    vs_resident = prefetch50 / resident if prefetch50 and resident else None

    def per_round(a: str, b: str) -> list[float]:  # the same round ran both under about the same load
        return [
            round(x["tok_per_s"] / y["tok_per_s"], 4)
            for x, y in zip(decode_runs.get(a, []), decode_runs.get(b, []), strict=False)
        ]

    per_round_ratios = {
        "prefetch_vs_naive_at_50pct": per_round("50% prefetch", "50% naive"),
        "prefetch_vs_resident_at_50pct": per_round("50% prefetch", "100% resident"),
        "prefetch_vs_naive_no_read_around_at_50pct": per_round("50% prefetch", "50% naive, no read-around"),
    }
    all_runs = [r for runs in decode_runs.values() for r in runs] + [r for runs in ttft_runs.values() for r in runs]
    runs50 = decode_runs.get("50% prefetch") or all_runs
    peak_anon = max(r["peak_rss_anon"] for r in runs50)  # the goal's figure: the streaming configuration
    peak_decode = max(r["peak_rss_anon_decode"] for r in runs50)
    resident_runs = decode_runs.get("100% resident") or []
    before_load = statistics.median(r["mem_before_load"]["rss_anon"] for r in all_runs)
    at_start = statistics.median(r["mem_start"]["rss_anon"] for r in all_runs)
    attach = [r["attach"] for r in runs50 if r["attach"]["s"]]
    return {
        "benchmark": "llm: weights from flash",
        "prefetch_vs_naive_at_50pct": _round(vs_naive),
        "prefetch_vs_resident_at_50pct": _round(vs_resident),
        "per_round_ratios": per_round_ratios,
        "ratios_note": "the headline ratios divide the configurations' median-round tok/s; per_round_ratios divide "
        "the tok/s of the same round (run minutes apart at most, under similar load)",
        "peak_rss_anon_ratio_to_model": _round(peak_anon / model_bytes),
        "goals": {
            "prefetch_vs_naive_at_50pct": {
                "min": GOAL_PREFETCH_VS_NAIVE,
                "met": vs_naive is not None and vs_naive >= GOAL_PREFETCH_VS_NAIVE,
            },
            "prefetch_vs_resident_at_50pct": {
                "min": GOAL_PREFETCH_VS_RESIDENT,
                "met": vs_resident is not None and vs_resident >= GOAL_PREFETCH_VS_RESIDENT,
            },
            "peak_rss_anon_ratio_to_model": {
                "max_exclusive": GOAL_PEAK_ANON,
                "met": peak_anon / model_bytes < GOAL_PEAK_ANON,
            },
        },
        "model": {"name": source.name, "bytes": model_bytes},
        "memory": {
            "peak_rss_anon": peak_anon,
            "peak_rss_anon_decode": peak_decode,
            "peak_rss_anon_all_runs": max(r["peak_rss_anon"] for r in all_runs),
            "peak_rss_anon_resident": max((r["peak_rss_anon"] for r in resident_runs), default=None),
            "peak_rss_anon_decode_resident": max((r["peak_rss_anon_decode"] for r in resident_runs), default=None),
            "rss_anon_at_start": at_start,
            "rss_anon_before_load": before_load,
            "model_anon_bytes": peak_anon - before_load,
            "model_anon_ratio_to_model": _round((peak_anon - before_load) / model_bytes),
            "model_anon_decode_ratio_to_model": _round((peak_decode - before_load) / model_bytes),
            "attach_s": _round(statistics.median(a["s"] for a in attach)) if attach else None,
            "attach_rss_anon_left": statistics.median(a["rss_anon_after"] - a["rss_anon_before"] for a in attach)
            if attach
            else None,
            "note": "peak_rss_anon: at 50 % budget with prefetch (the goals' configuration), the highest RssAnon "
            "seen by a thread polling /proc/self/status every 4 ms while loading and prefilling, and by samples "
            "every 8 decoded tokens and inside one forward pass; peak_rss_anon_decode: the same without the load's "
            "transient; before_load: after importing llama_cpp and aios.llm (interpreter and libraries); "
            "attach: Residency.attach (GGUF tensor table parse + first eviction) and the RssAnon it leaves behind",
        },
        "decode": configs,
        "same_tokens_as_first_config": same_output,
        "ttft": ttft_out,
        "disk": disk,
        "settings": {
            "tokens": args.tokens,
            "rounds": args.rounds,
            "ttft_rounds": args.ttft_rounds,
            "n_ctx": N_CTX,
            "n_threads": N_THREADS,
            "prompt": PROMPT,
            "budgets": list(args.budgets),
            "summary_of_rounds": "per configuration, the round with the median tok/s",
            "omp_wait_policy": "PASSIVE",
        },
        "machine": machine,
        "load": {
            "before": [round(x, 2) for x in load_start],
            "after": [round(x, 2) for x in os.getloadavg()],
            "note": "os.getloadavg() (1, 5, 15 min); decode[*].others_cores is the CPU the rest of the machine "
            "used meanwhile, in cores (from /proc/stat)",
        },
        "git": git_state(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


# -- the docs section -------------------------------------------------------------------------------


def render_section(r: dict[str, Any], json_path: str) -> str:
    m, mem, disk, s = r["machine"], r["memory"], r["disk"], r["settings"]
    model_mb = r["model"]["bytes"] / MB
    yes = lambda ok: "**yes**" if ok else "**no**"  # noqa: E731
    g = r["goals"]
    fmt = lambda x, d=2: "—" if x is None else f"{x:.{d}f}"  # noqa: E731
    dec = r["decode"]
    pr = r.get("per_round_ratios", {})

    def rounds_of(key: str) -> str:
        got = pr.get(key) or []
        return f"{', '.join(f'{x:.2f}' for x in got)} (median {statistics.median(got):.2f})" if got else "—"

    goal_rows = [
        "| Goal | Measured (median rounds) | Same-round ratios | Target | Met |",
        "| --- | ---: | ---: | --- | --- |",
        f"| Prefetch / naive tok/s at 50 % budget | {fmt(r['prefetch_vs_naive_at_50pct'])} "
        f"| {rounds_of('prefetch_vs_naive_at_50pct')} | ≥ {g['prefetch_vs_naive_at_50pct']['min']} "
        f"| {yes(g['prefetch_vs_naive_at_50pct']['met'])} |",
        f"| Prefetch at 50 % / fully resident tok/s | {fmt(r['prefetch_vs_resident_at_50pct'])} "
        f"| {rounds_of('prefetch_vs_resident_at_50pct')} | ≥ {g['prefetch_vs_resident_at_50pct']['min']} "
        f"| {yes(g['prefetch_vs_resident_at_50pct']['met'])} |",
        f"| Peak RssAnon / model size | {fmt(r['peak_rss_anon_ratio_to_model'])} "
        f"({mem['peak_rss_anon'] / MB:.1f} / {model_mb:.1f} MB, at 50 % with prefetch) | "
        f"| < {g['peak_rss_anon_ratio_to_model']['max_exclusive']} | {yes(g['peak_rss_anon_ratio_to_model']['met'])} |",
        f"| *For reference:* prefetch at 50 % / naive without read-around | — "
        f"| {rounds_of('prefetch_vs_naive_no_read_around_at_50pct')} | — | — |",
    ]
    rows = [
        "| Configuration | Pinned MB | Streamed MB | tok/s (rounds) | ms/token p50 | MB read / token "
        "| Major faults / token | Prefetch + evict ms / token | CPU share | Others, cores |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in dec.items():
        res = c["residency"]
        rounds = ", ".join(f"{x:.1f}" for x in c["rounds_tok_per_s"])
        overhead = (c["prefetch_ms_per_token"] or 0) + (c["evict_ms_per_token"] or 0)
        rows.append(
            f"| {name} | {res['pinned_bytes'] / MB:.1f} | {res['streamed_bytes'] / MB:.1f} | "
            f"{c['tok_per_s']:.1f} ({rounds}) | {c['ms_per_token_p50']:.1f} | {c['read_bytes_per_token'] / MB:.2f} | "
            f"{c['major_faults_per_token']:.1f} | {overhead:.2f} | {c['cpu_share']:.2f} | {fmt(c['others_cores'])} |"
        )
    ttft_rows = [
        "| Case | Cached before load | Load s | Prefill + first token s | Load to first token s "
        "| MB read (load / prefill) | Process start to first token s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, t in r["ttft"].items():
        cached = ", ".join(f"{x:.0%}" for x in t["cached_before_load"])
        read = ", ".join(f"{a / MB:.0f} / {b / MB:.0f}" for a, b in zip(t["read_bytes_load"], t["read_bytes_prefill"],
                                                                       strict=True))  # fmt: skip
        ttft_rows.append(
            f"| {name} | {cached} | {t['load_s']:.3f} | {t['prefill_and_first_token_s']:.3f} | "
            f"{t['load_to_first_token_s']:.3f} | {read} | {t['spawn_to_first_token_s']:.2f} |"
        )
    stream50 = dec.get("50% prefetch", {}).get("residency", {}).get("streamed_bytes")
    bound = ""
    runs = disk["runs"]
    rates = ("odirect_1mib_mb_s", "odirect_8mib_mb_s", "buffered_cold_mb_s")
    best = max((d.get(k) or 0) for d in runs for k in rates)

    def each(key: str) -> str:
        return ", ".join(str(d.get(key, "—")) for d in runs)

    bound = ""
    if stream50 and best and "100% resident" in dec:
        bound = (
            f" At 50 % every token re-reads {stream50 / MB:.1f} MB, so at the best of these rates the disk alone "
            f"caps streamed decode at {best * MB / stream50:.1f} tok/s, before any compute (and, with no overlap of "
            f"reading and computing, at {1 / (stream50 / (best * MB) + 1 / dec['100% resident']['tok_per_s']):.1f} "
            f"tok/s)."
        )
    disk_line = (
        f"Disk ({disk.get('device')}, {disk.get('mount')}, read_ahead_kb={disk.get('read_ahead_kb')}, "
        f"rotational={disk.get('rotational')}), measured before and after the runs: a cold sequential read of the "
        f"model file takes {each('odirect_1mib_mb_s')} MB/s with O_DIRECT in 1 MiB blocks, "
        f"{each('odirect_8mib_mb_s')} MB/s in 8 MiB blocks, {each('buffered_cold_mb_s')} MB/s buffered after "
        f"DONTNEED (kernel readahead); a 4 KiB O_DIRECT read at a random offset takes "
        f"{each('odirect_4kib_random_ms')} ms.{bound}"
    )
    prompt_tokens = next(iter(r["ttft"].values()))["prompt_tokens"]
    lines = [
        SECTION,
        "",
        f"<!-- Generated by bench/flash.py from {json_path}; edit the script, not this section. -->",
        "",
        f"`aios.llm.flash.Residency` over {r['model']['name']} ({model_mb:.1f} MB, memory-mapped by llama.cpp; a "
        f"private copy, so its pages can be evicted). Each configuration runs in a fresh subprocess: load with a "
        f"resident budget of the model, prefill a {prompt_tokens}-token prompt, then "
        f"{s['tokens']} greedy tokens timed (`prepare`, then `feed` + `sample`), n_ctx={s['n_ctx']}, "
        f"{s['n_threads']} thread, OMP_WAIT_POLICY=PASSIVE. **Naive**: the evicted FFN weights come back by page "
        f"faults only; **prefetch**: MADV_WILLNEED over them before each pass. Both evict them again after each "
        f"pass (MADV_PAGEOUT + fadvise DONTNEED), so every token reads them from storage. {s['rounds']} round"
        f"{'s interleave' if s['rounds'] != 1 else ' of'} the configurations; the table shows the round with the "
        f"median tok/s.",
        "",
        *goal_rows,
        "",
        *rows,
        "",
        "MB read / token: /proc/self/io read_bytes (really from storage). Major faults: getrusage. Prefetch + evict: "
        "the Residency's own before_eval/after_eval time per token (included in ms/token). CPU share: the worker's "
        "CPU time / wall time while decoding (below 1: waiting for I/O or for a core). Others: CPU the rest of the "
        "machine used meanwhile, in cores, of "
        f"{m['cpu_count']}. *No read-around*: naive with MADV_RANDOM on the streamed ranges, which turns off the "
        "kernel's mmap read-around, so each fault reads only the pages it touches (what naive would cost without "
        "the kernel's help).",
        "",
        _findings(r),
        "",
        _memory_paragraph(r),
        "",
        "Time to first token (median of "
        f"{s['ttft_rounds']}): cold = the model file dropped from the page cache (fsync + fadvise DONTNEED) before "
        "loading; warm = the file read into the cache first. Load to first token: from constructing the backend "
        "(llama_cpp already imported) to the first sampled token; process start: from spawning the worker.",
        "",
        *ttft_rows,
        "",
        _ttft_note(r),
        "",
        disk_line,
        "",
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM, {m['platform']}; Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}, gguf {m['gguf']}. Run on {m['date']} at commit "
        f"`{(r['git']['commit'] or '?')[:12]}`{' (with uncommitted changes)' if r['git']['dirty'] else ''}. "
        f"Load average (1/5/15 min): {' / '.join(map(str, r['load']['before']))} before, "
        f"{' / '.join(map(str, r['load']['after']))} after (others run tests on this machine).",
        "",
        f"Reproduce: `{REPRODUCE}` (options `--tokens N`, `--rounds N`, `--quick`, `--docs-only`, `--help` for the "
        f"rest). Raw figures: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


def _memory_paragraph(r: dict[str, Any]) -> str:
    mem, s = r["memory"], r["settings"]
    model = r["model"]["bytes"]
    p50 = r["decode"].get("50% prefetch", {}).get("probe", {})
    text = (
        f"Memory (n_ctx={s['n_ctx']}, so a small KV cache): RssAnon is {mem['rss_anon_at_start'] / MB:.1f} MB at "
        f"worker start and {mem['rss_anon_before_load'] / MB:.1f} MB just before loading the model (interpreter, "
        f"llama_cpp, numpy). At 50 % with prefetch it peaks at {mem['peak_rss_anon'] / MB:.1f} MB "
        f"({mem['peak_rss_anon'] / model:.2f} of the model), "
        f"{mem['model_anon_bytes'] / MB:.1f} MB above that baseline; while decoding (after the load's transient) "
        f"it stays at or below {mem['peak_rss_anon_decode'] / MB:.1f} MB "
        f"({mem['peak_rss_anon_decode'] / model:.2f} of the model; {mem['model_anon_decode_ratio_to_model']:.2f} "
        f"above the baseline)."
    )
    if mem.get("peak_rss_anon_resident"):
        text += (
            f" Fully resident (no Residency): peak {mem['peak_rss_anon_resident'] / MB:.1f} MB "
            f"({mem['peak_rss_anon_resident'] / model:.2f} of the model), "
            f"{mem['peak_rss_anon_decode_resident'] / MB:.1f} MB while decoding; its own anonymous memory (KV cache, "
            f"compute buffers) is {(mem['peak_rss_anon_resident'] - mem['rss_anon_before_load']) / MB:.1f} MB, "
            f"{(mem['peak_rss_anon_resident'] - mem['rss_anon_before_load']) / model:.2f} of the model."
        )
    if mem.get("attach_s"):
        text += (
            f" `Residency.attach` takes {mem['attach_s']:.2f} s and leaves {mem['attach_rss_anon_left'] / MB:.1f} MB "
            f"more RssAnon behind; almost all of it is gguf's GGUFReader parsing the whole file (every metadata "
            f"field, the 49,152-entry vocabulary) to learn the tensor offsets."
        )
    text += " The weights themselves are file-backed (RssFile), never anonymous."
    if p50.get("mem_in_pass"):
        text += (
            f" Inside one forward pass at 50 % with prefetch, {p50['streamed_fraction_resident_in_pass']:.0%} of the "
            f"streamed weights were resident (RssFile {p50['mem_in_pass']['rss_file'] / MB:.1f} MB, libraries "
            f"included): the budget holds between tokens, not during one."
        )
    return text


def _ttft_note(r: dict[str, Any]) -> str:
    t = r["ttft"]
    warm, warm50, cold50 = t.get("warm, 100% resident"), t.get("warm, 50% prefetch"), t.get("cold, 50% prefetch")
    if not (warm and warm50 and cold50):
        return ""
    attach = r["memory"].get("attach_s")
    return (
        f"With a budget, loading takes {warm50['load_s']:.2f} s instead of {warm['load_s']:.2f} s (warm)"
        + (f"; `Residency.attach` alone takes {attach:.2f} s (median over the 50 % decode runs)" if attach else "")
        + f". Cold, llama.cpp reads the whole file at load ({cold50['read_bytes_load'][0] / MB:.0f} MB: the mapping "
        f"is populated), the Residency then evicts the streamed part and the prompt's prefill reads it again "
        f"({cold50['read_bytes_prefill'][0] / MB:.0f} MB)."
    )


def _findings(r: dict[str, Any]) -> str:
    """A plain-words reading of the figures, so the section says why the goals are or are not met."""
    dec = r["decode"]
    parts = []
    naive, pre, nra = dec.get("50% naive"), dec.get("50% prefetch"), dec.get("50% naive, no read-around")
    if naive and pre:
        ratio = r["prefetch_vs_naive_at_50pct"]
        if ratio is not None and ratio < 1.2:
            parts.append(
                f"At 50 % naive decode is already about as fast as prefetch ({naive['tok_per_s']:.1f} vs "
                f"{pre['tok_per_s']:.1f} tok/s): a naive token takes {naive['major_faults_per_token']:.1f} major "
                f"faults for {naive['read_bytes_per_token'] / MB:.1f} MB, i.e. "
                f"{naive['read_bytes_per_token'] / max(naive['major_faults_per_token'], 1e-9) / 1024:.0f} KiB per "
                f"fault: the kernel's mmap read-around (read_ahead_kb={r['disk'].get('read_ahead_kb')}) already "
                f"reads large sequential chunks, which is what prefetch was meant to add."
            )
        else:
            parts.append(
                f"At 50 % prefetch runs {ratio:.2f}× naive ({pre['tok_per_s']:.1f} vs {naive['tok_per_s']:.1f} tok/s)."
            )
    if nra:
        parts.append(
            f"Without read-around, naive falls to {nra['tok_per_s']:.1f} tok/s "
            f"({nra['major_faults_per_token']:.0f} major faults and {nra['read_bytes_per_token'] / MB:.1f} MB per "
            f"token); prefetch is {pre['tok_per_s'] / nra['tok_per_s']:.1f}× that."
            if pre
            else ""
        )
    if pre:
        parts.append(
            f"Of a {pre['ms_per_token_p50']:.0f} ms token at 50 % with prefetch, {pre['evict_ms_per_token']:.1f} ms "
            f"is the Residency evicting the streamed weights after the pass (MADV_PAGEOUT between two fadvise "
            f"DONTNEED, per tensor) and {pre['prefetch_ms_per_token']:.1f} ms issuing MADV_WILLNEED."
        )
    q = dec.get("25% prefetch")
    if q and q["residency"]["pinned_bytes"] == 0:
        parts.append(
            "At 25 % nothing is pinned: the budget is smaller than the first tensor in the plan (token_embd), and "
            "the plan keeps only a prefix of its priority order, so the whole model is streamed every token."
        )
    return " ".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64, help="greedy tokens timed per configuration (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="decode rounds; the median tok/s is kept (default 3)")
    parser.add_argument("--ttft-rounds", type=int, default=3, help="cold/warm first-token rounds (default 3)")
    parser.add_argument("--budgets", type=lambda s: tuple(int(x) for x in s.split(",")), default=BUDGETS,
                        help="resident budgets in %% (default 100,75,50,25)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1 round of 16 tokens, 1 TTFT round")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result (default bench/results/flash.json)")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file whose section to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from --out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = worker(json.loads(args.worker))
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0
    if args.quick:
        args.tokens, args.rounds, args.ttft_rounds = 16, 1, 1
    if args.tokens < 1 or args.rounds < 1 or args.ttft_rounds < 1:
        parser.error("--tokens, --rounds and --ttft-rounds must be at least 1")

    if args.docs_only:
        result = json.loads(args.out.read_text())
    else:
        result = run(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs:
        write_docs(args.docs, SECTION, render_section(result, display_path(args.out)))

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"weights from flash ({result['settings']['tokens']} tokens, n_ctx {N_CTX})")
    for col in ("configuration", "tok/s", "MB read/token", "major faults/token", "peak RssAnon MB"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for name, c in result["decode"].items():
        table.add_row(name, f"{c['tok_per_s']:.1f}", f"{c['read_bytes_per_token'] / MB:.2f}",
                      f"{c['major_faults_per_token']:.1f}", f"{c['peak_rss_anon'] / MB:.1f}")  # fmt: skip
    console = Console()
    console.print(table)
    for key, goal in result["goals"].items():
        console.print(f"{key}: {result[key]} (goal {goal}) -> {'met' if goal['met'] else 'NOT met'}")
    console.print(f"load before {result['load']['before']}, after {result['load']['after']}")
    console.print(f"wrote {args.out}" + ("" if args.no_docs else f" and the '{SECTION[3:]}' section of {args.docs}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
