"""The visibility archivers of roots whose visibility is the native index, and the per-root choice.

:class:`NativeIndexVisibilityArchiver` archives into the inbox and queries the index over any
object store. :class:`ByRootVisibilityArchiver` serves each root with the archiver its descriptor's
``visibility_layout`` names: the native index, or the scheme's compat archiver (roots without a
descriptor, compat roots, and native roots created before the index existed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import InvalidArgumentError
from archivers.interfaces import (
    DeleteRunRequest,
    DeleteRunResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
    check_record,
)
from archivers.objects.access import StoreURIs
from archivers.roots import NATIVE, RootDescriptor, RootLayouts
from archivers.store.base import ObjectStore
from archivers.uri import URI, as_uri
from archivers.visibility_query import run_query
from archivers.visindex import inbox
from archivers.visindex.compaction import CompactionResult, compact
from archivers.visindex.files import Step, commit_records, no_step
from archivers.visindex.manifest import read_latest
from archivers.visindex.query import candidates


class NativeIndexVisibilityArchiver(StoreURIs, VisibilityArchiver):
    """``VisibilityArchiver`` over the native index (:mod:`archivers.visindex`) of the store serving each URI."""

    def _open(self, uri: URI) -> tuple[ObjectStore, str]:
        store = self._stores(uri)
        return store, store.key_prefix(uri)

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        store, root = self._open(uri)
        inbox.put(store, root, record)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        store, root = self._open(uri)
        return run_query(
            request, search_attribute_types,
            lambda compiled, window: candidates(store, root, request.namespace_id, compiled, window),
        )

    def compact(self, uri: URI | str, namespace_id: str, step: Step = no_step) -> CompactionResult:
        """Move the namespace's inbox into compacted files (:func:`archivers.visindex.compaction.compact`)."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        store, root = self._open(parsed)
        return compact(store, root, namespace_id, step)

    def live_rows(self, uri: URI | str, namespace_id: str) -> int:
        """The rows of the namespace's live compacted files (the newest manifest's count)."""
        store, root = self._open(as_uri(uri))
        return sum(f.rows for f in read_latest(store, root, namespace_id).files)

    def archive_many(self, uri: URI | str, records: Sequence[VisibilityRecord]) -> int:
        """Archive ``records`` straight into compacted files, one commit per namespace; returns rows written.

        Each record is checked as :meth:`archive` checks it before anything is written.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        for record in records:
            check_record(record)
        store, root = self._open(parsed)
        written = 0
        for namespace_id in sorted({r.namespace_id for r in records}):
            written += commit_records(store, root, namespace_id, [r for r in records if r.namespace_id == namespace_id])
        return written


DescriptorReader = Callable[[URI], Callable[[], RootDescriptor | None]]
"""For a URI: how to read its root's descriptor (called once per root and process)."""


class ByRootVisibilityArchiver(VisibilityArchiver):
    """Each root served by ``native`` when its descriptor's visibility layout is native, else by ``compat``."""

    def __init__(
        self, compat: VisibilityArchiver, native: NativeIndexVisibilityArchiver, roots: RootLayouts,
        read: DescriptorReader,
    ) -> None:  # fmt: skip
        self.compat = compat
        self.native = native
        self._roots = roots
        self._read = read

    def for_uri(self, uri: URI) -> VisibilityArchiver:
        """The archiver serving ``uri``'s root."""
        native = self._roots.visibility_layout_of(uri, self._read(uri)) == NATIVE
        return self.native if native else self.compat

    def check_uri(self, uri: URI) -> None:
        """The scheme's URI rules (no I/O)."""
        self.compat.check_uri(uri)

    def validate_uri(self, uri: URI | str) -> None:
        """As the compat archiver validates a URI (the same store and rules)."""
        self.compat.validate_uri(uri)

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        self.for_uri(uri)._archive(uri, record)

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        return self.for_uri(uri)._query(uri, request, search_attribute_types)

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        return self.for_uri(uri)._delete(uri, request)


def native_index(archiver: VisibilityArchiver, uri: URI) -> NativeIndexVisibilityArchiver:
    """The native index archiver serving ``uri``; :class:`InvalidArgumentError` if its root keeps no native index."""
    chosen = archiver.for_uri(uri) if isinstance(archiver, ByRootVisibilityArchiver) else archiver
    if not isinstance(chosen, NativeIndexVisibilityArchiver):
        raise InvalidArgumentError(
            f"{uri}: the root does not keep its visibility records in the native index "
            "(only roots initialised with --layout native by this release do)"
        )
    return chosen
