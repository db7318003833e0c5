"""End to end: a Temporal server built with the shim archives through the sidecar to file://, azblob://
(Azurite), s3:// (moto) and gs:// (fake-gcs-server), the shim taking over Temporal's own file, s3 and
gs schemes.

For each scheme one namespace is created with the real ``temporal`` CLI (archival enabled, custom
search attributes registered) and six runs are closed by a ``temporalio`` worker: completed, failed,
timed out, terminated, completed with custom search attributes, and one whose history exceeds 5 MB
(several ~2 MiB archive blobs). Each history is read before deletion; once archived, the runs are
deleted and their mutable state waited out. Then the archived copies are read back through the
server (``workflow show``, ``workflow list --archived``) and through ``archiver get``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from archivers.interfaces import GetHistoryRequest
from archivers.layouts import gcloud
from tests.harness.emulators import AzuriteBlobServer, FakeGcsServer, MotoS3Server
from tests.harness.temporal_dev import run_sync, run_with_worker
from tests.harness.temporal_server import ArchiversTemporalServer, SidecarProcess

from .e2e_helpers import (
    ARCHIVER_CLI,
    ClosedRun,
    archiver_get,
    comparable,
    create_namespace,
    create_search_attributes,
    delete_run,
    list_archived,
    namespace_id,
    run_ids,
    search_attribute_names,
    show_history,
    wait_archived,
    wait_gone,
)
from .e2e_workflows import (
    ALL_ACTIVITIES,
    ALL_WORKFLOWS,
    BigHistoryWorkflow,
    CompletingWorkflow,
    FailingWorkflow,
    SleepingWorkflow,
)

# A cold Go build of the server (first test's setup) can take longer than the suite's 600 s default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SCHEMES = ("file", "azblob", "s3", "gs")

KEYWORD = SearchAttributeKey.for_keyword("E2EKeyword")
INT = SearchAttributeKey.for_int("E2EInt")
DATETIME = SearchAttributeKey.for_datetime("E2EDatetime")
CUSTOM_ATTRIBUTES = {"E2EKeyword": "Keyword", "E2EInt": "Int", "E2EDatetime": "Datetime"}

BIG_ACTIVITIES = 30
BIG_PAYLOAD = 200_000  # 30 x 200 KB: over 5 MB of history, several ~2 MiB blobs


@dataclass
class SchemeRuns:
    """One scheme's namespace and its closed (then deleted) runs."""

    scheme: str
    namespace: str
    history_uri: str
    visibility_uri: str
    ns_id: str = ""
    runs: dict[str, ClosedRun] = field(default_factory=dict)
    started_before: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    closed_after: datetime | None = None


def _uris(
    scheme: str, moto_s3: MotoS3Server, azurite: AzuriteBlobServer, fake_gcs: FakeGcsServer, tmp: Path
) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    if scheme == "file":
        root = tmp / f"archive-{suffix}"
        return f"file://{root}/history", f"file://{root}/visibility"
    if scheme == "azblob":
        container = f"e2e-{suffix}"
        azurite.create_container(container)
        return f"azblob://{container}/history", f"azblob://{container}/visibility"
    if scheme == "gs":
        bucket = f"e2e-{suffix}"
        fake_gcs.create_bucket(bucket)
        return f"gs://{bucket}/history", f"gs://{bucket}/visibility"
    bucket = f"e2e-{suffix}"
    moto_s3.create_bucket(bucket)
    return f"s3://{bucket}/history", f"s3://{bucket}/visibility"


async def _run_all(client: Client, queue: str, scheme: str) -> dict[str, ClosedRun]:
    """Close the six runs of one namespace; return them (histories not read yet)."""
    tag = uuid.uuid4().hex[:6]
    runs: dict[str, ClosedRun] = {}

    async def completed() -> None:
        handle = await client.start_workflow(
            CompletingWorkflow.run, "e2e", id=f"completed-{scheme}-{tag}", task_queue=queue
        )
        await handle.result()
        runs["completed"] = ClosedRun(
            "completed", handle.id, handle.result_run_id or "", "CompletingWorkflow", "Completed"
        )

    async def failed() -> None:
        handle = await client.start_workflow(FailingWorkflow.run, "boom", id=f"failed-{scheme}-{tag}", task_queue=queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        runs["failed"] = ClosedRun("failed", handle.id, handle.result_run_id or "", "FailingWorkflow", "Failed")

    async def timed_out() -> None:
        handle = await client.start_workflow(
            SleepingWorkflow.run,
            id=f"timedout-{scheme}-{tag}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=2),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        runs["timed_out"] = ClosedRun(
            "timed_out", handle.id, handle.result_run_id or "", "SleepingWorkflow", "TimedOut"
        )

    async def terminated() -> None:
        handle = await client.start_workflow(SleepingWorkflow.run, id=f"terminated-{scheme}-{tag}", task_queue=queue)
        await asyncio.sleep(0.5)
        await handle.terminate("e2e terminate")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        runs["terminated"] = ClosedRun(
            "terminated", handle.id, handle.result_run_id or "", "SleepingWorkflow", "Terminated"
        )

    async def with_attributes() -> None:
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(KEYWORD, f"blue-{scheme}"),
                SearchAttributePair(INT, 42),
                SearchAttributePair(DATETIME, datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)),
            ]
        )
        handle = await client.start_workflow(
            CompletingWorkflow.run,
            "attributes",
            id=f"attributes-{scheme}-{tag}",
            task_queue=queue,
            search_attributes=attributes,
        )
        await handle.result()
        runs["attributes"] = ClosedRun(
            "attributes", handle.id, handle.result_run_id or "", "CompletingWorkflow", "Completed"
        )

    async def big() -> None:
        handle = await client.start_workflow(
            BigHistoryWorkflow.run, args=[BIG_ACTIVITIES, BIG_PAYLOAD], id=f"big-{scheme}-{tag}", task_queue=queue
        )
        assert await handle.result() == BIG_ACTIVITIES * BIG_PAYLOAD
        runs["big"] = ClosedRun("big", handle.id, handle.result_run_id or "", "BigHistoryWorkflow", "Completed")

    await asyncio.gather(completed(), failed(), timed_out(), terminated(), with_attributes(), big())
    return runs


@pytest.fixture(scope="module")
def archived(
    temporal_server: ArchiversTemporalServer,
    sidecar: SidecarProcess,
    sidecar_config: Path,
    store_env: dict[str, str],
    moto_s3: MotoS3Server,
    azurite: AzuriteBlobServer,
    fake_gcs: FakeGcsServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, SchemeRuns]:
    """Per scheme: a namespace, six closed runs (histories read), archived, deleted and gone."""
    tmp = tmp_path_factory.mktemp("e2e-file-archive")
    began = time.monotonic()
    schemes: dict[str, SchemeRuns] = {}
    for scheme in SCHEMES:
        history_uri, visibility_uri = _uris(scheme, moto_s3, azurite, fake_gcs, tmp)
        ns = f"e2e-{scheme}-{uuid.uuid4().hex[:6]}"
        create_namespace(temporal_server, ns, history_uri, visibility_uri)
        create_search_attributes(temporal_server, ns, CUSTOM_ATTRIBUTES)
        schemes[scheme] = SchemeRuns(scheme, ns, history_uri, visibility_uri, ns_id=namespace_id(temporal_server, ns))
    print(f"namespaces ready in {time.monotonic() - began:.1f}s")

    async def run_scheme(item: SchemeRuns) -> dict[str, ClosedRun]:
        return await run_with_worker(
            temporal_server.address,
            lambda client, queue: _run_all(client, queue, item.scheme),
            workflows=ALL_WORKFLOWS,
            activities=ALL_ACTIVITIES,
            namespace=item.namespace,
        )

    async def run_everything() -> list[dict[str, ClosedRun]]:
        return await asyncio.gather(*(run_scheme(item) for item in schemes.values()))

    for item, runs in zip(schemes.values(), run_sync(run_everything, timeout=300), strict=True):
        item.runs = runs
        item.closed_after = datetime.now(timezone.utc)
    print(f"workflows closed after {time.monotonic() - began:.1f}s")

    for item in schemes.values():
        for run in item.runs.values():
            run.events = show_history(temporal_server, item.namespace, run.workflow_id, run.run_id)
    for item in schemes.values():
        for run in item.runs.values():
            wait_archived(
                temporal_server,
                item.namespace,
                run,
                history_uri=item.history_uri,
                ns_id=item.ns_id,
                config=sidecar_config,
                env=store_env,
            )
    print(f"archived after {time.monotonic() - began:.1f}s")
    for item in schemes.values():
        for run in item.runs.values():
            delete_run(temporal_server, item.namespace, run)

    async def all_gone() -> None:
        await asyncio.gather(
            *(wait_gone(temporal_server.address, item.namespace, list(item.runs.values())) for item in schemes.values())
        )

    run_sync(all_gone, timeout=180)
    print(f"deleted after {time.monotonic() - began:.1f}s")
    return schemes


def test_big_history_spans_several_blobs(
    archived: dict[str, SchemeRuns], moto_s3: MotoS3Server, azurite: AzuriteBlobServer, fake_gcs: FakeGcsServer
) -> None:
    """The large run's history is over 5 MB of JSON and is stored as several ~2 MiB blobs (one object
    per blob: the s3store layout on s3:// and azblob://, the gcloud layout on gs://; filestore keeps one
    file per run)."""
    for item in archived.values():
        big = item.runs["big"]
        size = len(json.dumps(big.events))
        assert size > 5_000_000, (item.scheme, size)
        if item.scheme == "file":
            continue
        store, _, path = item.history_uri.split("://", 1)[1].partition("/")
        prefix = f"{path}/{item.ns_id}/history/{big.workflow_id}/{big.run_id}/"
        if item.scheme == "gs":
            run = GetHistoryRequest(item.ns_id, big.workflow_id, big.run_id)
            gcloud_prefix = gcloud.LAYOUT.list_prefix(f"/{path}", run)
            keys = [blob.name for blob in fake_gcs.client().list_blobs(store, prefix=gcloud_prefix)]
        elif item.scheme == "s3":
            listing = moto_s3.client().list_objects_v2(Bucket=store, Prefix=prefix)
            keys = [obj["Key"] for obj in listing.get("Contents", [])]
        else:
            with azurite.service_client() as service:
                keys = [blob.name for blob in service.get_container_client(store).list_blobs(name_starts_with=prefix)]
        assert len(keys) >= 3, (item.scheme, keys)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_show_returns_archived_history(
    scheme: str, archived: dict[str, SchemeRuns], temporal_server: ArchiversTemporalServer
) -> None:
    """``temporal workflow show -w -r`` of a deleted run prints the archived history, event for event."""
    item = archived[scheme]
    for run in item.runs.values():
        events = show_history(temporal_server, item.namespace, run.workflow_id, run.run_id)
        assert len(events) == len(run.events), run.label
        assert comparable(events) == comparable(run.events), run.label
        assert [e["eventId"] for e in events] == [str(i) for i in range(1, len(events) + 1)], run.label
    # Read live, the start event carried the custom attributes under their names (see `comparable`).
    assert set(CUSTOM_ATTRIBUTES) <= search_attribute_names(item.runs["attributes"].events)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_list_archived_by_type_status_time_and_attributes(
    scheme: str, archived: dict[str, SchemeRuns], temporal_server: ArchiversTemporalServer
) -> None:
    """``temporal workflow list --archived`` finds the runs by type, status, close time range and custom
    search attributes."""
    item = archived[scheme]
    runs = item.runs
    ns = item.namespace

    def ids(query: str) -> set[str]:
        return run_ids(list_archived(temporal_server, ns, query))

    everything = {run.run_id for run in runs.values()}
    assert ids("") == everything

    assert ids("WorkflowType = 'FailingWorkflow'") == {runs["failed"].run_id}
    assert ids("WorkflowType = 'SleepingWorkflow'") == {runs["timed_out"].run_id, runs["terminated"].run_id}
    for label in ("failed", "timed_out", "terminated"):
        assert ids(f"ExecutionStatus = '{runs[label].status}'") == {runs[label].run_id}, label
    assert ids("ExecutionStatus = 'Completed'") == {
        runs["completed"].run_id,
        runs["attributes"].run_id,
        runs["big"].run_id,
    }

    assert item.closed_after is not None
    start = item.started_before.isoformat().replace("+00:00", "Z")
    end = (item.closed_after + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"CloseTime >= '{start}' AND CloseTime <= '{end}'") == everything
    assert ids(f"CloseTime < '{start}'") == set()
    assert ids(f"CloseTime BETWEEN '{start}' AND '{end}' AND WorkflowType = 'CompletingWorkflow'") == {
        runs["completed"].run_id,
        runs["attributes"].run_id,
    }

    # Custom search attributes by the names they were registered under: archived records carry the
    # SQL column names (Keyword01, ...); the shim's frontend interceptor hands Query the namespace's
    # aliases, so filters and results use the registered names.
    assert ids(f"E2EKeyword = 'blue-{scheme}'") == {runs["attributes"].run_id}
    assert ids("E2EInt >= 40 AND E2EInt < 50") == {runs["attributes"].run_id}
    assert ids("E2EDatetime = '2024-05-01T12:00:00Z'") == {runs["attributes"].run_id}
    assert ids("E2EKeyword = 'green'") == set()
    assert ids(f"E2EKeyword = 'blue-{scheme}' AND ExecutionStatus = 'Completed'") == {runs["attributes"].run_id}

    listed = list_archived(temporal_server, ns, f"WorkflowId = '{runs['attributes'].workflow_id}'")
    assert len(listed) == 1
    assert set(CUSTOM_ATTRIBUTES) <= set(listed[0].get("searchAttributes", {}).get("indexedFields", {})), listed[0]


def _ids(run: ClosedRun) -> tuple[str, str]:
    return run.workflow_id, run.run_id


@pytest.mark.parametrize("scheme", SCHEMES)
def test_archiver_cli_get_matches(
    scheme: str,
    archived: dict[str, SchemeRuns],
    sidecar: SidecarProcess,
    sidecar_config: Path,
    store_env: dict[str, str],
) -> None:
    """``archiver get`` (straight from the store, and through the sidecar) returns the same events."""
    item = archived[scheme]
    for run in item.runs.values():
        direct = archiver_get(
            item.history_uri, item.ns_id, run.workflow_id, run.run_id, config=sidecar_config, env=store_env
        )
        assert comparable(json.loads(direct.stdout)["events"]) == comparable(run.events), run.label
    big = item.runs["big"]
    through = archiver_get(item.history_uri, item.ns_id, big.workflow_id, big.run_id, sidecar=sidecar.address)
    assert comparable(json.loads(through.stdout)["events"]) == comparable(big.events)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_archiver_cli_query_rows_equal_list_archived(
    scheme: str,
    archived: dict[str, SchemeRuns],
    temporal_server: ArchiversTemporalServer,
    sidecar_config: Path,
    store_env: dict[str, str],
) -> None:
    """``archiver query -o json --address`` prints the rows ``temporal workflow list --archived -o json`` prints:
    the same fields and values, search attributes by their registered names and with their types."""
    item = archived[scheme]
    expected = list_archived(temporal_server, item.namespace, "")
    command = [*ARCHIVER_CLI, "query", "--uri", item.visibility_uri, "--namespace-id", item.ns_id, "--output", "json",
               "--address", temporal_server.address, "--config", str(sidecar_config)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                            env={**os.environ, **store_env})  # fmt: skip
    assert result.returncode == 0, result.stderr

    def by_run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda row: str(row["execution"]["runId"]))

    assert len(expected) == len(item.runs)
    printed = by_run(json.loads(result.stdout))
    assert [row["execution"] for row in printed] == [row["execution"] for row in by_run(expected)]
    for mine, theirs in zip(printed, by_run(expected), strict=True):
        differing = {k: (mine.get(k), theirs.get(k)) for k in {*mine, *theirs} if mine.get(k) != theirs.get(k)}
        assert not differing, f"{mine['execution']['workflowId']}: (archiver, temporal) {differing}"
