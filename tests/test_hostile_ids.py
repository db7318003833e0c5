"""Hostile ids on the s3store layout (s3 on moto, azblob on Azurite, memory, fsspec): refused, nothing stored.

Ids go into s3store keys unescaped (as Temporal writes them), so workflow ``a`` run ``b/r`` and
workflow ``a/b`` run ``r`` would share keys: the second archive would succeed and store nothing,
and ``get`` would return the other run's events. Every id that is not exactly one key segment
(holding ``/`` or NUL, or ``.``/``..``) is refused with a non-retryable invalid-argument error by
history archive and get, visibility archive and query, before any request writes; through the CLI
that is exit 2, through the sidecar ``INVALID_ARGUMENT``. The filestore layout hashes ids, so the
same ids archive and read back there as distinct runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.cli import main
from archivers.cli.exit_codes import INVALID_INPUT
from archivers.cli.history_json import render_history_json
from archivers.errors import InvalidArgumentError
from archivers.interfaces import GetHistoryRequest, QueryVisibilityRequest
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.store.base import ObjectStore
from archivers.testing.records import closed_record
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI

NS_ID = "hostile-ids-ns"
EVENTS = 12
HOSTILE_RUNS = [
    {"workflow_id": "a", "run_id": "b/r"},
    {"workflow_id": "a/b", "run_id": "r"},
    {"workflow_id": "a/", "run_id": "b/r"},
    {"workflow_id": "..", "run_id": "r"},
    {"workflow_id": "a", "run_id": "."},
    {"workflow_id": "a", "run_id": "r\0x"},
    {"workflow_id": "a", "run_id": "r", "namespace_id": "ns/history/a"},
    {"workflow_id": "a", "run_id": "r", "namespace_id": ".."},
]
"""Ids the s3store layout cannot store as one key segment each (namespace id ``NS_ID`` unless given)."""


def _memory(request: pytest.FixtureRequest) -> str:
    return f"memory://bucket-{uuid.uuid4().hex}/archive"


def _s3(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("moto_s3_env")
    return f"s3://{request.getfixturevalue('s3_bucket').name}/archive"


def _azure(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("azurite_env")
    return f"azblob://{request.getfixturevalue('azure_container').name}/archive"


def _fsspec_file(request: pytest.FixtureRequest) -> str:
    root: Path = request.getfixturevalue("tmp_path") / "archive"
    root.mkdir()
    return f"fsspec+file://{root}"


URIS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "memory": _memory,
    "s3": _s3,
    "azblob": _azure,
    "fsspec+file": _fsspec_file,
}


@pytest.fixture(params=sorted(URIS))
def archive_uri(request: pytest.FixtureRequest) -> str:
    """An empty archive on one backend of the s3store layout."""
    return URIS[request.param](request)


def _store(uri: str) -> ObjectStore:
    """A store of its own for ``uri``, to list what the archivers wrote."""
    parsed = URI.parse(uri)
    if parsed.scheme == "s3":
        from archivers.store.s3 import s3_store

        return s3_store(parsed, {})
    if parsed.scheme == "azblob":
        from archivers.store.azure import azure_store

        return azure_store(parsed, {})
    if parsed.scheme == "memory":
        from archivers.store.memory import memory_store

        return memory_store(parsed, {})
    from archivers.store.fsspec_store import fsspec_store

    return fsspec_store(parsed, {})


def stored_keys(uri: str) -> list[str]:
    """Every key below the archive's root."""
    store = _store(uri)
    try:
        return sorted(
            info.key for page in store.list_all(store.key_prefix(URI.parse(uri)).lstrip("/")) for info in page.objects
        )
    finally:
        store.close()


def _record(*, namespace_id: str, workflow_id: str, run_id: str) -> VisibilityRecord:
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    return closed_record(
        namespace_id=namespace_id,
        namespace="n",
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type="OrderFlow",
        start=start,
        close=start + timedelta(minutes=5),
        status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
        history_length=EVENTS,
        search_attributes={},
    )


def _archive_hostile(history: Any, uri: str, ids: dict[str, str]) -> None:
    batches = synthetic_history(EVENTS)
    request = request_for(batches, **{"namespace_id": NS_ID, **ids})
    with pytest.raises(InvalidArgumentError, match="s3store layout") as caught:
        history.archive(uri, request, batches)
    assert caught.value.retryable is False


def _check_history_refusals(history: Any, visibility: Any, uri: str) -> None:
    """Archive one good run, then every hostile one: each refused; only the good run is stored."""
    good = synthetic_history(EVENTS)
    history.archive(uri, request_for(good, namespace_id=NS_ID, workflow_id="a", run_id="b"), good)
    before = stored_keys(uri)
    assert before
    for ids in HOSTILE_RUNS:
        _archive_hostile(history, uri, ids)
        get = GetHistoryRequest(**{"namespace_id": NS_ID, **ids})
        with pytest.raises(InvalidArgumentError, match="s3store layout"):
            history.get(uri, get)
        record = _record(**{"namespace_id": NS_ID, **ids})
        with pytest.raises(InvalidArgumentError, match="s3store layout"):
            visibility.archive(uri, record)
    assert stored_keys(uri) == before
    with pytest.raises(InvalidArgumentError, match="s3store layout"):
        visibility.query(uri, QueryVisibilityRequest(namespace_id="ns/visibility"))


def test_library_refuses_aliasing_ids(archive_uri: str) -> None:
    history = get_history_archiver(archive_uri)
    visibility = get_visibility_archiver(archive_uri)
    _check_history_refusals(history, visibility, archive_uri)


@pytest.mark.parametrize("backend", ["memory", "s3"])
def test_sidecar_refuses_aliasing_ids(sidecar: str, backend: str, request: pytest.FixtureRequest) -> None:
    uri = URIS[backend](request)
    with connect(sidecar) as channel:
        history = RemoteHistoryArchiver(channel, timeout=30)
        visibility = RemoteVisibilityArchiver(channel, timeout=30)
        _check_history_refusals(history, visibility, uri)


def test_cli_refuses_aliasing_ids(
    capsys: pytest.CaptureFixture[str], s3_bucket: Any, moto_s3_env: Any, tmp_path: Path
) -> None:
    uri = f"s3://{s3_bucket.name}/archive"
    events = [event for batch in synthetic_history(EVENTS) for event in batch.events]
    history = tmp_path / "history.json"
    history.write_text(render_history_json(events), encoding="utf-8")
    put = ["put", "--uri", uri, "--namespace-id", NS_ID, "--namespace", "n", "--history", str(history)]
    assert main([*put, "--wid", "a", "--rid", "b"]) == 0
    before = stored_keys(uri)
    capsys.readouterr()
    for wid, rid in (("a", "b/r"), ("a/b", "r"), ("..", "r")):
        assert main([*put, "--wid", wid, "--rid", rid]) == INVALID_INPUT
        assert main(["get", "--uri", uri, "--namespace-id", NS_ID, "--wid", wid, "--rid", rid]) == INVALID_INPUT
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("error: ") == 2
        assert "s3store layout" in err
    assert stored_keys(uri) == before


def test_filestore_keeps_such_ids_apart(tmp_path: Path) -> None:
    uri = (tmp_path / "archive").as_uri()
    history = get_history_archiver(uri)
    runs = [("a", "b/r"), ("a/b", "r")]
    for index, (wid, rid) in enumerate(runs):
        batches = synthetic_history(EVENTS + index)
        history.archive(uri, request_for(batches, namespace_id=NS_ID, workflow_id=wid, run_id=rid), batches)
    for index, (wid, rid) in enumerate(runs):
        response = history.get(uri, GetHistoryRequest(namespace_id=NS_ID, workflow_id=wid, run_id=rid))
        assert sum(len(batch.events) for batch in response.history_batches) == EVENTS + index
