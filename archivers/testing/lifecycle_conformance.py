"""The contract of ``delete`` on history and visibility archivers, as mixins like :mod:`archivers.testing.conformance`.

Mix :class:`HistoryDeleteConformance` and/or :class:`VisibilityDeleteConformance` into a test class
that provides ``archive_uri`` (a fresh, empty archival URI per test) and, if the backend needs
settings, ``backend_settings``, as for the conformance suite::

    class TestMyBackendDeletes(MyBackendURI, HistoryDeleteConformance, VisibilityDeleteConformance):
        pass

Covered: a dry run removes nothing and names what would go; a delete removes every version of a
history (``get`` then finds nothing) or a record and all its index entries (no query finds it),
and nothing of any other run; deleting again removes nothing and succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import ArchiveNotFoundError
from archivers.interfaces import (
    DeleteRunRequest,
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    VisibilityArchiver,
)
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.conformance import _BackendUnderTest
from archivers.testing.records import closed_record
from archivers.testing.synthetic import request_for, synthetic_history

NS = "lifecycle-namespace-id"
QUERIES = ("", "WorkflowId = 'wf-gone'", "RunId = 'run-gone'", "WorkflowType = 'GoneFlow'",
           "CloseTime > '2024-05-01T00:00:00Z'", "StartTime < '2024-06-01T00:00:00Z'")  # fmt: skip
"""Queries answered from each layout's different indexes (by workflow id, type, close and start time)."""


class HistoryDeleteConformance(_BackendUnderTest):
    """``HistoryArchiver.delete``: every version and part goes, nothing else; idempotent; dry runs change nothing."""

    @pytest.fixture
    def history(self, archive_uri: str, backend_settings: Mapping[str, Any]) -> HistoryArchiver:
        """The history archiver under test."""
        return get_history_archiver(archive_uri, backend_settings)

    def test_delete_history(self, history: HistoryArchiver, archive_uri: str) -> None:
        for run_id, version in (("run-gone", 1), ("run-gone", 7), ("run-kept", 1)):
            batches = synthetic_history(40, version=version)
            history.archive(archive_uri, request_for(batches, namespace_id=NS, run_id=run_id), batches)
        gone = DeleteRunRequest(NS, "test-workflow-id", "run-gone")

        planned = history.delete(archive_uri, DeleteRunRequest(NS, "test-workflow-id", "run-gone", dry_run=True))
        assert len(planned.removed) >= 2  # one object per version at least
        assert _events(history, archive_uri, "run-gone") == 40

        assert sorted(history.delete(archive_uri, gone).removed) == sorted(planned.removed)
        for asked in (None, 1, 7):
            with pytest.raises(ArchiveNotFoundError):
                _events(history, archive_uri, "run-gone", asked)
        assert _events(history, archive_uri, "run-kept") == 40
        assert history.delete(archive_uri, gone).removed == []

        batches = synthetic_history(12, version=3)  # the run can be archived again afterwards
        history.archive(archive_uri, request_for(batches, namespace_id=NS, run_id="run-gone"), batches)
        assert _events(history, archive_uri, "run-gone") == 12

    def test_delete_of_a_run_never_archived(self, history: HistoryArchiver, archive_uri: str) -> None:
        assert history.delete(archive_uri, DeleteRunRequest(NS, "no-such-workflow", "no-such-run")).removed == []


class VisibilityDeleteConformance(_BackendUnderTest):
    """``VisibilityArchiver.delete``: the record and every index entry go, nothing else; idempotent; dry runs too."""

    @pytest.fixture
    def visibility(self, archive_uri: str, backend_settings: Mapping[str, Any]) -> VisibilityArchiver:
        """The visibility archiver under test."""
        return get_visibility_archiver(archive_uri, backend_settings)

    def test_delete_record(self, visibility: VisibilityArchiver, archive_uri: str) -> None:
        start = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
        for index, (workflow_id, run_id, workflow_type) in enumerate(
            (("wf-gone", "run-gone", "GoneFlow"), ("wf-gone", "run-kept", "GoneFlow"), ("wf-kept", "run-x", "Kept"))
        ):
            visibility.archive(archive_uri, _record(workflow_id, run_id, workflow_type, start + timedelta(hours=index)))
        gone = DeleteRunRequest(NS, "wf-gone", "run-gone")

        planned = visibility.delete(archive_uri, DeleteRunRequest(NS, "wf-gone", "run-gone", dry_run=True))
        assert planned.removed
        assert "run-gone" in _run_ids(visibility, archive_uri, "")

        assert sorted(visibility.delete(archive_uri, gone).removed) == sorted(planned.removed)
        for query in QUERIES:
            assert "run-gone" not in _run_ids(visibility, archive_uri, query), query
        assert sorted(_run_ids(visibility, archive_uri, "")) == ["run-kept", "run-x"]
        assert visibility.delete(archive_uri, gone).removed == []

    def test_delete_with_a_close_time_hint(self, visibility: VisibilityArchiver, archive_uri: str) -> None:
        record = _record("wf-hint", "run-hint", "HintFlow", datetime(2024, 5, 2, tzinfo=timezone.utc))
        visibility.archive(archive_uri, record)
        wrong = DeleteRunRequest(NS, "wf-hint", "run-hint", close_time=record.close_time.ToNanoseconds() - 10**12)
        assert visibility.delete(archive_uri, wrong).removed  # a wrong hint still finds the record
        assert _run_ids(visibility, archive_uri, "") == []


def _events(history: HistoryArchiver, uri: str, run_id: str, version: int | None = None) -> int:
    request = GetHistoryRequest(NS, "test-workflow-id", run_id, close_failover_version=version, page_size=1000)
    return sum(len(batch.events) for batch in history.get(uri, request).history_batches)


def _record(workflow_id: str, run_id: str, workflow_type: str, start: datetime) -> VisibilityRecord:
    return closed_record(
        namespace_id=NS, namespace="lifecycle", workflow_id=workflow_id, run_id=run_id, workflow_type=workflow_type,
        start=start, close=start + timedelta(minutes=5), history_length=10, search_attributes={},
        status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
    )  # fmt: skip


def _run_ids(visibility: VisibilityArchiver, uri: str, query: str) -> list[str]:
    response = visibility.query(uri, QueryVisibilityRequest(namespace_id=NS, query=query))
    assert not response.next_page_token
    return [info.execution.run_id for info in response.executions]
