"""The inbox: one object per archived record until compaction moves it into a compacted file.

Archiving is one conditional create of ``inbox_name(close time, run id)``: a retry or a concurrent
duplicate finds the object and leaves it (the first record of a run stands; Temporal archives a
run's record once). Objects are listed per namespace and read one by one.
"""

from __future__ import annotations

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.store.base import ObjectStore
from archivers.visindex.keys import inbox_date, inbox_name, inbox_prefix
from archivers.visindex.record_codec import decode_record, encode_record
from archivers.visindex.table import micros


def put(store: ObjectStore, root: str, record: VisibilityRecord) -> None:
    """Create the record's inbox object unless it exists (one request)."""
    key = inbox_prefix(root, record.namespace_id) + inbox_name(micros(record.close_time), record.run_id)
    store.put_if_absent(key, encode_record(record))


def names(store: ObjectStore, root: str, namespace_id: str) -> list[str]:
    """The names (relative to the namespace's inbox prefix) of every inbox object, in key order."""
    prefix = inbox_prefix(root, namespace_id)
    found = []
    for page in store.list_all(prefix):
        for info in page.objects:
            name = info.key.removeprefix(prefix)
            if inbox_date(name) is not None:
                found.append(name)
    return found


def read(store: ObjectStore, root: str, namespace_id: str, name: str) -> VisibilityRecord:
    """The record of one inbox object; :class:`ObjectNotFoundError` if it is gone."""
    key = inbox_prefix(root, namespace_id) + name
    return decode_record(store.get(key), f"{store.bucket}/{key}")


def delete(store: ObjectStore, root: str, namespace_id: str, name: str) -> None:
    """Remove one inbox object (gone already is fine)."""
    store.delete(inbox_prefix(root, namespace_id) + name)
