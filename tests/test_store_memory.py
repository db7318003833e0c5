"""The in-process store passes the seam's contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from archivers.store.base import ObjectStore
from archivers.store.memory import MemoryStore, create_bucket, delete_bucket
from archivers.testing.store_conformance import ObjectStoreConformance


class TestMemoryStore(ObjectStoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[ObjectStore]:
        name = f"bucket-{uuid.uuid4().hex}"
        create_bucket(name)
        yield MemoryStore(name)
        delete_bucket(name)

    @pytest.fixture
    def missing_bucket_store(self) -> ObjectStore:
        return MemoryStore(f"missing-{uuid.uuid4().hex}", autocreate=False)
