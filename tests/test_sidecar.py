"""The sidecar server: health, reflection, the error table on the wire, streaming, ``archiver serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.errors import ArchiverError, InvalidHistoryError, MissingDependencyError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    Backend,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.progress import ArchiveProgress
from archivers.registry import get_visibility_archiver, register_backend, unregister_backend
from archivers.remote import RemoteHistoryArchiver, connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from archivers.wire.status import ERROR_DOMAIN, ERROR_TABLE, ErrorMapping
from sidecar import SERVICE_NAME
from sidecar.server import SidecarServer
from tests.harness.emulators import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator[SidecarServer]:
    running = SidecarServer(listen="127.0.0.1:0", grace=1)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(server: SidecarServer) -> Iterator[grpc.Channel]:
    opened = connect(server.address)
    yield opened
    opened.close()


def _error(cls: type[ArchiverError]) -> ArchiverError:
    if cls is MissingDependencyError:
        return MissingDependencyError("boom", extra="extra", module="module")
    return cls("boom failed")


class _Failing(HistoryArchiver):
    """Raises the error named by the URI's host (an index into ERROR_TABLE) from every get."""

    def check_uri(self, uri: URI) -> None:
        pass

    def _archive(self, uri: URI, request: ArchiveHistoryRequest, batches: object, progress: object) -> None:
        raise AssertionError("not used")

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        raise _error(ERROR_TABLE[int(uri.host)].error)

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        raise AssertionError("not used")


@pytest.fixture(scope="module")
def failing_scheme() -> Iterator[str]:
    register_backend(Backend("boom", lambda _: _Failing(), lambda _: get_visibility_archiver("memory")))
    yield "boom"
    unregister_backend("boom")


def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    (detail,) = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


def test_health_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_not_serving_after_stop() -> None:
    running = SidecarServer(listen="127.0.0.1:0", grace=0)
    running.start()
    running.stop()
    running.stop()  # idempotent
    assert running._health._server_status[SERVICE_NAME] == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_service(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert SERVICE_NAME in names
    assert "grpc.health.v1.Health" in names


@pytest.mark.parametrize("row", ERROR_TABLE, ids=[row.reason for row in ERROR_TABLE])
def test_every_error_has_the_table_status(channel: grpc.Channel, failing_scheme: str, row: ErrorMapping) -> None:
    index = ERROR_TABLE.index(row)
    uri = f"{failing_scheme}://{index}/x"
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetHistory(pb.GetHistoryRequest(uri=uri, namespace_id="n", workflow_id="w", run_id="r"), timeout=5)
    assert caught.value.code() == row.code  # type: ignore[attr-defined]
    info = _error_info(caught.value)
    expected = _error(row.error)
    assert (info.domain, info.reason) == (ERROR_DOMAIN, row.reason)
    assert info.metadata["retryable"] == ("true" if expected.retryable else "false")
    # and the remote archiver turns it back into the same class
    with pytest.raises(row.error) as back:
        RemoteHistoryArchiver(channel, timeout=5).get(uri, GetHistoryRequest("n", "w", "r"))
    assert type(back.value) is row.error
    assert back.value.retryable == expected.retryable


def test_undecodable_history_is_invalid_argument(channel: grpc.Channel) -> None:
    batches = synthetic_history(9)
    request = request_for(batches)
    header = pb.ArchiveHistoryHeader(
        uri=f"memory://b-{uuid.uuid4().hex}/a",
        namespace_id=request.namespace_id,
        namespace=request.namespace,
        workflow_id=request.workflow_id,
        run_id=request.run_id,
        next_event_id=request.next_event_id,
        close_failover_version=request.close_failover_version,
    )
    messages = [
        pb.ArchiveHistoryRequest(header=header),
        pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=[b"\xff\xff\xff"])),
    ]
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ArchiveHistory(iter(messages), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert _error_info(caught.value).reason == "INVALID_HISTORY"
    with pytest.raises(grpc.RpcError) as missing_header:
        stub.ArchiveHistory(iter(messages[1:]), timeout=5)
    assert missing_header.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    with pytest.raises(InvalidHistoryError):
        RemoteHistoryArchiver(channel).archive(header.uri, request, [batches[0], batches[2]])


def test_large_history_streams_through(channel: grpc.Channel) -> None:
    uri = f"memory://b-{uuid.uuid4().hex}/a"
    remote = RemoteHistoryArchiver(channel, timeout=60, group_bytes=64 * 1024)
    consumed = 0

    def lazily() -> Iterator[object]:
        nonlocal consumed
        for batch in synthetic_history(50_000, version=3, batch_size=5, payload_bytes=100):
            consumed += 1
            yield batch

    batches = synthetic_history(50_000, version=3, batch_size=5, payload_bytes=100)
    request = request_for(batches)
    remote.archive(uri, request, lazily())  # type: ignore[arg-type]
    assert consumed == len(batches)
    assert remote.progress(uri, request).complete
    first = remote.get(
        uri, GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, page_size=1000)
    )
    assert first.next_page_token
    assert first.history_batches == batches[: len(first.history_batches)]


def test_archiver_serve_answers_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "sidecar:\n  shutdownGraceSeconds: 2\narchival:\n  history:\n    provider:\n      filestore: {}\n"
    )
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config), "--listen", address],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with grpc.insecure_channel(address) as client:
            grpc.channel_ready_future(client).result(timeout=20)
            response = health_pb2_grpc.HealthStub(client).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr.decode()
        assert b"shutting down" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_archiver_serve_rejects_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("sidecar:\n  bogus: 1\narchival: {}\n")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr.decode()
    assert b"sidecar.bogus" in result.stderr
    assert time.monotonic() - started < 30
