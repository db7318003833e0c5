"""The fields a query may name, how custom search attributes are typed, and execution status names.

Field names are case-sensitive, as in Temporal. A near miss is rejected with a suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus

from archivers.errors import QueryError
from archivers.query.ast import Field, ValueKind

WORKFLOW_ID = Field("WorkflowId", ValueKind.KEYWORD)
RUN_ID = Field("RunId", ValueKind.KEYWORD)
WORKFLOW_TYPE = Field("WorkflowType", ValueKind.KEYWORD)
START_TIME = Field("StartTime", ValueKind.DATETIME)
CLOSE_TIME = Field("CloseTime", ValueKind.DATETIME)
EXECUTION_TIME = Field("ExecutionTime", ValueKind.DATETIME)
EXECUTION_STATUS = Field("ExecutionStatus", ValueKind.STATUS)
EXECUTION_DURATION = Field("ExecutionDuration", ValueKind.DURATION)
HISTORY_LENGTH = Field("HistoryLength", ValueKind.INT)

BUILTIN_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (WORKFLOW_ID, RUN_ID, WORKFLOW_TYPE, START_TIME, CLOSE_TIME, EXECUTION_TIME, EXECUTION_STATUS,
              EXECUTION_DURATION, HISTORY_LENGTH)
}
ALIASES: dict[str, Field] = {"WorkflowTypeName": WORKFLOW_TYPE}
SEARCH_PRECISION = "SearchPrecision"
TIME_FIELDS = frozenset({START_TIME, CLOSE_TIME, EXECUTION_TIME})

# Temporal system fields that archived visibility records do not carry.
NOT_ARCHIVED = frozenset(
    {"TaskQueue", "HistorySizeBytes", "StateTransitionCount", "ParentWorkflowId", "ParentRunId", "RootWorkflowId",
     "RootRunId", "NamespaceId", "TemporalNamespaceDivision"}
)

_KIND_BY_TYPE: dict[int, ValueKind] = {
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: ValueKind.TEXT,
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: ValueKind.KEYWORD,
    IndexedValueType.INDEXED_VALUE_TYPE_INT: ValueKind.INT,
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: ValueKind.DOUBLE,
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: ValueKind.BOOL,
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: ValueKind.DATETIME,
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: ValueKind.KEYWORD_LIST,
}


def kind_of_type(value_type: int) -> ValueKind | None:
    """The :class:`ValueKind` of an ``IndexedValueType`` value, or ``None`` if unspecified/unknown."""
    return _KIND_BY_TYPE.get(int(value_type))


def _suggest(name: str, candidates: list[str]) -> str | None:
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def resolve_field(name: str, type_map: Mapping[str, int], position: int) -> Field:
    """Resolve a field name written at ``position``; built-ins shadow search attributes of the same name.

    Raises :class:`QueryError` for unknown names (with a "did you mean" suggestion when one is close,
    otherwise a hint to pass the search attribute's type) and for attributes of unknown type.
    """
    field = BUILTIN_FIELDS.get(name) or ALIASES.get(name)
    if field is not None:
        return field
    if name in type_map:
        kind = kind_of_type(type_map[name])
        if kind is None:
            raise QueryError(f"search attribute {name!r} has an unsupported type {type_map[name]!r}",
                             position=position)
        return Field(name, kind, search_attribute=True)
    if name in NOT_ARCHIVED:
        raise QueryError(f"field {name!r} is not stored in archived visibility records", position=position)
    candidates = [*BUILTIN_FIELDS, *ALIASES, SEARCH_PRECISION, *type_map]
    suggestion = _suggest(name, candidates)
    if suggestion is not None:
        raise QueryError(f"unknown field {name!r}", position=position,
                         suggestion=f"did you mean {suggestion!r}? (field names are case-sensitive)")
    raise QueryError(
        f"unknown field {name!r}", position=position,
        suggestion="if it is a custom search attribute, pass its type in the search attribute type map",
    )


_STATUS_SHORT: dict[int, str] = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED: "Unspecified",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: "Running",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: "Completed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: "Failed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: "Canceled",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: "Terminated",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "ContinuedAsNew",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "TimedOut",
}
for _name, _number in WorkflowExecutionStatus.items():
    _STATUS_SHORT.setdefault(_number, _name.removeprefix("WORKFLOW_EXECUTION_STATUS_").title().replace("_", ""))
_STATUS_BY_KEY: dict[str, int] = {short.lower(): number for number, short in _STATUS_SHORT.items()}
_STATUS_BY_KEY["cancelled"] = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED


def status_name(status: int) -> str:
    """The short name Temporal prints for a status value (``Failed``, ``ContinuedAsNew``, ...)."""
    return _STATUS_SHORT.get(status, str(status))


def parse_status(text: str) -> int | None:
    """Parse a status name or number; ``None`` if it names no status.

    Names match case-insensitively, with or without underscores or the
    ``WORKFLOW_EXECUTION_STATUS_`` prefix; a decimal number is the status with that value.
    """
    key = text.strip().lower().replace("_", "")
    if key.isdigit():
        number = int(key)
        return number if number in _STATUS_SHORT else None
    key = key.removeprefix("workflowexecutionstatus")
    return _STATUS_BY_KEY.get(key)


def status_names() -> list[str]:
    """All accepted short status names (for error messages)."""
    return [name for number, name in sorted(_STATUS_SHORT.items()) if number != 0]
