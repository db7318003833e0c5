"""Generate Python code for everything under proto/ into archivers/_proto/.

The Temporal API messages our protos import are not shipped as .proto files; their
descriptors are taken from the installed ``temporalio`` package and handed to protoc
as a descriptor set, and imports of ``temporal.api`` are rewritten to ``temporalio.api``.
This is the only code generator of the project; CI runs it and fails on a diff.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import shutil
import sys
import tempfile

from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "archivers" / "_proto"

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


def main() -> int:
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = str(pathlib.Path(grpc_tools.__file__).parent / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        desc = pathlib.Path(tmp) / "temporal.desc"
        desc.write_bytes(_descriptor_set())
        gen = pathlib.Path(tmp) / "out"
        gen.mkdir()
        args = [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--descriptor_set_in={desc}",
            f"--python_out={gen}",
            f"--plugin=protoc-gen-mypy={shutil.which('protoc-gen-mypy') or 'protoc-gen-mypy'}",
            f"--mypy_out={gen}",
            f"--grpc_python_out={gen}",
            *protos,
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


if __name__ == "__main__":
    sys.exit(main())
