"""File-system benchmark, the result and the `## File system (LSFS)` section of docs/benchmarks.md: the JSON
assembled from the parts run (a part not run is kept from the last result), the goals, and the section
(bench/fs_bench.py)."""

from __future__ import annotations

import json
from typing import Any

from _common import command_line, commit_note, fmt_load, git_state, section_head, yes
from _fs_kernel import WARMUP
from _fs_quality import KS

SECTION = "## File system (LSFS)"
REPRODUCE = ".venv/bin/python bench/fs_bench.py"

GOAL_WRITE_COST = 3.0  # kernel time per write / plain fsync'd write, at most (the goal)


def assemble(parts: dict[str, dict[str, Any] | None], previous: dict[str, Any], quick: bool) -> dict[str, Any]:
    """The JSON result; a part not run this time is kept from `previous` (never mixing quick and full runs)."""
    if bool(previous.get("quick")) != quick:
        previous = {}
    io, quality, lat = (parts[p] or previous.get(f"{p}_run") for p in ("io", "quality", "latency"))
    r: dict[str, Any] = {"benchmark": "file system (LSFS): write/read cost, retrieval quality, retrieve latency"}
    goals: dict[str, Any] = {}
    if io:
        w = io["workloads"]
        r["write_cost_ratio"] = w["small_text"]["write_cost_ratio"]
        r["write_cost_ratio_vs_atomic"] = w["small_text"]["write_cost_ratio_vs_atomic"]
        r["read_cost_ratio"] = w["small_text"]["read_cost_ratio"]
        r["write_cost_ratio_small_binary"] = w["small_binary"]["write_cost_ratio"]
        r["write_cost_ratio_1mb"] = w["big_binary"]["write_cost_ratio"]
        r["read_cost_ratio_1mb"] = w["big_binary"]["read_cost_ratio"]
        r["kernel_write_ms_small"] = w["small_text"]["write"]["kernel"]["mean_ms"]
        r["plain_write_ms_small"] = w["small_text"]["write"]["plain"]["mean_ms"]
        r["kernel_write_ms_1mb"] = w["big_binary"]["write"]["kernel"]["mean_ms"]
        r["plain_write_ms_1mb"] = w["big_binary"]["write"]["plain"]["mean_ms"]
        v = r["write_cost_ratio"]
        goals["write_cost_ratio"] = {"max": GOAL_WRITE_COST, "value": v, "met": v <= GOAL_WRITE_COST}
        v = r["write_cost_ratio_1mb"]
        goals["write_cost_ratio_1mb"] = {"max": GOAL_WRITE_COST, "value": v, "met": v <= GOAL_WRITE_COST}
    if quality:
        r["retrieve_recall_any@5"] = quality["retrieve"]["recall_any@5"]
        r["keyword_baseline_recall_any@5"] = quality["keyword"]["recall_any@5"]
        v, base = r["retrieve_recall_any@5"], r["keyword_baseline_recall_any@5"]
        goals["retrieve_recall_any@5"] = {"above": "keyword_baseline_recall_any@5", "baseline": base, "value": v,
                                          "met": v > base}  # fmt: skip
    if lat:
        r["retrieve_p50_ms_10k"] = lat["retrieve"]["p50_ms"]
        r["retrieve_p95_ms_10k"] = lat["retrieve"]["p95_ms"]
        r["retrieve_files"] = lat["files"]
    r["goals"] = goals
    r["load"] = {p: (x or {}).get("load") for p, x in (("io", io), ("quality", quality), ("latency", lat))}
    r["load"]["note"] = "os.getloadavg() (1, 5, 15 min) on a 2-core machine shared with other work"
    r["machine"] = next((x["machine"] for x in (io, quality, lat) if x), None)
    r["io_run"], r["quality_run"], r["latency_run"] = io, quality, lat
    r["quick"] = quick
    r["git"] = git_state()
    r["command"] = command_line()
    return r


# -- the docs section -------------------------------------------------------------------------------


def _code(c: dict[str, Any] | None) -> str:
    if not c:
        return "not recorded"
    dirty = " + uncommitted changes" if c["dirty"] else ""
    return f"kernel started {c['at']} at commit `{(c['commit'] or '?')[:12]}`{dirty}, sources {c['source_sha256']}"


def render_section(r: dict[str, Any], json_path: str) -> str:
    io, q, lat, g = r.get("io_run"), r.get("quality_run"), r.get("latency_run"), r["goals"]
    lines = section_head(SECTION, "fs_bench.py", json_path)
    if r.get("quick"):
        lines += ["**This is a `--quick` sanity run with a small workload, not the benchmark; rerun without "
                  "`--quick` for the figures.**", ""]  # fmt: skip
    lines += [
        "Each part drives its own kernel subprocess (`aios serve`, embedded SQLite + Chroma, AIOS_LLM_BACKEND=none) "
        "through the SDK's `Client`.",
        "",
        "| Metric | Goal | Measured | Met? |",
        "| --- | --- | ---: | --- |",
    ]
    if io:
        labels = {
            "small_text": "small text files (the headline `write_cost_ratio`)",
            "small_binary": "small binary files (not indexed)",
            "big_binary": "1 MiB binary files",
        }
        for kind, label in labels.items():
            w = io["workloads"][kind]
            lines.append(
                f"| Write cost, {label}: kernel time per write ÷ plain fsync'd write | ≤ {GOAL_WRITE_COST}× "
                f"| {w['write_cost_ratio']:.1f}× ({w['write']['kernel']['mean_ms']:.2f} vs "
                f"{w['write']['plain']['mean_ms']:.2f} ms) | {yes(w['write_cost_ratio'] <= GOAL_WRITE_COST)} |"
            )
        w = io["workloads"]["small_text"]
        lines += [
            f"| Write cost, small text files ÷ atomic write (rename + directory fsync) | none set "
            f"| {w['write_cost_ratio_vs_atomic']:.1f}× ({w['write']['atomic']['mean_ms']:.2f} ms) | — |",
            f"| Read cost, small text files: `read_file` ÷ `open().read()` | none set | {w['read_cost_ratio']:.0f}× "
            f"({w['read']['kernel']['mean_ms']:.2f} vs {w['read']['plain']['mean_ms']:.3f} ms) | — |",
        ]
    if q:
        gq = g["retrieve_recall_any@5"]
        lines.append(
            f"| Session recall_any@5, `retrieve` (LongMemEval dev, {q['protocol']['questions']} questions) "
            f"| above the keyword baseline ({gq['baseline']:.3f}) | {gq['value']:.3f} | {yes(gq['met'])} |"
        )
    if lat:
        lines += [
            f"| Retrieve p50 at {lat['files']:,} files, k={lat['k']} | none set | {lat['retrieve']['p50_ms']:.1f} ms "
            "| — |",
            f"| Retrieve p95 at {lat['files']:,} files, k={lat['k']} | none set | {lat['retrieve']['p95_ms']:.1f} ms "
            "| — |",
        ]
    if io:
        lines += [
            "",
            "### Versioned writes and reads",
            "",
            f"Small files are {io['small_bytes'][0]}-{io['small_bytes'][1]} bytes (uniform), big ones "
            f"{io['big_bytes'] >> 20} MiB. Each workload writes its paths several rounds: the first creates them, "
            "the others write new contents (a new version in the kernel, an overwrite on disk). Baselines, in the "
            "benchmark process on the same disk: **plain** = open, write, flush, `os.fsync`, close; **atomic** = "
            "the same into a temporary name, `os.replace`, fsync of the directory. The sides take turns batch by "
            "batch (rotating order); after each kernel batch the script waits, untimed, for the kernel's index, "
            "so the baselines never run beside it. Text files are indexed by the kernel in the background while "
            "its batch runs; binary ones are not indexed. Reads: every file's current contents twice, "
            "`Client.read_file` vs `open().read()` (both from the page cache).",
            "",
            "| Workload | Writes a side | Kernel ms (p50 / p95) | Plain ms | Atomic ms | Kernel ÷ plain "
            "| Kernel ÷ atomic | Creates: kernel ÷ plain | Read ms kernel / plain | Read ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        names = {"small_text": "small text (indexed)", "small_binary": "small binary", "big_binary": "1 MiB binary"}
        for kind, w in io["workloads"].items():
            k, p, a = w["write"]["kernel"], w["write"]["plain"], w["write"]["atomic"]
            lines.append(
                f"| {names.get(kind, kind)}, {w['files']} paths × {w['rounds']} | {w['writes_per_side']} "
                f"| {k['mean_ms']:.2f} ({k['p50_ms']:.2f} / {k['p95_ms']:.2f}) | {p['mean_ms']:.2f} "
                f"| {a['mean_ms']:.2f} | {w['write_cost_ratio']:.1f}× | {w['write_cost_ratio_vs_atomic']:.1f}× "
                f"| {w['create_cost_ratio']:.1f}× | {w['read']['kernel']['mean_ms']:.2f} / "
                f"{w['read']['plain']['mean_ms']:.3f} | {w['read_cost_ratio']:.0f}× |"
            )
        big = io["workloads"]["big_binary"]
        lines += [
            "",
            f"Throughput at 1 MiB: kernel writes {big['write']['kernel']['mb_per_s']:.0f} MB/s, plain "
            f"{big['write']['plain']['mb_per_s']:.0f} MB/s; kernel reads {big['read']['kernel']['mb_per_s']:.0f} "
            f"MB/s, plain {big['read']['plain']['mb_per_s']:.0f} MB/s. Waiting for the index after the small text "
            f"batches took {io['workloads']['small_text']['index_wait_s']:.1f} s in all (untimed). Load average "
            f"(1/5/15 min): {fmt_load(io['load']['before'])} before, {fmt_load(io['load']['after'])} after; other "
            f"processes used {io['workloads']['small_text']['phases']['write_kernel']['others_cores_avg']} cores "
            f"during the kernel's small text writes and "
            f"{io['workloads']['small_text']['phases']['write_plain']['others_cores_avg']} during the plain ones.",
            "",
        ]
    if q:
        p, d = q["protocol"], q["diagnostics"]
        lines += [
            "### Retrieval quality (LongMemEval dev, session level)",
            "",
            f"Per question a fresh agent whose tree holds its haystack, one file per session: {p['file_content']}. "
            f"{p['questions']} questions (skipped: {', '.join(f'{v} {k}' for k, v in p['skipped'].items())}); "
            f"{p['files']:,} files, {p['bytes'] / 1e6:.1f} MB, {p['chunks']:,} chunks. All files are written, the "
            f"index is awaited, then `retrieve(question, k=10)`. **Keyword baseline**: {p['keyword_baseline']}.",
            "",
            "| Ranking | "
            + " | ".join(f"any@{k}" for k in KS)
            + " | "
            + " | ".join(f"all@{k}" for k in KS)
            + " | "
            + " | ".join(f"NDCG@{k}" for k in KS)
            + " |",
            "| --- |" + " ---: |" * (3 * len(KS)),
        ]
        for name, label in (("retrieve", "`retrieve`"), ("keyword", "keyword baseline")):
            s = q[name]
            cells = [f"{s[f'{m}@{k}']:.3f}" for m in ("recall_any", "recall_all", "ndcg") for k in KS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", "| Type | Questions | retrieve any@5 | keyword any@5 | retrieve NDCG@5 | keyword NDCG@5 |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for t, s in q["retrieve"]["by_type"].items():
            b = q["keyword"]["by_type"][t]
            lines.append(f"| {t} | {s['questions']} | {s['recall_any@5']:.3f} | {b['recall_any@5']:.3f} "
                         f"| {s['ndcg@5']:.3f} | {b['ndcg@5']:.3f} |")  # fmt: skip
        vs = d["any@5_retrieve_vs_keyword"]
        lines += [
            "",
            f"Any@5 per question: both found {vs['both']}, only `retrieve` {vs['retrieve_only']}, only the keyword "
            f"baseline {vs['keyword_only']}, neither {vs['neither']}. Writing the {p['files']:,} files took "
            f"{d['write_s']:.0f} s ({d['write_files_per_s']:.1f} files/s); the index was idle "
            f"{d['index_wait_after_writes_s']:.0f} s after the last write ({d['index_chunks_per_s']:.1f} chunks/s "
            f"from the first write). Retrieve latency on these ~50-file trees: p50 "
            f"{d['retrieve_latency']['p50_ms']:.1f} ms. Load average: {fmt_load(q['load']['before'])} before, "
            f"{fmt_load(q['load']['after'])} after; other processes used {d['phase']['others_cores_avg']} cores on "
            "average meanwhile.",
            "",
        ]
    if lat:
        wr = lat["write"]
        lines += [
            f"### Retrieve latency at {lat['files']:,} files",
            "",
            f"One agent's tree holds {lat['files']:,} files: {lat['texts']['description']} (mean "
            f"{lat['texts']['chars_mean']} characters, one chunk each), written one `write_file` at a time, then "
            f"indexed. Then {lat['queries']} `retrieve(question, k={lat['k']})` one after another "
            f"({lat['distinct_queries']} distinct LongMemEval questions, cycling) after {WARMUP} warm-up queries: "
            f"p50 {lat['retrieve']['p50_ms']:.1f} ms, p95 {lat['retrieve']['p95_ms']:.1f} ms, mean "
            f"{lat['retrieve']['mean_ms']:.1f} ms. Writes: {wr['files_per_s']:.1f} files/s (mean "
            f"{wr['mean_ms']:.1f} ms; first tenth {wr['first_tenth_mean_ms']:.1f} ms, last tenth "
            f"{wr['last_tenth_mean_ms']:.1f} ms, the index running alongside); the index was idle "
            f"{lat['index']['wait_after_writes_s']:.0f} s after the last write. Load average: "
            f"{fmt_load(lat['load']['before'])} before, {fmt_load(lat['load']['after'])} after; other processes used "
            f"{lat['phases']['retrieve']['others_cores_avg']} cores during the queries.",
            "",
        ]
    m = r.get("machine") or {}
    problems = [x for part in (io, q, lat) if part for x in part["kernel"]["log_problems"]]
    codes = {name: part["kernel"].get("code") for name, part in (("io", io), ("quality", q), ("latency", lat)) if part}
    if len({json.dumps({k: v for k, v in (c or {}).items() if k != "at"}) for c in codes.values()}) > 1:
        lines += [
            "The parts ran on different code (the working tree changed between them): "
            + "; ".join(f"{name}: {_code(c)}" for name, c in codes.items())
            + ".",
            "",
        ]
    lines += [
        f"Machine: {m.get('cpu_count')} × {m.get('cpu_model')}, {m.get('ram_gb')} GB RAM, {m.get('platform')}; "
        f"Python {m.get('python')}, chromadb {m.get('chromadb')}, grpcio {m.get('grpcio')}, sqlalchemy "
        f"{m.get('sqlalchemy')}. Run on {m.get('date')} at commit {commit_note(r['git'])}. "
        "Kernel logs: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (options `--quick`, `--only io,quality,latency` (the other parts are kept from "
        f"the JSON), `--questions N`, `--content user|both`, `--files N`, `--help`). Raw figures, per question "
        f"too: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)
