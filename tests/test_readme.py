"""The README's Quickstart, executed: every ```sh and ```python block, in order, against a real kernel.

The kernel starts the way a user starts it (`aios serve` from the project's venv, embedded defaults, data in
`./aios-data`), in a temporary directory that stands for the repository: it holds the data directory and a
`.venv` link to the real venv, so `.venv/bin/aios` and `.venv/bin/grpcurl` work as written. The blocks run as
one user would run them: the shell blocks in one terminal (bash with `set -euo pipefail`; what a block exports
is in the environment of the blocks after it, and of Python started from that terminal), the Python blocks
pasted into one Python session (one namespace, each block sees the names of the blocks before it).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aios.client import Client
from tests.conftest import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
README_PORT = "50551"
_SHELL_OWN = {"_", "PWD", "OLDPWD", "SHLVL"}  # bash sets these itself; they are not the blocks' exports


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the block's first line of code in README.md
    code: str

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.lang})"


def quickstart_blocks(markdown: str) -> list[Block]:
    section = re.search(r"^## Quickstart\n.*?(?=^## )", markdown, re.M | re.S)
    assert section is not None, "README.md has no '## Quickstart' section followed by another '## ' section"
    blocks = []
    for fence in re.finditer(r"^```(python|sh)\n(.*?)^```$", section.group(), re.M | re.S):
        line = markdown.count("\n", 0, section.start() + fence.start(2)) + 1
        blocks.append(Block(fence.group(1), line, fence.group(2)))
    return blocks


BLOCKS = quickstart_blocks(README.read_text())


class UserSession:
    """A user's terminal and the Python session started from it, next to a running kernel."""

    def __init__(self, workdir: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workdir, self.port, self._env = workdir, port, monkeypatch
        self.namespace: dict[str, object] = {"__name__": "__main__"}
        self.failed: Block | None = None
        self.done = 0  # BLOCKS[:done] have run

    def run(self, block: Block) -> None:
        """Run `block`, after the blocks before it that have not run yet (when only some tests are selected)."""
        if self.failed is not None:
            pytest.skip(f"an earlier block failed: {self.failed}")
        for todo in BLOCKS[self.done : BLOCKS.index(block) + 1]:
            self.failed = todo  # until it has run through
            # The one rewrite: the kernel listens on a free port instead of the README's default.
            code = todo.code.replace(README_PORT, str(self.port))
            error = self._run_sh(code) if todo.lang == "sh" else self._run_python(code, todo)
            if error is not None:
                pytest.fail(f"{todo} failed:\n{textwrap.indent(todo.code, '    ')}\n{error}", pytrace=False)
            self.failed = None
            self.done += 1

    def _run_sh(self, code: str) -> str | None:
        env_file = self.workdir.parent / "exported.env"
        script = f"set -euo pipefail\n{code}\nenv -0 > {shlex.quote(str(env_file))}\n"
        try:
            proc = subprocess.run(["bash", "-c", script], cwd=self.workdir, env=dict(os.environ),
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            return f"still running after {exc.timeout:.0f} s\nstdout:\n{exc.stdout}\nstderr:\n{exc.stderr}"
        if proc.returncode != 0:
            return f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        for entry in env_file.read_text().split("\0"):
            name, _, value = entry.partition("=")
            if name and name not in _SHELL_OWN and os.environ.get(name) != value:
                self._env.setenv(name, value)
        return None

    def _run_python(self, code: str, block: Block) -> str | None:
        # Blank lines in front, so a traceback's line numbers are README.md's.
        compiled = compile("\n" * (block.line - 1) + code, str(README), "exec")
        try:
            exec(compiled, self.namespace)
        except Exception:
            return traceback.format_exc()
        return None

    def close_clients(self) -> None:
        for value in self.namespace.values():
            if isinstance(value, Client):
                value.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserSession]:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "aios").exists():
        pytest.fail(f"run the tests with the project's venv (make test): no {venv / 'bin' / 'aios'}")
    workdir = tmp_path_factory.mktemp("readme") / "repository"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(venv)
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        # A clean terminal: none of the aios settings of the machine running the tests, only AIOS_PORT, the
        # free port `aios serve` listens on (a user moving the kernel off 50551 sets it the same way).
        for name in [n for n in os.environ if n.startswith("AIOS_")]:
            mp.delenv(name)
        mp.setenv("AIOS_PORT", str(port))
        mp.chdir(workdir)
        log = (workdir.parent / "kernel.log").open("w")
        # Metrics on a free port too, so that two test runs on one machine do not collide on 50552.
        kernel = subprocess.Popen([".venv/bin/aios", "serve"], cwd=workdir, stdout=subprocess.PIPE, stderr=log,
                                  text=True, env={**os.environ, "AIOS_METRICS_PORT": "0"})  # fmt: skip
        user = UserSession(workdir, port, mp)
        try:
            ready = kernel.stdout.readline() if kernel.stdout else ""
            assert "ready" in ready, (workdir.parent / "kernel.log").read_text()
            yield user
        finally:
            user.close_clients()
            kernel.send_signal(signal.SIGTERM)
            try:
                kernel.wait(60)
            except subprocess.TimeoutExpired:
                kernel.kill()
                kernel.wait()
            log.close()


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}-{b.lang}" for b in BLOCKS])
def test_quickstart_block_runs_as_written(block: Block, session: UserSession) -> None:
    session.run(block)
