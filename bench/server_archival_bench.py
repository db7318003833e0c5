"""Temporal's built-in s3 archiver (s3store) against the shim + sidecar, on a real server, in one run.

One moto S3 server, reached only through a counting HTTP proxy
(:class:`tests.harness.http_proxy.HttpProxy`), and one sidecar (``archiver serve``) whose s3store
endpoint is that proxy. The Temporal server built with the shim (``.tools/bin/temporal-archivers-server``)
runs twice on the same SQLite file and ports:

1. **built-in**: ``s3store`` in the server config points at the proxy (Temporal's own Go archiver);
2. **shim**: ``customStores.s3`` sends ``s3://`` to the sidecar, which talks to the proxy.

In each phase ``--workflows`` runs of a small workflow (``BigHistoryWorkflow`` of the e2e tests:
``--activities`` activities returning ``--payload-bytes`` bytes each) are started at once and closed;
the script then measures

- *archival*: the time from the first run's close until the history and every visibility index
  object of every run are in the bucket (polled directly on moto, bypassing the proxy, every 0.2 s),
  the time after the last close, and each run's lag (store complete - close seen by the client);
- *S3 requests per archived run* (history + visibility) by method, counted on the proxy from
  namespace creation on until the count stops moving;
- after deleting the runs (archived-only from then on), the *read latency* (p50/p95) of
  ``GetWorkflowExecutionHistory`` (every page, via the temporalio client) and of
  ``ListArchivedWorkflowExecutions`` with ``WorkflowId = '...'``, and the S3 requests each costs.

The shim phase reads the runs the built-in archiver wrote (the same objects the built-in phase read,
so the read columns compare the same runs) and, on an extra line, the runs it archived itself.

    python bench/server_archival_bench.py [--workflows 50] [--activities 3] [--payload-bytes 64]

Needs the server binary (``bash scripts/build_server.sh``), the ``temporal`` CLI and moto.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _repo_on_path  # noqa: F401  (for tests.harness and tests.e2e)
from rich.console import Console
from rich.table import Table
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    ListArchivedWorkflowExecutionsRequest,
)
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from tests.e2e.e2e_helpers import ClosedRun, create_namespace, namespace_id, wait_gone
from tests.e2e.e2e_workflows import BigHistoryWorkflow, make_payload
from tests.harness.emulators import MotoS3Server
from tests.harness.http_proxy import HttpProxy, RequestRecord
from tests.harness.temporal_dev import run_sync, run_with_worker
from tests.harness.temporal_server import (
    ArchiversTemporalServer,
    ServerPorts,
    SidecarProcess,
    find_server_binary,
)

#: Objects the s3store layout writes per visibility record (by workflow type and by ID, each by
#: start and by close time) — the built-in archiver and the shim write the same layout.
VISIBILITY_OBJECTS_PER_RUN = 4


#: ListArchivedWorkflowExecutions counts against the namespace's visibility rate limit (10 per second
#: by default), which back-to-back queries exceed: raised so the benchmark measures the archivers.
DYNAMIC_CONFIG: dict[str, Any] = {"frontend.namespaceRPS.visibility": 1000}


@dataclass
class Run:
    """One closed run of the benchmark."""

    workflow_id: str
    run_id: str
    closed_at: float = 0.0  # time.time() when the client saw the result
    archived_at: float = 0.0  # time.time() when the poller first saw every object of the run
    events: int = 0


@dataclass
class Phase:
    """What one server configuration measured."""

    label: str
    archive_requests: Counter[str] = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)  # the archive requests of one run, as sent
    archive_first_close_s: float = 0.0  # first close -> all archived
    archive_last_close_s: float = 0.0  # last close -> all archived
    lags: list[float] = field(default_factory=list)
    delete_requests: int = 0
    reads: dict[str, Reads] = field(default_factory=dict)  # whose runs -> history/query reads


@dataclass
class Reads:
    """Latencies (s) and S3 requests of reading runs back."""

    history: list[float]
    history_requests: Counter[str]
    query: list[float]
    query_requests: Counter[str]
    runs: int


def classify(record: RequestRecord) -> str:
    """``LIST`` for a bucket listing, else the HTTP method."""
    if record.method == "GET" and "list-type=" in record.query:
        return "LIST"
    return record.method


def take(proxy: HttpProxy) -> Counter[str]:
    """The proxied requests so far, by :func:`classify`; resets the proxy's log."""
    counts = Counter(classify(r) for r in proxy.requests)
    proxy.reset_counts()
    return counts


def settle(proxy: HttpProxy, quiet: float = 3.0, timeout: float = 60.0) -> None:
    """Wait until the proxy has logged no new request for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = len(proxy.requests), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.2)
        now = len(proxy.requests)
        if now != seen:
            seen, since = now, time.monotonic()


class StorePoller:
    """Polls the bucket (directly on moto) and stamps each run when all its objects are there."""

    def __init__(self, moto: MotoS3Server, bucket: str, interval: float = 0.2) -> None:
        self.s3 = moto.client()
        self.bucket = bucket
        self.interval = interval
        self.pending: dict[str, Run] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="store-poller", daemon=True)

    def add(self, run: Run) -> None:
        with self.lock:
            self.pending[run.run_id] = run

    def _keys(self) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def _loop(self) -> None:
        while not self.stop.is_set():
            keys = self._keys()
            now = time.time()
            history = [k for k in keys if k.startswith("history/")]
            visibility = [k for k in keys if k.startswith("visibility/")]
            with self.lock:
                for run_id, run in list(self.pending.items()):
                    if any(run_id in k for k in history) and (
                        sum(run_id in k for k in visibility) >= VISIBILITY_OBJECTS_PER_RUN
                    ):
                        run.archived_at = now
                        del self.pending[run_id]
            self.stop.wait(self.interval)

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                left = len(self.pending)
            if not left:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} runs still not archived after {timeout:.0f}s")
            time.sleep(0.1)

    def __enter__(self) -> StorePoller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def run_workflows(
    server: ArchiversTemporalServer, namespace: str, poller: StorePoller, args: argparse.Namespace, tag: str
) -> list[Run]:
    """Start ``args.workflows`` runs at once with an in-process worker; stamp each close."""

    async def body(client: Client, queue: str) -> list[Run]:
        async def one(i: int) -> Run:
            handle = await client.start_workflow(
                BigHistoryWorkflow.run,
                args=[args.activities, args.payload_bytes],
                id=f"bench-{tag}-{i:04d}",
                task_queue=queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            run = Run(handle.id, handle.result_run_id or "")
            poller.add(run)
            await handle.result()
            run.closed_at = time.time()
            return run

        return list(await asyncio.gather(*(one(i) for i in range(args.workflows))))

    return run_sync(
        lambda: run_with_worker(
            server.address, body, workflows=[BigHistoryWorkflow], activities=[make_payload], namespace=namespace
        ),
        timeout=600,
    )


async def _count_events(address: str, namespace: str, runs: list[Run]) -> None:
    client = await Client.connect(address, namespace=namespace)
    for run in runs:
        history = await client.get_workflow_handle(run.workflow_id, run_id=run.run_id).fetch_history()
        run.events = len(history.events)


async def _delete(address: str, namespace: str, runs: list[Run]) -> None:
    client = await Client.connect(address, namespace=namespace)
    for run in runs:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(workflow_id=run.workflow_id, run_id=run.run_id),
            )
        )


def archive_phase(
    server: ArchiversTemporalServer,
    namespace: str,
    proxy: HttpProxy,
    moto: MotoS3Server,
    bucket: str,
    args: argparse.Namespace,
    phase: Phase,
) -> list[Run]:
    """Run, wait for archival, count its requests, delete the runs (archived-only from then on)."""
    tag = f"{phase.label}-{uuid.uuid4().hex[:6]}"
    with StorePoller(moto, bucket) as poller:
        runs = run_workflows(server, namespace, poller, args, tag)
        poller.wait_all(timeout=600)
    settle(proxy)
    sample_id = runs[0].run_id
    phase.sample = [
        f"{r.method} {r.path}{'?' + r.query if r.query else ''} -> {r.status}"
        for r in proxy.requests
        if sample_id in r.path
        or sample_id in r.query
        or not any(run.run_id in r.path or run.run_id in r.query for run in runs)
    ]
    phase.archive_requests = take(proxy)
    done = max(r.archived_at for r in runs)
    phase.archive_first_close_s = done - min(r.closed_at for r in runs)
    phase.archive_last_close_s = done - max(r.closed_at for r in runs)
    phase.lags = [max(0.0, r.archived_at - r.closed_at) for r in runs]
    run_sync(lambda: _count_events(server.address, namespace, runs), timeout=300)
    run_sync(lambda: _delete(server.address, namespace, runs), timeout=300)
    closed = [ClosedRun("bench", r.workflow_id, r.run_id, "BigHistoryWorkflow", "Completed") for r in runs]
    run_sync(lambda: wait_gone(server.address, namespace, closed, timeout=300), timeout=330)
    settle(proxy, quiet=2.0)
    phase.delete_requests = sum(take(proxy).values())
    return runs


async def _reads(address: str, namespace: str, runs: list[Run], proxy: HttpProxy) -> Reads:
    client = await Client.connect(address, namespace=namespace)

    async def history(run: Run) -> int:
        fetched = await client.get_workflow_handle(run.workflow_id, run_id=run.run_id).fetch_history()
        return len(fetched.events)

    async def query(run: Run) -> set[str]:
        response = await client.workflow_service.list_archived_workflow_executions(
            ListArchivedWorkflowExecutionsRequest(
                namespace=namespace, page_size=100, query=f"WorkflowId = '{run.workflow_id}'"
            )
        )
        return {e.execution.run_id for e in response.executions}

    # one warm-up of each (connections, SDK clients) on a run left out of the measured ones, so that
    # no measured read finds its run in a cache (the sidecar keeps the last parts it read)
    await history(runs[0])
    await query(runs[0])
    runs = runs[1:]
    proxy.reset_counts()
    history_times: list[float] = []
    for run in runs:
        began = time.perf_counter()
        events = await history(run)
        history_times.append(time.perf_counter() - began)
        if events != run.events:
            raise AssertionError(f"{run.workflow_id}: {events} archived events, {run.events} before deletion")
    history_requests = take(proxy)
    query_times: list[float] = []
    for run in runs:
        began = time.perf_counter()
        found = await query(run)
        query_times.append(time.perf_counter() - began)
        if found != {run.run_id}:
            raise AssertionError(f"{run.workflow_id}: query found {found}, expected {run.run_id}")
    query_requests = take(proxy)
    return Reads(history_times, history_requests, query_times, query_requests, len(runs))


def read_phase(server: ArchiversTemporalServer, namespace: str, runs: list[Run], proxy: HttpProxy) -> Reads:
    """Read every run back (history, then a query by WorkflowId), one at a time."""
    settle(proxy, quiet=1.0)
    proxy.reset_counts()
    return run_sync(lambda: _reads(server.address, namespace, runs, proxy), timeout=900)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _per(counts: Counter[str], n: int) -> str:
    if not counts:
        return "0"
    total = sum(counts.values()) / n
    parts = " + ".join(f"{_num(v / n)} {k}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{_num(total)} ({parts})"


def _ms(values: list[float]) -> str:
    return f"{_pct(values, 0.5) * 1e3:.0f} / {_pct(values, 0.95) * 1e3:.0f}"


@contextlib.contextmanager
def quiet_moto() -> Iterator[None]:
    """moto's werkzeug logs one line per request: keep it quiet while the benchmark runs."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def server(
    binary: Path,
    sidecar: SidecarProcess,
    db: Path,
    ports: ServerPorts,
    env: dict[str, str],
    logs: Path,
    builtin_s3: dict[str, Any] | None,
) -> ArchiversTemporalServer:
    """A server on ``db`` and ``ports``; ``builtin_s3`` set: Temporal's own s3store serves s3://."""
    return ArchiversTemporalServer(
        executable=binary,
        sidecar_address=sidecar.address,
        db_path=db,
        ports=ports,
        builtin_s3=builtin_s3,
        dynamic_config=DYNAMIC_CONFIG,
        env=env,
        log_dir=logs,
    )


def main() -> None:
    """Run both phases and print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=50, help="runs archived per phase (default 50)")
    parser.add_argument("--activities", type=int, default=3, help="activities per run (default 3: ~20 events)")
    parser.add_argument("--payload-bytes", type=int, default=64, help="bytes each activity returns (default 64)")
    parser.add_argument("--show-requests", action="store_true", help="print the archive requests of one run")
    args = parser.parse_args()
    console = Console(width=150)
    binary = find_server_binary()
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_moto())
        moto = stack.enter_context(MotoS3Server())
        proxy = stack.enter_context(HttpProxy(moto.endpoint_url))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="server-archival-bench-")))
        env = {
            **moto.env(),
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_ENDPOINT_URL_S3": proxy.url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        s3 = {"region": moto.region, "endpoint": proxy.url, "s3ForcePathStyle": True}
        provider = {"s3store": s3}
        archival = {
            kind: {"state": "enabled", "enableRead": True, "provider": provider} for kind in ("history", "visibility")
        }
        sidecar = SidecarProcess(archival, env=env, log_dir=tmp / "logs")
        sidecar.start()
        stack.callback(sidecar.stop)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        moto.create_bucket(bucket)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        db, ports = tmp / "temporal.db", ServerPorts()

        builtin_phase, shim_phase = Phase("built-in"), Phase("shim")
        builtin = server(binary, sidecar, db, ports, env, tmp / "logs" / "builtin", s3)
        builtin.start()
        try:
            create_namespace(builtin, namespace, f"s3://{bucket}/history", f"s3://{bucket}/visibility")
            ns_id = namespace_id(builtin, namespace)
            console.print(f"[dim]# namespace {namespace} ({ns_id}): {sum(take(proxy).values())} S3 requests[/dim]")
            builtin_runs = archive_phase(builtin, namespace, proxy, moto, bucket, args, builtin_phase)
            console.print(f"[dim]# built-in: archived and deleted {len(builtin_runs)} runs[/dim]")
            builtin_phase.reads["built-in"] = read_phase(builtin, namespace, builtin_runs, proxy)
        finally:
            builtin.stop()
        settle(proxy, quiet=1.0)
        proxy.reset_counts()

        shim = server(binary, sidecar, db, ports, env, tmp / "logs" / "shim", None)
        shim.start()
        try:
            if namespace_id(shim, namespace) != ns_id:
                raise AssertionError("the namespace did not survive the restart")
            shim_phase.reads["built-in"] = read_phase(shim, namespace, builtin_runs, proxy)
            shim_runs = archive_phase(shim, namespace, proxy, moto, bucket, args, shim_phase)
            console.print(f"[dim]# shim: archived and deleted {len(shim_runs)} runs[/dim]")
            shim_phase.reads["shim"] = read_phase(shim, namespace, shim_runs, proxy)
        finally:
            shim.stop()

    n = args.workflows
    events = sorted({r.events for r in builtin_runs + shim_runs})
    table = Table(
        title=f"{n} runs per archiver, {events[0]}-{events[-1]} events each "
        f"({args.activities} activities x {args.payload_bytes} B)",
    )
    table.add_column("")
    table.add_column("built-in s3store (Go)", justify="right")
    table.add_column("shim + sidecar (Python)", justify="right")
    phases = (builtin_phase, shim_phase)
    table.add_row("S3 requests per archived run", *(_per(p.archive_requests, n) for p in phases))
    table.add_row("archival: first close -> all archived (s)", *(f"{p.archive_first_close_s:.1f}" for p in phases))
    table.add_row("  per run (s)", *(f"{p.archive_first_close_s / n:.3f}" for p in phases))
    table.add_row("archival: last close -> all archived (s)", *(f"{p.archive_last_close_s:.1f}" for p in phases))
    table.add_row(
        "archival lag per run p50 / p95 (s)", *(f"{_pct(p.lags, 0.5):.1f} / {_pct(p.lags, 0.95):.1f}" for p in phases)
    )
    table.add_row("S3 requests while deleting", *(str(p.delete_requests) for p in phases))
    for whose in ("built-in", "shim"):
        cells = [p.reads.get(whose) for p in phases]
        table.add_row(
            f"history read, {whose}-archived runs p50 / p95 (ms)",
            *(_ms(r.history) if r else "-" for r in cells),
        )
        table.add_row("  S3 requests per read", *(_per(r.history_requests, r.runs) if r else "-" for r in cells))
        table.add_row(
            f"query WorkflowId = ..., {whose}-archived runs p50 / p95 (ms)",
            *(_ms(r.query) if r else "-" for r in cells),
        )
        table.add_row("  S3 requests per query", *(_per(r.query_requests, r.runs) if r else "-" for r in cells))
    console.print(table)
    console.print(
        "(reads: GetWorkflowExecutionHistory, every page, and ListArchivedWorkflowExecutions through the "
        "temporalio client, one at a time, after one warm-up; LIST = ListObjectsV2; archival polled on moto "
        f"every 0.2 s; whole run {time.monotonic() - began:.0f} s)"
    )
    if args.show_requests:
        for phase in phases:
            console.print(f"archive requests of one run ({phase.label}), plus any naming no run:", highlight=False)
            for line in phase.sample:
                console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"[dim]mean events per run: {statistics.mean(r.events for r in builtin_runs + shim_runs):.1f}[/dim]")


if __name__ == "__main__":
    main()
