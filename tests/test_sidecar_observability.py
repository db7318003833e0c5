"""Sidecar observability and limits: Prometheus metrics, request ids, JSON logs without secrets,
``maxMessageBytes`` and ``maxConcurrentRpcs``."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.config import ConfigError
from archivers.errors import TransientError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    Backend,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.progress import ArchiveProgress
from archivers.redact import redact, redact_uri
from archivers.registry import get_visibility_archiver, register_backend, unregister_backend
from archivers.remote import RemoteHistoryArchiver, connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from sidecar.config import LogConfig, load_sidecar_config
from sidecar.logs import make_handler
from sidecar.server import SidecarServer

SECRET = "pa55w0rd-secret"
SETTINGS_SECRET = "settings-secret-key"
ENTERED = threading.Event()
RELEASE = threading.Event()


class _Scripted(HistoryArchiver):
    """``get`` fails retryably for host ``flaky`` and blocks until released for host ``slow``."""

    def check_uri(self, uri: URI) -> None:
        pass

    def _archive(self, uri: URI, request: ArchiveHistoryRequest, batches: object, progress: object) -> None:
        raise AssertionError("not used")

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        if uri.host == "slow":
            ENTERED.set()
            RELEASE.wait(10)
            return GetHistoryResponse(history_batches=[], next_page_token=b"")
        raise TransientError(f"store unavailable for {uri}")

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        raise AssertionError("not used")


@pytest.fixture(scope="module", autouse=True)
def scripted_scheme() -> Iterator[str]:
    register_backend(Backend("scripted", lambda _: _Scripted(), lambda _: get_visibility_archiver("memory")))
    yield "scripted"
    unregister_backend("scripted")


@pytest.fixture(scope="module")
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = make_handler(LogConfig(format="json", level="debug"), stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, log_stream: io.StringIO) -> Iterator[SidecarServer]:
    config = tmp_path_factory.mktemp("cfg") / "sidecar.yaml"
    config.write_text(
        "sidecar:\n"
        "  listen: 127.0.0.1:0\n"
        "  metrics: {listen: '127.0.0.1:0'}\n"
        "  logs: {format: json, level: debug}\n"
        "archival:\n"
        "  history:\n"
        "    provider:\n"
        f"      customStores:\n        scripted: {{accountKey: {SETTINGS_SECRET}}}\n"
    )
    running = SidecarServer.from_config(load_sidecar_config(str(config)))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(server: SidecarServer) -> Iterator[service_pb2_grpc.ArchiverServiceStub]:
    with connect(server.address) as channel:
        yield service_pb2_grpc.ArchiverServiceStub(channel)


def _get(uri: str) -> pb.GetHistoryRequest:
    return pb.GetHistoryRequest(uri=uri, namespace_id="n", workflow_id="w", run_id="r")


def _metrics(server: SidecarServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert server.metrics_address is not None
    with urllib.request.urlopen(f"http://{server.metrics_address}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_calls_bytes_failures_and_streams(
    server: SidecarServer, stub: service_pb2_grpc.ArchiverServiceStub
) -> None:
    validate = pb.ValidateURIRequest(uri="file:///tmp/archive", kind=pb.ARCHIVER_KIND_HISTORY)
    stub.ValidateURI(validate, timeout=5)
    stub.ValidateURI(validate, timeout=5)
    with pytest.raises(grpc.RpcError) as bad:
        stub.ValidateURI(pb.ValidateURIRequest(uri="not a uri", kind=pb.ARCHIVER_KIND_HISTORY), timeout=5)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as flaky:
        stub.GetHistory(_get("scripted://flaky/x"), timeout=5)
    assert flaky.value.code() == grpc.StatusCode.UNAVAILABLE
    batches = synthetic_history(20)
    with connect(server.address) as channel:
        RemoteHistoryArchiver(channel, timeout=10).archive(
            f"memory://m-{uuid.uuid4().hex}/a", request_for(batches), batches
        )

    samples = _metrics(server)
    calls = "archiver_sidecar_calls_total"
    assert _value(samples, calls, rpc="ValidateURI", scheme="file", code="OK") == 2
    assert _value(samples, calls, rpc="ValidateURI", scheme="unknown", code="INVALID_ARGUMENT") == 1
    assert _value(samples, calls, rpc="GetHistory", scheme="scripted", code="UNAVAILABLE") == 1
    assert _value(samples, calls, rpc="ArchiveHistory", scheme="memory", code="OK") == 1
    failures = "archiver_sidecar_failures_total"
    assert _value(samples, failures, rpc="ValidateURI", scheme="unknown", retryable="false") == 1
    assert _value(samples, failures, rpc="GetHistory", scheme="scripted", retryable="true") == 1
    assert _value(samples, failures, rpc="ValidateURI", scheme="file", retryable="false") == 0
    assert _value(samples, "archiver_sidecar_call_seconds_count", rpc="ValidateURI", scheme="file") == 2
    streamed = sum(batch.ByteSize() for batch in batches)
    assert _value(samples, "archiver_sidecar_bytes_total", rpc="ArchiveHistory", scheme="memory", direction="in") > (
        streamed
    )
    assert _value(samples, "archiver_sidecar_bytes_total", rpc="ValidateURI", scheme="file", direction="in") == (
        2 * validate.ByteSize()
    )
    assert _value(samples, "archiver_sidecar_inflight_streams", scheme="memory") == 0
    assert not any(name.startswith("archiver_sidecar") and "Check" in str(labels) for name, labels in samples)


def test_request_id_round_trip(stub: service_pb2_grpc.ArchiverServiceStub, log_stream: io.StringIO) -> None:
    validate = pb.ValidateURIRequest(uri="file:///tmp/archive", kind=pb.ARCHIVER_KIND_HISTORY)
    _, call = stub.ValidateURI.with_call(validate, metadata=(("x-request-id", "req-42.a"),), timeout=5)
    assert ("x-request-id", "req-42.a") in tuple(call.trailing_metadata())
    _, call = stub.ValidateURI.with_call(validate, timeout=5)
    generated = dict(call.trailing_metadata())["x-request-id"]
    assert uuid.UUID(str(generated)).version == 4
    # an id that could forge log lines is replaced, and errors carry the id too
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetHistory(_get("scripted://flaky/x"), metadata=(("x-request-id", 'a b {"fake": 1}'),), timeout=5)
    trailing = {item.key: item.value for item in caught.value.trailing_metadata()}
    assert uuid.UUID(str(trailing["x-request-id"])).version == 4
    assert "grpc-status-details-bin" in trailing
    ids = {json.loads(line).get("request_id") for line in log_stream.getvalue().splitlines()}
    assert {"req-42.a", generated, trailing["x-request-id"]} <= ids


def test_json_logs_have_no_credentials(stub: service_pb2_grpc.ArchiverServiceStub, log_stream: io.StringIO) -> None:
    uri = f"scripted://admin:{SECRET}@flaky/prefix?sig={SECRET}&x=1#frag"
    with pytest.raises(grpc.RpcError):
        stub.GetHistory(_get(uri), timeout=5)
    with pytest.raises(grpc.RpcError):  # s3 without boto3, or rejected: either way logged
        stub.ValidateURI(
            pb.ValidateURIRequest(
                uri=f"s3://AKIA:{SECRET}@bucket/p?X-Amz-Signature={SECRET}", kind=pb.ARCHIVER_KIND_HISTORY
            ),
            timeout=5,
        )
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "sidecar.access"]
    assert {"scripted://flaky/prefix"} <= {line["uri"] for line in access}
    mine = next(line for line in access if line["uri"] == "scripted://flaky/prefix")
    assert mine["rpc"] == "GetHistory"
    assert mine["scheme"] == "scripted"
    assert mine["code"] == "UNAVAILABLE"
    assert mine["retryable"] is True
    assert isinstance(mine["duration_ms"], float)
    assert mine["bytes_in"] > 0
    text = log_stream.getvalue()
    assert SECRET not in text
    assert SETTINGS_SECRET not in text
    assert "accountKey" not in text


def test_redaction_helpers() -> None:
    assert redact_uri(f"s3://k:{SECRET}@bucket/a/b?x={SECRET}#f") == "s3://bucket/a/b"
    assert redact_uri("file:///var/archive") == "file:///var/archive"
    line = f"failed for 'azblob://acct:{SECRET}@host/c?sv={SECRET}' and gs://b/p"
    assert redact(line) == "failed for 'azblob://host/c' and gs://b/p"


def test_max_message_bytes_is_enforced() -> None:
    server = SidecarServer(listen="127.0.0.1:0", grace=0, max_message_bytes=1024)
    server.start()
    try:
        with connect(server.address) as channel:
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            small = pb.ValidateURIRequest(uri="file:///tmp/a", kind=pb.ARCHIVER_KIND_HISTORY)
            stub.ValidateURI(small, timeout=5)
            big = pb.ValidateURIRequest(uri="file:///tmp/" + "a" * 4096, kind=pb.ARCHIVER_KIND_HISTORY)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ValidateURI(big, timeout=5)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        server.stop()


def test_max_concurrent_rpcs_is_enforced() -> None:
    ENTERED.clear()
    RELEASE.clear()
    server = SidecarServer(listen="127.0.0.1:0", grace=1, max_workers=4, max_concurrent_rpcs=1)
    server.start()
    try:
        with connect(server.address) as channel:
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            slow = stub.GetHistory.future(_get("scripted://slow/x"), timeout=10)
            assert ENTERED.wait(5)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ValidateURI(pb.ValidateURIRequest(uri="file:///tmp/a", kind=pb.ARCHIVER_KIND_HISTORY), timeout=5)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            RELEASE.set()
            slow.result(timeout=10)
            # gRPC frees the slot a moment after the client has the slow call's response: the next
            # call is served once it is free, within a few seconds.
            give_up = time.monotonic() + 5
            while True:
                try:
                    stub.ValidateURI(
                        pb.ValidateURIRequest(uri="file:///tmp/a", kind=pb.ARCHIVER_KIND_HISTORY), timeout=5
                    )
                    break
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > give_up:
                        raise
                    time.sleep(0.05)
    finally:
        RELEASE.set()
        server.stop()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  maxMessageBytes: 10\n", "sidecar.maxMessageBytes must be >= 1024"),
        ("  maxConcurrentRpcs: 0\n", "sidecar.maxConcurrentRpcs must be >= 1"),
        ("  maxConcurrentRpcs: many\n", "sidecar.maxConcurrentRpcs has the wrong type"),
        ("  metrics: {listen: nowhere}\n", "sidecar.metrics.listen must be host:port"),
        ("  metrics: {port: 9090}\n", "unknown key sidecar.metrics.port"),
        ("  logs: {format: xml}\n", "sidecar.logs.format must be one of text, json"),
        ("  logs: {level: loud}\n", "sidecar.logs.level must be one of"),
        ("  listen: 7299\n", "sidecar.listen has the wrong type"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, section: str, message: str) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text("sidecar:\n" + section + "archival: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_sidecar_config(str(config))
    assert str(config) in str(caught.value)
    assert message in str(caught.value)


def test_config_defaults_and_values(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "sidecar:\n  maxConcurrentRpcs: 8\n  maxMessageBytes: 2048\n  metrics: {listen: '0.0.0.0:9299'}\n"
        "  logs: {format: JSON, level: WARNING}\narchival: {}\n"
    )
    loaded = load_sidecar_config(str(config))
    assert (loaded.max_concurrent_rpcs, loaded.max_message_bytes, loaded.metrics_listen) == (8, 2048, "0.0.0.0:9299")
    assert (loaded.logs.format, loaded.logs.level) == ("json", "warning")
    defaults = load_sidecar_config(None)
    assert defaults.listen == "127.0.0.1:7299"
    assert (defaults.tls, defaults.metrics_listen, defaults.max_concurrent_rpcs) == (None, None, None)
    assert defaults.max_message_bytes == 64 * 1024 * 1024


def test_sdk_request_logs_stay_out_of_the_access_log() -> None:
    """Azure's per-request INFO lines are dropped at level info and kept at debug."""
    from sidecar.logs import configure_logging

    stream = io.StringIO()
    sdk = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    root = logging.getLogger()
    previous_level, previous_handlers = root.level, list(root.handlers)
    try:
        configure_logging(LogConfig(level="info"), stream)
        sdk.info("Request URL: 'http://127.0.0.1/container'")
        logging.getLogger("sidecar.access").info("ArchiveHistory OK")
        assert "Request URL" not in stream.getvalue() and "ArchiveHistory OK" in stream.getvalue()
        configure_logging(LogConfig(level="debug"), stream)
        sdk.info("Request URL: 'http://127.0.0.1/other'")
        assert "/other" in stream.getvalue()
    finally:
        for handler in list(root.handlers):
            if handler not in previous_handlers:
                root.removeHandler(handler)
        root.setLevel(previous_level)
        logging.getLogger("azure").setLevel(logging.NOTSET)
