"""Visibility archiver over any object store, written once for the s3store and gcloud layouts.

Archive writes the record under each of the layout's index keys (4 on s3store, 2 on gcloud: the
compatible layouts' minimum) with plain puts, an idempotent upsert. Query lists only the index
prefixes the query's constraints allow (by workflow id or type, and by the time prefix shared by a
close/start time range), prunes the listed keys by what they encode, and lets the shared runner
read only the records that can be on the page.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable, Iterator

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.backends.object_access import ObjectStoreAccess, StoreProvider, same_uri
from archivers.codec.naming import gcloud_fingerprint
from archivers.codec.protojson import decode_message, encode_message
from archivers.interfaces import (
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.layouts import gcloud, s3store
from archivers.query import CompiledQuery, Constraints, TimeRange
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.uri import URI
from archivers.visibility_query import Candidate, run_query

MAX_LISTED_VALUES = 64
"""Above this many WorkflowId/WorkflowType values, one whole-namespace listing is cheaper."""


class VisibilityIndex(abc.ABC):
    """Where a layout stores a record and how it lists candidates for a query."""

    @abc.abstractmethod
    def keys(self, uri: URI, record: VisibilityRecord) -> list[str]:
        """Every key the record is stored under."""

    @abc.abstractmethod
    def candidates(
        self, store: ObjectStore, uri: URI, namespace_id: str, compiled: CompiledQuery
    ) -> Iterator[Candidate]:
        """The stored records that may match (a superset), from as few listings as the layout allows."""


class S3Index(VisibilityIndex):
    """Temporal's s3store index keys (also used on Azure Blob and fsspec)."""

    def keys(self, uri: URI, record: VisibilityRecord) -> list[str]:
        """See :class:`VisibilityIndex`."""
        return s3store.visibility_keys(uri.path, record)

    def candidates(
        self, store: ObjectStore, uri: URI, namespace_id: str, compiled: CompiledQuery
    ) -> Iterator[Candidate]:
        """List by workflow id or type when the query pins them, by time prefix when it bounds a time."""
        constraints = compiled.constraints
        if constraints.is_empty:
            return
        use_start, times = _time_index(constraints)
        secondary = s3store.START if use_start else s3store.CLOSE
        suffix = s3store.time_prefix(times.lower, times.upper)
        seen: set[str] = set()
        for prefix in self._index_prefixes(uri, namespace_id, compiled, secondary):
            listing = f"{prefix}/{suffix}" if prefix.endswith(secondary) else prefix
            for page in store.list_all(listing):
                for info in page.objects:
                    entry = s3store.parse_index_key(info.key, _index_of(info.key))
                    if entry is None or entry.run_id in seen or _secondary_of(info.key) != secondary:
                        continue
                    if constraints.run_ids is not None and entry.run_id not in constraints.run_ids:
                        continue
                    low, high = entry.seconds * s3store.NANOS, (entry.seconds + 1) * s3store.NANOS - 1
                    if not _overlaps(times, low, high):
                        continue
                    seen.add(entry.run_id)
                    bounds = (None, None) if use_start else (low, high)
                    yield Candidate(bounds[0], bounds[1], functools.partial(_load, store, info.key))

    @staticmethod
    def _index_prefixes(uri: URI, namespace_id: str, compiled: CompiledQuery, secondary: str) -> list[str]:
        constraints = compiled.constraints
        for primary, values in (
            (s3store.BY_WORKFLOW_ID, constraints.workflow_ids),
            (s3store.BY_TYPE, constraints.workflow_types),
        ):
            if values is not None and len(values) <= MAX_LISTED_VALUES:
                return [s3store.index_prefix(uri.path, namespace_id, primary, v, secondary) for v in sorted(values)]
        return [f"{s3store.visibility_root(uri.path, namespace_id)}/{s3store.BY_TYPE}/"]


class GcloudIndex(VisibilityIndex):
    """Temporal's gcloud names: one flat listing per index, filtered by the hashes in the names."""

    def keys(self, uri: URI, record: VisibilityRecord) -> list[str]:
        """See :class:`VisibilityIndex`."""
        return gcloud.visibility_names(uri.path, record)

    def candidates(
        self, store: ObjectStore, uri: URI, namespace_id: str, compiled: CompiledQuery
    ) -> Iterator[Candidate]:
        """List the close (or start) time index under the time prefix; prune by the hashed ids."""
        constraints = compiled.constraints
        if constraints.is_empty:
            return
        use_start, times = _time_index(constraints)
        tag = gcloud.START if use_start else gcloud.CLOSE
        wanted_types = _hashes(constraints.workflow_types)
        wanted_workflows = _hashes(constraints.workflow_ids)
        wanted_runs = _hashes(constraints.run_ids)
        prefix = gcloud.visibility_list_prefix(
            uri.path, namespace_id, tag, s3store.time_prefix(times.lower, times.upper)
        )
        for page in store.list_all(prefix):
            for info in page.objects:
                name = gcloud.parse_visibility_name(info.key, uri.path, namespace_id)
                if name is None or name.tag != tag:
                    continue
                if (
                    (wanted_types is not None and name.type_hash not in wanted_types)
                    or (wanted_workflows is not None and name.workflow_hash not in wanted_workflows)
                    or (wanted_runs is not None and name.run_hash not in wanted_runs)
                ):
                    continue
                low, high = name.nanos_range
                if not _overlaps(times, low, high):
                    continue
                bounds = (None, None) if use_start else (low, high)
                yield Candidate(bounds[0], bounds[1], functools.partial(_load, store, info.key))


class ObjectVisibilityArchiver(ObjectStoreAccess, VisibilityArchiver):
    """``VisibilityArchiver`` over an :class:`ObjectStore`; see the module docstring."""

    def __init__(
        self,
        stores: StoreProvider,
        index: VisibilityIndex,
        uri_check: Callable[[URI], None],
        key_space: Callable[[URI], URI] = same_uri,
    ) -> None:
        super().__init__(stores, uri_check, key_space)
        self._index = index

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        store = self._stores(uri)
        uri = self._key_space(uri)
        data = encode_message(record)
        for key in self._index.keys(uri, record):
            store.put(key, data)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        store = self._stores(uri)
        uri = self._key_space(uri)
        return run_query(
            request,
            search_attribute_types,
            lambda compiled: self._index.candidates(store, uri, request.namespace_id, compiled),
        )


def _load(store: ObjectStore, key: str) -> VisibilityRecord | None:
    try:
        data = store.get(key)
    except ObjectNotFoundError:
        return None
    return decode_message(data, VisibilityRecord, source=f"{store.bucket}/{key}")


def _index_of(key: str) -> str:
    """The index prefix of an s3store visibility key (the key without ``/<time>/<runID>``)."""
    return key.rsplit("/", 2)[0]


def _secondary_of(key: str) -> str:
    return _index_of(key).rsplit("/", 1)[-1]


def _time_index(constraints: Constraints) -> tuple[bool, TimeRange]:
    """Whether to list the start-time index (the query bounds StartTime but not CloseTime), and its range."""
    if constraints.close_time.is_unbounded and not constraints.start_time.is_unbounded:
        return True, constraints.start_time
    return False, constraints.close_time


def _overlaps(times: TimeRange, low: int, high: int) -> bool:
    return (times.lower is None or high >= times.lower) and (times.upper is None or low <= times.upper)


def _hashes(values: Iterable[str] | None) -> set[str] | None:
    return None if values is None else {gcloud_fingerprint(v) for v in values}
