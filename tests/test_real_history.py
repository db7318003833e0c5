"""Real workflows run on the Temporal dev server, exported with the real ``temporal`` CLI, parse into
``temporalio.api.history.v1.History`` with every event and in order."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History

from tests.harness.emulators import TemporalDevServer
from tests.harness.temporal_dev import ExportedHistory, history_from_cli_json, run_sync, run_with_worker

pytestmark = pytest.mark.timeout(300)


def _assert_ids_in_order(history: History) -> None:
    assert [e.event_id for e in history.events] == list(range(1, len(history.events) + 1))


def _go_floats(value: Any) -> Any:
    """``value`` with integral floats as ints, as Go's protojson prints doubles (``2`` not ``2.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _go_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_floats(v) for v in value]
    return value


def test_simple_history(real_simple_history: ExportedHistory) -> None:
    history = real_simple_history.history()
    _assert_ids_in_order(history)
    types = [e.event_type for e in history.events]
    assert types[0] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    for wanted in (
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_TIMER_FIRED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    ):
        assert wanted in types, EventType.Name(wanted)
    assert real_simple_history.path.is_file()
    assert real_simple_history.run_id
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.original_execution_run_id == real_simple_history.run_id


def test_failed_history(real_failed_history: ExportedHistory) -> None:
    history = real_failed_history.history()
    _assert_ids_in_order(history)
    last = history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert "workflow gave up" in last.workflow_execution_failed_event_attributes.failure.message
    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    assert len(failed) == 1
    assert failed[0].activity_task_failed_event_attributes.failure.message.endswith("<ünïcödé & co>")


def test_history_of_1000_events(real_history_1k: ExportedHistory) -> None:
    assert real_history_1k.event_count == 1000
    history = real_history_1k.history()
    assert len(history.events) == 1000
    _assert_ids_in_order(history)
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    batches = real_history_1k.event_batches(128)
    assert sum(len(b.events) for b in batches) == 1000 and len(batches) == 8


def test_cli_json_is_canonical_protojson(
    real_simple_history: ExportedHistory, real_failed_history: ExportedHistory
) -> None:
    """The CLI writes ``json.dumps(MessageToDict(history), indent=2, ensure_ascii=False) + "\\n"`` (with
    Go's float style): camelCase names, int64 as strings, full enum names, base64 payloads, no unknown
    fields."""
    for exported in (real_simple_history, real_failed_history):
        strict = exported.history_strict()  # refuses unknown fields
        assert strict == exported.history()
        event = exported.events[0]
        assert isinstance(event["eventId"], str) and event["eventId"] == "1"
        assert event["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        payload = event["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
        assert set(payload) == {"metadata", "data"}  # no payload shorthand
        text = exported.path.read_text(encoding="utf-8")
        as_python = json_format.MessageToDict(strict)
        assert json.loads(text) == as_python
        # Byte for byte too, but for one difference: Go writes an integral double as ``2``, Python ``2.0``.
        expected = json.dumps(_go_floats(as_python), indent=2, ensure_ascii=False) + "\n"
        assert text == expected
        assert history_from_cli_json(exported.path, exported.workflow_id) == strict


def test_cli_history_matches_the_server(temporal_dev: TemporalDevServer, real_simple_history: ExportedHistory) -> None:
    async def fetch() -> History:
        from temporalio.client import Client

        client = await Client.connect(temporal_dev.address)
        handle = client.get_workflow_handle(real_simple_history.workflow_id, run_id=real_simple_history.run_id)
        fetched = await handle.fetch_history()
        return History(events=fetched.events)

    assert run_sync(fetch, timeout=60) == real_simple_history.history()


def test_run_with_worker_inside_running_loop(temporal_dev: TemporalDevServer) -> None:
    """``run_sync`` works when called from a thread that already runs an event loop."""
    import asyncio

    from workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, LongHistoryWorkflow

    async def body() -> int:
        async def go(client: object, task_queue: str) -> int:
            from temporalio.client import Client

            assert isinstance(client, Client)
            rounds: int = await client.execute_workflow(
                LongHistoryWorkflow.run, args=[40, 10, 0], id=f"loop-{time.time_ns()}", task_queue=task_queue
            )
            return rounds

        return run_sync(
            lambda: run_with_worker(temporal_dev.address, go, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
            timeout=60,
        )

    rounds = asyncio.run(body())
    assert rounds >= 2


@pytest.mark.slow
def test_history_of_50000_events(real_history_50k: ExportedHistory) -> None:
    began = time.monotonic()
    history = real_history_50k.history()
    parse_seconds = time.monotonic() - began
    assert len(history.events) == 50_000
    _assert_ids_in_order(history)
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    print(
        f"50k history: run {real_history_50k.seconds_to_run:.1f}s, "
        f"CLI export {real_history_50k.seconds_to_export:.1f}s, parse {parse_seconds:.1f}s, "
        f"{real_history_50k.path.stat().st_size / 1e6:.1f} MB"
    )
