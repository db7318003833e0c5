"""Idle ``ArchiveHistory`` streams never starve the sidecar, and end by themselves after ``streamIdleTimeout``.

Checked against a real in-process sidecar: with 300 silent streams open (and served), health and
``ValidateURI`` answer within 1 s; with the ``ArchiverService`` call limit used up, health still
answers; a stream that sends nothing for the idle timeout (``sidecar.streamIdleTimeout``, a finite
number > 0) ends ``UNAVAILABLE`` (retryable) keeping what it stored, and a retry resumes; a stream
the client cancels mid-history keeps its progress (it is never taken for a finished, hence
"mutated", history) and a retry resumes exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.config import ConfigError
from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest
from archivers.remote import RemoteHistoryArchiver, connect, error_from_rpc
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.wire.messages import header_to_pb
from sidecar.config import DEFAULT_STREAM_IDLE_TIMEOUT, load_sidecar_config
from sidecar.server import SidecarServer
from tests.harness.idle_streams import IdleStreams

BOUND = 1.0
"""Seconds within which health and ValidateURI must answer (the issue's bound)."""


def _answers_in_time(channel: grpc.Channel, uri: str) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    started = time.monotonic()
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=BOUND).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    stub.ValidateURI(pb.ValidateURIRequest(uri=uri, kind=pb.ARCHIVER_KIND_HISTORY), timeout=BOUND)
    assert time.monotonic() - started < 2 * BOUND


def test_health_and_validate_uri_answer_with_300_idle_streams(tmp_path: Path) -> None:
    server = SidecarServer(listen="127.0.0.1:0", grace=0)  # default workers and idle timeout
    server.start()
    try:
        with IdleStreams(server.address, 300, lambda: server.calls_in_progress), connect(server.address) as channel:
            for _ in range(3):
                _answers_in_time(channel, f"file://{tmp_path}")
    finally:
        server.stop()


def test_health_answers_while_the_call_limit_is_used_up(tmp_path: Path) -> None:
    server = SidecarServer(listen="127.0.0.1:0", grace=0, max_concurrent_rpcs=2)
    server.start()
    try:
        with IdleStreams(server.address, 2, lambda: server.calls_in_progress), connect(server.address) as channel:
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ValidateURI(
                    pb.ValidateURIRequest(uri=f"file://{tmp_path}", kind=pb.ARCHIVER_KIND_HISTORY), timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(5):
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=BOUND)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop()


def _history() -> tuple[ArchiveHistoryRequest, list[History]]:
    batches = synthetic_history(60, version=1, batch_size=3)  # 20 batches, events 1..60
    return request_for(batches, workflow_id="wf-idle", run_id="run-idle"), batches


def _stalled(
    uri: str, request: ArchiveHistoryRequest, batches: list[History], sent: threading.Event, release: threading.Event
) -> Iterator[pb.ArchiveHistoryRequest]:
    """The header and ``batches`` one per message, then nothing until ``release`` is set."""
    yield pb.ArchiveHistoryRequest(header=header_to_pb(uri, request))
    for batch in batches:
        yield pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=[batch.SerializeToString()]))
    sent.set()
    release.wait(30)


def _progress(stub: service_pb2_grpc.ArchiverServiceStub, uri: str, request: ArchiveHistoryRequest) -> int:
    reply = stub.GetArchiveProgress(pb.GetArchiveProgressRequest(header=header_to_pb(uri, request)), timeout=5)
    assert not reply.progress.complete
    return int(reply.progress.last_event_id)


def _read_all(remote: RemoteHistoryArchiver, uri: str, request: ArchiveHistoryRequest) -> list[History]:
    get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, page_size=1000)
    response = remote.get(uri, get)
    assert not response.next_page_token
    return list(response.history_batches)


def _resumes(
    channel: grpc.Channel, uri: str, request: ArchiveHistoryRequest, batches: list[History], kept: int
) -> None:
    """A retry through the remote client stores the rest after event ``kept``, and the whole history reads back."""
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    assert _progress(stub, uri, request) == kept
    remote = RemoteHistoryArchiver(channel, timeout=30)
    remote.archive(uri, request, batches)
    assert _read_all(remote, uri, request) == batches


def test_idle_stream_ends_retryable_and_a_retry_resumes(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/history"
    request, batches = _history()
    server = SidecarServer(listen="127.0.0.1:0", grace=0, stream_idle_timeout=0.5)
    server.start()
    sent, release = threading.Event(), threading.Event()
    try:
        with connect(server.address) as channel:
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                stub.ArchiveHistory(_stalled(uri, request, batches[:10], sent, release), timeout=20)
            waited = time.monotonic() - started
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert error_from_rpc(caught.value).retryable
            assert 0.5 <= waited < 10
            release.set()
            _resumes(channel, uri, request, batches, kept=30)
            with IdleStreams(server.address, 3) as silent:  # never a header: ended the same way
                assert silent.results() == [grpc.StatusCode.UNAVAILABLE] * 3
    finally:
        release.set()
        server.stop()


def test_cancelled_stream_keeps_its_progress_and_a_retry_resumes(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/history"
    request, batches = _history()
    server = SidecarServer(listen="127.0.0.1:0", grace=0)
    server.start()
    sent, release = threading.Event(), threading.Event()
    try:
        with connect(server.address) as channel:
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            call = stub.ArchiveHistory.future(_stalled(uri, request, batches[:10], sent, release), timeout=20)
            assert sent.wait(10)
            time.sleep(0.5)  # the server reads what was sent
            call.cancel()
            release.set()
            with pytest.raises(grpc.FutureCancelledError):
                call.result()
            # the archive ends once the server sees the cancellation; its partial file must stay
            give_up = time.monotonic() + 10
            while _progress(stub, uri, request) < 30:
                assert time.monotonic() < give_up, "the cancelled archive's progress was lost"
                time.sleep(0.05)
            _resumes(channel, uri, request, batches, kept=30)
    finally:
        release.set()
        server.stop()


def test_stream_idle_timeout_from_the_config_ends_silent_streams(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "sidecar:\n  listen: 127.0.0.1:0\n  shutdownGraceSeconds: 0\n  streamIdleTimeout: 0.5\narchival: {}\n"
    )
    loaded = load_sidecar_config(str(config))
    assert loaded.stream_idle_timeout == 0.5
    server = SidecarServer.from_config(loaded)
    server.start()
    try:
        started = time.monotonic()
        with IdleStreams(server.address, 2) as silent:
            assert silent.results() == [grpc.StatusCode.UNAVAILABLE] * 2
        assert time.monotonic() - started < DEFAULT_STREAM_IDLE_TIMEOUT / 2  # the config's value, not the default
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["0", "-1", ".nan", ".inf", "'10'", "true"])
def test_stream_idle_timeout_must_be_a_positive_finite_number(tmp_path: Path, value: str) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"sidecar:\n  streamIdleTimeout: {value}\narchival: {{}}\n")
    refused = r"sidecar\.streamIdleTimeout (must be a finite number > 0|has the wrong type)"
    with pytest.raises(ConfigError, match=refused):
        load_sidecar_config(str(config))


def test_cancelled_silent_streams_are_counted_cancelled_not_invalid() -> None:
    """A client that cancels a stream before its header sends no bad input: never ``INVALID_ARGUMENT``."""
    server = SidecarServer(listen="127.0.0.1:0", grace=0)
    server.start()
    try:
        with IdleStreams(server.address, 3, lambda: server.calls_in_progress):
            pass  # cancelled on exit
        registry = server.metrics.registry

        def ended(code: str) -> float:
            labels = {"rpc": "ArchiveHistory", "scheme": "unknown", "code": code}
            return registry.get_sample_value("archiver_sidecar_calls_total", labels) or 0.0

        give_up = time.monotonic() + 10
        while ended("CANCELLED") + ended("INVALID_ARGUMENT") < 3:
            assert time.monotonic() < give_up, "the cancelled streams never ended"
            time.sleep(0.01)
        assert (ended("CANCELLED"), ended("INVALID_ARGUMENT")) == (3, 0)
    finally:
        server.stop()
