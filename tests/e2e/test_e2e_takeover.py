"""Take-over: archives written by Temporal's BUILT-IN s3 archiver stay readable when the shim takes over
``s3://``.

A server whose config has ``s3store`` (and no ``customStores.s3``) archives two runs of a namespace to
``s3://`` on moto; they are deleted; the server stops. Persistence is a SQLite file, so the same
server restarted with ``customStores.s3`` (the shim, through the sidecar) finds the namespace and its
ID again (archive keys embed the namespace ID). ``workflow show`` and ``workflow list --archived``
then return every archived run from the built-in archiver's objects.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from tests.harness.emulators import MotoS3Server
from tests.harness.temporal_dev import run_sync, run_with_worker
from tests.harness.temporal_server import ArchiversTemporalServer, ServerPorts, SidecarProcess

from .e2e_helpers import (
    ClosedRun,
    comparable,
    create_namespace,
    delete_run,
    list_archived,
    namespace_id,
    run_ids,
    show_history,
    start_server,
    unwatch,
    wait_archived,
    wait_gone,
)
from .e2e_workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, CompletingWorkflow, FailingWorkflow

# A cold Go build of the server (first test's setup) can take longer than the suite's 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


async def _close_two(client: Client, queue: str) -> list[ClosedRun]:
    tag = uuid.uuid4().hex[:6]
    done = await client.start_workflow(CompletingWorkflow.run, "takeover", id=f"to-completed-{tag}", task_queue=queue)
    await done.result()
    failed = await client.start_workflow(FailingWorkflow.run, "takeover", id=f"to-failed-{tag}", task_queue=queue)
    with pytest.raises(WorkflowFailureError):
        await failed.result()
    return [
        ClosedRun("completed", done.id, done.result_run_id or "", "CompletingWorkflow", "Completed"),
        ClosedRun("failed", failed.id, failed.result_run_id or "", "FailingWorkflow", "Failed"),
    ]


def test_shim_takes_over_builtin_s3_archives(
    server_binary: Path,
    sidecar: SidecarProcess,
    sidecar_config: Path,
    store_env: dict[str, str],
    moto_s3: MotoS3Server,
    e2e_logs: Path,
    tmp_path: Path,
) -> None:
    """Runs archived by the built-in s3store are shown and listed after the shim takes over s3://."""
    bucket = f"takeover-{uuid.uuid4().hex[:8]}"
    moto_s3.create_bucket(bucket)
    history_uri, visibility_uri = f"s3://{bucket}/history", f"s3://{bucket}/visibility"
    db_path = tmp_path / "temporal.db"
    ports = ServerPorts()
    builtin = ArchiversTemporalServer(
        executable=server_binary,
        sidecar_address=sidecar.address,
        db_path=db_path,
        ports=ports,
        builtin_s3={"region": moto_s3.region, "endpoint": moto_s3.endpoint_url, "s3ForcePathStyle": True},
        env=store_env,
        log_dir=e2e_logs / "builtin-s3",
    )
    ns = f"takeover-{uuid.uuid4().hex[:6]}"

    def sidecar_s3_calls() -> float:
        return sidecar.metric("archiver_sidecar_calls_total", scheme="s3")

    s3_calls_before = sidecar_s3_calls()
    start_server(builtin)
    try:
        assert "s3" not in builtin.config["archival"]["history"]["provider"]["customStores"]
        create_namespace(builtin, ns, history_uri, visibility_uri)
        ns_id = namespace_id(builtin, ns)
        runs = run_sync(
            lambda: run_with_worker(
                builtin.address, _close_two, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES, namespace=ns
            ),
            timeout=120,
        )
        for run in runs:
            run.events = show_history(builtin, ns, run.workflow_id, run.run_id)
        for run in runs:  # the built-in s3store's query syntax: WorkflowId = '...'
            wait_archived(builtin, ns, run, history_uri=history_uri, ns_id=ns_id, config=sidecar_config, env=store_env)
            delete_run(builtin, ns, run)
        run_sync(lambda: wait_gone(builtin.address, ns, runs), timeout=120)
        for run in runs:  # the built-in archiver reads its own archives
            assert comparable(show_history(builtin, ns, run.workflow_id, run.run_id)) == comparable(run.events)
        objects = moto_s3.client().list_objects_v2(Bucket=bucket, Prefix=f"history/{ns_id}/history/")
        assert objects.get("KeyCount", 0) >= len(runs), "the built-in s3store wrote no history objects"
        assert sidecar_s3_calls() == s3_calls_before, "s3:// went through the sidecar, not the built-in s3store"
    finally:
        unwatch(builtin)
        builtin.stop()

    shim = ArchiversTemporalServer(
        executable=server_binary,
        sidecar_address=sidecar.address,
        db_path=db_path,
        ports=ports,
        env=store_env,
        log_dir=e2e_logs / "shim-s3",
    )
    start_server(shim)
    try:
        assert shim.config["archival"]["history"]["provider"]["customStores"]["s3"]["address"] == sidecar.address
        assert namespace_id(shim, ns) == ns_id, "the namespace did not survive the restart"
        calls_before = sidecar.metric("archiver_sidecar_calls_total", rpc="GetHistory", scheme="s3")
        for run in runs:
            events = show_history(shim, ns, run.workflow_id, run.run_id)
            assert comparable(events) == comparable(run.events), run.label
        assert sidecar.metric("archiver_sidecar_calls_total", rpc="GetHistory", scheme="s3") > calls_before
        for run in runs:
            assert run_ids(list_archived(shim, ns, f"WorkflowId = '{run.workflow_id}'")) == {run.run_id}
        assert run_ids(list_archived(shim, ns, "")) == {run.run_id for run in runs}
        # Queries the built-in s3store cannot answer (status, no WorkflowId/type), answered by the shim.
        failed = next(run for run in runs if run.status == "Failed")
        assert run_ids(list_archived(shim, ns, "ExecutionStatus = 'Failed'")) == {failed.run_id}
    finally:
        unwatch(shim)
        shim.stop()
