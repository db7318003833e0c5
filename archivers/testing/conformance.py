"""One contract suite for every history and visibility archiver, importable by third-party backends.

Subclass :class:`ArchiverConformance` in a test module and provide a fixture ``archive_uri``
returning a fresh, empty archival URI for each test (and, if the backend needs settings,
``backend_settings``)::

    class TestMyBackend(ArchiverConformance):
        @pytest.fixture
        def archive_uri(self, my_bucket) -> str:
            return f"myscheme://{my_bucket}/archive"

The query tests read one corpus of visibility records, archived under ``corpus_uri`` (by default
each test's ``archive_uri``). A subclass that returns one URI for the whole class from a
class-scoped fixture (``corpus_uri``) has the corpus archived once per class instead of once per
query test.

The suite covers round trips (up to 50,000 events), paging, versions, idempotent and concurrent
re-archives, an archive interrupted and resumed, histories already gone, mutated histories, not
found, tampered tokens, and every query form against a brute-force filter of the same records.
Its halves, :class:`HistoryConformance` and :class:`VisibilityConformance`, can be used alone by a
backend (or a layout) that implements one of the two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from temporalio.api.history.v1 import History

from archivers.errors import (
    ArchiveNotFoundError,
    HistoryMutatedError,
    InvalidArgumentError,
    InvalidPageTokenError,
    QueryError,
)
from archivers.interfaces import (
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    VisibilityArchiver,
)
from archivers.progress import ArchiveProgress
from archivers.query import compile_query
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.records import NS, TYPES, make_records
from archivers.testing.synthetic import request_for, synthetic_history

IDS = ("test-namespace-id", "test-workflow-id", "test-run-id")

CONFORMANCE_QUERIES = [
    "",
    "WorkflowType = 'OrderFlow'",
    "WorkflowTypeName = 'ShipFlow' AND CloseTime = '2024-05-02T00:00:00Z' AND SearchPrecision = 'Day'",
    "WorkflowId = 'wf-3' AND StartTime = '2024-05-01T10:00:00Z' AND SearchPrecision = 'Hour'",
    "WorkflowId = 'wf-7'",
    "WorkflowId IN ('wf-1', 'wf-2') AND NOT ExecutionStatus = 'Completed'",
    "RunId = 'run-00012'",
    "ExecutionStatus = 'Failed' OR ExecutionStatus = 'timed_out'",
    "CloseTime > '2024-05-02T00:00:00Z' AND CloseTime <= '2024-05-03T12:00:00Z'",
    "CloseTime BETWEEN '2024-05-01T06:00:00.5Z' AND '2024-05-01T18:00:00Z'",
    "StartTime >= '2024-05-03T00:00:00Z'",
    "WorkflowId STARTS_WITH 'wf-1'",
    "HistoryLength > 2500 AND ExecutionDuration < '1h'",
    "CustomerId = 'c-3' OR Priority >= 8",
    "Tags IN ('red', 'blue') AND CustomerId IS NOT NULL",
    "Vip = true AND DueAt > '2024-05-03T00:00:00Z'",
    "WorkflowType = 'OrderFlow' ORDER BY HistoryLength DESC",
    "ExecutionStatus = 'Failed' ORDER BY CloseTime ASC",
]

PAGED_QUERIES = {
    "",
    "CloseTime > '2024-05-02T00:00:00Z' AND CloseTime <= '2024-05-03T12:00:00Z'",
    "ExecutionStatus = 'Failed' ORDER BY CloseTime ASC",
    "WorkflowType = 'OrderFlow' ORDER BY HistoryLength DESC",
}
"""Queries also paged 7 rows at a time (the others 40 at a time, to keep the suite fast)."""


_ARCHIVED_CORPORA: dict[str, list[Any]] = {}
"""The corpus archived under each corpus URI of this process (a URI is archived into once)."""


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[ArchiveProgress] = []

    def record(self, progress: ArchiveProgress) -> None:
        self.seen.append(progress)


class _Interrupted(Exception):
    pass


def _interrupt_after(batches: list[History], count: int) -> Iterator[History]:
    for index, batch in enumerate(batches):
        if index == count:
            raise _Interrupted
        yield batch


class _BackendUnderTest:
    """The fixtures both halves of the suite share."""

    @pytest.fixture
    def backend_settings(self) -> Mapping[str, Any]:
        """The scheme's settings (override when the backend needs some)."""
        return {}


class HistoryConformance(_BackendUnderTest):
    """The contract of :class:`HistoryArchiver`; see the module docstring."""

    @pytest.fixture
    def history(self, archive_uri: str, backend_settings: Mapping[str, Any]) -> HistoryArchiver:
        """The history archiver under test."""
        return get_history_archiver(archive_uri, backend_settings)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def read_all(
        history: HistoryArchiver, uri: str, *, page_size: int = 0, version: int | None = None
    ) -> list[History]:
        """Every batch of the archived history, following tokens; checks each page's size."""
        batches: list[History] = []
        token = b""
        while True:
            request = GetHistoryRequest(
                *IDS, close_failover_version=version, next_page_token=token, page_size=page_size
            )
            response = history.get(uri, request)
            events = sum(len(b.events) for b in response.history_batches)
            if page_size and response.next_page_token:
                assert events >= page_size
                assert events - len(response.history_batches[-1].events) < page_size
            batches += response.history_batches
            token = response.next_page_token
            if not token:
                return batches

    # -- history ---------------------------------------------------------------------------

    def test_round_trip_and_paging(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(500, version=4, batch_size=3)
        history.archive(archive_uri, request_for(batches), batches)
        assert self.read_all(history, archive_uri) == batches
        for page_size in (1, 10, 256):
            assert self.read_all(history, archive_uri, page_size=page_size) == batches

    def test_large_history_spans_several_parts(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(50_000, version=1, batch_size=5, payload_bytes=120, varied=True)
        recorder = _Recorder()
        history.archive(archive_uri, request_for(batches), batches, progress=recorder)
        assert recorder.seen[-1] == ArchiveProgress(50_000, complete=True)
        assert len(recorder.seen) > 1
        assert self.read_all(history, archive_uri, page_size=5000) == batches

    def test_versions(self, history: HistoryArchiver, archive_uri: str) -> None:
        for version, size in ((-5, 4), (12, 6), (3, 8)):
            batches = synthetic_history(size, version=version)
            history.archive(archive_uri, request_for(batches), batches)
        assert sum(len(b.events) for b in self.read_all(history, archive_uri)) == 6
        assert sum(len(b.events) for b in self.read_all(history, archive_uri, version=-5)) == 4
        with pytest.raises(ArchiveNotFoundError):
            self.read_all(history, archive_uri, version=99)

    def test_not_found(self, history: HistoryArchiver, archive_uri: str) -> None:
        with pytest.raises(ArchiveNotFoundError):
            self.read_all(history, archive_uri)

    def test_idempotent_and_concurrent_duplicates(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(6_000, version=2, payload_bytes=700, varied=True)  # several ~2 MiB parts
        request = request_for(batches)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                history.archive(archive_uri, request, batches)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        history.archive(archive_uri, request, batches)
        assert self.read_all(history, archive_uri) == batches
        assert history.progress(archive_uri, request).complete

    def test_interrupted_archive_resumes_without_duplicates(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(10_000, version=1, payload_bytes=600, varied=True)  # several ~2 MiB parts
        request = request_for(batches)
        with pytest.raises(_Interrupted):
            history.archive(archive_uri, request, _interrupt_after(batches, 2_000))
        with pytest.raises(ArchiveNotFoundError):
            self.read_all(history, archive_uri)  # a partial archive is never visible
        resumed = history.progress(archive_uri, request)
        assert not resumed.complete and 0 < resumed.last_event_id <= 6_000
        remaining = [b for b in batches if b.events[0].event_id > resumed.last_event_id]
        history.archive(archive_uri, request, remaining)
        assert self.read_all(history, archive_uri) == batches
        # a retry that supplies the whole history again changes nothing
        history.archive(archive_uri, request, batches)
        assert self.read_all(history, archive_uri) == batches

    def test_history_already_gone_writes_nothing(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(5)
        history.archive(archive_uri, request_for(batches), [])
        with pytest.raises(ArchiveNotFoundError):
            self.read_all(history, archive_uri)

    def test_mutated_history_is_refused(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(9, version=5)
        with pytest.raises(HistoryMutatedError):
            history.archive(archive_uri, request_for(batches), batches[:-1])
        with pytest.raises(HistoryMutatedError):
            history.archive(archive_uri, request_for(batches), synthetic_history(9, version=6))
        with pytest.raises(ArchiveNotFoundError):
            self.read_all(history, archive_uri)

    def test_tampered_tokens(self, history: HistoryArchiver, archive_uri: str) -> None:
        batches = synthetic_history(100)
        history.archive(archive_uri, request_for(batches), batches)
        token = history.get(archive_uri, GetHistoryRequest(*IDS, page_size=10)).next_page_token
        assert token
        for bad in (b"junk", token[:-2], b"{}1", b"[1,2]"):
            with pytest.raises(InvalidPageTokenError):
                history.get(archive_uri, GetHistoryRequest(*IDS, next_page_token=bad))

    def test_bad_requests(self, history: HistoryArchiver, archive_uri: str) -> None:
        with pytest.raises(InvalidArgumentError):
            history.get(archive_uri, GetHistoryRequest(*IDS, page_size=-1))
        with pytest.raises(InvalidArgumentError):
            history.get(archive_uri, GetHistoryRequest("", "w", "r"))



class VisibilityConformance(_BackendUnderTest):
    """The contract of :class:`VisibilityArchiver`; see the module docstring."""

    @pytest.fixture
    def visibility(self, archive_uri: str, backend_settings: Mapping[str, Any]) -> VisibilityArchiver:
        """The visibility archiver under test."""
        return get_visibility_archiver(archive_uri, backend_settings)


    @pytest.fixture
    def corpus_uri(self, archive_uri: str) -> str:
        """Where the query tests' corpus is archived (override with a class-scoped URI to share it)."""
        return archive_uri

    @pytest.fixture
    def archived_records(self, visibility: VisibilityArchiver, corpus_uri: str, archive_uri: str) -> list[Any]:
        """160 varied records archived under ``corpus_uri``, one of them twice (an upsert); once per URI.

        ``archive_uri`` is asked for so that whatever its fixture sets up for a test (the emulator's
        environment, for instance) is in place for the corpus too.
        """
        records = _ARCHIVED_CORPORA.get(corpus_uri)
        if records is None:
            records = make_records(160)
            for record in records:
                visibility.archive(corpus_uri, record)
            visibility.archive(corpus_uri, records[0])
            _ARCHIVED_CORPORA[corpus_uri] = records
        return records

    def test_every_query_form_pages_to_the_brute_force_result(
        self, visibility: VisibilityArchiver, corpus_uri: str, archived_records: list[Any]
    ) -> None:
        for query in CONFORMANCE_QUERIES:
            compiled = compile_query(query, TYPES)
            expected = {r.run_id for r in archived_records if compiled.matches(r)}
            full = self._query_all(visibility, corpus_uri, query, 10_000)
            assert sorted(full) == sorted(expected), query
            if query in PAGED_QUERIES:
                assert self._query_all(visibility, corpus_uri, query, 7) == full, query
            else:
                assert self._query_all(visibility, corpus_uri, query, 40) == full, query

    def test_query_errors(self, visibility: VisibilityArchiver, corpus_uri: str, archived_records: list[Any]) -> None:
        with pytest.raises(QueryError):
            visibility.query(corpus_uri, QueryVisibilityRequest(NS, 5, b"", "WorkflowId = "))
        first = visibility.query(corpus_uri, QueryVisibilityRequest(NS, 5, b"", "WorkflowType = 'OrderFlow'"), TYPES)
        tampered = first.next_page_token.replace(b'"s":[', b'"s":[1,', 1)
        for bad in (tampered, b"garbage"):
            with pytest.raises(InvalidPageTokenError):
                visibility.query(corpus_uri, QueryVisibilityRequest(NS, 5, bad, "WorkflowType = 'OrderFlow'"), TYPES)

    def test_search_attribute_aliases(
        self, visibility: VisibilityArchiver, corpus_uri: str, archived_records: list[Any]
    ) -> None:
        """Records store SQL visibility's column names; the namespace's aliases are what users type and see."""
        aliases = {"CustomerId": "Customer", "Priority": "Urgency"}  # stored name -> alias
        query = "Customer = 'c-3' AND Urgency >= 2"
        stored_names_query = compile_query("CustomerId = 'c-3' AND Priority >= 2", TYPES)
        expected = {r.run_id for r in archived_records if stored_names_query.matches(r)}
        request = QueryVisibilityRequest(NS, 10_000, b"", query, search_attribute_aliases=aliases)
        executions = visibility.query(corpus_uri, request, TYPES).executions
        assert expected and {e.execution.run_id for e in executions} == expected
        for execution in executions:
            names = set(execution.search_attributes.indexed_fields)
            assert {"Customer", "Urgency"} <= names and not names & {"CustomerId", "Priority"}
        with pytest.raises(QueryError):  # an aliased attribute is not known under its stored name
            visibility.query(corpus_uri, QueryVisibilityRequest(NS, 10, b"", "CustomerId = 'c-3'",
                                                                 search_attribute_aliases=aliases), TYPES)

    def test_empty_namespace(self, visibility: VisibilityArchiver, archive_uri: str) -> None:
        assert visibility.query(archive_uri, QueryVisibilityRequest("nobody", 10, b"", "")).executions == []

    @staticmethod
    def _query_all(visibility: VisibilityArchiver, uri: str, query: str, page_size: int) -> list[str]:
        token = b""
        run_ids: list[str] = []
        while True:
            response = visibility.query(uri, QueryVisibilityRequest(NS, page_size, token, query), TYPES)
            assert len(response.executions) <= page_size
            run_ids += [e.execution.run_id for e in response.executions]
            token = response.next_page_token
            if not token:
                return run_ids


class ArchiverConformance(HistoryConformance, VisibilityConformance):
    """The contract of :class:`HistoryArchiver` and :class:`VisibilityArchiver`; see the module docstring."""
