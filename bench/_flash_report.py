"""Flash benchmark, the `## LLM: weights from flash` section of docs/benchmarks.md (bench/flash.py)."""

from __future__ import annotations

import statistics
from typing import Any

from _common import commit_note, section_head, yes
from _flash_disk import MB

SECTION = "## LLM: weights from flash"
REPRODUCE = ".venv/bin/python bench/flash.py"


def render_section(r: dict[str, Any], json_path: str) -> str:
    m, mem, disk, s = r["machine"], r["memory"], r["disk"], r["settings"]
    model_mb = r["model"]["bytes"] / MB
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
        *section_head(SECTION, "flash.py", json_path),
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
        f"{commit_note(r['git'])}. "
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
