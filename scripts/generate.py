"""Regenerate the code made from proto/, or check that the committed copy is fresh.

    python scripts/generate.py          # write server/monotreme/v1/
    python scripts/generate.py --check  # exit 1 when the committed code is stale

Also copies google/api/*.proto from the googleapis-common-protos wheel into
build/proto-deps/ (git-ignored), where protoc and buf find them.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import google.api.annotations_pb2

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
DEPS = ROOT / "build" / "proto-deps"
OUT = ROOT / "server"
PACKAGE = Path("monotreme") / "v1"


def copy_deps() -> None:
    source = Path(google.api.annotations_pb2.__file__).parent
    target = DEPS / "google" / "api"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("annotations.proto", "http.proto"):
        shutil.copyfile(source / name, target / name)


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / PACKAGE).glob("*.proto"))
    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{DEPS}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    (out / PACKAGE / "__init__.py").write_text(
        '"""Code generated from proto/monotreme/v1 by scripts/generate.py."""\n'
    )


def stale(fresh: Path) -> list[str]:
    compare = filecmp.dircmp(fresh / PACKAGE, OUT / PACKAGE, ignore=["__pycache__"])
    return sorted(compare.left_only + compare.right_only + compare.diff_files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed code is stale")
    args = parser.parse_args()
    copy_deps()
    if not args.check:
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        differ = stale(Path(tmp))
    if differ:
        print("generated code is stale; run `python scripts/generate.py`:", *differ, sep="\n  ")
        return 1
    print("generated code is fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
