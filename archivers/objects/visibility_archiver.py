"""Visibility archiver over any object store, written once for every object layout.

Archive writes the record under each of the layout's keys (4 on s3store, 2 on gcloud: the
compatible layouts' minimum) with plain puts, an idempotent upsert. Query lets the layout list
only what the query's constraints allow (see :meth:`VisibilityLayout.list_index`) and lets the
shared runner read only the records that can be on the page.

Records read are kept (up to :data:`RECORD_CACHE_SIZE`, least recently used first out) under
their key and the etag the listing gave, so the next page of a query, or the same query again,
costs its listing and no second read of a record that has not changed since. An object whose
store gives no etag is read every time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import replace

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import decode_message, encode_message
from archivers.interfaces import (
    DeleteRunRequest,
    DeleteRunResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.layouts.base import TimeIndex, VisibilityLayout
from archivers.lru import LruCache
from archivers.objects.access import LayoutOf, ObjectStoreAccess, StoreProvider, URICheck
from archivers.query import CompiledQuery, Constraints, TimeRange
from archivers.store.base import ObjectInfo, ObjectNotFoundError, ObjectStore
from archivers.uri import URI
from archivers.visibility_query import Candidate, run_query

RECORD_CACHE_SIZE = 20_000
"""Records an archiver keeps between queries (a record takes about 1-2 KB in memory)."""


class ObjectVisibilityArchiver(ObjectStoreAccess, VisibilityArchiver):
    """``VisibilityArchiver`` over an :class:`ObjectStore` in an object layout; see the module docstring."""

    def __init__(self, stores: StoreProvider, layouts: LayoutOf, uri_check: URICheck) -> None:
        super().__init__(stores, layouts, uri_check)
        self._records: LruCache[tuple[str, str, str], VisibilityRecord] = LruCache(RECORD_CACHE_SIZE)

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        store, root, layout = self._open(uri)
        data = encode_message(record)
        for key in layout.keys(root, record):
            store.put(key, data)

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """The record's keys, computed from the record a lookup of the run finds; the found key goes last."""
        store, root, layout = self._open(uri)
        run = Constraints(workflow_ids=frozenset({request.workflow_id}), run_ids=frozenset({request.run_id}))
        if request.close_time is not None:
            keys = self._record_keys(store, root, layout, request, replace(run, close_time=TimeRange(
                request.close_time, request.close_time)))
            if keys:
                return self._remove(store, keys, request.dry_run)
        return self._remove(store, self._record_keys(store, root, layout, request, run), request.dry_run)

    def _remove(self, store: ObjectStore, keys: list[str], dry_run: bool) -> DeleteRunResponse:
        if not dry_run:
            for key in keys:
                store.delete(key)
        return DeleteRunResponse([f"{store.bucket}/{key}" for key in keys])

    def _record_keys(
        self, store: ObjectStore, root: str, layout: VisibilityLayout, request: DeleteRunRequest, run: Constraints
    ) -> list[str]:
        """Every key of the run's records that ``run`` lists, each record's listed key after its others."""
        keys: list[str] = []
        for listed, _, _ in layout.list_index(store, root, request.namespace_id, run, TimeIndex.of(run)):
            try:
                record = decode_message(store.get(listed.key), VisibilityRecord, source=f"{store.bucket}/{listed.key}")
            except ObjectNotFoundError:
                continue  # removed since the listing
            if (record.workflow_id, record.run_id) != (request.workflow_id, request.run_id):
                continue  # another run whose hashed name collides
            found = [key for key in layout.keys(root, record) if key != listed.key and key not in keys]
            keys.extend([*found, listed.key])
        return keys

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        store, root, layout = self._open(uri)
        return run_query(
            request,
            search_attribute_types,
            lambda compiled, window: self._candidates(store, root, layout, request.namespace_id, compiled),
        )

    def _candidates(
        self, store: ObjectStore, root: str, layout: VisibilityLayout, namespace_id: str, compiled: CompiledQuery
    ) -> Iterator[Candidate]:
        """The layout's listing as candidates; a listing by start time tells nothing of the close time."""
        constraints = compiled.constraints
        if constraints.is_empty:
            return
        index = TimeIndex.of(constraints)
        for listed, low, high in layout.list_index(store, root, namespace_id, constraints, index):
            close_min, close_max = (None, None) if index.by_start else (low, high)
            yield Candidate(close_min, close_max, functools.partial(self._load, store, listed))

    def _load(self, store: ObjectStore, listed: ObjectInfo) -> VisibilityRecord | None:
        """The record stored under ``listed`` (from the cache when its etag is unchanged); ``None`` if gone."""
        cache_key = None if listed.etag is None else (store.bucket, listed.key, listed.etag)
        record = None if cache_key is None else self._records.get(cache_key)
        if record is not None:
            return record
        try:
            data = store.get(listed.key)
        except ObjectNotFoundError:
            return None
        record = decode_message(data, VisibilityRecord, source=f"{store.bucket}/{listed.key}")
        if cache_key is not None:
            self._records.put(cache_key, record)
        return record
