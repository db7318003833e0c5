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

from collections.abc import Iterator

import grpc
import pytest
from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI, NativeRoot

from archivers.interfaces import HistoryArchiver, VisibilityArchiver
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.testing.conformance import ArchiverConformance, HistoryConformance
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


class _HistoryThroughSidecar(HistoryConformance):
    @pytest.fixture
    def history(self, sidecar_channel: grpc.Channel) -> HistoryArchiver:
        return RemoteHistoryArchiver(sidecar_channel, timeout=60)


class _ThroughSidecar(_HistoryThroughSidecar, ArchiverConformance):
    @pytest.fixture
    def visibility(self, sidecar_channel: grpc.Channel) -> VisibilityArchiver:
        return RemoteVisibilityArchiver(sidecar_channel, timeout=60)


class TestMemoryThroughSidecar(MemoryURI, _ThroughSidecar):
    pass


class TestFilestoreThroughSidecar(FilestoreURI, _ThroughSidecar):
    pass


class TestS3ThroughSidecar(S3URI, _ThroughSidecar):
    pass


class TestGcsThroughSidecar(GcsURI, _ThroughSidecar):
    pass


class TestAzureThroughSidecar(AzureURI, _ThroughSidecar):
    pass


class TestFsspecMemoryThroughSidecar(FsspecMemoryURI, _ThroughSidecar):
    pass


# Native roots: native history parts and the native visibility index.


class TestNativeMemoryThroughSidecar(NativeRoot, MemoryURI, _ThroughSidecar):
    pass


class TestNativeFilestoreThroughSidecar(NativeRoot, FilestoreURI, _ThroughSidecar):
    pass


class TestNativeS3ThroughSidecar(NativeRoot, S3URI, _ThroughSidecar):
    pass


class TestNativeGcsThroughSidecar(NativeRoot, GcsURI, _ThroughSidecar):
    pass


class TestNativeAzureThroughSidecar(NativeRoot, AzureURI, _ThroughSidecar):
    pass


class TestNativeFsspecMemoryThroughSidecar(NativeRoot, FsspecMemoryURI, _ThroughSidecar):
    pass
