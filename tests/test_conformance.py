"""The conformance suite on every backend: memory, filestore, S3 (moto), GCS (fake-gcs-server),
Azure (Azurite) and fsspec (memory filesystem)."""

from __future__ import annotations

from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI, NativeRoot

from archivers.testing.conformance import ArchiverConformance, HistoryConformance


class TestMemory(MemoryURI, ArchiverConformance):
    pass


class TestFilestore(FilestoreURI, ArchiverConformance):
    pass


class TestS3(S3URI, ArchiverConformance):
    pass


class TestGcs(GcsURI, ArchiverConformance):
    pass


class TestAzure(AzureURI, ArchiverConformance):
    pass


class TestFsspecMemory(FsspecMemoryURI, ArchiverConformance):
    pass


# A native root keeps its scheme's compat visibility layout until the native index exists, and the
# classes above test that; on native roots the history half runs.


class TestNativeMemory(NativeRoot, MemoryURI, HistoryConformance):
    pass


class TestNativeFilestore(NativeRoot, FilestoreURI, HistoryConformance):
    pass


class TestNativeS3(NativeRoot, S3URI, HistoryConformance):
    pass


class TestNativeGcs(NativeRoot, GcsURI, HistoryConformance):
    pass


class TestNativeAzure(NativeRoot, AzureURI, HistoryConformance):
    pass


class TestNativeFsspecMemory(NativeRoot, FsspecMemoryURI, HistoryConformance):
    pass
