"""Real workflows for tests, and functions that run them on a Temporal server and export their histories.

Workflows:

* :class:`SimpleWorkflow` — two activities, a memo upsert, a 100 ms timer, waits for the ``approve``
  signal, completes (about 25 events, about 1 s: the dev server fires timers on a ~1 s tick).
* :class:`FailingWorkflow` — an activity that fails twice (retry policy of 2 attempts), then the
  workflow fails with an ``ApplicationError`` (``EVENT_TYPE_WORKFLOW_EXECUTION_FAILED``).
* :class:`LongHistoryWorkflow` — exactly ``target_events`` events: rounds of ``chunk`` memo upserts
  (one ``WORKFLOW_PROPERTIES_MODIFIED`` event each, no round trip) followed by one activity.

Each ``produce_*`` function runs its workflow with an in-process worker and exports the history with
``temporal workflow show --output json``; it returns an
:class:`tests.harness.temporal_dev.ExportedHistory`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from tests.harness.emulators import TemporalDevServer
from tests.harness.temporal_dev import ExportedHistory, export_history, run_sync, run_with_worker

# ---------------------------------------------------------------------------------------------------
# activities
# ---------------------------------------------------------------------------------------------------


@activity.defn
async def compose_greeting(name: str) -> dict[str, Any]:
    """Return a small JSON-able greeting for ``name``."""
    return {"greeting": f"Hello, {name}!", "letters": len(name)}


@activity.defn
async def shout(text: str) -> str:
    """Return ``text`` in upper case."""
    return text.upper()


@activity.defn
async def always_fails(reason: str) -> str:
    """Raise a retryable ``ApplicationError`` carrying ``reason`` (non-ASCII and ``<&>`` included)."""
    raise ApplicationError(f"activity failed: {reason} <ünïcödé & co>", {"reason": reason}, type="TestFailure")


@activity.defn
async def echo(value: int) -> int:
    """Return ``value``."""
    return value


# ---------------------------------------------------------------------------------------------------
# workflows
# ---------------------------------------------------------------------------------------------------


@workflow.defn
class SimpleWorkflow:
    """Greets ``name`` through activities, sleeps 100 ms, waits for ``approve``, returns a sentence."""

    def __init__(self) -> None:
        self._approved_by: str | None = None

    @workflow.signal
    def approve(self, who: str) -> None:
        """Let the workflow finish; ``who`` appears in the result."""
        self._approved_by = who

    @workflow.run
    async def run(self, name: str) -> str:
        """Run the steps and return ``"<GREETING> approved by <who>"``."""
        workflow.upsert_memo({"stage": "greeting"})
        greeting = await workflow.execute_activity(compose_greeting, name, start_to_close_timeout=timedelta(seconds=30))
        loud = await workflow.execute_activity(
            shout, greeting["greeting"], start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.sleep(0.1)
        await workflow.wait_condition(lambda: self._approved_by is not None)
        return f"{loud} approved by {self._approved_by}"


@workflow.defn
class FailingWorkflow:
    """Calls an activity that always fails (2 attempts), then fails itself."""

    @workflow.run
    async def run(self, reason: str) -> str:
        """Never returns: raises ``ApplicationError`` (type ``WorkflowGaveUp``)."""
        try:
            await workflow.execute_activity(
                always_fails,
                reason,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=2),
            )
        except Exception as err:
            raise ApplicationError(f"workflow gave up: {reason}", type="WorkflowGaveUp", non_retryable=True) from err
        return "unreachable"


@workflow.defn
class LongHistoryWorkflow:
    """Produces a history of exactly ``target_events`` events (>= 8), as fast as the server allows.

    Each round adds ``k`` memo upserts (``k`` events, all in one workflow-task completion) and one
    activity (scheduled, started, completed, plus the workflow task events: ``k + 6`` events per
    round). The last round sizes ``k`` from ``workflow.info().get_current_history_length()`` so that
    the completion lands on ``target_events``. Returns the number of rounds.

    Why memo upserts: each is a command that becomes one event with no server round trip, so one
    workflow task can add thousands. Measured alternatives (events/s): signals ~1,400; local
    activities one by one ~600; parallel activities ~450; parallel timers ~3,700 but SQLite refuses
    more than ~2,500 timers per task and a 1 ms timer in a loop costs ~1 s (the dev server's timer
    tick); memo upserts ~5,000 sandboxed and ~15,000 unsandboxed (with an activity every 1,000).
    """

    @workflow.run
    async def run(self, target_events: int, chunk: int = 1000, memo_bytes: int = 0) -> int:
        """See the class docstring; ``memo_bytes`` pads every upserted memo value."""
        if target_events < 8 or chunk < 6:
            raise ApplicationError("need target_events >= 8 and chunk >= 6", non_retryable=True)
        pad = "x" * memo_bytes
        upserted = 0
        rounds = 0

        def upsert(count: int) -> None:
            nonlocal upserted
            for _ in range(count):
                upserted += 1
                workflow.upsert_memo({"step": f"{upserted}{pad}"})

        while True:
            rounds += 1
            # Events still to add, counting this task's WorkflowTaskCompleted and the final close event.
            remaining = target_events - workflow.info().get_current_history_length()
            if remaining - 2 <= chunk:
                upsert(max(0, remaining - 2))
                return rounds
            upsert(min(chunk, remaining - 8))
            await workflow.execute_activity(echo, rounds, start_to_close_timeout=timedelta(seconds=30))


ALL_WORKFLOWS: list[type] = [SimpleWorkflow, FailingWorkflow, LongHistoryWorkflow]
ALL_ACTIVITIES: list[Callable[..., Any]] = [compose_greeting, shout, always_fails, echo]


# ---------------------------------------------------------------------------------------------------
# producing histories
# ---------------------------------------------------------------------------------------------------


def _workflow_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _run(server: TemporalDevServer, start: Any, workflow_id: str) -> tuple[str, float]:
    """Run ``start(client, task_queue)`` (returns a handle) with a worker; return (run id, seconds)."""

    async def body(client: Client, task_queue: str) -> tuple[str, float]:
        began = time.monotonic()
        handle = await start(client, task_queue)
        with contextlib.suppress(WorkflowFailureError):  # the failing workflow is meant to fail
            await handle.result()
        return handle.result_run_id or handle.run_id or "", time.monotonic() - began

    result: tuple[str, float] = await run_with_worker(
        server.address,
        body,
        workflows=ALL_WORKFLOWS,
        activities=ALL_ACTIVITIES,
        namespace=server.namespace,
    )
    return result


def _export(server: TemporalDevServer, workflow_id: str, run: tuple[str, float], dest: Path) -> ExportedHistory:
    exported = export_history(server, workflow_id, run[0], dest=dest)
    return ExportedHistory(
        workflow_id=exported.workflow_id,
        run_id=exported.run_id,
        namespace=exported.namespace,
        path=exported.path,
        data=exported.data,
        seconds_to_run=run[1],
        seconds_to_export=exported.seconds_to_export,
    )


def produce_simple_history(server: TemporalDevServer, dest: Path, *, name: str = "Ada") -> ExportedHistory:
    """Run :class:`SimpleWorkflow` (signalled by the starter) to completion and export its history."""
    workflow_id = _workflow_id("simple")

    async def start(client: Client, task_queue: str) -> Any:
        handle = await client.start_workflow(
            SimpleWorkflow.run, name, id=workflow_id, task_queue=task_queue, memo={"kind": "simple"}
        )
        await handle.signal(SimpleWorkflow.approve, "Grace")
        return handle

    run = run_sync(lambda: _run(server, start, workflow_id), timeout=120)
    return _export(server, workflow_id, run, dest)


def produce_failing_history(server: TemporalDevServer, dest: Path, *, reason: str = "boom") -> ExportedHistory:
    """Run :class:`FailingWorkflow` until it fails and export its history."""
    workflow_id = _workflow_id("failing")

    async def start(client: Client, task_queue: str) -> Any:
        return await client.start_workflow(FailingWorkflow.run, reason, id=workflow_id, task_queue=task_queue)

    run = run_sync(lambda: _run(server, start, workflow_id), timeout=120)
    return _export(server, workflow_id, run, dest)


def produce_long_history(
    server: TemporalDevServer,
    dest: Path,
    events: int,
    *,
    chunk: int = 1000,
    memo_bytes: int = 0,
    timeout: float = 600.0,
) -> ExportedHistory:
    """Run :class:`LongHistoryWorkflow` for exactly ``events`` events and export its history.

    Measured on the dev server (2 cores): 1,000 events in 0.1 s, 50,000 in 4 s (+1 s CLI export).
    The server terminates a workflow whose history would pass 51,200 events
    (``limit.historyCount.error``); for more, start the server with
    ``TemporalDevServer(dynamic_config={"limit.historyCount.error": 200_000})``.
    """
    workflow_id = _workflow_id(f"long{events}")

    async def start(client: Client, task_queue: str) -> Any:
        return await client.start_workflow(
            LongHistoryWorkflow.run,
            args=[events, chunk, memo_bytes],
            id=workflow_id,
            task_queue=task_queue,
        )

    run = run_sync(lambda: _run(server, start, workflow_id), timeout=timeout)
    return _export(server, workflow_id, run, dest)
