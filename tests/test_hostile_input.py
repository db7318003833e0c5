"""Hostile input files, tokens and stored data: deep nesting, bytes that are not base64, forged
page-token cursors. Each is an invalid-input error (exit 2, INVALID_ARGUMENT, not retryable) or,
for stored data, a corrupt archive (DATA_LOSS), never a RecursionError or a silent success."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.cli.history_json import parse_history_bytes, render_history_json
from archivers.cli.record_file import read_visibility_records
from archivers.codec.protojson import encode_message
from archivers.codec.search_attributes import parse_stored_value
from archivers.config import ConfigError, load_config
from archivers.errors import (
    CorruptArchiveError,
    InvalidArgumentError,
    InvalidHistoryError,
    InvalidPageTokenError,
)
from archivers.interfaces import GetHistoryRequest, QueryVisibilityRequest
from archivers.layouts.filestore import parse_history_token
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver
from archivers.registry import get_history_archiver
from archivers.testing.records import NS, TYPES, make_records
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.tokens import _body, _digest, decode_token
from tests.test_cli_errors import assert_error, run_cli, snapshot
from tests.test_sidecar import _error_info

DEPTH = 100_000
DEEP_JSON = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * DEPTH + "1" + "}" * DEPTH


# -- deep nesting: the library -------------------------------------------------------------------


def test_deep_history_json_is_invalid_history() -> None:
    for text in (DEEP_JSON, '{"events":' + DEEP_JSON + "}", f'{{"events":[{DEEP_OBJECT}]}}'):
        with pytest.raises(InvalidHistoryError, match="nested too deeply"):
            parse_history_bytes(text, source="h.json")


def test_deep_record_file_and_config_are_invalid_input(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    for text in (DEEP_JSON, DEEP_OBJECT, DEEP_OBJECT.replace("{", "\n{", 1)):
        records.write_text(text)
        with pytest.raises(InvalidArgumentError, match="nested too deeply"):
            read_visibility_records(str(records))
    config = tmp_path / "config.yaml"
    for text in (DEEP_JSON, "archival:\n  history: " + DEEP_JSON):
        config.write_text(text)
        with pytest.raises(ConfigError, match="nested too deeply"):
            load_config(str(config))


def test_deep_tokens_are_invalid_tokens() -> None:
    for token in (DEEP_JSON.encode(), DEEP_OBJECT.encode()):
        with pytest.raises(InvalidPageTokenError):
            decode_token(token, "kind", "binding")
        with pytest.raises(InvalidPageTokenError):
            parse_history_token(token, "ns/wf/run")


def test_deep_search_attribute_value_does_not_parse() -> None:
    for value_type in (2, 7):  # keyword, keyword list
        with pytest.raises(ValueError, match="nested too deeply"):
            parse_stored_value(DEEP_JSON, value_type)
    assert parse_stored_value(DEEP_JSON, 0) == DEEP_JSON  # an untyped value that does not parse is text


def _archived_history(root: Path) -> tuple[str, GetHistoryRequest, Path]:
    """A history archived under ``root``, its get request and its file."""
    batches = synthetic_history(5)
    request = request_for(batches)
    uri = root.as_uri()
    FilestoreHistoryArchiver().archive(uri, request, batches)
    (name,) = [n for n in os.listdir(root) if n.endswith(".history")]
    get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id)
    return uri, get, root / name


def test_deep_stored_history_and_record_are_corrupt(tmp_path: Path) -> None:
    uri, get, path = _archived_history(tmp_path / "h")
    for content in (DEEP_JSON, "[" + DEEP_OBJECT + "]", '[{"events":[' + DEEP_OBJECT + "]}]"):
        path.write_text(content)
        with pytest.raises(CorruptArchiveError, match=r"nested too deeply|invalid History") as caught:
            FilestoreHistoryArchiver().get(uri, get)
        assert caught.value.retryable is False
    (tmp_path / "v" / NS).mkdir(parents=True)
    (tmp_path / "v" / NS / "1714521600000000000_123.visibility").write_text(DEEP_OBJECT)
    with pytest.raises(CorruptArchiveError, match="nested too deeply"):
        FilestoreVisibilityArchiver().query((tmp_path / "v").as_uri(), QueryVisibilityRequest(NS, 5, b"", ""))


# -- deep nesting and bad base64: the CLI --------------------------------------------------------


def _put(root: Path, history: Path) -> list[str]:
    return ["put", "--uri", (root / "archive").as_uri(), "--namespace-id", "ns-id", "--namespace", "ns",
            "--wid", "wid", "--rid", "rid", "--history", str(history)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "archive").mkdir()
    return tmp_path


def test_cli_refuses_deep_files_tokens_and_config_with_exit_2(root: Path) -> None:
    deep = root / "deep.json"
    deep.write_text('{"events":' + DEEP_JSON + "}")
    config = root / "deep.yaml"
    config.write_text(DEEP_JSON)
    before = snapshot(root)
    assert_error(run_cli(*_put(root, deep)), 2, "nested too deeply")
    assert_error(run_cli("put-visibility", "--uri", (root / "archive").as_uri(), "--record", str(deep)), 2,
                 "nested too deeply")
    query = ["query", "--uri", (root / "archive").as_uri(), "--namespace-id", "ns-id"]
    assert_error(run_cli(*query, "--page-token", "[" * 50_000), 2, "page token")
    assert_error(run_cli(*query, "--config", str(config)), 2, "nested too deeply")
    assert snapshot(root) == before


def test_cli_get_of_a_deep_stored_history_is_a_corrupt_archive(root: Path) -> None:
    uri, get, path = _archived_history(root / "archive")
    path.write_text(DEEP_JSON)
    done = run_cli("get", "--uri", uri, "--namespace-id", get.namespace_id, "--wid", get.workflow_id,
                   "--rid", get.run_id)
    assert_error(done, 1, "nested too deeply")


def _history_with_payload(data: str, metadata: str = "anNvbi9wbGFpbg==") -> str:
    events = json.loads(render_history_json(synthetic_history(3)[0].events))
    started = events["events"][0]["workflowExecutionStartedEventAttributes"]
    started["input"] = {"payloads": [{"metadata": {"encoding": metadata}, "data": data}]}
    return json.dumps(events)


@pytest.mark.parametrize(("data", "metadata"), [("!!!!", "anNvbi9wbGFpbg=="), ("eyJ4IjoxfQ==", "!!!!"),
                                                 ("eyJ4Ijox fQ==", "anNvbi9wbGFpbg==")])
def test_bytes_that_are_not_base64_are_refused(root: Path, data: str, metadata: str) -> None:
    with pytest.raises(InvalidHistoryError, match="not valid base64"):
        parse_history_bytes(_history_with_payload(data, metadata), source="h.json")
    history = root / "history.json"
    history.write_text(_history_with_payload(data, metadata))
    before = snapshot(root)
    assert_error(run_cli(*_put(root, history)), 2, "not valid base64")
    assert snapshot(root) == before


def test_base64_accepts_what_go_accepts(root: Path) -> None:
    for data in ("eyJ4IjoxfQ==", "eyJ4IjoxfQ", "-_-_", ""):
        parsed = parse_history_bytes(_history_with_payload(data), source="h.json")
        assert parsed.event_count == 3


def test_record_file_memo_that_is_not_base64_is_refused(root: Path) -> None:
    record = json.loads(encode_message(make_records(1)[0]))
    record["memo"] = {"fields": {"k": {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "!!!!"}}}
    path = root / "record.json"
    path.write_text(json.dumps(record))
    with pytest.raises(InvalidArgumentError, match="not valid base64"):
        read_visibility_records(str(path))
    before = snapshot(root)
    assert_error(run_cli("put-visibility", "--uri", (root / "archive").as_uri(), "--record", str(path)), 2,
                 "not valid base64")
    assert snapshot(root) == before


# -- forged page tokens ------------------------------------------------------------------------------


def _forged(token: bytes, state: object) -> bytes:
    """``token`` with its state replaced and its checksum recomputed (the key is public)."""
    parsed = json.loads(token)
    check = _digest(_body(parsed["k"], parsed["b"], state), 12)
    return json.dumps({**parsed, "s": state, "c": check}).encode()


@pytest.fixture(scope="module")
def visibility_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = tmp_path_factory.mktemp("visibility").as_uri()
    for record in make_records(20):
        FilestoreVisibilityArchiver().archive(uri, record)
    return uri


FORGED_CURSORS = [
    ("", [10**400, "r"]),
    ("", [253402300800 * 10**9, "r"]),  # year 10000
    ("", [1.5, "r"]),
    ("ORDER BY HistoryLength", [1 << 63, "r"]),
    ("ORDER BY HistoryLength", [float("nan"), "r"]),
    ("ORDER BY ExecutionStatus", [1 << 31, "r"]),
    ("ORDER BY ExecutionDuration", [-(1 << 63) - 1, "r"]),
]


@pytest.mark.parametrize(("query", "cursor"), FORGED_CURSORS)
def test_forged_query_cursor_out_of_range_is_refused(visibility_root: str, query: str, cursor: list[object]) -> None:
    archiver = FilestoreVisibilityArchiver()
    first = archiver.query(visibility_root, QueryVisibilityRequest(NS, 2, b"", query), TYPES)
    assert first.next_page_token
    legit = json.loads(first.next_page_token)["s"]
    assert archiver.query(visibility_root, QueryVisibilityRequest(NS, 2, _forged(first.next_page_token, legit), query),
                          TYPES).executions  # the forging itself is sound: the same cursor is accepted
    with pytest.raises(InvalidPageTokenError):
        archiver.query(visibility_root, QueryVisibilityRequest(NS, 2, _forged(first.next_page_token, cursor), query),
                       TYPES)


def test_forged_history_positions_out_of_range_are_refused(tmp_path: Path) -> None:
    batches = synthetic_history(30)
    request = request_for(batches)
    get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, page_size=3)
    uri = f"memory://b-{uuid.uuid4().hex}/h"
    archiver = get_history_archiver(uri)
    archiver.archive(uri, request, batches)
    token = archiver.get(uri, get).next_page_token
    state = json.loads(token)["s"]
    for index, bad in ((0, 10**400), (0, 1 << 63), (1, -1), (4, 1 << 63), (5, 1 << 63)):
        forged = list(state)
        forged[index] = bad
        with pytest.raises(InvalidPageTokenError):
            archiver.get(uri, GetHistoryRequest(**{**get.__dict__, "next_page_token": _forged(token, forged)}))
    file_uri, file_get, _ = _archived_history(tmp_path)
    for bad_token in (b'{"CloseFailoverVersion":%d}' % (1 << 63), b'{"NextBatchIdx":%d}' % (10**400)):
        with pytest.raises(InvalidPageTokenError):
            FilestoreHistoryArchiver().get(file_uri, GetHistoryRequest(**{**file_get.__dict__,
                                                                          "next_page_token": bad_token}))


# -- the sidecar -------------------------------------------------------------------------------------


def _status(method: Callable[..., object], request: object) -> tuple[grpc.StatusCode, str]:
    """The status code and the ErrorInfo's ``retryable`` of the failed call ``method(request)``."""
    with pytest.raises(grpc.RpcError) as caught:
        method(request, timeout=30)
    return caught.value.code(), _error_info(caught.value).metadata["retryable"]  # type: ignore[attr-defined]


def test_sidecar_deep_and_forged_tokens_are_invalid_argument(channel: grpc.Channel, visibility_root: str) -> None:
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    first = stub.QueryVisibility(pb.QueryVisibilityRequest(uri=visibility_root, namespace_id=NS, page_size=2),
                                 timeout=30)
    for token in (DEEP_JSON.encode(), _forged(first.next_page_token, [10**400, "r"])):
        query = pb.QueryVisibilityRequest(uri=visibility_root, namespace_id=NS, page_size=2, next_page_token=token)
        assert _status(stub.QueryVisibility, query) == (grpc.StatusCode.INVALID_ARGUMENT, "false")
    get = pb.GetHistoryRequest(uri=f"memory://b-{uuid.uuid4().hex}/h", namespace_id="n", workflow_id="w", run_id="r",
                               next_page_token=DEEP_OBJECT.encode())
    assert _status(stub.GetHistory, get) == (grpc.StatusCode.INVALID_ARGUMENT, "false")


def test_sidecar_deep_stored_history_is_data_loss(channel: grpc.Channel, tmp_path: Path) -> None:
    uri, get, path = _archived_history(tmp_path)
    path.write_text(DEEP_JSON)
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    message = pb.GetHistoryRequest(uri=uri, namespace_id=get.namespace_id, workflow_id=get.workflow_id,
                                   run_id=get.run_id)
    assert _status(stub.GetHistory, message) == (grpc.StatusCode.DATA_LOSS, "false")
