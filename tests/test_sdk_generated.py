"""AsyncClient is generated from Client (scripts/gen_async_client.py): the committed aios/client/_async/ is what
the generator writes, and the two clients have the same methods with the same parameters."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aios.client import AsyncClient, Client

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_async_client.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_async_client", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_async_client_is_what_the_generator_writes() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"run `python scripts/gen_async_client.py`:\n{done.stderr}"


def test_a_change_to_the_sync_client_changes_the_async_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    source = tmp_path / "_sync"
    shutil.copytree(gen.SRC, source)
    with (source / "memory.py").open("a") as f:
        f.write("\n    def forget_everything(self) -> int:\n        return self._call(self._ops.memory.run_decay())\n")
    monkeypatch.setattr(gen, "SRC", source)
    memory = gen.generate()[gen.OUT / "memory.py"]
    assert memory != (gen.OUT / "memory.py").read_text()
    assert "async def forget_everything(self) -> int:\n        return await self._call(" in memory


def _public(cls: type) -> dict[str, object]:
    return {name: getattr(cls, name) for name in dir(cls) if not name.startswith("_")}


def test_both_clients_have_the_same_methods_and_parameters() -> None:
    sync, asyncio_ = _public(Client), _public(AsyncClient)
    assert sorted(sync) == sorted(asyncio_)
    for name, method in sync.items():
        twin = asyncio_[name]
        params, twin_params = inspect.signature(method).parameters, inspect.signature(twin).parameters
        assert params.keys() == twin_params.keys(), name
        for a, b in zip(params.values(), twin_params.values(), strict=True):
            assert (a.kind, a.default) == (b.kind, b.default), f"{name}({a.name})"
        if name == "as_agent":
            assert not inspect.iscoroutinefunction(twin)
        elif inspect.isgeneratorfunction(method):  # a stream: `async for` over the call
            assert inspect.isasyncgenfunction(twin), name
        else:
            assert inspect.iscoroutinefunction(twin), name
    assert inspect.iscoroutinefunction(AsyncClient.__aenter__) and inspect.iscoroutinefunction(AsyncClient.__aexit__)
