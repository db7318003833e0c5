"""The conformance suite on every backend: memory, filestore, S3 (moto), GCS (fake-gcs-server),
Azure (Azurite) and fsspec (memory filesystem)."""

from __future__ import annotations

from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI

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
