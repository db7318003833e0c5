"""A fresh, empty archival URI per test for each of the six backends, as mixins for the conformance suites.

Each mixin provides the ``archive_uri`` fixture that :class:`archivers.testing.conformance.ArchiverConformance`
asks for; the emulator fixtures come from ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest


class MemoryURI:
    """``memory://`` (the in-process store)."""

    @pytest.fixture
    def archive_uri(self) -> str:
        return f"memory://bucket-{uuid.uuid4().hex}/archive"


class FilestoreURI:
    """``file://`` in the test's temporary directory."""

    @pytest.fixture
    def archive_uri(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/archive"


class S3URI:
    """``s3://`` on moto's server."""

    @pytest.fixture
    def archive_uri(self, s3_bucket: Any, moto_s3_env: Any) -> str:
        return f"s3://{s3_bucket.name}/archive"


class GcsURI:
    """``gs://`` on fake-gcs-server."""

    @pytest.fixture
    def archive_uri(self, gcs_bucket: Any, fake_gcs_env: Any) -> str:
        return f"gs://{gcs_bucket.name}/archive"


class AzureURI:
    """``azblob://`` on Azurite."""

    @pytest.fixture
    def archive_uri(self, azure_container: Any, azurite_env: Any) -> str:
        return f"azblob://{azure_container.name}/archive"


class FsspecMemoryURI:
    """``fsspec+memory://bucket-.../archive`` on fsspec's memory filesystem (root created first)."""

    @pytest.fixture
    def archive_uri(self) -> Iterator[str]:
        filesystem = fsspec.filesystem("memory")
        root = f"/bucket-{uuid.uuid4().hex}/archive"
        filesystem.makedirs(root, exist_ok=True)
        yield f"fsspec+memory:/{root}"
        filesystem.rm(root.split("/archive")[0], recursive=True)
