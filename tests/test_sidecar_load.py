"""Load on the sidecar: 64 concurrent ArchiveHistory streams, their visibility records and concurrent queries.

An in-process server (on a free loopback port, a thread pool big enough for every stream plus the
queries) serves ``file://`` and ``s3://`` (moto). Every call must succeed; afterwards every run is
queried exactly once and every history reads back equal to what was sent. Latency percentiles and
throughput are printed (run with ``-s``); the test asserts correctness only, never speed.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest, QueryVisibilityRequest
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.testing.records import NS, make_records
from archivers.testing.synthetic import request_for, synthetic_history
from sidecar.server import SidecarServer
from tests.harness.emulators import free_port

STREAMS = 64
QUERY_THREADS = 8
WORKERS = STREAMS + QUERY_THREADS + 8  # SidecarServer's default (sidecar.config.DEFAULT_MAX_WORKERS) is 16


@pytest.fixture
def sidecar_channel() -> Iterator[grpc.Channel]:
    """A channel to an in-process sidecar whose pool serves every stream and query at once."""
    server = SidecarServer(listen="127.0.0.1:0", grace=2, max_workers=WORKERS)
    server.start()
    channel = connect(server.address)
    try:
        yield channel
    finally:
        channel.close()
        server.stop()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(label: str, latencies: list[float], elapsed: float) -> None:
    print(
        f"\n{label}: {len(latencies)} calls in {elapsed:.2f}s = {len(latencies) / elapsed:,.1f} calls/s; "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {_percentile(latencies, 0.99) * 1000:.1f} ms"
    )


def _read_all(remote: RemoteHistoryArchiver, uri: str, request: ArchiveHistoryRequest) -> list[History]:
    batches: list[History] = []
    token = b""
    while True:
        get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, next_page_token=token)
        response = remote.get(uri, get)
        batches.extend(response.history_batches)
        token = response.next_page_token
        if not token:
            return batches


def _query_all(remote: RemoteVisibilityArchiver, uri: str, query: str = "", page_size: int = 17) -> list[Any]:
    executions: list[Any] = []
    token = b""
    while True:
        response = remote.query(
            uri, QueryVisibilityRequest(NS, page_size=page_size, next_page_token=token, query=query)
        )
        executions.extend(response.executions)
        token = response.next_page_token
        if not token:
            return executions


def _run_load(channel: grpc.Channel, history_uri: str, visibility_uri: str, label: str) -> None:
    histories = RemoteHistoryArchiver(channel, timeout=60, group_bytes=4 * 1024)
    visibility = RemoteVisibilityArchiver(channel, timeout=60)
    tag = uuid.uuid4().hex[:8]
    runs: list[tuple[ArchiveHistoryRequest, list[History], VisibilityRecord]] = []
    for i, record in enumerate(make_records(STREAMS, seed=11)):
        batches = synthetic_history(40 + i, version=i % 3, batch_size=3, payload_bytes=200)
        request = request_for(batches, namespace_id=NS, workflow_id=f"load-wf-{i}", run_id=f"load-{tag}-{i:03d}")
        record.workflow_id, record.run_id = request.workflow_id, request.run_id
        runs.append((request, batches, record))

    archive_latencies: list[float] = []
    query_latencies: list[float] = []
    lock = threading.Lock()
    archiving = threading.Event()
    archiving.set()

    def timed(into: list[float], action: Callable[[], object]) -> None:
        start = time.perf_counter()
        action()
        with lock:
            into.append(time.perf_counter() - start)

    def archive_one(run: tuple[ArchiveHistoryRequest, list[History], VisibilityRecord]) -> None:
        request, batches, record = run
        timed(archive_latencies, lambda: histories.archive(history_uri, request, iter(batches)))
        timed(archive_latencies, lambda: visibility.archive(visibility_uri, record))

    def keep_querying(index: int) -> int:
        calls = 0
        query = ["", "WorkflowType = 'OrderFlow'", "ExecutionStatus = 'Completed' OR HistoryLength > 100"][index % 3]
        while archiving.is_set() or calls == 0:
            timed(query_latencies, lambda: visibility.query(visibility_uri, QueryVisibilityRequest(NS, 25, b"", query)))
            calls += 1
        return calls

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=STREAMS + QUERY_THREADS) as pool:
        queriers = [pool.submit(keep_querying, i) for i in range(QUERY_THREADS)]
        archives = [pool.submit(archive_one, run) for run in runs]
        for future in archives:
            future.result()  # every archive call succeeded
        archiving.clear()
        assert sum(q.result() for q in queriers) >= QUERY_THREADS
    elapsed = time.perf_counter() - start
    _report(f"{label} archive (history + visibility)", archive_latencies, elapsed)
    _report(f"{label} concurrent QueryVisibility", query_latencies, elapsed)

    run_ids = [execution.execution.run_id for execution in _query_all(visibility, visibility_uri)]
    assert sorted(run_ids) == sorted(request.run_id for request, _, _ in runs)  # each exactly once
    for request, batches, _ in runs:
        assert histories.progress(history_uri, request).complete
        assert _read_all(histories, history_uri, request) == batches  # nothing lost, nothing duplicated


def test_load_filestore(sidecar_channel: grpc.Channel, tmp_path: Path) -> None:
    _run_load(sidecar_channel, f"file://{tmp_path}/history", f"file://{tmp_path}/visibility", "file://")


def test_load_s3(sidecar_channel: grpc.Channel, s3_bucket: Any) -> None:
    _run_load(sidecar_channel, f"s3://{s3_bucket.name}/history", f"s3://{s3_bucket.name}/visibility", "s3://")


# -- a 50 MB history through a sidecar subprocess ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
BIG_EVENTS = 5_000
BIG_PAYLOAD = 8_000  # bytes of text per payload: ~10.7 kB of protojson per event, ~53 MB in all


def _big_history(batch_size: int = 5) -> Iterator[History]:
    """The big history, batch by batch, built lazily (neither side of the stream ever holds it whole)."""
    template = synthetic_history(4, version=2, batch_size=1, payload_bytes=BIG_PAYLOAD)
    started, scheduled, completed, closed = (batch.events[0] for batch in template)
    batch = History()
    for event_id in range(1, BIG_EVENTS + 1):
        if event_id == 1:
            source = started
        elif event_id == BIG_EVENTS:
            source = closed
        else:
            source = scheduled if event_id % 2 == 0 else completed
        event = batch.events.add()
        event.CopyFrom(source)
        event.event_id = event_id
        event.task_id = 1_000_000 + event_id
        event.event_time.FromMilliseconds(started.event_time.ToMilliseconds() + event_id)
        if source is scheduled:
            event.activity_task_scheduled_event_attributes.activity_id = str(event_id)
        elif source is completed:
            event.activity_task_completed_event_attributes.scheduled_event_id = event_id - 1
        if len(batch.events) == batch_size or event_id == BIG_EVENTS:
            yield batch
            batch = History()


def _proc_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_50mb_history_streams_with_bounded_rss(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "sidecar.yaml"  # a compat root: the test measures a protojson .history file
    config.write_text("sidecar:\n  defaultLayout: compat\narchival: {}\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config), "--listen", address],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    channel = connect(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        remote = RemoteHistoryArchiver(channel, timeout=120)
        uri = f"file://{tmp_path}/big"
        last = synthetic_history(2, version=2)  # request_for needs only the last event: id BIG_EVENTS, version 2
        last[-1].events[-1].event_id = BIG_EVENTS
        request = request_for(last, workflow_id="big-wf", run_id="big-run")
        remote.validate_uri(uri)  # warm up: imports and the archiver built before the baseline
        before_kb, before_peak_kb = _proc_kb(process.pid, "VmRSS"), _proc_kb(process.pid, "VmHWM")
        started = time.perf_counter()
        remote.archive(uri, request, _big_history())
        archive_s = time.perf_counter() - started
        after_kb, peak_kb = _proc_kb(process.pid, "VmRSS"), _proc_kb(process.pid, "VmHWM")
        (stored,) = [p for p in (tmp_path / "big").iterdir() if p.name.endswith(".history")]
        size_mb = stored.stat().st_size / 1e6
        print(
            f"\n50 MB history: {size_mb:.1f} MB of protojson archived in {archive_s:.1f}s; sidecar VmRSS "
            f"{before_kb / 1024:.0f} -> {after_kb / 1024:.0f} MB, VmHWM {before_peak_kb / 1024:.0f} -> "
            f"{peak_kb / 1024:.0f} MB (peak growth {(peak_kb - before_kb) / 1024:.0f} MB)"
        )
        assert size_mb >= 50
        assert (peak_kb - before_kb) / 1024 < 100

        expected = _big_history()
        token, pages = b"", 0
        while True:
            get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, page_size=256,
                                    next_page_token=token)  # fmt: skip
            response = remote.get(uri, get)
            for batch in response.history_batches:
                assert batch == next(expected)
            pages += 1
            token = response.next_page_token
            if not token:
                break
        assert next(expected, None) is None
        read_peak_kb = _proc_kb(process.pid, "VmHWM")
        print(f"read back in {pages} pages; sidecar VmHWM after reading {read_peak_kb / 1024:.0f} MB")
    finally:
        channel.close()
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
