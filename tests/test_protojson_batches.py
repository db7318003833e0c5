"""Protojson batches on the sidecar contract (``BatchEncoding``), through the module's in-process sidecar.

A client that sends a compat root (filestore, s3store, gcloud) its batches as protojson gets exactly
what the Python codec path stores for the same history (byte for byte when the text is the codec's;
as parsed JSON when it has Go's extra whitespace, which is stored as sent); GetHistory serves those
batches back as protojson to a client that accepts it and as protobuf to one that does not; bad
protojson is INVALID_ARGUMENT and stores nothing. Stored objects are read with the emulators'
own clients (moto, fake-gcs-server) or from the directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from temporalio.api.history.v1 import History, HistoryEvent

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.codec import protojson
from archivers.codec.protojson import decode_histories, encode_message
from archivers.interfaces import ArchiveHistoryRequest
from archivers.layouts import base as layout_base
from archivers.registry import get_backend
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from archivers.wire.messages import header_to_pb
from tests.test_object_interop import gcs_objects, s3_objects

PROTOJSON = pb.BATCH_ENCODING_PROTOJSON
PROTOBUF = pb.BATCH_ENCODING_PROTOBUF

Roots = tuple[str, str, Callable[[str], dict[str, bytes]]]
"""Two fresh roots of one compat layout, and what is stored under a root (key relative to it -> bytes)."""


@pytest.fixture(params=["file", "s3", "gs"])
def roots(request: pytest.FixtureRequest, tmp_path: Path) -> Roots:
    """Two empty roots without a descriptor (so in their scheme's compat layout) on one store."""
    if request.param == "file":
        return f"file://{tmp_path}/a", f"file://{tmp_path}/b", lambda uri: _files(Path(URI.parse(uri).path))
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        request.getfixturevalue("moto_s3_env")
        return (f"s3://{bucket.name}/a", f"s3://{bucket.name}/b",
                lambda uri: _under(s3_objects(bucket), URI.parse(uri).path.lstrip("/") + "/"))
    bucket = request.getfixturevalue("gcs_bucket")
    request.getfixturevalue("fake_gcs_env")
    return (f"gs://{bucket.name}/a", f"gs://{bucket.name}/b",
            lambda uri: _under(gcs_objects(bucket), URI.parse(uri).path.lstrip("/") + "/"))


@pytest.fixture
def stub(channel: grpc.Channel) -> service_pb2_grpc.ArchiverServiceStub:
    """The raw ``ArchiverService`` stub of the module's sidecar."""
    return service_pb2_grpc.ArchiverServiceStub(channel)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Object layouts close a part at 4 KiB (the sidecar runs in this process), so small histories span many."""
    monkeypatch.setattr(layout_base, "TARGET_PART_BYTES", 4096)


@pytest.fixture
def no_history_protojson(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python protojson codec fails on ``History`` and ``HistoryEvent`` while the test runs.

    Its two ways in (:func:`~archivers.codec.protojson.parse_dict` under every decode,
    ``message_dict`` under every encode) are guarded. The sidecar runs in this process, so this
    catches any event batch it decodes from or encodes to JSON.
    """
    parse, to_dict = protojson.parse_dict, protojson.message_dict

    def check(message_type: type) -> None:
        if issubclass(message_type, (History, HistoryEvent)):
            raise AssertionError(f"Python protojson ran on a {message_type.__name__}")

    def guarded_parse(parsed: Any, message_type: Any, **options: Any) -> Any:
        check(message_type)
        return parse(parsed, message_type, **options)

    def guarded_to_dict(message: Any, floats: Any) -> Any:
        check(type(message))
        return to_dict(message, floats)

    monkeypatch.setattr(protojson, "parse_dict", guarded_parse)
    monkeypatch.setattr(protojson, "message_dict", guarded_to_dict)


def _files(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def _under(objects: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    return {key[len(prefix):]: data for key, data in objects.items() if key.startswith(prefix)}


def _history() -> list[History]:
    return synthetic_history(60, version=7, batch_size=4, payload_bytes=300)


def _spaced(data: bytes) -> bytes:
    """The same JSON with a space after every ``:`` and ``,`` between tokens, as Go's protojson randomly writes it."""
    return json.dumps(json.loads(data), separators=(", ", ": "), ensure_ascii=False).encode()


def _archive(
    stub: service_pb2_grpc.ArchiverServiceStub,
    uri: str,
    request: ArchiveHistoryRequest,
    payloads: list[bytes],
    encoding: int,
) -> Any:
    header = header_to_pb(uri, request)
    header.batch_encoding = encoding
    messages = [pb.ArchiveHistoryRequest(header=header)]
    messages += [pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=payloads[i:i + 5]))
                 for i in range(0, len(payloads), 5)]
    return stub.ArchiveHistory(iter(messages), timeout=30)


def _read_all(
    stub: service_pb2_grpc.ArchiverServiceStub, uri: str, request: ArchiveHistoryRequest, *accepted: Any
) -> tuple[list[bytes], set[int]]:
    """Every batch of the archived history, paging 10 events at a time, and the encodings the pages came in."""
    batches: list[bytes] = []
    encodings: set[int] = set()
    token = b""
    while True:
        page = stub.GetHistory(pb.GetHistoryRequest(
            uri=uri, namespace_id=request.namespace_id, workflow_id=request.workflow_id, run_id=request.run_id,
            page_size=10, next_page_token=token, accepted_encodings=accepted,
        ), timeout=30)
        batches += page.history_batches
        encodings.add(page.batch_encoding)
        token = page.next_page_token
        if not token:
            return batches, encodings


@pytest.mark.usefixtures("small_parts")
def test_protojson_batches_are_stored_as_the_codec_stores_them(
    stub: service_pb2_grpc.ArchiverServiceStub, roots: Roots
) -> None:
    codec_root, json_root, stored = roots
    batches = _history()
    request = request_for(batches)
    _archive(stub, codec_root, request, [b.SerializeToString() for b in batches], PROTOBUF)
    _archive(stub, json_root, request, [encode_message(b) for b in batches], PROTOJSON)

    by_codec, by_json = stored(codec_root), stored(json_root)
    assert len(by_codec) > 1 or codec_root.startswith("file:")  # object layouts: several parts
    assert by_json == by_codec


@pytest.mark.usefixtures("small_parts")
def test_protojson_text_is_stored_as_sent(stub: service_pb2_grpc.ArchiverServiceStub, roots: Roots) -> None:
    """Go's protojson puts random spaces in its output: the sidecar stores the text it got, not a re-encoding."""
    codec_root, json_root, stored = roots
    batches = _history()
    request = request_for(batches)
    _archive(stub, codec_root, request, [b.SerializeToString() for b in batches], PROTOBUF)
    _archive(stub, json_root, request, [_spaced(encode_message(b)) for b in batches], PROTOJSON)

    by_codec, by_json = stored(codec_root), stored(json_root)
    assert by_json.keys() == by_codec.keys()
    for key, data in by_json.items():
        assert b'"eventId": "' in data
        assert json.loads(data) == json.loads(by_codec[key])


def test_get_history_answers_in_the_accepted_encoding(stub: service_pb2_grpc.ArchiverServiceStub, roots: Roots) -> None:
    _, uri, _ = roots
    batches = _history()
    request = request_for(batches)
    _archive(stub, uri, request, [encode_message(b) for b in batches], PROTOJSON)

    as_json, encodings = _read_all(stub, uri, request, PROTOJSON)
    assert encodings == {PROTOJSON}
    assert decode_histories(b"[" + b",".join(as_json) + b"]", source="test") == batches

    as_protobuf, encodings = _read_all(stub, uri, request)  # an old client accepts protobuf only
    assert encodings == {PROTOBUF}
    assert [History.FromString(data) for data in as_protobuf] == batches


@pytest.mark.usefixtures("small_parts")
def test_protojson_path_runs_no_python_protojson_on_events(stub: service_pb2_grpc.ArchiverServiceStub,
                                                           roots: Roots, request: pytest.FixtureRequest) -> None:
    """Archive and read back as protojson with Python protojson failing on events: nothing notices.

    The same archive with protobuf batches (which the codec must encode) fails, so the guard works.
    """
    codec_root, uri, _ = roots
    batches = _history()
    history = request_for(batches)
    payloads = [encode_message(b) for b in batches]
    request.getfixturevalue("no_history_protojson")

    _archive(stub, uri, history, payloads, PROTOJSON)
    as_json, encodings = _read_all(stub, uri, history, PROTOJSON)
    assert encodings == {PROTOJSON}
    assert b",".join(as_json) == b",".join(payloads)
    with pytest.raises(grpc.RpcError) as raised:
        _archive(stub, codec_root, history, [b.SerializeToString() for b in batches], PROTOBUF)
    assert raised.value.code() == grpc.StatusCode.INTERNAL


def test_history_encoding_of_roots(stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path) -> None:
    compat, native = f"file://{tmp_path}/compat", f"file://{tmp_path}/native"
    roots = get_backend(native).roots
    assert roots is not None
    roots({}).init(URI.parse(native), "native", "tests")

    def encoding(uri: str) -> int:
        return int(stub.GetHistoryEncoding(pb.GetHistoryEncodingRequest(uri=uri), timeout=10).batch_encoding)

    assert encoding(compat) == PROTOJSON
    assert encoding(native) == PROTOBUF


def test_protojson_batches_to_a_native_root(stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path) -> None:
    """Any encoding is accepted for any root: a native root converts protojson batches (the slow path)."""
    uri = f"file://{tmp_path}/native"
    roots = get_backend(uri).roots
    assert roots is not None
    roots({}).init(URI.parse(uri), "native", "tests")
    batches = _history()
    request = request_for(batches)
    _archive(stub, uri, request, [encode_message(b) for b in batches], PROTOJSON)

    as_protobuf, encodings = _read_all(stub, uri, request, PROTOJSON)
    assert encodings == {PROTOBUF}
    assert [History.FromString(data) for data in as_protobuf] == batches


def _renumbered(data: bytes) -> bytes:
    parsed = json.loads(data)
    parsed["events"][-1]["eventId"] = "99"
    return json.dumps(parsed).encode()


def _batch_field(data: bytes) -> bytes:
    parsed = json.loads(data)
    parsed["notAField"] = 1
    return json.dumps(parsed).encode()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-1], "history batch 1 is not a protojson"),
        (lambda data: b"[" + data + b"]", "history batch 1 is not a protojson History"),
        (_renumbered, "events out of order"),
        (_batch_field, "history batch 1 is not a protojson History (an object whose only field is events)"),
        (lambda data: data.replace(b'"eventId":"5"', b'"eventId":5.5'), "no valid eventId"),
    ],
)
def test_bad_protojson_batch_is_invalid_argument_and_stores_nothing(
    stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path, damage: Callable[[bytes], bytes], message: str
) -> None:
    uri = f"file://{tmp_path}/archive"
    batches = _history()
    payloads = [encode_message(b) for b in batches]
    payloads[1] = damage(payloads[1])
    with pytest.raises(grpc.RpcError) as raised:
        _archive(stub, uri, request_for(batches), payloads, PROTOJSON)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (raised.value.details() or "")
    assert _files(tmp_path) == {}


def test_event_fields_of_a_newer_api_are_stored_as_sent(
    stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path
) -> None:
    """A server on a newer Temporal API may send event fields this package does not know: kept, not refused."""
    uri = f"file://{tmp_path}/archive"
    batches = _history()
    payloads = [encode_message(b) for b in batches]
    parsed = json.loads(payloads[0])
    parsed["events"][0]["fieldOfANewerApi"] = {"x": "1"}
    payloads[0] = json.dumps(parsed, separators=(",", ":")).encode()
    _archive(stub, uri, request_for(batches), payloads, PROTOJSON)

    (stored,) = _files(tmp_path).values()
    assert stored == b"[" + b",".join(payloads) + b"]"


def test_mutated_protojson_history_fails_as_the_protobuf_one(
    stub: service_pb2_grpc.ArchiverServiceStub, tmp_path: Path
) -> None:
    batches = _history()
    request = request_for(batches)
    newer = dataclasses.replace(request, close_failover_version=6)  # its events have version 7
    codes = []
    for name, payloads, encoding in (
        ("json", [encode_message(b) for b in batches], PROTOJSON),
        ("binary", [b.SerializeToString() for b in batches], PROTOBUF),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            _archive(stub, f"file://{tmp_path}/{name}", newer, payloads, encoding)
        codes.append(raised.value.code())
        assert "history was mutated" in (raised.value.details() or "")
    assert codes == [grpc.StatusCode.FAILED_PRECONDITION] * 2
    assert _files(tmp_path) == {}
