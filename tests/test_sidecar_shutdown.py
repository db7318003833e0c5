"""Graceful shutdown of ``archiver serve``: SIGTERM with 32 archives in flight, then restart and resume.

The sidecar runs as a subprocess with ``sidecar.shutdownGraceSeconds``. Slow client-side batch
generators keep archives in flight when SIGTERM arrives. Checked: health turns ``NOT_SERVING``, new
calls are refused, the process exits within the grace period (plus slack), every archive either
completed or failed ``UNAVAILABLE`` (retryable), no partial history is ever readable, and after a
restart the unfinished archives resume from ``GetArchiveProgress`` and complete correctly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.errors import ArchiveNotFoundError, ArchiverError
from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest, HistoryArchiver, QueryVisibilityRequest
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.remote import RemoteHistoryArchiver, RemoteVisibilityArchiver, connect
from archivers.testing.records import NS, make_records
from archivers.testing.synthetic import request_for, synthetic_history
from tests.harness.emulators import free_port

ROOT = Path(__file__).resolve().parents[1]
GRACE = 3.0
SLACK = 5.0
ARCHIVES = 32
BATCH_DELAY = 0.02  # seconds the client waits before each batch: archive i takes about (i + 1) * 0.5 s
SIGTERM_AFTER = 1.0


_STDERR: dict[int, tuple[threading.Thread, bytearray]] = {}
"""Per sidecar pid: the thread draining its stderr and what it read so far."""


def _drain(stream: IO[bytes], into: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        into.extend(chunk)


def _start_sidecar(config: Path, address: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "archivers.cli", "serve", "--config", str(config), "--listen", address],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Read stderr while the sidecar runs: it logs a line per call, and a pipe nobody reads fills up
    # (64 KiB) and then blocks every thread of the sidecar that logs, which is not what is tested here.
    assert process.stderr is not None
    output = bytearray()
    drain = threading.Thread(target=_drain, args=(process.stderr, output), daemon=True)
    drain.start()
    _STDERR[process.pid] = (drain, output)
    with grpc.insecure_channel(address) as probe:
        grpc.channel_ready_future(probe).result(timeout=30)
    return process


def _stderr(process: subprocess.Popen[bytes]) -> str:
    """Everything the sidecar wrote to stderr (all of it once the process has exited)."""
    drain, output = _STDERR[process.pid]
    if process.poll() is not None:
        drain.join(10)
    return output.decode(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    _STDERR[process.pid][0].join(10)
    if process.stderr is not None:
        process.stderr.close()


def _slowly(batches: list[History], after_event_id: int = 0, delay: float = BATCH_DELAY) -> Iterator[History]:
    for batch in batches:
        if batch.events[-1].event_id > after_event_id:
            time.sleep(delay)
            yield batch


def _read(archiver: HistoryArchiver, uri: str, request: ArchiveHistoryRequest) -> list[History] | None:
    """The whole archived history, or ``None`` if it is not archived (never a partial one: callers compare)."""
    batches: list[History] = []
    token = b""
    while True:
        get = GetHistoryRequest(request.namespace_id, request.workflow_id, request.run_id, next_page_token=token)
        try:
            response = archiver.get(uri, get)
        except ArchiveNotFoundError:
            assert not token, "an archive vanished between pages"
            return None
        batches.extend(response.history_batches)
        token = response.next_page_token
        if not token:
            return batches


def test_sigterm_with_archives_in_flight_then_resume(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        f"sidecar:\n  shutdownGraceSeconds: {GRACE}\n"
        "archival:\n  history:\n    provider:\n      filestore: {}\n"
        "  visibility:\n    provider:\n      filestore: {}\n"
    )
    history_uri, visibility_uri = f"file://{tmp_path}/history", f"file://{tmp_path}/visibility"
    runs: list[tuple[ArchiveHistoryRequest, list[History]]] = []
    for i in range(ARCHIVES):
        batches = synthetic_history(75 * (i + 1), version=1, batch_size=3, payload_bytes=100)
        runs.append((request_for(batches, namespace_id=NS, workflow_id=f"wf-{i}", run_id=f"run-{i:03d}"), batches))
    records = make_records(ARCHIVES, seed=3)
    for (request, _), record in zip(runs, records, strict=True):
        record.workflow_id, record.run_id = request.workflow_id, request.run_id

    address = f"127.0.0.1:{free_port()}"
    process = _start_sidecar(config, address)
    channel = connect(address)
    try:
        remote = RemoteHistoryArchiver(channel, timeout=60, group_bytes=1)  # one batch per stream message
        visibility = RemoteVisibilityArchiver(channel, timeout=60)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        outcomes: list[str] = ["pending"] * ARCHIVES
        visible = [False] * ARCHIVES

        def archive(index: int) -> None:
            request, batches = runs[index]
            try:
                remote.archive(history_uri, request, _slowly(batches))
            except ArchiverError as exc:
                cause = exc.__cause__
                code = cause.code() if isinstance(cause, grpc.Call) else None
                outcomes[index] = f"error {code} retryable={exc.retryable}: {exc}"
                return
            outcomes[index] = "ok"
            try:  # as Temporal's archival task: visibility too, refused if shutdown has begun
                visibility.archive(visibility_uri, records[index])
                visible[index] = True
            except ArchiverError as exc:
                assert exc.retryable

        # a reader that never stops looking for partial archives while the sidecar shuts down
        library = FilestoreHistoryArchiver()
        seen_partial: list[str] = []
        watching = threading.Event()
        watching.set()

        def check_never_partial() -> None:
            while watching.is_set():
                for request, batches in runs:
                    found = _read(library, history_uri, request)
                    if found is not None and found != batches:
                        seen_partial.append(request.run_id)

        with ThreadPoolExecutor(max_workers=ARCHIVES + 1) as pool:
            futures = [pool.submit(archive, i) for i in range(ARCHIVES)]
            checker = pool.submit(check_never_partial)
            try:
                exit_s = _sigterm_and_check(process, address, history_uri, watch)
                for future in futures:
                    future.result()
            finally:
                watching.clear()
            checker.result()
        print(f"\nexited {exit_s:.2f}s after SIGTERM (grace {GRACE}s); outcomes:")
        for index, outcome in enumerate(outcomes):
            print(f"  {runs[index][0].run_id} ({len(runs[index][1])} batches): {outcome}")
        assert process.returncode == 0, _stderr(process)
        assert exit_s < GRACE + SLACK
        assert not seen_partial, f"partial archives were readable: {seen_partial}"
        unavailable = "error StatusCode.UNAVAILABLE retryable=True"
        assert all(o == "ok" or o.startswith(unavailable) for o in outcomes), outcomes
        unfinished = [i for i, o in enumerate(outcomes) if o != "ok"]
        assert 0 < len(unfinished) < ARCHIVES, "the test should cut some archives short and let others finish"
    finally:
        channel.close()
        _stop(process)

    # after the SIGTERM, before retrying: every archive is absent or complete, also through a new sidecar
    process = _start_sidecar(config, address)
    channel = connect(address)
    try:
        remote = RemoteHistoryArchiver(channel, timeout=60)
        visibility = RemoteVisibilityArchiver(channel, timeout=60)
        for index, (request, batches) in enumerate(runs):
            found = _read(remote, history_uri, request)
            assert found is None or found == batches
            if index not in unfinished:
                assert found == batches
        assert sorted(_query(visibility, visibility_uri)) == sorted(
            runs[i][0].run_id for i in range(ARCHIVES) if visible[i]
        )

        resumed_from = []
        for index in unfinished:  # retry as the server would: resume after the durable progress
            request, batches = runs[index]
            progress = remote.progress(history_uri, request)
            resumed_from.append(progress.last_event_id)
            if not progress.complete:
                remote.archive(history_uri, request, _slowly(batches, progress.last_event_id, 0))
        for index in range(ARCHIVES):
            if not visible[index]:
                visibility.archive(visibility_uri, records[index])
        print(f"resumed {len(unfinished)} archives after event ids {resumed_from}")
        for request, batches in runs:
            assert _read(remote, history_uri, request) == batches
            assert remote.progress(history_uri, request).complete
        assert sorted(_query(visibility, visibility_uri)) == sorted(request.run_id for request, _ in runs)
    finally:
        channel.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=GRACE + SLACK)
        finally:
            _stop(process)


def _sigterm_and_check(
    process: subprocess.Popen[bytes], address: str, uri: str, watch: Iterator[health_pb2.HealthCheckResponse]
) -> float:
    """SIGTERM the sidecar; check health turns NOT_SERVING and new calls are refused; return the seconds to exit."""
    time.sleep(SIGTERM_AFTER)
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert _new_call_refusal(address, uri) == grpc.StatusCode.UNAVAILABLE
    process.wait(timeout=GRACE + SLACK + 10)
    return time.monotonic() - signalled


def _new_call_refusal(address: str, uri: str) -> grpc.StatusCode | None:
    """The code a new call gets once the stopping sidecar refuses it (``None`` if one succeeds).

    The signal handler may run a moment after SIGTERM (under load, longer): a call that reaches
    the server before it stops listening waits behind the busy workers and times out, so new
    calls are tried until one is answered, for at most :data:`GRACE` seconds.
    """
    give_up = time.monotonic() + GRACE
    with grpc.insecure_channel(address) as fresh:
        while True:
            try:
                service_pb2_grpc.ArchiverServiceStub(fresh).ValidateURI(
                    pb.ValidateURIRequest(uri=uri, kind=pb.ARCHIVER_KIND_HISTORY), timeout=1
                )
            except grpc.RpcError as exc:
                code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
                if code != grpc.StatusCode.DEADLINE_EXCEEDED or time.monotonic() >= give_up:
                    return code
            else:
                return None


def _query(visibility: RemoteVisibilityArchiver, uri: str) -> list[str]:
    run_ids: list[str] = []
    token = b""
    while True:
        try:
            response = visibility.query(uri, QueryVisibilityRequest(NS, page_size=100, next_page_token=token))
        except ArchiveNotFoundError:
            return run_ids
        run_ids.extend(execution.execution.run_id for execution in response.executions)
        token = response.next_page_token
        if not token:
            return run_ids
