"""Hostile input to the sidecar: forged access log lines and rejected archive streams.

A URI carrying control characters must give exactly one, escaped, access log line per call (text
and JSON formats). Every kind of ``ArchiveHistory`` stream the sidecar rejects must leave the
``file://`` root exactly as it was: no hidden partial file, no temporary file.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.remote import connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.wire.messages import header_to_pb
from sidecar.config import LogConfig
from sidecar.logs import escape_control, make_handler
from sidecar.server import SidecarServer

FORGED = "file:///tmp/x\n2024-05-01 12:00:00,000 INFO sidecar.access [-]: ValidateURI OK\r\x1b[2J\x85\u2028end"


@pytest.fixture(scope="module")
def server() -> Iterator[SidecarServer]:
    running = SidecarServer(listen="127.0.0.1:0", grace=1)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(server: SidecarServer) -> Iterator[service_pb2_grpc.ArchiverServiceStub]:
    with connect(server.address) as channel:
        yield service_pb2_grpc.ArchiverServiceStub(channel)


@pytest.fixture(params=["text", "json"])
def access_log(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    stream = io.StringIO()
    handler = make_handler(LogConfig(format=request.param), stream)
    access = logging.getLogger("sidecar.access")
    previous = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    yield request.param, stream
    access.removeHandler(handler)
    access.setLevel(previous)


def test_escape_control_escapes_every_non_printable_character() -> None:
    assert escape_control("a b\\c/é") == "a b\\c/é"
    assert escape_control("a\nb\rc\td\x1be\x00f\x7fg\x85h\u2028i\u200bj") == (
        "a\\nb\\rc\\td\\x1be\\x00f\\x7fg\\x85h\\u2028i\\u200bj"
    )


def test_uri_with_control_characters_gives_one_escaped_log_line(
    stub: service_pb2_grpc.ArchiverServiceStub, access_log: tuple[str, io.StringIO]
) -> None:
    fmt, stream = access_log
    with pytest.raises(grpc.RpcError):
        stub.ValidateURI(pb.ValidateURIRequest(uri=FORGED, kind=pb.ARCHIVER_KIND_HISTORY), timeout=5)
    logging.getLogger("sidecar.access").handlers[-1].flush()
    lines = stream.getvalue().splitlines()  # splits on \r, \x85 and \u2028 too
    assert len(lines) == 1, lines
    (line,) = lines
    assert "\x1b" not in line
    if fmt == "json":
        assert json.loads(line)["uri"] == FORGED
    else:
        assert "uri=file:///tmp/x\\n2024-05-01 12:00:00,000 INFO sidecar.access" in line
        assert "\\r\\x1b[2J\\x85\\u2028end" in line


def _header(uri: str) -> pb.ArchiveHistoryRequest:
    batches = synthetic_history(20)
    return pb.ArchiveHistoryRequest(header=header_to_pb(uri, request_for(batches)))


def _batches(count: int = 20) -> pb.ArchiveHistoryRequest:
    return pb.ArchiveHistoryRequest(
        batches=pb.HistoryBatches(history=[batch.SerializeToString() for batch in synthetic_history(count)])
    )


def _undecodable() -> pb.ArchiveHistoryRequest:
    return pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=[b"\xff"]))


REJECTED_STREAMS = {
    "two headers": lambda uri: [_header(uri), _header(uri)],
    "header after batches": lambda uri: [_header(uri), _batches(5), _header(uri)],
    "empty message": lambda uri: [_header(uri), pb.ArchiveHistoryRequest()],
    "undecodable batch": lambda uri: [_header(uri), _undecodable()],
    "history that ends early": lambda uri: [_header(uri), _batches(5)],
    "no header": lambda uri: [_batches()],
    "abort": lambda uri: [_header(uri), pb.ArchiveHistoryRequest(abort=pb.ArchiveAbort(reason="test"))],
}


@pytest.mark.parametrize("kind", sorted(REJECTED_STREAMS))
def test_rejected_stream_leaves_no_file_behind(
    stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    (root / "existing").write_text("kept")
    uri = root.as_uri()
    with pytest.raises(grpc.RpcError) as caught:
        stub.ArchiveHistory(iter(REJECTED_STREAMS[kind](uri)), timeout=10)
    assert caught.value.code() != grpc.StatusCode.OK
    assert sorted(os.listdir(root)) == ["existing"]  # os.listdir lists hidden files too
