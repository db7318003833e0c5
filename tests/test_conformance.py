"""The conformance suite on every backend: memory, filestore, S3 (moto), GCS (fake-gcs-server),
Azure (Azurite) and fsspec (memory filesystem)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from archivers.testing.conformance import ArchiverConformance


class TestMemory(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self) -> str:
        return f"memory://bucket-{uuid.uuid4().hex}/archive"


class TestFilestore(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/archive"


class TestS3(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self, s3_bucket: Any, moto_s3_env: Any) -> str:
        return f"s3://{s3_bucket.name}/archive"


class TestGcs(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self, gcs_bucket: Any, fake_gcs_env: Any) -> str:
        return f"gs://{gcs_bucket.name}/archive"


class TestAzure(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self, azure_container: Any, azurite_env: Any) -> str:
        return f"azblob://{azure_container.name}/archive"


class TestFsspecMemory(ArchiverConformance):
    @pytest.fixture
    def archive_uri(self) -> Iterator[str]:
        filesystem = fsspec.filesystem("memory")
        root = f"/bucket-{uuid.uuid4().hex}/archive"
        filesystem.makedirs(root, exist_ok=True)
        yield f"fsspec+memory:/{root}"  # fsspec+memory://bucket-.../archive
        filesystem.rm(root.split("/archive")[0], recursive=True)
