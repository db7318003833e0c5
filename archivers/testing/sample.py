"""Write a sample history file and visibility records, as the quickstart and docs use them.

``python -m archivers.testing.sample --history H.json --records R.jsonl ...`` writes a synthetic
history in the JSON shape of ``temporal workflow show --output json`` and visibility records
(protojson, one per line) for a handful of runs of varied types and statuses.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import click
from temporalio.api.enums.v1 import WorkflowExecutionStatus

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import encode_message, message_to_dict
from archivers.testing.records import closed_record
from archivers.testing.synthetic import synthetic_history

_STATUSES = [
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED,
]


def sample_records(namespace_id: str, count: int = 8) -> list[VisibilityRecord]:
    """``count`` visibility records of OrderFlow/ShipFlow runs with varied statuses and times."""
    base = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    records = []
    for i in range(count):
        start, workflow_type = base + timedelta(hours=i), "OrderFlow" if i % 2 == 0 else "ShipFlow"
        # One line per aspect of the run: its ids, its type and times, its outcome, its attributes.
        record = closed_record(
            namespace_id=namespace_id, namespace="quickstart", workflow_id=f"order-{i}", run_id=f"run-{i:04d}",
            workflow_type=workflow_type, start=start, close=start + timedelta(minutes=5 + i),
            status=_STATUSES[i % len(_STATUSES)], history_length=10 + i,
            search_attributes={"CustomerId": f"customer-{i % 3}"},
        )
        records.append(record)
    return records


@click.command()
@click.option("--history", "history_path", required=True, type=click.Path(dir_okay=False))
@click.option("--records", "records_path", required=True, type=click.Path(dir_okay=False))
@click.option("--namespace-id", required=True)
@click.option("--wid", required=True)
@click.option("--rid", required=True)
@click.option("--events", default=1000, show_default=True, type=click.IntRange(min=2))
def main(history_path: str, records_path: str, namespace_id: str, wid: str, rid: str, events: int) -> None:
    """Write the sample history and visibility records."""
    batches = synthetic_history(events)
    with open(history_path, "w") as out:
        json.dump({"events": [message_to_dict(e) for b in batches for e in b.events]}, out, indent=2)
    records = sample_records(namespace_id)
    records[0].workflow_id, records[0].run_id = wid, rid
    with open(records_path, "wb") as out:
        out.writelines(encode_message(r) + b"\n" for r in records)


if __name__ == "__main__":
    main()
