"""A fresh, empty archival URI per test for each of the six backends, as mixins for the conformance suites.

Each mixin provides the ``archive_uri`` fixture that :class:`archivers.testing.conformance.ArchiverConformance`
asks for, from its own ``root_uri``, and a ``corpus_uri`` shared by the tests of one class (so the
query corpus is archived once per class); the emulator fixtures come from ``tests/conftest.py``.
Mixed in after :class:`NativeRoot`, the root is first initialised in the native layout
(``archiver init``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from archivers.registry import get_backend
from archivers.uri import URI


class _Root:
    """``archive_uri``: the mixin's ``root_uri``; it and ``corpus_uri`` initialised in ``root_layout`` first if set."""

    root_layout: str | None = None

    @pytest.fixture
    def archive_uri(self, root_uri: str, corpus_uri: str) -> str:
        if self.root_layout is not None:
            for uri in (root_uri, corpus_uri):
                roots = get_backend(uri).roots
                assert roots is not None
                roots({}).init(URI.parse(uri), self.root_layout, "tests")
        return root_uri


class NativeRoot:
    """Mixed in first: the root is initialised as a native root before the test."""

    root_layout = "native"


class MemoryURI(_Root):
    """``memory://`` (the in-process store)."""

    @pytest.fixture
    def root_uri(self) -> str:
        return f"memory://bucket-{uuid.uuid4().hex}/archive"

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls) -> str:
        return f"memory://corpus-{uuid.uuid4().hex}/archive"


class FilestoreURI(_Root):
    """``file://`` in the test's temporary directory."""

    @pytest.fixture
    def root_uri(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/archive"

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return f"file://{tmp_path_factory.mktemp('corpus')}/archive"


class S3URI(_Root):
    """``s3://`` on moto's server."""

    @pytest.fixture
    def root_uri(self, s3_bucket: Any, moto_s3_env: Any) -> str:
        return f"s3://{s3_bucket.name}/archive"

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls, moto_s3: Any) -> Iterator[str]:
        name = f"s3-corpus-{uuid.uuid4().hex[:12]}"
        moto_s3.create_bucket(name)
        yield f"s3://{name}/archive"
        moto_s3.delete_bucket(name)


class GcsURI(_Root):
    """``gs://`` on fake-gcs-server."""

    @pytest.fixture
    def root_uri(self, gcs_bucket: Any, fake_gcs_env: Any) -> str:
        return f"gs://{gcs_bucket.name}/archive"

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls, fake_gcs: Any) -> Iterator[str]:
        name = f"gs-corpus-{uuid.uuid4().hex[:12]}"
        fake_gcs.create_bucket(name)
        yield f"gs://{name}/archive"
        fake_gcs.delete_bucket(name)


class AzureURI(_Root):
    """``azblob://`` on Azurite."""

    @pytest.fixture
    def root_uri(self, azure_container: Any, azurite_env: Any) -> str:
        return f"azblob://{azure_container.name}/archive"

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls, azurite: Any) -> Iterator[str]:
        name = f"az-corpus-{uuid.uuid4().hex[:12]}"
        azurite.create_container(name)
        yield f"azblob://{name}/archive"
        azurite.delete_container(name)


class FsspecMemoryURI(_Root):
    """``fsspec+memory://bucket-.../archive`` on fsspec's memory filesystem (root created first)."""

    @pytest.fixture
    def root_uri(self) -> Iterator[str]:
        filesystem = fsspec.filesystem("memory")
        root = f"/bucket-{uuid.uuid4().hex}/archive"
        filesystem.makedirs(root, exist_ok=True)
        yield f"fsspec+memory:/{root}"
        filesystem.rm(root.split("/archive")[0], recursive=True)

    @pytest.fixture(scope="class")
    @classmethod
    def corpus_uri(cls) -> Iterator[str]:
        filesystem = fsspec.filesystem("memory")
        root = f"/corpus-{uuid.uuid4().hex}/archive"
        filesystem.makedirs(root, exist_ok=True)
        yield f"fsspec+memory:/{root}"
        filesystem.rm(root.split("/archive")[0], recursive=True)
