"""Reading `archiver put-visibility --record FILE`: records, all checked before any is archived.

A record is a protojson ``VisibilityRecord``, or a row as ``temporal workflow list -o json`` (or
``-o jsonl``) prints an execution (it has ``execution``; see :mod:`archivers.codec.cli_rows`), which
becomes the record of that execution in the namespace the caller names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.base64_fields import check_base64_fields
from archivers.codec.cli_rows import execution_from_row
from archivers.codec.message_reader import read_message
from archivers.codec.visibility import execution_info_to_record
from archivers.errors import InvalidArgumentError
from archivers.nesting import nesting_limit
from archivers.textfile import read_text


@dataclass(frozen=True)
class RowNamespace:
    """The namespace (id and name) that executions given as ``temporal workflow list`` rows belong to."""

    namespace_id: str = ""
    namespace: str = ""


def read_visibility_records(path: str, rows: RowNamespace | None = None) -> list[VisibilityRecord]:
    """Read and check the records of ``path`` (JSON lines, a JSON array, or one object).

    Unknown fields are rejected (as Temporal's Go reader does). Each record needs a namespace id,
    workflow id, run id and close time; a ``temporal workflow list`` row takes its namespace from
    ``rows``. Raises :class:`InvalidArgumentError` naming the file and the record (and line) at
    fault; an empty file is an error too.
    """
    text = read_text(path, "record file", InvalidArgumentError)
    with nesting_limit(InvalidArgumentError, path):
        items = list(_record_items(text, path))
        if not items:
            raise InvalidArgumentError(f"{path}: no visibility records in the file")
        return [_checked_record(item, path, where, rows or RowNamespace()) for where, item in items]


def _checked_record(item: Any, path: str, where: str, rows: RowNamespace) -> VisibilityRecord:
    if not isinstance(item, dict):
        raise InvalidArgumentError(f"{path}: {where} is not a JSON object")
    is_row = "execution" in item
    try:
        if is_row:
            if not rows.namespace_id:
                raise InvalidArgumentError(
                    f"{path}: {where} is a `temporal workflow list` row, which names no namespace: pass --namespace-id"
                )
            record = execution_info_to_record(execution_from_row(item), rows.namespace_id, rows.namespace)
        else:
            canonical = read_message(item, VisibilityRecord, ignore_unknown_fields=False)  # exact and fast
            if canonical is None:
                check_base64_fields(item, VisibilityRecord.DESCRIPTOR)  # protobuf would take bad base64 as data
                canonical = json_format.ParseDict(item, VisibilityRecord(), ignore_unknown_fields=False)
            record = canonical
    except InvalidArgumentError:
        raise
    except (json_format.ParseError, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split())
        what = "`temporal workflow list` row" if is_row else "VisibilityRecord"
        raise InvalidArgumentError(f"{path}: {where} is not a valid {what}: {reason}") from exc
    for field, value in (
        ("namespaceId", record.namespace_id),
        ("workflowId", record.workflow_id),
        ("runId", record.run_id),
    ):
        if not value:
            raise InvalidArgumentError(f"{path}: {where} has no {field}")
    if not record.HasField("close_time"):
        raise InvalidArgumentError(f"{path}: {where} has no closeTime")
    return record


def _record_items(text: str, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (where, parsed JSON) for each record: of a JSON array or object, else of each non-blank line."""
    stripped = text.strip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n" in stripped):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if stripped.startswith("["):
                raise InvalidArgumentError(
                    f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                ) from exc
        else:
            if isinstance(whole, list):
                for index, item in enumerate(whole):
                    yield f"record {index + 1}", item
            else:
                yield "record 1", whole
            return
    number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        number += 1
        try:
            yield f"record {number} (line {line_number})", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f"{path}: line {line_number} is not valid JSON: {exc.msg} at column {exc.colno}"
            ) from exc
