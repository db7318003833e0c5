"""Fixtures of the end-to-end suite: the shim server binary, one sidecar process serving file://,
s3:// (moto) and azblob:// (Azurite), and a Temporal server built with the shim that archives
through it.

The server binary is built once per session with ``scripts/build_server.sh`` (incremental ``go
build``; ``TEMPORAL_ARCHIVERS_SERVER=PATH`` uses a prebuilt binary instead). When a test fails, the
tails of the server's and the sidecar's logs are attached to its report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.emulators import (
    AzuriteBlobServer,
    EmulatorError,
    FakeGcsServer,
    MotoS3Server,
)
from tests.harness.temporal_server import (
    ArchiversTemporalServer,
    SidecarProcess,
    build_server,
)

from .e2e_helpers import WATCHED, start_server, start_watched, unwatch


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """On a failure (setup or call), add the log tails of the watched server and sidecar processes."""
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and "/e2e/" in str(item.path):
        for process in list(WATCHED):
            text = process.log_tail()
            # The Azure SDK logs every request with its headers at INFO: keep the sidecar's own lines.
            lines = [
                line
                for line in text.splitlines()
                if line[:1] not in (" ", "\t") and "azure.core" not in line and not line.startswith(("No body", "Re"))
            ]
            if lines:
                report.sections.append((f"{process.name} log (tail)", "\n".join(lines[-60:])))


@pytest.fixture(scope="session")
def server_binary() -> Path:
    """The shim server, built by ``scripts/build_server.sh`` (fails the test with the build output)."""
    problem = ""
    try:
        return build_server()
    except EmulatorError as err:
        problem = str(err)
    pytest.fail(f"cannot build the shim server: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory where server and sidecar logs are kept for the whole session."""
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def store_env(moto_s3: MotoS3Server, azurite: AzuriteBlobServer, fake_gcs: FakeGcsServer) -> dict[str, str]:
    """Environment that points boto3 at moto, azure-storage-blob at Azurite and google-cloud-storage at
    fake-gcs-server (hermetic AWS config, no Google credentials)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    env = {**moto_s3.env(), **azurite.env(), **fake_gcs.env()}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def sidecar_archival(moto_s3: MotoS3Server, azurite: AzuriteBlobServer) -> dict[str, Any]:
    """The sidecar's ``archival:`` section: filestore, s3store on moto (path style), gstorage (fake-gcs-server,
    found through ``STORAGE_EMULATOR_HOST`` in :func:`store_env`), azblob on Azurite."""
    provider: dict[str, Any] = {
        "filestore": {"fileMode": "0640", "dirMode": "0750"},
        "s3store": {"region": moto_s3.region, "endpoint": moto_s3.endpoint_url, "s3ForcePathStyle": True},
        "gstorage": {"timeout": 30, "retryDeadline": 60},
        "customStores": {
            "azblob": {
                "connectionString": azurite.connection_string,
                "maxAttempts": 2,
                "retryBackoff": 1,
                "connectionTimeout": 5,
                "readTimeout": 30,
            }
        },
    }
    return {
        "history": {"state": "enabled", "enableRead": True, "provider": provider},
        "visibility": {"state": "enabled", "enableRead": True, "provider": provider},
    }


@pytest.fixture(scope="session")
def sidecar(
    moto_s3: MotoS3Server, azurite: AzuriteBlobServer, store_env: dict[str, str], e2e_logs: Path
) -> Iterator[SidecarProcess]:
    """``archiver serve`` for file://, s3:// (moto), gs:// (fake-gcs-server) and azblob:// (Azurite), metrics
    enabled."""
    process = start_watched(
        SidecarProcess(sidecar_archival(moto_s3, azurite), env=store_env, log_dir=e2e_logs), "sidecar"
    )
    try:
        yield process
    finally:
        unwatch(process)
        process.stop()


@pytest.fixture(scope="session")
def sidecar_config(sidecar: SidecarProcess, e2e_logs: Path) -> Path:
    """The sidecar's config as a file, for ``archiver --config`` (reads the same stores directly)."""
    return sidecar.write_config(e2e_logs / "sidecar-config.yaml")


@pytest.fixture(scope="session")
def temporal_server(
    server_binary: Path, sidecar: SidecarProcess, store_env: dict[str, str], e2e_logs: Path
) -> Iterator[ArchiversTemporalServer]:
    """The shim server (SQLite in memory) archiving file://, azblob://, s3:// and gs:// through ``sidecar``."""
    server = ArchiversTemporalServer(
        executable=server_binary, sidecar_address=sidecar.address, env=store_env, log_dir=e2e_logs
    )
    start_server(server)
    try:
        yield server
    finally:
        unwatch(server)
        server.stop()
