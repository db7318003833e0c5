"""The archiver interfaces, the request/response types they take, and the backend protocol.

The request types mirror the Go structs of Temporal's ``common/archiver`` package with
snake_case fields. Temporal API messages are the ``temporalio.api`` protobuf classes.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import PROTOBUF, EncodedBatches, check_encoding, decode_batch
from archivers.errors import InvalidArgumentError
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.roots import RootManager
from archivers.uri import URI, as_uri

DEFAULT_HISTORY_PAGE_SIZE = 256
"""Events per page when a Get request gives no page size (what Temporal's frontend sends)."""

DEFAULT_QUERY_PAGE_SIZE = 10000
"""Executions per page when a Query request gives no page size (Temporal's frontend default)."""

SearchAttributeTypes = Mapping[str, int]
"""Search attribute name -> ``temporalio.api.enums.v1.IndexedValueType`` value."""


class _PagedRequest:
    """What the paged requests share: ``page_size`` must not be negative, and 0 means ``default_page_size``."""

    page_size: int
    default_page_size: ClassVar[int]

    def _validate_page_size(self) -> None:
        if self.page_size < 0:
            raise InvalidArgumentError(f"page size must not be negative, got {self.page_size}")

    @property
    def effective_page_size(self) -> int:
        """The page size, with the default applied (events for history, executions for visibility)."""
        return self.page_size or self.default_page_size


@dataclass(frozen=True)
class ArchiveHistoryRequest:
    """Identifies the closed run whose history is archived (Go ``archiver.ArchiveHistoryRequest``).

    ``next_event_id`` is the last event id + 1; ``close_failover_version`` the version of the
    last event (0 for local namespaces, may be negative).
    """

    namespace_id: str
    namespace: str
    workflow_id: str
    run_id: str
    next_event_id: int
    close_failover_version: int
    shard_id: int = 0
    branch_token: bytes = b""

    def validate(self) -> None:
        """Raise :class:`InvalidArgumentError` if a required field is empty or out of range."""
        _require_ids(namespace_id=self.namespace_id, workflow_id=self.workflow_id, run_id=self.run_id)
        if self.next_event_id < 1:
            raise InvalidArgumentError(f"next_event_id must be >= 1, got {self.next_event_id}")


@dataclass(frozen=True)
class GetHistoryRequest(_PagedRequest):
    """Asks for one page of an archived history (Go ``archiver.GetHistoryRequest``).

    ``close_failover_version`` ``None`` means the highest archived version. ``page_size`` counts
    events; pages hold whole batches, so a page may exceed it by less than one batch. 0 means
    :data:`DEFAULT_HISTORY_PAGE_SIZE`.
    """

    namespace_id: str
    workflow_id: str
    run_id: str
    close_failover_version: int | None = None
    next_page_token: bytes = b""
    page_size: int = 0
    default_page_size: ClassVar[int] = DEFAULT_HISTORY_PAGE_SIZE

    def validate(self) -> None:
        """Raise :class:`InvalidArgumentError` if a required field is empty or out of range."""
        _require_ids(namespace_id=self.namespace_id, workflow_id=self.workflow_id, run_id=self.run_id)
        self._validate_page_size()


@dataclass(frozen=True)
class GetHistoryResponse:
    """One page of history batches, and the token of the next page (empty when done)."""

    history_batches: list[History]
    next_page_token: bytes = b""


@dataclass(frozen=True)
class EncodedHistoryPage:
    """One page of history batches, each a ``History`` in ``encoding`` (:mod:`archivers.batches`), and the token."""

    batches: list[bytes]
    encoding: str = PROTOBUF
    next_page_token: bytes = b""


@dataclass(frozen=True)
class QueryVisibilityRequest(_PagedRequest):
    """Asks for one page of archived executions matching ``query`` (Go ``archiver.QueryVisibilityRequest``).

    ``page_size`` 0 means :data:`DEFAULT_QUERY_PAGE_SIZE`; an empty query matches everything.
    ``search_attribute_aliases`` maps a custom search attribute's stored name (the key in archived
    records, e.g. SQL visibility's ``Keyword01``) to the name users know it by (the namespace's
    alias, Temporal's ``CustomSearchAttributeAliases``): queries and results then use the alias.
    """

    namespace_id: str
    page_size: int = 0
    next_page_token: bytes = b""
    query: str = ""
    search_attribute_aliases: Mapping[str, str] = field(default_factory=dict)
    default_page_size: ClassVar[int] = DEFAULT_QUERY_PAGE_SIZE

    def validate(self) -> None:
        """Raise :class:`InvalidArgumentError` if a required field is empty or out of range."""
        _require_ids(namespace_id=self.namespace_id)
        self._validate_page_size()


@dataclass(frozen=True)
class QueryVisibilityResponse:
    """One page of matching executions, and the token of the next page (empty when done)."""

    executions: list[WorkflowExecutionInfo] = field(default_factory=list)
    next_page_token: bytes = b""


@dataclass(frozen=True)
class DeleteRunRequest:
    """Names one run whose archive is removed (lifecycle: GDPR erasure, retention).

    ``dry_run``: remove nothing, only say what would be removed. ``close_time``, when known (Unix
    nanos, e.g. from a query row), lets layouts indexed by close time look there first.
    """

    namespace_id: str
    workflow_id: str
    run_id: str
    dry_run: bool = False
    close_time: int | None = None

    def validate(self) -> None:
        """Raise :class:`InvalidArgumentError` if an id is empty."""
        _require_ids(namespace_id=self.namespace_id, workflow_id=self.workflow_id, run_id=self.run_id)


@dataclass(frozen=True)
class DeleteRunResponse:
    """What a delete removed (or, dry, would remove): the names of the stored objects, in removal order."""

    removed: list[str] = field(default_factory=list)


class _URIChecks(abc.ABC):
    """What history and visibility archivers share: the URI checks Temporal asks of both."""

    @abc.abstractmethod
    def check_uri(self, uri: URI) -> None:
        """Raise :class:`InvalidURIError` unless ``uri`` has the form this archiver needs; no I/O, run by every call."""

    def validate_uri(self, uri: URI | str) -> None:
        """Check ``uri`` as Temporal does when a namespace is registered with it.

        Runs :meth:`check_uri`; backends that can cheaply confirm the store exists override this.
        """
        self.check_uri(as_uri(uri))


class HistoryArchiver(_URIChecks):
    """Archives and reads workflow histories for one URI scheme.

    Contract of every implementation:

    - ``archive`` is idempotent and safe under concurrent duplicate calls for the same run: the
      result is one complete archive, never a mixture, never duplicated events.
    - Writes are atomic: readers never see a partial archive.
    - ``batches`` may start at any event up to the resume point reported by :meth:`progress`;
      events already durable are skipped, a gap is an :class:`InvalidHistoryError`.
    - An archive whose ``batches`` yield nothing (the history is already gone) succeeds and writes nothing.
    - Next-page tokens are opaque to callers and validated: a malformed one raises
      :class:`InvalidPageTokenError`.
    - A missing run raises :class:`ArchiveNotFoundError` from ``get``, never from ``archive``.
    """

    def archive(
        self,
        uri: URI | str,
        request: ArchiveHistoryRequest,
        batches: Iterable[History],
        progress: ProgressRecorder | None = None,
    ) -> None:
        """Archive the history of ``request``'s run from ``batches`` (event batches in order).

        ``progress``, if given, is told each time more events have become durable.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        self._archive(parsed, request, batches, progress)

    def get(self, uri: URI | str, request: GetHistoryRequest) -> GetHistoryResponse:
        """Return one page of the archived history of ``request``'s run."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._get(parsed, request)

    def archive_encoded(
        self,
        uri: URI | str,
        request: ArchiveHistoryRequest,
        batches: Iterable[bytes],
        encoding: str = PROTOBUF,
        progress: ProgressRecorder | None = None,
    ) -> None:
        """:meth:`archive` from batches each a ``History`` in ``encoding`` (what the sidecar receives).

        Same contract; bytes that are not a ``History`` in ``encoding`` raise
        :class:`InvalidHistoryError`. A layout that stores ``encoding`` (:meth:`stored_encoding`)
        stores the batches as received, checked per batch (event ids, first and last version:
        :class:`archivers.history_checks.CheckedEncoded`); others decode them.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        self._archive_encoded(parsed, request, EncodedBatches(batches, check_encoding(encoding)), progress)

    def get_encoded(
        self, uri: URI | str, request: GetHistoryRequest, accepted: Collection[str] = (PROTOBUF,)
    ) -> EncodedHistoryPage:
        """:meth:`get` with each batch encoded (what the sidecar sends); same pages and tokens.

        Batches are in the root's :meth:`stored_encoding` if ``accepted`` holds it, served as
        slices of the stored bytes without decoding events; else binary protobuf. The page says
        which.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._get_encoded(parsed, request, accepted)

    def stored_encoding(self, uri: URI | str) -> str:
        """The batch encoding the root of ``uri`` stores (:mod:`archivers.batches`): protojson for compat roots."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        return self._stored_encoding(parsed)

    def progress(self, uri: URI | str, request: ArchiveHistoryRequest) -> ArchiveProgress:
        """Return how much of ``request``'s history is durably archived (where a retry resumes)."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._progress(parsed, request)

    def delete(self, uri: URI | str, request: DeleteRunRequest) -> DeleteRunResponse:
        """Remove every version and part of the archived history of ``request``'s run.

        Contract: idempotent (a run already gone removes nothing and succeeds) and resumable (an
        interrupted delete leaves a history that ``get`` no longer serves, and the next delete
        removes the rest). ``request.dry_run`` removes nothing and lists what would go.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._delete(parsed, request)

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """Backends that can remove runs override this (the default refuses)."""
        raise InvalidArgumentError(f"the {uri.scheme!r} history archiver ({type(self).__name__}) cannot delete runs")

    @abc.abstractmethod
    def _archive(
        self, uri: URI, request: ArchiveHistoryRequest, batches: Iterable[History], progress: ProgressRecorder | None
    ) -> None: ...

    @abc.abstractmethod
    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse: ...

    @abc.abstractmethod
    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress: ...

    def _archive_encoded(
        self, uri: URI, request: ArchiveHistoryRequest, batches: EncodedBatches, progress: ProgressRecorder | None
    ) -> None:
        decoded = (decode_batch(data, index, batches.encoding) for index, data in enumerate(batches.batches))
        self._archive(uri, request, decoded, progress)

    def _get_encoded(self, uri: URI, request: GetHistoryRequest, accepted: Collection[str]) -> EncodedHistoryPage:
        response = self._get(uri, request)
        serialized = [batch.SerializeToString() for batch in response.history_batches]
        return EncodedHistoryPage(serialized, PROTOBUF, response.next_page_token)

    def _stored_encoding(self, uri: URI) -> str:
        return PROTOBUF


def check_record(record: VisibilityRecord) -> None:
    """Raise :class:`InvalidArgumentError` unless ``record`` has its ids and a close time (what archiving needs)."""
    _require_ids(namespace_id=record.namespace_id, workflow_id=record.workflow_id, run_id=record.run_id)
    if not record.HasField("close_time"):
        raise InvalidArgumentError("visibility record has no close_time")


class VisibilityArchiver(_URIChecks):
    """Archives and queries visibility records for one URI scheme.

    Contract: ``archive`` is a lossless, idempotent upsert, safe under concurrent duplicates;
    ``query`` answers every valid query of the query language with the right rows, in a total
    order, with opaque, validated page tokens whose pages concatenate without gaps or duplicates.
    """

    def archive(self, uri: URI | str, record: VisibilityRecord) -> None:
        """Store ``record`` (an upsert keyed by namespace id and run id)."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        check_record(record)
        self._archive(parsed, record)

    def query(
        self,
        uri: URI | str,
        request: QueryVisibilityRequest,
        search_attribute_types: SearchAttributeTypes | None = None,
    ) -> QueryVisibilityResponse:
        """Return one page of executions matching ``request.query``.

        ``search_attribute_types`` types custom search attributes for filters and results.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._query(parsed, request, search_attribute_types or {})

    def delete(self, uri: URI | str, request: DeleteRunRequest) -> DeleteRunResponse:
        """Remove the visibility record of ``request``'s run and every index entry of it.

        Contract as :meth:`HistoryArchiver.delete`: idempotent, resumable (the entry a lookup of the
        run finds goes last), ``dry_run`` removes nothing. A layout that cannot remove in place (an
        immutable index) records a tombstone that hides the run from queries until compaction.
        """
        parsed = as_uri(uri)
        self.check_uri(parsed)
        request.validate()
        return self._delete(parsed, request)

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        """Backends that can remove records override this (the default refuses)."""
        raise InvalidArgumentError(
            f"the {uri.scheme!r} visibility archiver ({type(self).__name__}) cannot delete records"
        )

    @abc.abstractmethod
    def _archive(self, uri: URI, record: VisibilityRecord) -> None: ...

    @abc.abstractmethod
    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse: ...


BackendConfig = Mapping[str, Any]
"""Per-scheme settings (the sidecar config's provider block for the scheme, e.g. ``fileMode``)."""


@dataclass(frozen=True)
class Backend:
    """A storage backend: builds the archivers of one URI scheme from the scheme's settings.

    ``history``, ``visibility`` and ``roots`` are called with the scheme's :data:`BackendConfig`
    (empty when none is configured) and may be called more than once; :mod:`archivers.registry`
    looks backends up by ``scheme``. ``roots`` is ``None`` for a backend whose roots cannot carry a
    descriptor (:mod:`archivers.roots`): all its roots are in its one layout.
    """

    scheme: str
    history: Callable[[BackendConfig], HistoryArchiver]
    visibility: Callable[[BackendConfig], VisibilityArchiver]
    roots: Callable[[BackendConfig], RootManager] | None = None


def _require_ids(**ids: str) -> None:
    for name, value in ids.items():
        if not value:
            raise InvalidArgumentError(f"{name} must not be empty")
