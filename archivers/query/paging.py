"""Keyset pagination of visibility records in a query's sort order.

The order is the query's ``ORDER BY`` (default ``CloseTime DESC``) with ``RunId ASC`` appended as the
final tie-breaker, so it is total. A missing value sorts first in ascending and last in descending
keys (SQL ``NULLS FIRST`` for ``ASC``). A cursor is the JSON-serializable list of the last returned
row's sort key values (``None`` for a missing value; times and durations as int nanoseconds; statuses
as ints); the next page holds the rows strictly after it. Pages therefore concatenate to the full
result without duplicates or gaps, even when records are added or removed between calls (a record
added before the cursor position is simply not seen). Selecting a page of ``P`` rows out of ``N`` costs
``O(N log P)`` (``heapq.nsmallest``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import InvalidPageTokenError
from archivers.query.ast import OrderItem, ValueKind
from archivers.query.evaluate import field_value
from archivers.query.fields import CLOSE_TIME, RUN_ID
from archivers.timefmt import INT64_MAX, INT64_MIN, MAX_NANOS, MIN_NANOS

CursorValue = str | int | float | bool | None
DEFAULT_ORDER: tuple[OrderItem, ...] = (OrderItem(CLOSE_TIME, descending=True),)


def effective_order(order_by: Sequence[OrderItem]) -> tuple[OrderItem, ...]:
    """The total sort order used for ``order_by``: it (or ``CloseTime DESC``) plus ``RunId ASC`` unless present."""
    order = tuple(order_by) or DEFAULT_ORDER
    if all(item.field != RUN_ID for item in order):
        order += (OrderItem(RUN_ID),)
    return order


class Pageable(Protocol):
    """What :func:`paginate` needs from a compiled query."""

    @property
    def sort_order(self) -> tuple[OrderItem, ...]:
        """The total sort order (see :func:`effective_order`)."""

    def matches(self, record: VisibilityRecord) -> bool:
        """Whether the record satisfies the filter."""


class _Desc:
    """Reverses the order of the wrapped comparable."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.inner < self.inner)

    def __gt__(self, other: _Desc) -> bool:
        return bool(other.inner > self.inner)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.inner == other.inner)

    def __hash__(self) -> int:  # pragma: no cover - not used in sets
        return hash(self.inner)


def _component(value: CursorValue, descending: bool) -> Any:
    pair = (value is not None, value)
    return _Desc(pair) if descending else pair


def cursor_values(record: VisibilityRecord, order: Sequence[OrderItem]) -> list[CursorValue]:
    """The sort key values of ``record`` for ``order`` (what a cursor holds)."""
    values: list[CursorValue] = []
    for item in order:
        value = field_value(record, item.field)
        values.append(None if isinstance(value, list) else value)
    return values


def _key(values: Sequence[CursorValue], order: Sequence[OrderItem]) -> tuple[Any, ...]:
    return tuple(_component(v, item.descending) for v, item in zip(values, order, strict=True))


_INT_RANGES: dict[ValueKind, tuple[int, int]] = {
    ValueKind.INT: (INT64_MIN, INT64_MAX),
    ValueKind.DOUBLE: (INT64_MIN, INT64_MAX),
    ValueKind.DATETIME: (MIN_NANOS, MAX_NANOS),  # a valid protobuf Timestamp: years 1 to 9999
    ValueKind.DURATION: (INT64_MIN, INT64_MAX),  # Go's time.Duration
    ValueKind.STATUS: (-(1 << 31), (1 << 31) - 1),  # a 32-bit enum value
}


def _fits(value: Any, kind: ValueKind) -> bool:
    """Whether ``value`` is a value a record can have for a field of ``kind`` (``None``: missing)."""
    if value is None:
        return True
    if kind in (ValueKind.KEYWORD, ValueKind.TEXT):
        return isinstance(value, str)
    if kind is ValueKind.BOOL:
        return isinstance(value, bool)
    if isinstance(value, float):
        return kind in (ValueKind.INT, ValueKind.DOUBLE) and math.isfinite(value)
    if type(value) is not int or kind not in _INT_RANGES:
        return False
    low, high = _INT_RANGES[kind]
    return low <= value <= high


def validate_cursor(cursor: Any, order: Sequence[OrderItem]) -> list[CursorValue]:
    """Check a decoded cursor against ``order``; raise :class:`InvalidPageTokenError` if it is wrong.

    Each value must have its sort key's type and lie in its field's range (64-bit ints, finite
    doubles, times of a valid protobuf Timestamp, 64-bit nanosecond durations, 32-bit statuses).
    """
    if not isinstance(cursor, list) or len(cursor) != len(order):
        raise InvalidPageTokenError("page token does not belong to this query (wrong sort key length)")
    for value, item in zip(cursor, order, strict=True):
        if not _fits(value, item.field.kind):
            raise InvalidPageTokenError(
                f"page token does not belong to this query (bad value for sort key {item.field.name})"
            )
    return list(cursor)


@dataclass(frozen=True)
class Page:
    """One page: ``records`` in sort order and ``next_cursor`` (``None`` when there are no more rows)."""

    records: list[VisibilityRecord]
    next_cursor: list[CursorValue] | None


def paginate(records: Iterable[VisibilityRecord], query: Pageable, cursor: Sequence[CursorValue] | None,
             page_size: int) -> Page:
    """Return the next ``page_size`` matching records strictly after ``cursor`` in the query's order.

    ``records`` may be any superset of the matching records (e.g. a layout's narrowed listing); the
    query's filter is applied here. Raises ``ValueError`` when ``page_size <= 0`` and
    :class:`InvalidPageTokenError` for a cursor of the wrong shape.
    """
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    order = query.sort_order
    after = None if cursor is None else _key(validate_cursor(list(cursor), order), order)

    def candidates() -> Iterable[tuple[tuple[Any, ...], int, list[CursorValue], VisibilityRecord]]:
        for index, record in enumerate(records):
            if not query.matches(record):
                continue
            values = cursor_values(record, order)
            key = _key(values, order)
            if after is not None and not after < key:
                continue
            yield key, index, values, record

    chosen = heapq.nsmallest(page_size + 1, candidates(), key=lambda c: (c[0], c[1]))
    page = chosen[:page_size]
    next_cursor = page[-1][2] if len(chosen) > page_size else None
    return Page([c[3] for c in page], next_cursor)
