"""The protocol's files carry the options other languages' generators read (Go, Java/Kotlin, C#, PHP, Ruby), and
the committed stubs were generated from them (`make check-protos` checks the bytes; this checks the options)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PROTOS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "proto" / "aios" / "v1").glob("*.proto"))


@pytest.mark.parametrize("name", PROTOS)
def test_each_proto_names_its_package_for_other_languages(name: str) -> None:
    options = importlib.import_module(f"aios._proto.aios.v1.{name}_pb2").DESCRIPTOR.GetOptions()
    assert (options.go_package, options.java_package, options.java_multiple_files) == (
        "aios/v1;aiosv1", "dev.aios.v1", True,
    )  # fmt: skip
    assert options.java_outer_classname == "".join(w.capitalize() for w in name.split("_")) + "Proto"
    assert (options.csharp_namespace, options.php_namespace, options.ruby_package) == (
        "Aios.V1",
        "Aios\\V1",
        "Aios::V1",
    )


def test_the_protocol_has_its_six_files() -> None:
    assert PROTOS == ["admin", "common", "context", "files", "llm", "memory"]
