"""Regenerate aios/_proto from proto/ with the pinned grpcio-tools (pip install -e '.[protos]').

CI runs this and fails when the committed stubs differ from what it produces.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "proto"
OUT = ROOT / "aios" / "_proto"
# protoc writes `from aios.v1 import x_pb2`; the stubs live under aios._proto.
IMPORT_FIX = (re.compile(r"^from aios\.v1 import", re.M), "from aios._proto.aios.v1 import")
IMPORT_FIX_PYI = (re.compile(r"^import aios\.v1\.(\w+)", re.M), r"import aios._proto.aios.v1.\1")


def main() -> int:
    protos = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.proto"))
    mypy_grpc = shutil.which("protoc-gen-mypy_grpc", path=str(Path(sys.executable).parent))
    if mypy_grpc is None:  # checked before anything is removed: a failed run leaves the stubs as they were
        print("protoc-gen-mypy_grpc not found: pip install -e '.[protos]'", file=sys.stderr)
        return 1
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{SRC}",
        f"--python_out={OUT}", f"--pyi_out={OUT}", f"--grpc_python_out={OUT}",
        f"--plugin=protoc-gen-mypy_grpc={mypy_grpc}", f"--mypy_grpc_out={OUT}", *protos,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=SRC)
    for path in OUT.rglob("*.py*"):
        text = path.read_text()
        for pattern, repl in (IMPORT_FIX, IMPORT_FIX_PYI):
            text = pattern.sub(repl, text)
        path.write_text(text)
    for pkg in [OUT, *[p for p in OUT.rglob("*") if p.is_dir()]]:
        (pkg / "__init__.py").touch()
    print(f"generated {len(protos)} protos into {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
