"""The light SDK (sdk/pyproject.toml, distribution `aios-client`): built from this repository, installed alone into a
fresh virtual environment, it brings only grpcio and protobuf, and talks to a real kernel there — adding and
searching notes, streaming a file, and the error tree — with no torch, chromadb, llama.cpp or SQL in sight.
And the kernel's wheel does not ship the SDK's files (both would own them)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from aios.kernel import Kernel

ROOT = Path(__file__).resolve().parent.parent
SDK_FILES = ("aios/__init__.py", "aios/py.typed", "aios/errors.py", "aios/_defaults.py")
SDK_DIRS = ("aios/client/", "aios/_proto/")
SERVER_SIDE = ("torch", "chromadb", "llama_cpp", "sentence_transformers", "sqlalchemy", "starlette", "mcp")
ALLOWED_DISTRIBUTIONS = {"aios-client", "grpcio", "protobuf", "typing-extensions", "pip", "setuptools"}
"""grpcio needs typing-extensions; pip and setuptools come with any venv."""

pytestmark = pytest.mark.slow


def build_wheel(project: Path, out: Path) -> Path:
    """A wheel of `project`, built as pip builds it (hatchling, in an isolated build environment)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(project)],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with the light SDK's wheel and whatever pip says it needs."""
    base = tmp_path_factory.mktemp("light")
    wheel = build_wheel(ROOT / "sdk", base / "dist")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def run_in(venv: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`code` in the venv's interpreter, isolated (-I: neither the working directory nor PYTHON* variables on
    sys.path), from a directory outside the repository."""
    return subprocess.run([str(venv / "bin" / "python"), "-I", "-c", textwrap.dedent(code), *args],
                          cwd=venv, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_light_sdk_installs_with_grpcio_and_protobuf_only(light_venv: Path) -> None:
    listed = run_in(light_venv, """
        import importlib.metadata as md, importlib.util as u, json, re, sys
        names = sorted(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions())
        print(json.dumps({"dists": names, "server": [m for m in sys.argv[1:] if u.find_spec(m) is not None]}))
    """, *SERVER_SIDE)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {"aios-client", "grpcio", "protobuf"} <= set(found["dists"]) <= ALLOWED_DISTRIBUTIONS, found["dists"]
    assert found["server"] == []


def test_a_fresh_venv_talks_to_the_kernel(light_venv: Path, sqlite_kernel: Kernel) -> None:
    from aios.client import Client

    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        token = admin.create_agent("light").token
    done = run_in(light_venv, """
        import json, sys
        from aios.client import Client
        from aios.errors import NotFound

        target, token = sys.argv[1:]
        with Client(target, token) as c:
            note = c.add_note("The light SDK reached the kernel with grpcio alone", tags=["light"])
            hits = c.search("which SDK reached the kernel?", k=3)
            c.write_file("/light/hello.txt", "hello from a fresh venv\\n")
            with c.open("/light/hello.txt", "rb") as f:
                read = f.read().decode()
            try:
                c.get_note("0" * 32)
                missing = "found"
            except NotFound as exc:
                missing = type(exc).__name__
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "aios")
        print(json.dumps({"id": note.id, "hits": [h.note.id for h in hits], "read": read, "missing": missing,
                          "loaded": loaded, "file": __import__("aios").__file__}))
    """, sqlite_kernel.target, token)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["hits"][0] == out["id"]
    assert out["read"] == "hello from a fresh venv\n" and out["missing"] == "NotFound"
    assert str(light_venv) in out["file"], "aios came from the venv, not the repository"
    with Client(sqlite_kernel.target, token) as agent:  # the kernel has what the light client wrote
        assert agent.get_note(out["id"]).tags == ["light"]


def test_the_kernels_wheel_leaves_the_sdk_to_the_sdk(tmp_path: Path) -> None:
    kernel = zipfile.ZipFile(build_wheel(ROOT, tmp_path / "kernel"))
    kernel_files = kernel.namelist()
    sdk_files = zipfile.ZipFile(build_wheel(ROOT / "sdk", tmp_path / "sdk")).namelist()
    shipped = [f for f in sdk_files if f.startswith("aios/")]
    assert set(SDK_FILES) <= set(shipped) and all(any(f.startswith(d) for f in shipped) for d in SDK_DIRS)
    assert not set(shipped) & set(kernel_files), "a file both distributions ship"
    assert "aios/kernel.py" in kernel_files and "aios/memory/service.py" in kernel_files
    assert not [f for f in kernel_files if f.split("/")[0] in ("agents", "fs", "memory", "syscalls")]
    metadata = kernel.read(next(f for f in kernel_files if f.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: aios-client==0.1.0" in metadata
