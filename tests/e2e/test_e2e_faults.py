"""Faults: the sidecar down while runs close (retried until archived), and a store that refuses for good
(not retried).

* Transient: the sidecar stops (SIGTERM) before runs close, stays down for a while, and comes back on
  the same port; the server's archival queue retries (1 s backoff growing by 1.1x) and every run ends
  up archived, shown and listed after deletion.
* Non-retryable: a namespace's ``azblob://`` container is deleted after registration (ValidateURI
  checks that it exists). The sidecar answers ``FAILED_PRECONDITION`` with ``retryable=false``
  (``STORE_CONFIGURATION``); the shim makes that a terminal task error (Temporal's DLQ), so the
  sidecar's metrics show the archive attempted and then not retried for 25 s — where a transient
  failure would have been retried about 15 times.
* Recovery: after a 30 s outage, archived reads through the shim work again within 5 s of the
  sidecar's return (the shim's reconnect backoff is capped, not grpc-go's default of up to 120 s).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.harness.emulators import AzuriteBlobServer
from tests.harness.temporal_dev import run_sync, run_with_worker
from tests.harness.temporal_server import ArchiversTemporalServer, SidecarProcess

from .e2e_helpers import (
    ClosedRun,
    comparable,
    create_namespace,
    delete_run,
    list_archived,
    namespace_id,
    run_ids,
    show_history,
    wait_archived,
    wait_gone,
    wait_until,
)
from .e2e_workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, CompletingWorkflow

# A cold Go build of the server (first test's setup) can take longer than the suite's 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

OUTAGE_SECONDS = 8
QUIET_SECONDS = 25


def _close_runs(server: ArchiversTemporalServer, ns: str, count: int, prefix: str) -> list[ClosedRun]:
    """Close ``count`` CompletingWorkflow runs in ``ns`` with an in-process worker."""
    return run_sync(
        lambda: run_with_worker(
            server.address, _completer(count, prefix), workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES, namespace=ns
        ),
        timeout=120,
    )


def _completer(count: int, prefix: str) -> Callable[[Client, str], Awaitable[list[ClosedRun]]]:
    """A worker body closing ``count`` CompletingWorkflow runs one after the other."""

    async def body(client: Client, queue: str) -> list[ClosedRun]:
        runs: list[ClosedRun] = []
        for i in range(count):
            handle = await client.start_workflow(
                CompletingWorkflow.run, "fault", id=f"{prefix}-{i}-{uuid.uuid4().hex[:6]}", task_queue=queue
            )
            await handle.result()
            runs.append(
                ClosedRun(f"{prefix}{i}", handle.id, handle.result_run_id or "", "CompletingWorkflow", "Completed")
            )
        return runs

    return body


def test_sidecar_outage_is_retried_until_archived(
    temporal_server: ArchiversTemporalServer,
    sidecar: SidecarProcess,
    sidecar_config: Path,
    store_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Runs that close while the sidecar is down are archived once it is back on the same address."""
    root = tmp_path / "archive"
    history_uri, visibility_uri = f"file://{root}/history", f"file://{root}/visibility"
    ns = f"outage-{uuid.uuid4().hex[:6]}"
    create_namespace(temporal_server, ns, history_uri, visibility_uri)
    ns_id = namespace_id(temporal_server, ns)
    address = sidecar.address

    sidecar.stop()
    try:
        runs = _close_runs(temporal_server, ns, 3, "outage")
        for run in runs:
            run.events = show_history(temporal_server, ns, run.workflow_id, run.run_id)
        time.sleep(OUTAGE_SECONDS)
        assert not (root / "history").exists() or not any((root / "history").iterdir()), "archived without sidecar"
    finally:
        sidecar.start()
    assert sidecar.address == address

    for run in runs:
        wait_archived(
            temporal_server,
            ns,
            run,
            history_uri=history_uri,
            ns_id=ns_id,
            config=sidecar_config,
            env=store_env,
            timeout=90,
        )
    assert sidecar.metric("archiver_sidecar_calls_total", rpc="ArchiveVisibility", scheme="file", code="OK") >= 3
    for run in runs:
        delete_run(temporal_server, ns, run)
    run_sync(lambda: wait_gone(temporal_server.address, ns, runs), timeout=120)
    for run in runs:
        assert comparable(show_history(temporal_server, ns, run.workflow_id, run.run_id)) == comparable(run.events)
    assert run_ids(list_archived(temporal_server, ns, "")) == {run.run_id for run in runs}


def test_non_retryable_store_failure_is_not_retried(
    temporal_server: ArchiversTemporalServer,
    sidecar: SidecarProcess,
    azurite: AzuriteBlobServer,
) -> None:
    """An archive refused for good (missing container) is attempted once and then left alone.

    The attempt is the shim's ArchiveHistory (a first attempt asks no GetArchiveProgress) and
    ArchiveVisibility, both answered FAILED_PRECONDITION (retryable=false).
    """
    container = f"gone-{uuid.uuid4().hex[:8]}"
    azurite.create_container(container)
    ns = f"gone-{uuid.uuid4().hex[:6]}"
    create_namespace(temporal_server, ns, f"azblob://{container}/history", f"azblob://{container}/visibility")
    azurite.delete_container(container)

    def archive_calls() -> float:
        return sum(
            sidecar.metric("archiver_sidecar_calls_total", rpc=rpc, scheme="azblob")
            for rpc in ("ArchiveHistory", "GetArchiveProgress", "ArchiveVisibility")
        )

    failures_before = sidecar.metric("archiver_sidecar_failures_total", scheme="azblob", retryable="false")
    calls_before = archive_calls()
    _close_runs(temporal_server, ns, 1, "gone")
    wait_until(
        lambda: sidecar.metric("archiver_sidecar_failures_total", scheme="azblob", retryable="false") > failures_before,
        60,
        what="the first (non-retryable) archive attempt",
    )
    time.sleep(3)  # the attempt's other calls (history and visibility run concurrently) finish
    after_first = archive_calls()
    assert after_first > calls_before
    time.sleep(QUIET_SECONDS)
    retried = archive_calls() - after_first
    assert retried == 0, f"{retried} more archive calls in {QUIET_SECONDS}s: the permanent failure was retried"
    # The server's side of it: the archival task went to the history task DLQ at once.
    dlq = [
        line
        for line in temporal_server.log_tail().splitlines()
        if "Task enqueued to DLQ" in line and f'"wf-namespace":"{ns}"' in line
    ]
    assert dlq, "no 'Task enqueued to DLQ' line for the namespace in the server log"


LONG_OUTAGE_SECONDS = 30  # with grpc-go's default reconnect backoff, reads would then fail ~15 s more
RECOVERY_SECONDS = 5


def test_reads_recover_soon_after_a_long_sidecar_outage(
    temporal_server: ArchiversTemporalServer, sidecar: SidecarProcess, tmp_path: Path
) -> None:
    """After a long sidecar outage, archived reads work again within a few seconds of its return.

    The shim's channel must not keep grpc-go's default reconnect backoff (up to 120 s between
    attempts): calls on a channel waiting out its backoff fail at once with the stale error.
    """
    root = tmp_path / "archive"
    ns = f"recover-{uuid.uuid4().hex[:6]}"
    create_namespace(temporal_server, ns, f"file://{root}/history", f"file://{root}/visibility")

    def read_ok() -> bool:
        result = temporal_server.cli(
            "workflow", "list", "--archived", "--namespace", ns, "--query", "", "--command-timeout", "3s",
            timeout=30, check=False,
        )  # fmt: skip
        return result.returncode == 0

    assert read_ok()
    sidecar.stop()
    try:
        began = time.monotonic()
        while time.monotonic() - began < LONG_OUTAGE_SECONDS:  # reads fail, the channel backs off
            assert not read_ok()
            time.sleep(1)
    finally:
        sidecar.start()
    back = time.monotonic()
    wait_until(read_ok, 120, interval=0.2, what="archived reads after the sidecar came back")
    recovered = time.monotonic() - back
    assert recovered < RECOVERY_SECONDS, f"archived reads failed for {recovered:.1f}s after the sidecar was back"
