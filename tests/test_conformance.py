"""The conformance suite on every backend: memory, filestore, S3 (moto), GCS (fake-gcs-server),
Azure (Azurite) and fsspec (memory filesystem)."""

from __future__ import annotations

from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI, NativeRoot

from archivers.testing.conformance import ArchiverConformance


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


# Native roots: native history parts and the native visibility index (the classes above test the
# compat layouts).


class TestNativeMemory(NativeRoot, MemoryURI, ArchiverConformance):
    pass


class TestNativeFilestore(NativeRoot, FilestoreURI, ArchiverConformance):
    pass


class TestNativeS3(NativeRoot, S3URI, ArchiverConformance):
    pass


class TestNativeGcs(NativeRoot, GcsURI, ArchiverConformance):
    pass


class TestNativeAzure(NativeRoot, AzureURI, ArchiverConformance):
    pass


class TestNativeFsspecMemory(NativeRoot, FsspecMemoryURI, ArchiverConformance):
    pass
