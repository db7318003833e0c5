"""Executions as the ``temporal`` CLI prints them: ``temporal workflow list [--archived] -o json`` rows.

The CLI writes a ``WorkflowExecutionInfo`` as protojson with Temporal's *payload shorthand*
(``go.temporal.io/api/common/v1/payload_json.go``): a payload whose only metadata is
``encoding: json/plain`` is written as its decoded JSON value, a ``binary/null`` one as ``null``;
other payloads (search attributes, which carry a ``type``) stay whole. So memo values appear
decoded, search attributes as payloads.

- :func:`execution_row` makes such a row from an execution, and :func:`render_rows` the whole
  ``-o json`` text (an array whose objects are indented by two spaces, as the CLI prints it);
- :func:`execution_from_row` reads a row back (memo values re-encoded as Go's ``json.Marshal``
  writes them, as the SDKs do), ignoring the live-only fields the CLI also prints (``taskQueue``,
  ``rootExecution``, ...), which archived records do not hold.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers.codec.base64_fields import check_base64_fields
from archivers.codec.gojson import go_json_float, go_json_string
from archivers.codec.protojson import encode_json, message_to_dict

_JSON_PLAIN = b"json/plain"
_BINARY_NULL = b"binary/null"
ARCHIVED_FIELDS = frozenset(
    {"execution", "type", "startTime", "closeTime", "status", "historyLength", "executionTime", "memo",
     "searchAttributes", "executionDuration"}
)
"""The row fields an archived visibility record holds (Go's ``convertToExecutionInfo``)."""


GO_ZERO_TIME_SECONDS = -62135596800
"""Go's zero ``time.Time`` (0001-01-01T00:00:00Z) in Unix seconds."""


def execution_row(info: WorkflowExecutionInfo) -> dict[str, Any]:
    """``info`` as ``temporal workflow list --archived`` prints it (memo values in payload shorthand).

    As the frontend's ``ListArchivedWorkflowExecutions`` does, a missing or zero execution time is
    the start time.
    """
    if not info.HasField("execution_time") or (
        info.execution_time.seconds == GO_ZERO_TIME_SECONDS and not info.execution_time.nanos
    ):
        info = _with_start_as_execution_time(info)
    row = message_to_dict(info)
    fields = row.get("memo", {}).get("fields")
    if fields:
        memo = info.memo.fields
        row["memo"]["fields"] = {name: _shorthand(memo[name], fields[name]) for name in fields}
    return row


def render_rows(executions: Iterable[WorkflowExecutionInfo]) -> Iterable[str]:
    """The text of ``temporal workflow list -o json`` for ``executions``, in pieces: ``[``, the rows, ``]``."""
    yield "[\n"
    separator = ""
    for info in executions:
        yield separator + encode_json(execution_row(info), indent=2)
        separator = ",\n"
    yield ("\n" if separator else "") + "]\n"


def execution_from_row(row: Mapping[str, Any]) -> WorkflowExecutionInfo:
    """The execution a CLI row describes; only :data:`ARCHIVED_FIELDS` are read.

    Raises ``ValueError`` (or protobuf's ``ParseError``, a ``ValueError``) naming what is wrong.
    """
    kept = {name: value for name, value in row.items() if name in ARCHIVED_FIELDS}
    memo = kept.get("memo")
    if isinstance(memo, Mapping) and isinstance(memo.get("fields"), Mapping):
        kept["memo"] = {**memo, "fields": {k: _payload_dict(v) for k, v in memo["fields"].items()}}
    check_base64_fields(kept, WorkflowExecutionInfo.DESCRIPTOR)
    return json_format.ParseDict(kept, WorkflowExecutionInfo(), ignore_unknown_fields=False)


def _with_start_as_execution_time(info: WorkflowExecutionInfo) -> WorkflowExecutionInfo:
    copy = WorkflowExecutionInfo()
    copy.CopyFrom(info)
    if info.HasField("start_time"):
        copy.execution_time.CopyFrom(info.start_time)
    else:
        copy.ClearField("execution_time")
    return copy


def _shorthand(payload: Payload, written: Any) -> Any:
    """The CLI's shorthand of one payload: its JSON value, ``None`` for null, else the payload as written."""
    encoding = payload.metadata.get("encoding")
    if encoding == _BINARY_NULL:
        return None
    if encoding == _JSON_PLAIN and len(payload.metadata) == 1:
        try:
            return json.loads(payload.data)
        except ValueError:
            return written  # Go's marshaller would fail; keep the payload readable instead
    return written


def _payload_dict(value: Any) -> Any:
    """A memo value of a row as a protojson payload: a whole payload stays, a shorthand value is encoded."""
    if isinstance(value, Mapping) and "metadata" in value and set(value) <= {"metadata", "data"}:
        return value
    if value is None:
        return {"metadata": {"encoding": _b64(_BINARY_NULL)}}
    return {"metadata": {"encoding": _b64(_JSON_PLAIN)}, "data": _b64(go_marshal(value).encode())}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def go_marshal(value: Any) -> str:
    """Go ``json.Marshal`` of a value decoded into ``interface{}``: sorted keys, numbers as float64."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_json_float(float(value))
    if isinstance(value, str):
        return go_json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(go_marshal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{go_json_string(k)}:{go_marshal(value[k])}" for k in sorted(value)) + "}"
    raise TypeError(f"not a JSON value: {value!r}")
