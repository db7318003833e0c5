"""The file:// visibility archiver: layout, upserts, queries over 200+ records, paging and tokens."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import decode_message
from archivers.errors import CorruptArchiveError, InvalidArgumentError, InvalidPageTokenError, QueryError
from archivers.interfaces import QueryVisibilityRequest
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver
from archivers.query import compile_query
from archivers.testing.records import BASE, NS, TYPES, make_records, timestamp


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[VisibilityRecord]]:
    directory = tmp_path_factory.mktemp("visibility")
    uri = f"file://{directory}"
    records = make_records()
    archiver = FilestoreVisibilityArchiver()
    for record in records:
        archiver.archive(uri, record)
    archiver.archive(uri, records[0])  # an upsert of the same run changes nothing
    return uri, records


def query_all(uri: str, query: str, page_size: int) -> tuple[list[str], int]:
    archiver = FilestoreVisibilityArchiver()
    token = b""
    run_ids: list[str] = []
    pages = 0
    while True:
        response = archiver.query(uri, QueryVisibilityRequest(NS, page_size, token, query), TYPES)
        pages += 1
        assert len(response.executions) <= page_size
        run_ids += [e.execution.run_id for e in response.executions]
        token = response.next_page_token
        if not token:
            return run_ids, pages


QUERIES = [
    "",
    "WorkflowType = 'OrderFlow'",
    "WorkflowTypeName = \"ShipFlow\" AND CloseTime = '2024-05-02T00:00:00Z' AND SearchPrecision = 'Day'",
    "WorkflowId = 'wf-3' AND StartTime = '2024-05-01T10:00:00Z' AND SearchPrecision = 'Hour'",
    "WorkflowId = 'wf-7'",
    "RunId = 'run-00012'",
    "ExecutionStatus = 'Failed'",
    "ExecutionStatus = 3 OR ExecutionStatus = 'timed_out'",
    "CloseTime > '2024-05-02T00:00:00Z' AND CloseTime <= '2024-05-03T12:00:00Z'",
    f"CloseTime < {int(datetime(2024, 5, 2, tzinfo=timezone.utc).timestamp() * 1e9)}",
    "CloseTime BETWEEN '2024-05-01T06:00:00Z' AND '2024-05-02T06:00:00Z'",
    "StartTime >= '2024-05-03T00:00:00Z' OR WorkflowType != 'OrderFlow'",
    "WorkflowId IN ('wf-1', 'wf-2', 'wf-3') AND NOT ExecutionStatus = 'Completed'",
    "WorkflowId STARTS_WITH 'wf-1'",
    "HistoryLength > 2500 AND ExecutionDuration < '1h'",
    "CustomerId = 'c-3'",
    "CustomerId IS NULL",
    "Priority >= 5 AND Score < 50.5",
    "Vip = true",
    "DueAt > '2024-05-03T00:00:00Z'",
    "Tags = 'gold'",
    "Tags IN ('red', 'blue') AND CustomerId IS NOT NULL",
    "(WorkflowType = 'BillFlow' OR WorkflowType = 'ShipFlow') AND NOT (RunId = 'run-00001')",
    "WorkflowId = 'wf-1' AND WorkflowId = 'wf-2'",
    "ExecutionStatus = 'Failed' ORDER BY StartTime ASC",
    "WorkflowType = 'OrderFlow' ORDER BY HistoryLength DESC, CloseTime ASC",
]


@pytest.mark.parametrize("query", QUERIES)
def test_pages_concatenate_to_the_brute_force_result(archive: tuple[str, list[VisibilityRecord]], query: str) -> None:
    uri, records = archive
    compiled = compile_query(query, TYPES)
    expected = {r.run_id for r in records if compiled.matches(r)}
    full, _ = query_all(uri, query, page_size=10000)
    assert set(full) == expected
    assert len(full) == len(expected)
    for page_size in (1, 7, 50):
        paged, pages = query_all(uri, query, page_size)
        assert paged == full
        assert pages >= len(full) // page_size


def test_default_order_is_close_time_descending(archive: tuple[str, list[VisibilityRecord]]) -> None:
    uri, records = archive
    by_run = {r.run_id: r for r in records}
    order, _ = query_all(uri, "", 33)
    keys = [(-by_run[r].close_time.ToNanoseconds(), r) for r in order]
    assert keys == sorted(keys)


def test_layout_is_temporals(archive: tuple[str, list[VisibilityRecord]]) -> None:
    uri, records = archive
    directory = Path(uri.removeprefix("file://")) / NS
    names = sorted(os.listdir(directory))
    assert len(names) == len(records)
    record = records[5]
    from archivers.codec.naming import fingerprint

    name = f"{record.close_time.ToNanoseconds()}_{fingerprint(record.run_id)}.visibility"
    assert decode_message((directory / name).read_bytes(), VisibilityRecord, source=name) == record


def test_tampered_or_foreign_tokens_are_rejected(archive: tuple[str, list[VisibilityRecord]]) -> None:
    uri, _ = archive
    archiver = FilestoreVisibilityArchiver()
    first = archiver.query(uri, QueryVisibilityRequest(NS, 5, b"", "WorkflowType = 'OrderFlow'"), TYPES)
    token = first.next_page_token
    assert token
    tampered = token.replace(b'"s":[', b'"s":[1,', 1)
    for bad in (tampered, b"garbage", token[:-3], b'{"LastCloseTime":"2024-05-01T00:00:00Z","LastRunID":"x"}'):
        with pytest.raises(InvalidPageTokenError):
            archiver.query(uri, QueryVisibilityRequest(NS, 5, bad, "WorkflowType = 'OrderFlow'"), TYPES)
    with pytest.raises(InvalidPageTokenError, match="another request or query"):
        archiver.query(uri, QueryVisibilityRequest(NS, 5, token, "WorkflowType = 'ShipFlow'"), TYPES)


def test_bad_input(tmp_path: Path) -> None:
    archiver = FilestoreVisibilityArchiver()
    uri = f"file://{tmp_path}"
    with pytest.raises(QueryError):
        archiver.query(uri, QueryVisibilityRequest(NS, 5, b"", "WorkflowId = "))
    with pytest.raises(InvalidArgumentError):
        archiver.query(uri, QueryVisibilityRequest(NS, -1, b"", ""))
    with pytest.raises(InvalidArgumentError):
        archiver.archive(
            uri, VisibilityRecord(namespace_id="../x", workflow_id="w", run_id="r", close_time=timestamp(BASE))
        )
    with pytest.raises(InvalidArgumentError):
        archiver.archive(uri, VisibilityRecord(namespace_id=NS, workflow_id="w", run_id="r"))
    assert os.listdir(tmp_path) == []
    assert archiver.query(uri, QueryVisibilityRequest(NS, 5, b"", "")).executions == []


def test_corrupt_record_names_the_file(tmp_path: Path) -> None:
    (tmp_path / NS).mkdir()
    (tmp_path / NS / "1714521600000000000_123.visibility").write_text('{"workflowId": "x", "bogus": 1}')
    with pytest.raises(CorruptArchiveError, match=r"1714521600000000000_123\.visibility"):
        FilestoreVisibilityArchiver().query(f"file://{tmp_path}", QueryVisibilityRequest(NS, 5, b"", ""))
