"""Printing of the ``archiver`` command's results: history JSON, JSON lines, and rich tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timezone
from typing import IO, Any

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers.cli.history_json import render_history_json
from archivers.codec.protojson import encode_json

DETAILS_WIDTH = 80
"""Characters of an event's attributes shown in the table's details column."""


def write_history_json(events: Sequence[HistoryEvent], stream: IO[str]) -> None:
    """Write ``{"events": [...]}`` exactly as ``temporal workflow show --output json`` does."""
    stream.write(render_history_json(events))


def write_history_table(events: Sequence[HistoryEvent], stream: IO[str]) -> None:
    """Write a table of ``events``: id, time, type, and the start of the event's attributes."""
    table = Table(title=None, show_lines=False)
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Details", overflow="ellipsis", no_wrap=True, max_width=DETAILS_WIDTH)
    for event in events:
        table.add_row(str(event.event_id), _time(event.event_time), event_type_name(event.event_type), _details(event))
    _console(stream).print(table)


def write_executions_jsonl(executions: Iterable[WorkflowExecutionInfo], stream: IO[str]) -> int:
    """Write each execution as one line of compact protojson; return how many were written."""
    count = 0
    for info in executions:
        stream.write(encode_json(info) + "\n")
        count += 1
    return count


def write_executions_table(executions: Sequence[WorkflowExecutionInfo], stream: IO[str]) -> None:
    """Write a table of executions: workflow id, run id, type, status, start and close time, length."""
    table = Table()
    for title in ("Workflow ID", "Run ID", "Type", "Status", "Start (UTC)", "Close (UTC)"):
        table.add_column(title, no_wrap=True)
    table.add_column("Events", justify="right")
    for info in executions:
        table.add_row(
            info.execution.workflow_id,
            info.execution.run_id,
            info.type.name,
            status_name(info.status),
            _time(info.start_time) if info.HasField("start_time") else "",
            _time(info.close_time) if info.HasField("close_time") else "",
            str(info.history_length),
        )
    _console(stream).print(table)


def event_type_name(value: int) -> str:
    """``EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`` -> ``WorkflowExecutionStarted`` (the CLI's table spelling)."""
    return _short_enum_name(EventType, value, "EVENT_TYPE_")


def status_name(value: int) -> str:
    """``WORKFLOW_EXECUTION_STATUS_TIMED_OUT`` -> ``TimedOut``."""
    return _short_enum_name(WorkflowExecutionStatus, value, "WORKFLOW_EXECUTION_STATUS_")


def _short_enum_name(enum: Any, value: int, prefix: str) -> str:
    """The PascalCase name of ``value`` without ``prefix``; the number itself when ``enum`` does not know it."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return "".join(part.capitalize() for part in name.removeprefix(prefix).split("_"))


def _time(value: Timestamp) -> str:
    moment = value.ToDatetime(tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _details(event: HistoryEvent) -> str:
    attributes = event.WhichOneof("attributes")
    if not attributes:
        return ""
    text = encode_json(getattr(event, attributes))
    return text if len(text) <= DETAILS_WIDTH else text[: DETAILS_WIDTH - 1] + "…"


def _console(stream: IO[str]) -> Console:
    return Console(file=stream, soft_wrap=False, width=max(Console(file=stream).width, 160))
