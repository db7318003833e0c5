"""The conformance suite run through the sidecar: remote archivers calling an in-process server.

One server (on a free loopback port) serves the whole module; the suite's ``history`` and
``visibility`` fixtures are overridden to return :mod:`archivers.remote` archivers on a channel to it.
The server runs in this process, so the in-process stores (``memory://``, ``fsspec+memory://``) it
writes are the ones the test reads, and the emulator environment the fixtures set (moto,
fake-gcs-server, Azurite) is the sidecar's environment too.

The whole suite runs on all six backends: memory, file, s3 (moto), gs (fake-gcs-server), azblob
(Azurite) and fsspec+memory. The same suite without the sidecar is ``tests/test_conformance.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import grpc
import pytest

from archivers.interfaces import HistoryArchiver, VisibilityArchiver
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.testing.conformance import ArchiverConformance
from sidecar.server import SidecarServer


@pytest.fixture(scope="module")
def sidecar_channel() -> Iterator[grpc.Channel]:
    """A channel to a sidecar started in-process on a free port for this module."""
    server = SidecarServer(listen="127.0.0.1:0", grace=2)
    server.start()
    channel = connect(server.address)
    try:
        yield channel
    finally:
        channel.close()
        server.stop()


class _ThroughSidecar(ArchiverConformance):
    @pytest.fixture
    def history(self, sidecar_channel: grpc.Channel) -> HistoryArchiver:
        return RemoteHistoryArchiver(sidecar_channel, timeout=60)

    @pytest.fixture
    def visibility(self, sidecar_channel: grpc.Channel) -> VisibilityArchiver:
        return RemoteVisibilityArchiver(sidecar_channel, timeout=60)


class TestMemoryThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self) -> str:
        return f"memory://bucket-{uuid.uuid4().hex}/archive"


class TestFilestoreThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/archive"


class TestS3ThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self, s3_bucket: Any, moto_s3_env: Any) -> str:
        return f"s3://{s3_bucket.name}/archive"


class TestGcsThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self, gcs_bucket: Any, fake_gcs_env: Any) -> str:
        return f"gs://{gcs_bucket.name}/archive"


class TestAzureThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self, azure_container: Any, azurite_env: Any) -> str:
        return f"azblob://{azure_container.name}/archive"


class TestFsspecMemoryThroughSidecar(_ThroughSidecar):
    @pytest.fixture
    def archive_uri(self) -> Iterator[str]:
        filesystem = fsspec.filesystem("memory")
        root = f"/bucket-{uuid.uuid4().hex}/archive"
        filesystem.makedirs(root, exist_ok=True)
        yield f"fsspec+memory:/{root}"
        filesystem.rm(root.split("/archive")[0], recursive=True)
