"""The light SDK's files, taken from the repository's aios/ package when a wheel is built.

Not for an editable install (`make install`): its .pth puts the repository root on sys.path, so `aios` is the
working tree's whole package, and a copy of the SDK's files in site-packages would shadow it."""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SDK = ("__init__.py", "py.typed", "errors.py", "_defaults.py", "client", "_proto")


class SdkFiles(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "editable":
            build_data["force_include"].update({f"../aios/{name}": f"aios/{name}" for name in SDK})
