"""Native roots: the descriptor, ``archiver init``, the native part format and what corruption does.

The conformance suite runs on native roots of every store (``tests/test_conformance.py``,
``tests/test_sidecar_conformance.py``); these tests cover what it cannot: damaged parts and
descriptors, layout choice per root, and the CLI's exit codes. They use ``memory://`` and
``file://`` (the format and the descriptor logic are the same on every store).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History

from archivers.batches import PROTOBUF, BatchInfo
from archivers.cli import main
from archivers.errors import CorruptArchiveError, InvalidArgumentError, InvalidHistoryError
from archivers.interfaces import GetHistoryRequest, HistoryArchiver
from archivers.layouts import native, s3store
from archivers.registry import get_history_archiver, get_root_manager
from archivers.remote import RemoteHistoryArchiver
from archivers.roots import DESCRIPTOR_NAME, RootDescriptor
from archivers.store.memory import MemoryStore
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI

IDS = ("test-namespace-id", "test-workflow-id", "test-run-id")


def _read_all(history: HistoryArchiver, uri: str, page_size: int = 0) -> list[History]:
    batches: list[History] = []
    token = b""
    while True:
        response = history.get(uri, GetHistoryRequest(*IDS, next_page_token=token, page_size=page_size))
        batches += response.history_batches
        token = response.next_page_token
        if not token:
            return batches


@pytest.fixture
def memory_uri() -> str:
    """A fresh ``memory://`` root."""
    return f"memory://native-{uuid.uuid4().hex}/archive"


def _init(uri: str, layout: str = "native") -> RootDescriptor:
    return get_root_manager(uri).init(URI.parse(uri), layout, "tests")


def _archived(uri: str, events: int = 2_000) -> tuple[HistoryArchiver, list[History], MemoryStore, str]:
    """A native root holding one archived history: (archiver, batches, store, key of its part 0)."""
    _init(uri)
    history = get_history_archiver(uri)
    batches = synthetic_history(events, version=3, payload_bytes=80)
    history.archive(uri, request_for(batches), batches)
    parsed = URI.parse(uri)
    key = native.LAYOUT.part_key(parsed.path, request_for(batches), 3, 0)
    return history, batches, MemoryStore(parsed.host), key


def test_native_part_round_trip_slices_serialized_batches() -> None:
    batches = synthetic_history(3_000, version=2, payload_bytes=100)
    request = request_for(batches)
    encoded = [native.LAYOUT.encode_batch(b) for b in batches]
    data = native.LAYOUT.encode_part(request, encoded, [BatchInfo.of(b) for b in batches], True)
    assert data[:4] == native.MAGIC
    part = native.LAYOUT.decode_part(data, "test")
    assert part.is_last and part.last_event_id == 3_000 and len(part) == len(batches)
    assert [part.batch_bytes(i) for i in range(len(part))] == encoded  # slices, byte for byte
    assert part.batches == batches
    assert len(data) * 4 <= sum(len(s3store.LAYOUT.encode_batch(b)) for b in batches)


def test_root_without_descriptor_keeps_its_compat_layout(memory_uri: str) -> None:
    history = get_history_archiver(memory_uri)
    batches = synthetic_history(10)
    history.archive(memory_uri, request_for(batches), batches)
    parsed = URI.parse(memory_uri)
    store = MemoryStore(parsed.host)
    assert store.stat(s3store.LAYOUT.part_key(parsed.path, request_for(batches), 0, 0)) is not None
    assert store.stat(f"archive/{DESCRIPTOR_NAME}") is None
    with pytest.raises(InvalidArgumentError, match="already holds archives in the s3store layout"):
        _init(memory_uri)
    assert _init(memory_uri, "s3store").layout == "s3store"
    assert _read_all(get_history_archiver(memory_uri), memory_uri) == batches


def test_init_is_idempotent_and_refuses_another_layout(memory_uri: str) -> None:
    first = _init(memory_uri)
    assert first.layout == "native" and first.visibility_layout == "native" and first.compression == "zstd"
    assert _init(memory_uri) == first
    with pytest.raises(InvalidArgumentError, match="already initialised in layout 'native'"):
        _init(memory_uri, "s3store")
    with pytest.raises(InvalidArgumentError, match="not available"):
        _init(memory_uri, "gcloud")
    lenient = get_root_manager(memory_uri).init(URI.parse(memory_uri), "s3store", "tests", strict=False)
    assert lenient == first


@pytest.mark.parametrize("where", ["frame", "header", "truncated", "magic", "version"])
def test_damaged_part_is_corrupt_never_served(memory_uri: str, where: str) -> None:
    _, _, store, key = _archived(memory_uri)
    data = bytearray(store.get(key))
    if where == "frame":
        data[-10] ^= 0x40
    elif where == "header":
        data[40] ^= 0x01
    elif where == "magic":
        data[0:4] = b"JUNK"
    elif where == "version":
        data[4] = 9
    store.put(key, bytes(data[: len(data) - 7] if where == "truncated" else data))
    fresh = get_history_archiver(memory_uri)  # a new archiver: no part cached
    with pytest.raises(CorruptArchiveError):
        _read_all(fresh, memory_uri)


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": "other"}', None],
    ids=["not-json", "other-format", "future-version"],
)
def test_wrong_descriptor_is_corrupt(memory_uri: str, content: bytes | None) -> None:
    descriptor = json.loads(RootDescriptor.new("native", "s3store", "tests").encode())
    descriptor["version"] = 2
    parsed = URI.parse(memory_uri)
    MemoryStore(parsed.host).put(f"archive/{DESCRIPTOR_NAME}", content or json.dumps(descriptor).encode())
    with pytest.raises(CorruptArchiveError, match="descriptor"):
        _read_all(get_history_archiver(memory_uri), memory_uri)


def test_file_root_native(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"file://{tmp_path}/archive"
    assert main(["init", "--uri", uri, "--layout", "native"]) == 0
    assert json.loads(capsys.readouterr().out)["layout"] == "native"
    assert main(["init", "--uri", uri, "--layout", "native"]) == 0
    assert main(["init", "--uri", uri, "--layout", "filestore"]) == 2
    assert "already initialised" in capsys.readouterr().err
    history = get_history_archiver(uri)
    batches = synthetic_history(300, payload_bytes=40)
    history.archive(uri, request_for(batches), batches)
    assert _read_all(history, uri, page_size=50) == batches
    (part,) = [p for p in (tmp_path / "archive" / "native-history").rglob("0") if p.is_file()]
    part.write_bytes(part.read_bytes()[:-3])
    capsys.readouterr()
    assert main(["get", "--uri", uri, "--namespace-id", IDS[0], "--wid", IDS[1], "--rid", IDS[2]]) == 1
    assert "truncated" in capsys.readouterr().err


def test_cli_init_refuses_native_on_a_filestore_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"file://{tmp_path}/archive"
    batches = synthetic_history(10)
    get_history_archiver(uri).archive(uri, request_for(batches), batches)
    assert main(["init", "--uri", uri, "--layout", "native"]) == 2
    assert "already holds archives in the filestore layout" in capsys.readouterr().err
    assert not (tmp_path / "archive" / DESCRIPTOR_NAME).exists()


@pytest.mark.parametrize("default_layout", ["native", "compat"])
def test_sidecar_validate_uri_initialises_new_roots(default_layout: str) -> None:
    """ValidateURI: a new root gets the default layout, a root holding compat archives keeps its own."""
    from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
    from sidecar.server import SidecarServer

    server = SidecarServer(listen="127.0.0.1:0", grace=1, default_layout=default_layout)
    server.start()
    channel = connect(server.address)
    try:
        bucket = f"validate-{uuid.uuid4().hex}"
        new, taken_over = f"memory://{bucket}/new", f"memory://{bucket}/old"
        batches = synthetic_history(6)
        get_history_archiver(taken_over).archive(taken_over, request_for(batches), batches)
        RemoteHistoryArchiver(channel, timeout=30).validate_uri(new)
        RemoteVisibilityArchiver(channel, timeout=30).validate_uri(taken_over)
        store = MemoryStore(bucket)
        described = {p: store.stat(f"{p}/{DESCRIPTOR_NAME}") for p in ("new", "old")}
        if default_layout == "compat":
            assert described == {"new": None, "old": None}
        else:
            assert RootDescriptor.decode(store.get(f"new/{DESCRIPTOR_NAME}"), "new").layout == "native"
            assert RootDescriptor.decode(store.get(f"old/{DESCRIPTOR_NAME}"), "old").layout == "s3store"
        assert _read_all(get_history_archiver(taken_over), taken_over) == batches
    finally:
        channel.close()
        server.stop()


def test_sidecar_config_default_layout(tmp_path: Path) -> None:
    from archivers.config import ConfigError
    from sidecar.config import load_sidecar_config

    path = tmp_path / "sidecar.yaml"
    path.write_text("sidecar: {defaultLayout: compat}\narchival: {}\n")
    assert load_sidecar_config(str(path)).default_layout == "compat"
    assert load_sidecar_config(None).default_layout == "native"
    path.write_text("sidecar: {defaultLayout: s3store}\narchival: {}\n")
    with pytest.raises(ConfigError, match="defaultLayout must be one of native, compat"):
        load_sidecar_config(str(path))


def _all_serialized(history: HistoryArchiver, uri: str, page_size: int) -> tuple[list[bytes], list[bytes]]:
    """Every page through ``get_encoded`` and through ``get``: (batches as bytes, tokens); both must agree."""
    batches: list[bytes] = []
    tokens: list[bytes] = []
    token = b""
    while True:
        request = GetHistoryRequest(*IDS, next_page_token=token, page_size=page_size)
        page = history.get_encoded(uri, request)
        assert page.next_page_token == history.get(uri, request).next_page_token
        assert page.encoding == PROTOBUF
        batches += page.batches
        tokens.append(token := page.next_page_token)
        if not token:
            return batches, tokens


@pytest.mark.parametrize("where", ["memory", "file", "sidecar"])
def test_serialized_batches_are_stored_and_served_as_received(
    memory_uri: str, tmp_path: Path, request: pytest.FixtureRequest, where: str
) -> None:
    """``archive_encoded`` stores the bytes it is given; ``get_encoded`` serves them, in the pages of ``get``.

    Each batch is sent with an unknown field in front of its events (legal protobuf, e.g. from a
    newer server): decoding and re-encoding would move it after them, so only bytes passed through
    untouched come back equal. ``sidecar``: through a sidecar (in this process) serving the memory root.
    """
    uri = f"file://{tmp_path}/archive" if where == "file" else memory_uri
    _init(uri)
    history: HistoryArchiver = get_history_archiver(uri)
    if where == "sidecar":
        history = RemoteHistoryArchiver(request.getfixturevalue("channel"), timeout=30)
    batches = synthetic_history(3_000, version=2, payload_bytes=90, varied=True)
    sent = [b"\xf8\xff\x03\x01" + b.SerializeToString() for b in batches]  # field 65535 = 1, then the events
    assert History.FromString(sent[0]).SerializeToString() != sent[0]
    history.archive_encoded(uri, request_for(batches), iter(sent), PROTOBUF)
    served, tokens = _all_serialized(history, uri, 100)
    assert served == sent and len(tokens) > 2
    assert [History.FromString(b) for b in served] == [History.FromString(b) for b in sent]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda data: [data[0], b"\xff\xff", *data[1:]], "batch 1 is not a serialized"),
        (lambda data: [data[0], *data[2:]], "expected event id 4, got 7"),
        (lambda data: [_without_middle_event(data[0]), *data[1:]], "holds 2 events from id 1 to id 3"),
    ],
)
def test_serialized_archive_refuses_bad_batches_and_stores_nothing(
    memory_uri: str, mangle: Callable[[list[bytes]], list[bytes]], message: str
) -> None:
    _init(memory_uri)
    history = get_history_archiver(memory_uri)
    batches = synthetic_history(30)
    with pytest.raises(InvalidHistoryError, match=message):
        history.archive_encoded(memory_uri, request_for(batches), mangle([b.SerializeToString() for b in batches]))
    stored = [o.key for page in MemoryStore(URI.parse(memory_uri).host).list_all("") for o in page.objects]
    assert not [key for key in stored if native.KEY_SEGMENT in key], stored


def _without_middle_event(data: bytes) -> bytes:
    events = History.FromString(data).events
    return History(events=[events[0], events[2]]).SerializeToString()
