"""``pip install temporal-archivers`` with no extras gives a working library and ``archiver`` command.

The checkout's package files are copied to a scratch directory (so the build leaves nothing in the
work tree) and installed, not editable, into a fresh ``python -m venv`` that has no extras and no
dev group. Then every module of the installed ``archivers`` package is imported there: each must
import, or fail only for want of a package that an extra provides, and only the conformance suite
may need pytest. The process harness of ``tests/harness`` must not be in the installed package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ("pyproject.toml", "README.md", "archivers", "sidecar")

#: The modules each extra of ``pyproject.toml`` installs (with their submodules).
EXTRA_MODULES = {
    "s3": ("boto3", "botocore"),
    "gcs": ("google.cloud", "google.auth", "google.api_core", "requests"),
    "azure": ("azure",),
    "fsspec": ("fsspec",),
    "sidecar": ("grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.rpc", "prometheus_client"),
}
EXTRA_IMPORTS = tuple(name for names in EXTRA_MODULES.values() for name in names)
#: Modules that may import pytest: the shipped conformance suite.
CONFORMANCE_MODULES = {
    "archivers.testing.conformance",
    "archivers.testing.lifecycle_conformance",
    "archivers.testing.store_conformance",
}
#: Modules that must import with no extra at all: the library's core and the command line.
CORE_MODULES = ("archivers", "archivers.cli", "archivers.registry", "archivers.errors", "archivers.interfaces",
                "archivers.uri", "archivers.testing.synthetic", "archivers.testing.sample")  # fmt: skip

IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import archivers
results = {}
for module in ["archivers", *sorted(m.name for m in pkgutil.walk_packages(archivers.__path__, "archivers."))]:
    if module.endswith(".__main__"):  # runs the command when imported
        continue
    try:
        importlib.import_module(module)
        results[module] = None
    except ImportError as error:
        results[module] = error.name or str(error)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``temporal-archivers`` installed from a wheel of the checkout: no extras, no dev group.

    The wheel is built by this interpreter's setuptools (no isolated build environment) and installed,
    with the dependencies it declares, by this interpreter's pip into the new venv (``pip --python``),
    so the venv needs no pip of its own.
    """
    root = tmp_path_factory.mktemp("bare-install")
    source = root / "source"
    source.mkdir()
    for name in PACKAGE_FILES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels = root / "wheels"
    build = _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(source)])
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout}\n{build.stderr}"
    (wheel,) = wheels.glob("temporal_archivers-*.whl")
    environment = root / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)
    install = _run([*pip, "--python", str(environment / "bin" / "python"), "install", str(wheel)])
    assert install.returncode == 0, f"pip install failed:\n{install.stdout}\n{install.stderr}"
    return environment


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` outside the checkout (so that nothing imports from it), capturing its output."""
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/")


def test_archiver_help_works_without_extras(bare_venv: Path) -> None:
    result = _run([str(bare_venv / "bin" / "archiver"), "--help"])
    assert result.returncode == 0, result.stderr
    for command in ("get", "put", "put-visibility", "query", "validate-uri", "serve"):
        assert command in result.stdout


def test_no_extra_is_installed(bare_venv: Path) -> None:
    """The check below means something only if the extras' and dev group's packages are really absent."""
    probe = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        print(name)\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    result = _run([str(bare_venv / "bin" / "python"), "-c", probe, "pytest", "moto", *EXTRA_IMPORTS])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], "packages of an extra or of the dev group are installed in the bare venv"


def test_every_module_imports_or_names_its_extra(bare_venv: Path) -> None:
    result = _run([str(bare_venv / "bin" / "python"), "-c", IMPORT_EVERY_MODULE])
    assert result.returncode == 0, result.stderr
    failures: dict[str, str | None] = json.loads(result.stdout)
    for module in CORE_MODULES:
        assert failures.get(module, "not installed") is None, f"{module}: {failures.get(module, 'not installed')}"
    for module, missing in failures.items():
        if missing is None:
            continue
        allowed = EXTRA_IMPORTS + (("pytest",) if module in CONFORMANCE_MODULES else ())
        assert any(missing == name or missing.startswith(f"{name}.") for name in allowed), (
            f"{module} needs {missing!r}, which no extra provides"
        )
    harness_names = {"emulators", "http_proxy", "temporal_server", "temporal_dev"}
    harness = [module for module in failures if module.rsplit(".", 1)[-1] in harness_names]
    assert not harness, f"process harness shipped in the package: {harness}"
