"""Hostile input to the sidecar: forged access log lines and rejected archive streams.

A URI carrying control characters must give exactly one, escaped, access log line per call (text
and JSON formats). Every kind of ``ArchiveHistory`` stream the sidecar rejects must leave the
``file://`` root exactly as it was: no hidden partial file, no temporary file; and leave the
buckets of s3, gs and azblob (emulators) and an fsspec root as they were, in the compat and the
native layout: no object, no multipart upload (moto), no uncommitted block (Azurite).
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import grpc
import pytest

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.registry import get_backend
from archivers.remote import connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
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


def _out_of_order(uri: str) -> list[pb.ArchiveHistoryRequest]:
    """A header, then batches with a gap (events 4..6 left out)."""
    batches = synthetic_history(20)
    sent = [batches[0], *batches[2:]]
    serialized = [batch.SerializeToString() for batch in sent]
    return [_header(uri), pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=serialized))]


OBJECT_STREAMS = {
    **{kind: REJECTED_STREAMS[kind] for kind in ("two headers", "no header", "abort")},
    "events out of order": _out_of_order,
}


def _leftovers(scheme: str, store: Any) -> list[str]:
    """Everything stored in the bucket/container/root, uncommitted uploads and blocks included."""
    if scheme == "s3":
        client = store.server.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=store.name).get("Contents", [])]
        uploads = client.list_multipart_uploads(Bucket=store.name).get("Uploads", [])
        return keys + [f"multipart upload {u['Key']}" for u in uploads]
    if scheme == "gs":
        return [blob.name for blob in store.server.client().list_blobs(store.name)]
    if scheme == "azblob":
        from azure.storage.blob import ContainerClient

        container = ContainerClient.from_connection_string(store.connection_string, store.name)
        return [blob.name for blob in container.list_blobs(include=["uncommittedblobs"])]
    return sorted(fsspec.filesystem("memory").find(store))


@pytest.fixture(params=["s3", "gs", "azblob", "fsspec+memory"])
def object_root(request: pytest.FixtureRequest) -> tuple[str, str, Any]:
    """``(scheme, archival URI, what _leftovers lists)`` of a fresh, empty bucket or root on an emulator."""
    scheme: str = request.param
    if scheme == "s3":
        store: Any = request.getfixturevalue("s3_bucket")
        return scheme, f"s3://{store.name}/archive", store
    if scheme == "gs":
        store = request.getfixturevalue("gcs_bucket")
        return scheme, f"gs://{store.name}/archive", store
    if scheme == "azblob":
        store = request.getfixturevalue("azure_container")
        return scheme, f"azblob://{store.name}/archive", store
    root = f"/hostile-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("memory").makedirs(root, exist_ok=True)
    return scheme, f"fsspec+memory://{root.lstrip('/')}", root


@pytest.mark.parametrize("layout", ["compat", "native"])
@pytest.mark.parametrize("kind", sorted(OBJECT_STREAMS))
def test_rejected_stream_leaves_nothing_in_an_object_store(
    stub: service_pb2_grpc.ArchiverServiceStub, object_root: tuple[str, str, Any], kind: str, layout: str
) -> None:
    """Issue 10 item 10 on s3, gs, azblob and fsspec: no object, no multipart upload, no uncommitted block."""
    scheme, uri, store = object_root
    if layout == "native":
        roots = get_backend(uri).roots
        assert roots is not None
        roots({}).init(URI.parse(uri), "native", "tests")
    before = _leftovers(scheme, store)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ArchiveHistory(iter(OBJECT_STREAMS[kind](uri)), timeout=10)
    assert caught.value.code() != grpc.StatusCode.OK
    assert _leftovers(scheme, store) == before
    stub.ArchiveHistory(iter([_header(uri), _batches()]), timeout=10)  # the listing does see what is stored
    assert len(_leftovers(scheme, store)) == len(before) + 1
