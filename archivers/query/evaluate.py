"""Evaluation of a query tree against a stored ``VisibilityRecord``.

Semantics are SQL's three-valued logic: a predicate on a missing value is *unknown*, ``NOT unknown``
is unknown, ``AND``/``OR`` follow Kleene logic, and a record matches only when the filter is *true*.
So every comparison, ``!=``, ``IN``, ``BETWEEN`` and ``STARTS_WITH`` on a missing value (and their
``NOT`` forms) do not match; only ``IS NULL`` matches a missing value.

Missing means: an unset ``StartTime``/``CloseTime``/``ExecutionTime``/``ExecutionDuration``, or a search
attribute that is absent, empty (``[]``) or does not parse as its type. ``WorkflowId``, ``RunId``,
``WorkflowType``, ``ExecutionStatus`` and ``HistoryLength`` are always present.

A list value (any ``KeywordList`` attribute, or a list stored for a scalar attribute, which Temporal
allows) matches ``=``, ``IN``, ``<``..., ``BETWEEN`` and ``STARTS_WITH`` when *any* element does, and
``!=``/``NOT IN``/``NOT BETWEEN``/``NOT STARTS_WITH`` when no element does. Text ``=`` is a full,
case-sensitive match (not Elasticsearch's token match).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec import search_attributes as sa_codec
from archivers.query import ast as q
from archivers.query.ast import Field, ValueKind
from archivers.timefmt import NANOS_PER_SECOND, ParsedTime

_TYPE_BY_KIND = {
    ValueKind.TEXT: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    ValueKind.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    ValueKind.INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    ValueKind.DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    ValueKind.BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    ValueKind.DATETIME: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    ValueKind.KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _message_nanos(record: VisibilityRecord, name: str) -> int | None:
    if not record.HasField(name):  # type: ignore[arg-type]
        return None
    msg = getattr(record, name)
    return int(msg.seconds) * NANOS_PER_SECOND + int(msg.nanos)


_BUILTIN_GETTERS: dict[str, Callable[[VisibilityRecord], Any]] = {
    "WorkflowId": lambda r: r.workflow_id,
    "RunId": lambda r: r.run_id,
    "WorkflowType": lambda r: r.workflow_type_name,
    "StartTime": lambda r: _message_nanos(r, "start_time"),
    "CloseTime": lambda r: _message_nanos(r, "close_time"),
    "ExecutionTime": lambda r: _message_nanos(r, "execution_time"),
    "ExecutionStatus": lambda r: int(r.status),
    "ExecutionDuration": lambda r: _message_nanos(r, "execution_duration"),
    "HistoryLength": lambda r: int(r.history_length),
}


def _to_query_domain(value: Any, kind: ValueKind) -> Any:
    if isinstance(value, ParsedTime):
        return value.unix_nanos
    if kind is ValueKind.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def field_value(record: VisibilityRecord, field: Field) -> Any:
    """The record's value for ``field`` in the query's domain, or ``None`` when missing or unparsable.

    Times and durations are int nanoseconds, statuses ints, lists lists.
    """
    if not field.search_attribute:
        return _BUILTIN_GETTERS[field.name](record)
    text = record.search_attributes.get(field.name)
    if text is None:
        return None
    try:
        value = sa_codec.parse_stored_value(text, _TYPE_BY_KIND[field.kind])
    except ValueError:
        return None
    if isinstance(value, list):
        if not value:
            return None
        return [_to_query_domain(item, field.kind) for item in value]
    if field.kind is ValueKind.KEYWORD_LIST:
        return [value]
    return _to_query_domain(value, field.kind)


def _any(value: Any, test: Callable[[Any], bool]) -> bool:
    try:
        if isinstance(value, list):
            return any(test(item) for item in value)
        return test(value)
    except TypeError:
        return False


def _predicate(expr: q.Expr, value: Any) -> bool | None:
    if isinstance(expr, q.IsNull):
        return (value is not None) if expr.negated else (value is None)
    if value is None:
        return None
    if isinstance(expr, q.Comparison):
        if isinstance(value, list) and expr.op == "!=":
            return not _any(value, lambda v: bool(v == expr.value))
        fn = _OPS[expr.op]
        return _any(value, lambda v: fn(v, expr.value))
    if isinstance(expr, q.InList):
        found = _any(value, lambda v: v in expr.values)
        return not found if expr.negated else found
    if isinstance(expr, q.Between):
        inside = _any(value, lambda v: bool(expr.low <= v <= expr.high))
        return not inside if expr.negated else inside
    assert isinstance(expr, q.StartsWith)
    starts = _any(value, lambda v: isinstance(v, str) and v.startswith(expr.prefix))
    return not starts if expr.negated else starts


def evaluate(expr: q.Expr, record: VisibilityRecord) -> bool | None:
    """Three-valued truth of ``expr`` for ``record``: ``True``, ``False`` or ``None`` (unknown)."""
    if isinstance(expr, (q.And, q.Or)):
        settles = isinstance(expr, q.Or)  # the term value that settles the whole: True for OR, False for AND
        unknown = False
        for term in expr.terms:
            result = evaluate(term, record)
            if result is settles:
                return settles
            unknown = unknown or result is None
        return None if unknown else not settles
    if isinstance(expr, q.Not):
        result = evaluate(expr.term, record)
        return None if result is None else not result
    return _predicate(expr, field_value(record, expr.field))


def matches(expr: q.Expr | None, record: VisibilityRecord) -> bool:
    """Whether ``record`` satisfies the filter (``None`` matches every record)."""
    return expr is None or evaluate(expr, record) is True

