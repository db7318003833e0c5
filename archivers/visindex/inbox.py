"""The inbox: one object per archived record until compaction moves it into a compacted file.

Archiving is one conditional create of ``inbox_name(close time, run id)``: a retry or a concurrent
duplicate finds the object and leaves it (the first record of a run stands; Temporal archives a
run's record once). Objects are listed per namespace and read one by one; a record read is kept
(up to :data:`CACHE_SIZE`) under its key and the etag the listing gave, so the next page of a query
reads only what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.lru import LruCache
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.visindex.keys import inbox_date, inbox_name, inbox_prefix
from archivers.visindex.record_codec import decode_record, encode_record
from archivers.visindex.table import micros

CACHE_SIZE = 20_000
READERS = 16
"""Inbox objects read or deleted at once (they are small: the time is the store's round trip)."""
_RECORDS: LruCache[tuple[str, str, str], VisibilityRecord] = LruCache(CACHE_SIZE)


@dataclass(frozen=True)
class Listed:
    """A listed inbox object: its name below the namespace's inbox prefix and its etag (if the store gives one)."""

    name: str
    etag: str | None


def put(store: ObjectStore, root: str, record: VisibilityRecord) -> None:
    """Create the record's inbox object unless it exists (one request)."""
    key = inbox_prefix(root, record.namespace_id) + inbox_name(micros(record.close_time), record.run_id)
    store.put_if_absent(key, encode_record(record))


def listing(store: ObjectStore, root: str, namespace_id: str) -> list[Listed]:
    """Every inbox object of the namespace, in key order."""
    prefix = inbox_prefix(root, namespace_id)
    found = []
    for page in store.list_all(prefix):
        for info in page.objects:
            name = info.key.removeprefix(prefix)
            if inbox_date(name) is not None:
                found.append(Listed(name, info.etag))
    return found


def read(store: ObjectStore, root: str, namespace_id: str, listed: Listed) -> VisibilityRecord:
    """The record of one listed inbox object; :class:`ObjectNotFoundError` if it is gone."""
    key = inbox_prefix(root, namespace_id) + listed.name
    cache_key = None if listed.etag is None else (store.bucket, key, listed.etag)
    record = None if cache_key is None else _RECORDS.get(cache_key)
    if record is None:
        record = decode_record(store.get(key), f"{store.bucket}/{key}")
        if cache_key is not None:
            _RECORDS.put(cache_key, record)
    return record


def delete_many(store: ObjectStore, root: str, namespace_id: str, names: Sequence[str]) -> None:
    """Remove inbox objects (gone already is fine), :data:`READERS` at a time."""
    prefix = inbox_prefix(root, namespace_id)
    with ThreadPoolExecutor(max(1, min(READERS, len(names)))) as pool:
        for _ in pool.map(lambda name: store.delete(prefix + name), names):
            pass


def read_many(
    store: ObjectStore, root: str, namespace_id: str, listed: Sequence[Listed]
) -> list[VisibilityRecord | None]:
    """The records of ``listed`` in order, read :data:`READERS` at a time; ``None`` for an object gone meanwhile."""

    def one(item: Listed) -> VisibilityRecord | None:
        try:
            return read(store, root, namespace_id, item)
        except ObjectNotFoundError:
            return None

    if len(listed) <= 1:
        return [one(item) for item in listed]
    with ThreadPoolExecutor(min(READERS, len(listed))) as pool:
        return list(pool.map(one, listed))
