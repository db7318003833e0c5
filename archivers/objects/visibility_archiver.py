"""Visibility archiver over any object store, written once for every object layout.

Archive writes the record under each of the layout's keys (4 on s3store, 2 on gcloud: the
compatible layouts' minimum) with plain puts, an idempotent upsert. Query lets the layout list
only what the query's constraints allow (see :meth:`VisibilityLayout.list_index`) and lets the
shared runner read only the records that can be on the page.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import decode_message, encode_message
from archivers.interfaces import (
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.layouts.base import TimeIndex, VisibilityLayout
from archivers.objects.access import ObjectStoreAccess
from archivers.query import CompiledQuery
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.uri import URI
from archivers.visibility_query import Candidate, run_query


class ObjectVisibilityArchiver(ObjectStoreAccess, VisibilityArchiver):
    """``VisibilityArchiver`` over an :class:`ObjectStore` in an object layout; see the module docstring."""

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        store, root, layout = self._open(uri)
        data = encode_message(record)
        for key in layout.keys(root, record):
            store.put(key, data)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        store, root, layout = self._open(uri)
        return run_query(
            request,
            search_attribute_types,
            lambda compiled: self._candidates(store, root, layout, request.namespace_id, compiled),
        )

    def _candidates(
        self, store: ObjectStore, root: str, layout: VisibilityLayout, namespace_id: str, compiled: CompiledQuery
    ) -> Iterator[Candidate]:
        """The layout's listing as candidates; a listing by start time tells nothing of the close time."""
        constraints = compiled.constraints
        if constraints.is_empty:
            return
        index = TimeIndex.of(constraints)
        for key, low, high in layout.list_index(store, root, namespace_id, constraints, index):
            close_min, close_max = (None, None) if index.by_start else (low, high)
            yield Candidate(close_min, close_max, functools.partial(_load, store, key))


def _load(store: ObjectStore, key: str) -> VisibilityRecord | None:
    try:
        data = store.get(key)
    except ObjectNotFoundError:
        return None
    return decode_message(data, VisibilityRecord, source=f"{store.bucket}/{key}")
