"""The deployment examples under ``deploy/`` are valid: every sidecar config loads with the project's
own loaders, the Kubernetes manifest has the expected documents, and the sidecar really starts with
``deploy/sidecar/file.yaml`` and answers health, archive and query calls.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from archivers.cli import main as cli_main
from archivers.config import load_config
from archivers.interfaces import QueryVisibilityRequest
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.testing.sample import sample_records
from sidecar import SERVICE_NAME
from sidecar.config import load_sidecar_config
from tests.harness.emulators import free_port

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SIDECAR_CONFIGS = sorted((DEPLOY / "sidecar").glob("*.yaml"))
MANIFEST = DEPLOY / "kubernetes" / "sidecar.yaml"
PORT = 7299

# file name -> the scheme its archival section configures, for history and visibility alike
EXPECTED_SCHEME = {
    "file.yaml": "file",
    "s3.yaml": "s3",
    "gcs.yaml": "gs",
    "azure.yaml": "azblob",
    "fsspec-sftp.yaml": "fsspec+sftp",
}


def test_every_backend_has_an_example() -> None:
    assert sorted(p.name for p in SIDECAR_CONFIGS) == sorted(EXPECTED_SCHEME)
    for name in ("Containerfile", "README.md"):
        assert (DEPLOY / name).is_file(), name


@pytest.mark.parametrize("path", SIDECAR_CONFIGS, ids=lambda p: p.name)
def test_sidecar_config_loads(path: Path) -> None:
    """Both loaders accept the file; it configures its scheme for history and visibility."""
    scheme = EXPECTED_SCHEME[path.name]
    archival = load_config(str(path))
    assert set(archival.history) == {scheme}
    assert set(archival.visibility) == {scheme}
    config = load_sidecar_config(str(path))
    assert config.archival.history == archival.history
    assert config.archival.visibility == archival.visibility
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert "sidecar" in document, "every example shows the sidecar section"
    assert config.listen == document["sidecar"]["listen"]


def _manifest() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if doc is not None]


def _sidecar_container(deployment: dict[str, Any]) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    containers = [
        c for c in spec.get("initContainers", []) + spec.get("containers", []) if c["name"] == "archiver-sidecar"
    ]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def test_kubernetes_manifest_documents() -> None:
    docs = _manifest()
    assert [doc["kind"] for doc in docs] == ["ConfigMap", "Deployment", "Deployment"]
    assert {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Deployment"} == {
        "temporal-history",
        "temporal-frontend",
    }
    configmap = docs[0]
    for deployment in docs[1:]:
        container = _sidecar_container(deployment)
        assert container["restartPolicy"] == "Always"  # a native sidecar
        assert container["args"][0] == "serve"
        assert f"0.0.0.0:{PORT}" in container["args"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == PORT, probe
        assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
        assert container["securityContext"]["runAsNonRoot"] is True
        assert container["resources"]["requests"]
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/archiver")
        assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]


def test_kubernetes_configmap_config_loads(tmp_path: Path) -> None:
    """The config embedded in the ConfigMap is one the sidecar accepts, under the file name the args use."""
    configmap = _manifest()[0]
    assert set(configmap["data"]) == {"sidecar.yaml"}
    path = tmp_path / "sidecar.yaml"
    path.write_text(configmap["data"]["sidecar.yaml"], encoding="utf-8")
    config = load_sidecar_config(str(path))
    assert config.archival.history_settings("s3")


def test_containerfile_runs_the_documented_command() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert "pip install '.[all]'" in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert 'CMD ["serve", "--config", "/etc/archiver/sidecar.yaml", "--listen", "0.0.0.0:7299"]' in text
    assert not re.search(r"^HEALTHCHECK", text, re.MULTILINE)


@pytest.fixture
def file_sidecar(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``archiver serve`` on a copy of deploy/sidecar/file.yaml: loopback port free, archive dir in tmp_path."""
    archive = tmp_path / "temporal-archival"
    address = f"127.0.0.1:{free_port()}"
    text = (DEPLOY / "sidecar" / "file.yaml").read_text(encoding="utf-8")
    assert "listen: 127.0.0.1:7299" in text and "/var/lib/temporal-archival" in text
    text = text.replace("listen: 127.0.0.1:7299", f"listen: {address}")
    text = text.replace("/var/lib/temporal-archival", str(archive))
    config = tmp_path / "sidecar.yaml"
    config.write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config)],  # listen from the file
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield address, archive
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_sidecar_starts_with_the_file_example(file_sidecar: tuple[str, Path]) -> None:
    address, archive = file_sidecar
    with connect(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service
        uri = f"file://{archive}/visibility"
        # the fileMode below applies to the filestore layout (a new root would be native by default)
        assert cli_main(["init", "--uri", uri, "--layout", "filestore"]) == 0
        RemoteHistoryArchiver(channel, timeout=10).validate_uri(f"file://{archive}/history")
        visibility = RemoteVisibilityArchiver(channel, timeout=10)
        visibility.validate_uri(uri)
        records = sample_records("ns-id", count=3)
        for record in records:
            visibility.archive(uri, record)
        found = visibility.query(uri, QueryVisibilityRequest(namespace_id="ns-id", page_size=10))
        assert len(found.executions) == len(records)
    written = [p for p in (archive / "visibility").rglob("*.visibility")]
    assert len(written) == len(records)
    # the example's fileMode "0640" reached the filestore backend
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o640}
