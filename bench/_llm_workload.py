"""LLM benchmark, the workload: the model settings both sides share, the agents' conversations and the flood's
prompts, and starting the two servers (the kernel and llama-cpp-python's server) (bench/llm_multiagent.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from _servers import KernelProcess, ServerProcess, free_port

N_CTX = 4096
N_THREADS = 1
N_BATCH = 256  # the kernel's llama.cpp batch; the baseline server is given the same
# Both sides: passive OpenMP waits (spinning threads on a busy 2-core machine are catastrophically slow).
SERVER_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
# Sampling sent by both sides: greedy; the server's default repeat_penalty (1.1) set to the kernel's (1.0).
SAMPLING = {"temperature": 0.0, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}
LLAMA_SERVER_FLAGS = (
    f"--n_threads {N_THREADS} --n_threads_batch {N_THREADS} --n_ctx {N_CTX} --n_batch {N_BATCH} "
    "--interrupt_requests False"
)

# -- the conversations ------------------------------------------------------------------------------

SYSTEM = (
    "You are a concise, friendly assistant helping people with everyday projects. Answer in two or three "
    "short sentences, stay on the topic the user raises, and do not repeat the question back."
)
# (project, for whom, a worry, an alternative someone suggests)
TOPICS = [
    ("moving our team wiki to a new server", "my manager", "losing the old page history",
     "exporting every page to PDF"),
    ("planning a one-day hiking trip near Lisbon", "my two cousins", "the weather turning bad in the afternoon",
     "renting bikes instead of walking"),
    ("a birthday dinner for twelve guests", "my grandmother", "guests with nut allergies",
     "ordering pizza for everyone"),
    ("upgrading the office laptops to a new operating system", "the finance team",
     "old printers that may stop working", "waiting another year"),
    ("a small vegetable garden on a balcony", "my neighbour", "pigeons eating the seedlings",
     "growing everything in hanging pots"),
    ("learning basic Spanish before a trip", "my partner", "forgetting the words after a few weeks",
     "watching films without subtitles"),
    ("a weekly newsletter for our book club", "the club members", "people not opening the emails",
     "posting on a forum instead"),
    ("cleaning up a messy shared photo folder", "my family", "deleting a photo someone still needs",
     "buying a bigger hard drive"),
    ("a charity bake sale at the school", "the parents' committee", "rain on the day of the sale",
     "selling only cookies"),
    ("setting up backups for a home server", "my brother", "a backup that silently fails",
     "copying the files by hand once a month"),
    ("training for a ten kilometre run", "my running group", "a sore knee after long runs",
     "running every single day"),
    ("writing a short user guide for our app", "new customers", "screenshots getting out of date",
     "recording videos instead"),
]  # fmt: skip
TURNS = [
    "Hi! I am working on {project} for {person}. What are the first two things I should check before I start, "
    "and why do they matter?",
    "Thanks. We have about {days} days and a small budget. Which of those two steps would you do first, and "
    "how long should it take?",
    "Good point. One worry is {worry}. How would I handle that without slowing the rest of the work down?",
    "Can you suggest a simple way to track progress on {project}? Something a busy person could update in "
    "five minutes a week.",
    "Someone suggested {idea} instead. Is that a better idea, or would it cause new problems later on?",
    "Great. Please summarise the plan for {project} in three short bullet points I can send to {person}.",
]
FLOOD = (
    "Write a long and detailed story, at least six paragraphs, about {project}. Describe every step, the "
    "people involved, what went wrong and how it was fixed in the end. This is draft number {n}."
)


def user_turn(agent: int, turn: int) -> str:
    project, person, worry, idea = TOPICS[agent % len(TOPICS)]
    text = TURNS[turn % len(TURNS)].format(project=project, person=person, worry=worry, idea=idea,
                                           days=7 + (agent * 5 + turn * 3) % 40)  # fmt: skip
    if turn >= len(TURNS):
        text = f"(Follow-up {turn // len(TURNS)}) {text}"
    return text


def flood_prompt(worker: int, n: int) -> str:
    return FLOOD.format(project=TOPICS[(worker + 3) % len(TOPICS)][0], n=n + 1)


# -- the two servers --------------------------------------------------------------------------------


def start_kernel(tmp: Path, quantum: int) -> KernelProcess:
    data_dir = tmp / "kernel-data"
    data_dir.mkdir(parents=True)
    (data_dir / "aios.toml").write_text(
        f'[llm]\nn_ctx = {N_CTX}\nn_threads = {N_THREADS}\npolicy = "fair"\nquantum = {quantum}\n'
    )
    kernel = KernelProcess(data_dir, tmp, SERVER_ENV | {"AIOS_METRICS_PORT": "-1"})
    kernel.start()
    return kernel


def start_llama_server(tmp: Path, model: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", str(N_THREADS), "--n_threads_batch", str(N_THREADS), "--n_ctx", str(N_CTX),
        "--n_batch", str(N_BATCH),
        # By default a streaming request is cut off as soon as another one waits; that would truncate
        # nearly every reply of concurrent agents.
        "--interrupt_requests", "False",
    ]  # fmt: skip
    server = ServerProcess("llama_cpp_server", cmd, tmp, SERVER_ENV)
    server.start()
    return server, f"http://127.0.0.1:{port}"
