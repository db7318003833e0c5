"""An in-process :class:`ObjectStore`: buckets are dictionaries shared by every store of the process.

It backs the ``memory://bucket/prefix`` scheme used by tests, examples and the conformance suite.
Buckets exist once created with :func:`create_bucket` (or on first use when ``autocreate`` is set).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from archivers.errors import StoreConfigurationError
from archivers.store.base import ListPage, ObjectInfo, ObjectNotFoundError, ObjectStore
from archivers.uri import URI

_lock = threading.Lock()
_buckets: dict[str, dict[str, bytes]] = {}


def create_bucket(name: str) -> None:
    """Create an empty bucket (no error if it exists)."""
    with _lock:
        _buckets.setdefault(name, {})


def delete_bucket(name: str) -> None:
    """Drop a bucket and everything in it."""
    with _lock:
        _buckets.pop(name, None)


class MemoryStore(ObjectStore):
    """One in-process bucket; see the module docstring."""

    def __init__(self, bucket: str, *, autocreate: bool = True) -> None:
        self.bucket = bucket
        if autocreate:
            create_bucket(bucket)

    def _objects(self) -> dict[str, bytes]:
        objects = _buckets.get(self.bucket)
        if objects is None:
            raise StoreConfigurationError(f"bucket {self.bucket!r} does not exist")
        return objects

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """See :class:`ObjectStore`."""
        with _lock:
            objects = self._objects()
            if key in objects:
                return False
            objects[key] = bytes(data)
            return True

    def put(self, key: str, data: bytes) -> None:
        """See :class:`ObjectStore`."""
        with _lock:
            self._objects()[key] = bytes(data)

    def get(self, key: str) -> bytes:
        """See :class:`ObjectStore`."""
        with _lock:
            try:
                return self._objects()[key]
            except KeyError:
                raise ObjectNotFoundError(f"{self.bucket}/{key} does not exist") from None

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """See :meth:`ObjectStore.get_range`."""
        return self.get(key)[start:end]

    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """See :class:`ObjectStore`; the token is the last key or prefix returned."""
        with _lock:
            keys = sorted(k for k in self._objects() if k.startswith(prefix))
            contents = {k: self._objects()[k] for k in keys}
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        start = bisect.bisect_right(keys, token) if token else 0
        last = None
        for key in keys[start:]:
            if delimiter and delimiter in key[len(prefix) :]:
                rolled = key[: len(prefix) + key[len(prefix) :].index(delimiter) + len(delimiter)]
                if (token and rolled <= token) or (prefixes and prefixes[-1] == rolled):
                    continue
                if len(objects) + len(prefixes) >= max_keys:
                    return ListPage(objects, prefixes, last)
                prefixes.append(rolled)
                last = rolled
                continue
            if len(objects) + len(prefixes) >= max_keys:
                return ListPage(objects, prefixes, last)
            data = contents[key]
            objects.append(ObjectInfo(key, len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()))
            last = key
        return ListPage(objects, prefixes, None)

    def delete(self, key: str) -> None:
        """See :class:`ObjectStore`."""
        with _lock:
            self._objects().pop(key, None)

    def stat(self, key: str) -> ObjectInfo | None:
        """See :class:`ObjectStore`."""
        with _lock:
            data = self._objects().get(key)
        return None if data is None else ObjectInfo(key, len(data))

    def check_bucket(self) -> None:
        """See :class:`ObjectStore`."""
        with _lock:
            self._objects()


def memory_store(uri: URI, settings: Mapping[str, Any]) -> MemoryStore:
    """The store of ``memory://BUCKET/...``; the bucket is created on first use."""
    return MemoryStore(uri.host)
