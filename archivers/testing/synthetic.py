"""Synthetic but well-formed Temporal histories of any length, for tests and benchmarks."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    History,
    HistoryEvent,
)

from archivers.interfaces import ArchiveHistoryRequest


def _payloads(text: str) -> Payloads:
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())])


def synthetic_history(
    event_count: int,
    *,
    version: int = 0,
    batch_size: int = 3,
    payload_bytes: int = 64,
    start: datetime | None = None,
    varied: bool = False,
) -> list[History]:
    """Return ``event_count`` (>= 2) events in batches of ``batch_size``: a start, activity events, a completion.

    Every event has ``version``; ids run 1..event_count; payloads carry ``payload_bytes`` of text:
    one repeated character, or with ``varied`` a different pseudo-random text per event (seeded by
    ``event_count``), which compression cannot shrink below about three quarters (for tests that
    need a history of several parts in every layout, compressed or not).
    """
    if event_count < 2:
        raise ValueError("a history has at least a start and a close event")
    base = start or datetime(2024, 5, 1, tzinfo=timezone.utc)
    base_stamp = Timestamp()
    base_stamp.FromDatetime(base)
    base_nanos = base_stamp.seconds * 1_000_000_000 + base_stamp.nanos
    payloads = _payloads("x" * payload_bytes)
    noise = random.Random(event_count)
    events: list[HistoryEvent] = []
    for event_id in range(1, event_count + 1):
        seconds, nanos = divmod(base_nanos + event_id * 1_000_000, 1_000_000_000)  # event i at base + i ms
        event = HistoryEvent(
            event_id=event_id, event_time=Timestamp(seconds=seconds, nanos=nanos), version=version,
            task_id=1_000_000 + event_id,
        )  # fmt: skip
        if varied:
            payloads = _payloads(base64.b64encode(noise.randbytes(payload_bytes))[:payload_bytes].decode())
        if event_id == 1:
            event.event_type = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            event.workflow_execution_started_event_attributes.workflow_type.name = "SyntheticWorkflow"
            event.workflow_execution_started_event_attributes.input.CopyFrom(payloads)
        elif event_id == event_count:
            event.event_type = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
            event.workflow_execution_completed_event_attributes.result.CopyFrom(payloads)
        elif event_id % 2 == 0:
            event.event_type = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            event.activity_task_scheduled_event_attributes.activity_id = str(event_id)
            event.activity_task_scheduled_event_attributes.input.CopyFrom(payloads)
        else:
            event.event_type = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            event.activity_task_completed_event_attributes.scheduled_event_id = event_id - 1
            event.activity_task_completed_event_attributes.result.CopyFrom(payloads)
        events.append(event)
    return [History(events=events[i : i + batch_size]) for i in range(0, len(events), batch_size)]


def request_for(
    batches: list[History],
    *,
    namespace_id: str = "test-namespace-id",
    namespace: str = "test-namespace",
    workflow_id: str = "test-workflow-id",
    run_id: str = "test-run-id",
) -> ArchiveHistoryRequest:
    """The archive request matching ``batches`` (next event id and close failover version from its last event)."""
    last = batches[-1].events[-1]
    return ArchiveHistoryRequest(
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        next_event_id=last.event_id + 1,
        close_failover_version=last.version,
    )
