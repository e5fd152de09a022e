"""Regenerate the code made from proto/, or check that the committed copy is fresh.

    python scripts/generate.py          # write both trees below
    python scripts/generate.py --check  # exit 1 when the committed code is stale
    python scripts/generate.py --deps   # only copy the imported protos (for buf generate)

server/monotreme/v1/: protobuf classes and grpcio stubs, for the server and
gateway. clients/python/monotreme_client/proto/: betterproto2 dataclasses
for the typed client (its transport is grpc.aio, so no stubs).

Also copies google/api/*.proto from the googleapis-common-protos wheel into
build/proto-deps/ (git-ignored), where protoc and buf find them, with
google/rpc/error_details.proto for the clients that buf generates.
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
PACKAGE = Path("monotreme") / "v1"
SERVER_OUT = ROOT / "server"
CLIENT_OUT = ROOT / "clients" / "python" / "monotreme_client" / "proto"


# What proto/ imports, and google.rpc.ErrorInfo, which the server sends in
# its status details (for clients generated from the workspace).
DEP_FILES = ("api/annotations.proto", "api/http.proto", "rpc/error_details.proto")


def copy_deps() -> None:
    source = Path(google.api.annotations_pb2.__file__).parent.parent
    for name in DEP_FILES:
        (DEPS / "google" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, DEPS / "google" / name)


def protoc(*options: str) -> None:
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / PACKAGE).glob("*.proto"))
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", f"-I{DEPS}", *options, *protos]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)


def generate(server_out: Path, client_out: Path) -> None:
    (server_out / PACKAGE).mkdir(parents=True, exist_ok=True)
    protoc(
        f"--python_out={server_out}",
        f"--grpc_python_out={server_out}",
        f"--mypy_out={server_out}",
        f"--mypy_grpc_out={server_out}",
    )
    (server_out / PACKAGE / "__init__.py").write_text(
        '"""Code generated from proto/monotreme/v1 by scripts/generate.py."""\n'
    )
    shutil.rmtree(client_out, ignore_errors=True)
    client_out.mkdir(parents=True)
    protoc(f"--python_betterproto2_out={client_out}", "--python_betterproto2_opt=client_generation=none")


def stale(fresh: Path, committed: Path) -> list[str]:
    """Files that differ between two trees, recursively."""
    compare = filecmp.dircmp(fresh, committed, ignore=["__pycache__"])
    differ = [str(committed / name) for name in compare.left_only + compare.right_only + compare.diff_files]
    for name in compare.common_dirs:
        differ += stale(fresh / name, committed / name)
    return sorted(differ)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed code is stale")
    parser.add_argument("--deps", action="store_true", help="only copy imported protos to build/")
    args = parser.parse_args()
    copy_deps()
    if args.deps:
        return 0
    if not args.check:
        generate(SERVER_OUT, CLIENT_OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        server_out, client_out = Path(tmp) / "server", Path(tmp) / "client"
        generate(server_out, client_out)
        differ = stale(server_out / PACKAGE, SERVER_OUT / PACKAGE) + stale(client_out, CLIENT_OUT)
    if differ:
        print("generated code is stale; run `python scripts/generate.py`:", *differ, sep="\n  ")
        return 1
    print("generated code is fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
