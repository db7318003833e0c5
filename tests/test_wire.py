"""The wire module shared by the sidecar and the remote client: status table, retryable rule, converters."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers.errors import ArchiverError, InvalidArgumentError, NonRetryableError, TransientError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
)
from archivers.progress import ArchiveProgress
from archivers.wire import messages
from archivers.wire.status import (
    ERROR_DOMAIN,
    ERROR_TABLE,
    STATUS_DETAILS_KEY,
    ErrorMapping,
    error_for_status,
    error_info,
    is_retryable,
    status_for,
)

RETRYABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


def _info_of(status: grpc.Status) -> error_details_pb2.ErrorInfo | None:
    return error_info(status.trailing_metadata)


@pytest.mark.parametrize("row", ERROR_TABLE, ids=lambda row: row.reason)
@pytest.mark.parametrize("retryable", [True, False])
def test_every_row_round_trips(row: ErrorMapping, retryable: bool) -> None:
    sent = row.error("the store said no", retryable=retryable)
    status = status_for(sent)
    assert status.code == row.code
    received = error_for_status(status.code, status.details, _info_of(status))
    assert type(received) is row.error
    assert (str(received), received.retryable) == (str(sent), retryable)


def test_an_unexpected_exception_is_internal_and_retryable() -> None:
    status = status_for(KeyError("x"))
    info = _info_of(status)
    assert status.code == grpc.StatusCode.INTERNAL and info is not None and info.reason == "INTERNAL"
    assert is_retryable(status.code, info)


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_without_error_info_the_code_decides(code: grpc.StatusCode) -> None:
    assert is_retryable(code, None) is (code in RETRYABLE_CODES)
    error = error_for_status(code, "from a proxy", None)
    assert error.retryable is (code in RETRYABLE_CODES)
    assert str(error) == "from a proxy"


def test_unknown_is_a_retryable_archiver_error() -> None:
    error = error_for_status(grpc.StatusCode.UNKNOWN, "Exception calling application", None)
    assert type(error) is ArchiverError and error.retryable


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
@pytest.mark.parametrize("flag", ["true", "false"])
def test_the_sidecars_verdict_wins_over_the_code(code: grpc.StatusCode, flag: str) -> None:
    info = error_details_pb2.ErrorInfo(reason="SOMETHING_NEW", domain=ERROR_DOMAIN, metadata={"retryable": flag})
    assert is_retryable(code, info) is (flag == "true")
    assert error_for_status(code, "m", info).retryable is (flag == "true")


def test_a_reason_whose_code_differs_falls_back_to_the_code() -> None:
    info = error_details_pb2.ErrorInfo(reason="INVALID_URI", domain=ERROR_DOMAIN, metadata={"retryable": "true"})
    error = error_for_status(grpc.StatusCode.UNAVAILABLE, "m", info)
    assert type(error) is TransientError and error.retryable


def _metadata(info: error_details_pb2.ErrorInfo) -> tuple[tuple[str, bytes], ...]:
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=14, message="m", details=[detail])
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def test_foreign_or_broken_details_are_ignored() -> None:
    foreign = error_details_pb2.ErrorInfo(reason="X", domain="example.com", metadata={"retryable": "false"})
    assert error_info(_metadata(foreign)) is None
    assert error_info(((STATUS_DETAILS_KEY, b"\xff\xff not a status"),)) is None
    assert error_info(None) is None
    bogus = error_details_pb2.ErrorInfo(reason="X", domain=ERROR_DOMAIN, metadata={"retryable": "maybe"})
    assert is_retryable(grpc.StatusCode.INVALID_ARGUMENT, error_info(_metadata(bogus))) is False
    error = error_for_status(grpc.StatusCode.INVALID_ARGUMENT, "m", error_info(_metadata(bogus)))
    assert type(error) is InvalidArgumentError
    assert type(error_for_status(grpc.StatusCode.NOT_FOUND, "m", None)) is NonRetryableError


def _history(first_event_id: int) -> History:
    return History(events=[HistoryEvent(event_id=first_event_id), HistoryEvent(event_id=first_event_id + 1)])


def test_archive_header_round_trips() -> None:
    request = ArchiveHistoryRequest("ns-id", "ns", "wf", "run", next_event_id=9, close_failover_version=-3, shard_id=4)
    header = messages.header_to_pb("file:///tmp/a", request)
    assert header.uri == "file:///tmp/a"
    assert messages.header_from_pb(header) == request


@pytest.mark.parametrize("version", [None, 0, 7])
def test_get_request_round_trips(version: int | None) -> None:
    request = GetHistoryRequest("ns-id", "wf", "run", close_failover_version=version, next_page_token=b"t", page_size=5)
    assert messages.get_request_from_pb(messages.get_request_to_pb("s3://b/p", request)) == request


def test_get_response_round_trips() -> None:
    response = GetHistoryResponse(history_batches=[_history(1), _history(3)], next_page_token=b"next")
    page = EncodedHistoryPage([b.SerializeToString() for b in response.history_batches], next_page_token=b"next")
    assert messages.get_response_from_pb(messages.get_response_to_pb(page)) == response


def test_query_request_round_trips() -> None:
    request = QueryVisibilityRequest(
        "ns-id", page_size=3, next_page_token=b"t", query="WorkflowId = 'w'", search_attribute_aliases={"K01": "Tier"}
    )
    message = messages.query_request_to_pb("gs://b/p", request, {"Tier": 2})
    assert messages.query_request_from_pb(message) == (request, {"Tier": 2})


def test_query_response_round_trips() -> None:
    response = QueryVisibilityResponse(
        executions=[WorkflowExecutionInfo(history_length=4)], next_page_token=b"next"
    )
    assert messages.query_response_from_pb(messages.query_response_to_pb(response)) == response


@pytest.mark.parametrize("progress", [ArchiveProgress(0, False), ArchiveProgress(12, True)])
def test_progress_round_trips(progress: ArchiveProgress) -> None:
    assert messages.progress_from_pb(messages.progress_to_pb(progress)) == progress


def test_the_library_cli_and_converters_import_without_grpc() -> None:
    blocked = "import sys; sys.modules['grpc'] = None; sys.modules['grpc_status'] = None\n"
    code = blocked + "import archivers.cli, archivers.registry, archivers.wire, archivers.wire.messages\n"
    subprocess.run([sys.executable, "-c", code], check=True)
