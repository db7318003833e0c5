"""Varied visibility records for query tests: types, ids, statuses, times, every search attribute type."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord

NS = "test-namespace-id"
"""The namespace id of every generated record."""
TYPES = {  # search attribute name -> IndexedValueType
    "CustomerId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Priority": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Score": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Vip": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "DueAt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Tags": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
BASE = datetime(2024, 5, 1, tzinfo=timezone.utc)


def timestamp(moment: datetime) -> Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def closed_record(
    *,
    namespace_id: str,
    namespace: str,
    workflow_id: str,
    run_id: str,
    workflow_type: str,
    start: datetime,
    close: datetime,
    status: WorkflowExecutionStatus.ValueType,
    history_length: int,
    search_attributes: dict[str, str],
) -> VisibilityRecord:
    """The record of a run that started (and began executing) at ``start`` and closed at ``close``.

    Its execution duration is the whole seconds in between.
    """
    return VisibilityRecord(
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type_name=workflow_type,
        start_time=timestamp(start),
        execution_time=timestamp(start),
        close_time=timestamp(close),
        status=status,
        history_length=history_length,
        execution_duration=Duration(seconds=int((close - start).total_seconds())),
        search_attributes=search_attributes,
    )


def make_records(count: int = 240, seed: int = 7) -> list[VisibilityRecord]:
    """``count`` reproducible records of namespace :data:`NS` typed by :data:`TYPES`."""
    rng = random.Random(seed)
    statuses = [2, 3, 4, 5, 6, 7]
    records: list[VisibilityRecord] = []
    for i in range(count):
        start = BASE + timedelta(minutes=rng.randrange(0, 4 * 24 * 60), microseconds=rng.randrange(0, 999))
        close = start + timedelta(seconds=rng.randrange(1, 7200))
        if i % 37 == 0 and records:  # equal close times exercise the run id tie-breaker
            close = records[-1].close_time.ToDatetime(tzinfo=timezone.utc)
        attrs: dict[str, str] = {}
        if i % 3:
            attrs["CustomerId"] = f"c-{i % 7}"
        if i % 4:
            attrs["Priority"] = str(rng.randrange(-3, 10))
        if i % 5:
            attrs["Score"] = repr(rng.random() * 100)
        if i % 2:
            attrs["Vip"] = rng.choice(["true", "false"])
        if i % 6:
            attrs["DueAt"] = (BASE + timedelta(hours=rng.randrange(0, 96))).strftime("%Y-%m-%dT%H:%M:%SZ")
        if i % 4 == 1:
            attrs["Tags"] = json.dumps(rng.sample(["red", "green", "blue", "gold"], rng.randrange(1, 3)))
        records.append(
            closed_record(
                namespace_id=NS,
                namespace="test-namespace",
                workflow_id=f"wf-{i % 50}",
                run_id=f"run-{i:05d}",
                workflow_type=rng.choice(["OrderFlow", "ShipFlow", "BillFlow"]),
                start=start,
                close=close,
                status=WorkflowExecutionStatus.ValueType(rng.choice(statuses)),
                history_length=rng.randrange(5, 5000),
                search_attributes=attrs,
            )
        )
    return records
