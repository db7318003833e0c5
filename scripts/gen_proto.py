"""Generate the Python (archivers/_proto/) and Go (shim/gen/) code for everything under proto/.

The Temporal API messages our protos import are not shipped as .proto files; their
descriptors are taken from the installed ``temporalio`` package and handed to protoc
as a descriptor set, and imports of ``temporal.api`` are rewritten to ``temporalio.api``.
The Go plugins (protoc-gen-go, protoc-gen-go-grpc) are the `tool` dependencies pinned in
shim/go.mod, built with the Go toolchain; `--python-only` skips them on a machine without Go.
This is the only code generator of the project; CI runs it and fails on a diff.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "archivers" / "_proto"
SHIM_DIR = ROOT / "shim"
GO_OUT_DIR = SHIM_DIR / "gen"
GO_MODULE = "github.com/temporal-archivers/temporal-archivers/shim"
GO_PLUGINS = {
    "protoc-gen-go": "google.golang.org/protobuf/cmd/protoc-gen-go",
    "protoc-gen-go-grpc": "google.golang.org/grpc/cmd/protoc-gen-go-grpc",
}

TEMPORAL_MODULES = [
    "temporalio.api.common.v1.message_pb2",
    "temporalio.api.enums.v1.workflow_pb2",
    "temporalio.api.history.v1.message_pb2",
]


def _descriptor_set() -> bytes:
    """Serialize a FileDescriptorSet holding the Temporal API files and their dependencies."""
    seen: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(file_descriptor) -> None:  # type: ignore[no-untyped-def]
        if file_descriptor.name in seen or file_descriptor.name.startswith("google/protobuf/"):
            return
        for dep in file_descriptor.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        seen[file_descriptor.name] = proto

    for module in TEMPORAL_MODULES:
        add(importlib.import_module(module).DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=list(seen.values())).SerializeToString()


def _protoc_base_args(desc: pathlib.Path) -> list[str]:
    """protoc arguments shared by both languages: include paths and the Temporal descriptor set."""
    import grpc_tools

    well_known = str(pathlib.Path(grpc_tools.__file__).parent / "_proto")
    return ["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--descriptor_set_in={desc}"]


def _protos() -> list[str]:
    return sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))


def _generate_go(desc: pathlib.Path, tmp: pathlib.Path) -> int:
    """Build the pinned Go plugins and regenerate shim/gen/ from proto/."""
    from grpc_tools import protoc

    bin_dir = tmp / "bin"
    env = {**os.environ, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "auto"), "GOFLAGS": "-mod=mod"}
    for name, package in GO_PLUGINS.items():
        subprocess.run(["go", "build", "-o", str(bin_dir / name), package], cwd=SHIM_DIR, env=env, check=True)
    gen = tmp / "go"
    gen.mkdir()
    args = [
        *_protoc_base_args(desc),
        f"--plugin=protoc-gen-go={bin_dir / 'protoc-gen-go'}",
        f"--plugin=protoc-gen-go-grpc={bin_dir / 'protoc-gen-go-grpc'}",
        f"--go_out={gen}",
        f"--go_opt=module={GO_MODULE}",
        f"--go-grpc_out={gen}",
        f"--go-grpc_opt=module={GO_MODULE}",
        *_protos(),
    ]
    if protoc.main(args) != 0:
        print("protoc (Go) failed", file=sys.stderr)
        return 1
    shutil.rmtree(GO_OUT_DIR, ignore_errors=True)
    shutil.copytree(gen / "gen", GO_OUT_DIR)
    return 0



def _generate_python(desc: pathlib.Path, tmp: pathlib.Path) -> int:
    """Regenerate archivers/_proto/ from proto/."""
    from grpc_tools import protoc

    gen = tmp / "out"
    gen.mkdir()
    args = [
        *_protoc_base_args(desc),
        f"--python_out={gen}",
        f"--plugin=protoc-gen-mypy={shutil.which('protoc-gen-mypy') or 'protoc-gen-mypy'}",
        f"--mypy_out={gen}",
        f"--grpc_python_out={gen}",
        *_protos(),
    ]
    # protoc resolves descriptor_set_in files before include paths, so the
    # well-known types must be found through -I; pass the desc set only for temporal/.
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for old in OUT_DIR.rglob("*"):
        if old.is_file() and old.name != "__init__.py":
            old.unlink()
    for path in sorted(gen.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text()
        if path.name.endswith("_grpc.py") and "class " not in text.split("import grpc", 1)[-1]:
            continue  # protoc writes an empty service module for files without services
        text = re.sub(r"^(from|import) temporal\.api\.", r"\1 temporalio.api.", text, flags=re.M)
        text = re.sub(r"^from temporal_archivers\.", "from archivers._proto.temporal_archivers.", text, flags=re.M)
        text = re.sub(
            r"^import temporal_archivers\.",
            "import archivers._proto.temporal_archivers.",
            text,
            flags=re.M,
        )
        target = OUT_DIR / path.relative_to(gen)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for directory in [OUT_DIR, *[d for d in OUT_DIR.rglob("*") if d.is_dir()]]:
        (directory / "__init__.py").touch()
    return 0


def main() -> int:
    python_only = "--python-only" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        desc = pathlib.Path(tmp) / "temporal.desc"
        desc.write_bytes(_descriptor_set())
        status = _generate_python(desc, pathlib.Path(tmp))
        if status == 0 and not python_only:
            status = _generate_go(desc, pathlib.Path(tmp))
        return status


if __name__ == "__main__":
    sys.exit(main())
