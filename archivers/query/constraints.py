"""Sound listing constraints derived from a filter, for layouts that can narrow their listing.

*Sound* means: every record that matches the filter satisfies every constraint. A constraint may be
looser than the filter (the evaluator still runs on every listed record as the residual filter), but
never tighter. Derivation rules:

- a predicate on ``WorkflowId``/``RunId``/``WorkflowType``/``ExecutionStatus`` with ``=`` or ``IN`` gives a
  candidate set; a ``StartTime``/``CloseTime`` comparison, ``BETWEEN`` or ``IN`` gives a closed range;
  every other predicate leaves everything unconstrained;
- ``AND`` intersects sets and ranges; ``OR`` unions sets and takes the hull of ranges (a branch that is
  provably empty is dropped);
- ``NOT`` is pushed inwards (De Morgan, ``NOT a < t`` = ``a >= t``, ``NOT IN``, ``NOT BETWEEN``...), which is
  exact under the evaluator's three-valued logic (a missing value fails both ``a < t`` and ``a >= t``).
  A negated ``IN``/``=``/``STARTS_WITH``/``BETWEEN`` leaves everything unconstrained.

Ranges are closed and at nanosecond precision: ``t < x`` becomes ``upper = x - 1``. A record whose
time is missing never satisfies a time predicate, so a bounded range also implies "present".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from archivers.query.ast import And, Between, Comparison, Expr, InList, IsNull, Not, Or, StartsWith, Value
from archivers.query.fields import CLOSE_TIME, EXECUTION_STATUS, RUN_ID, START_TIME, WORKFLOW_ID, WORKFLOW_TYPE

_NEGATED = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True)
class TimeRange:
    """Closed nanosecond range ``lower <= t <= upper``; ``None`` means unbounded on that side."""

    lower: int | None = None
    upper: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when no instant fits."""
        return self.lower is not None and self.upper is not None and self.lower > self.upper

    @property
    def is_unbounded(self) -> bool:
        """True when the range constrains nothing."""
        return self.lower is None and self.upper is None

    @property
    def upper_exclusive(self) -> int | None:
        """The upper bound as a half-open ``t < upper_exclusive`` bound."""
        return None if self.upper is None else self.upper + 1

    def contains(self, nanos: int) -> bool:
        """Whether the instant ``nanos`` is inside the range."""
        return (self.lower is None or nanos >= self.lower) and (self.upper is None or nanos <= self.upper)

    def intersect(self, other: TimeRange) -> TimeRange:
        """The intersection of two ranges."""
        lows = [b for b in (self.lower, other.lower) if b is not None]
        highs = [b for b in (self.upper, other.upper) if b is not None]
        return TimeRange(max(lows) if lows else None, min(highs) if highs else None)

    def hull(self, other: TimeRange) -> TimeRange:
        """The smallest range containing both."""
        lower = None if self.lower is None or other.lower is None else min(self.lower, other.lower)
        upper = None if self.upper is None or other.upper is None else max(self.upper, other.upper)
        return TimeRange(lower, upper)


_ALL = TimeRange()
_SetOp = Callable[[Sequence[frozenset[Any] | None]], frozenset[Any] | None]
_RangeOp = Callable[[TimeRange, TimeRange], TimeRange]


@dataclass(frozen=True)
class Constraints:
    """Over-approximation of the records a filter can match.

    Each ``*_ids``/``workflow_types``/``statuses`` set is ``None`` when unconstrained, else the only values
    a matching record can have (an empty set means nothing matches). ``close_time``/``start_time`` are
    closed ranges a matching record's time must lie in.
    """

    workflow_ids: frozenset[str] | None = None
    run_ids: frozenset[str] | None = None
    workflow_types: frozenset[str] | None = None
    statuses: frozenset[int] | None = None
    close_time: TimeRange = field(default_factory=TimeRange)
    start_time: TimeRange = field(default_factory=TimeRange)

    @property
    def is_empty(self) -> bool:
        """True when provably no record matches."""
        sets = (self.workflow_ids, self.run_ids, self.workflow_types, self.statuses)
        return any(s is not None and not s for s in sets) or self.close_time.is_empty or self.start_time.is_empty

    def intersect(self, *others: Constraints) -> Constraints:
        """Constraints satisfied by records satisfying this and every one of ``others``.

        Linear in the total size of the value sets (all sets are met at once, not pairwise).
        """
        return _combine((self, *others), _meet, TimeRange.intersect)

    def union(self, *others: Constraints) -> Constraints:
        """Constraints satisfied by records satisfying this or any of ``others``.

        Provably empty operands are dropped. Linear in the total size of the value sets (all sets
        are joined at once: joining one at a time would copy the growing set each time).
        """
        parts = [part for part in (self, *others) if not part.is_empty]
        if not parts:
            return self
        return _combine(parts, _join, TimeRange.hull)


def _combine(parts: Sequence[Constraints], sets: _SetOp, ranges: _RangeOp) -> Constraints:
    """Field by field: ``sets`` on all operands' value sets at once, ``ranges`` folded over the time ranges."""
    return Constraints(
        sets([p.workflow_ids for p in parts]),
        sets([p.run_ids for p in parts]),
        sets([p.workflow_types for p in parts]),
        sets([p.statuses for p in parts]),
        functools.reduce(ranges, [p.close_time for p in parts]),
        functools.reduce(ranges, [p.start_time for p in parts]),
    )


def _meet(sets: Sequence[frozenset[Any] | None]) -> frozenset[Any] | None:
    """The intersection of the constrained sets (``None``: no operand constrains)."""
    given = sorted((s for s in sets if s is not None), key=len)
    if not given:
        return None
    return given[0].intersection(*given[1:])


def _join(sets: Sequence[frozenset[Any] | None]) -> frozenset[Any] | None:
    """The union of the sets, or ``None`` when any operand is unconstrained."""
    constrained = [s for s in sets if s is not None]
    if len(constrained) < len(sets):
        return None
    return frozenset().union(*constrained)


def _compare_range(op: str, value: int) -> TimeRange:
    if op == "=":
        return TimeRange(value, value)
    if op == "<":
        return TimeRange(None, value - 1)
    if op == "<=":
        return TimeRange(None, value)
    if op == ">":
        return TimeRange(value + 1, None)
    if op == ">=":
        return TimeRange(value, None)
    return _ALL


def _values_of(expr: Expr) -> frozenset[Value] | None:
    if isinstance(expr, Comparison) and expr.op == "=":
        return frozenset({expr.value})
    if isinstance(expr, InList) and not expr.negated:
        return frozenset(expr.values)
    return None


def _range_of(expr: Expr) -> TimeRange:
    if isinstance(expr, Comparison):
        return _compare_range(expr.op, int(expr.value))
    if isinstance(expr, Between) and not expr.negated:
        return TimeRange(int(expr.low), int(expr.high))
    if isinstance(expr, InList) and not expr.negated:
        nanos = [int(v) for v in expr.values]
        return TimeRange(min(nanos), max(nanos))
    return _ALL


def _negate(expr: Expr) -> Expr:
    if isinstance(expr, Not):
        return expr.term
    if isinstance(expr, And):
        return Or(tuple(Not(t) for t in expr.terms))
    if isinstance(expr, Or):
        return And(tuple(Not(t) for t in expr.terms))
    if isinstance(expr, Comparison):
        return Comparison(expr.field, _NEGATED[expr.op], expr.value)  # type: ignore[arg-type]
    if isinstance(expr, (Between, InList, StartsWith, IsNull)):
        return replace(expr, negated=not expr.negated)
    raise TypeError(f"unknown node {expr!r}")  # pragma: no cover


def derive_constraints(expr: Expr | None) -> Constraints:
    """Sound constraints for ``expr`` (``None`` = match all gives no constraints)."""
    if expr is None:
        return Constraints()
    if isinstance(expr, Not):
        return derive_constraints(_negate(expr.term))
    if isinstance(expr, And):
        return Constraints().intersect(*(derive_constraints(term) for term in expr.terms))
    if isinstance(expr, Or):
        first, *rest = (derive_constraints(term) for term in expr.terms)
        return first.union(*rest)
    if expr.field == CLOSE_TIME:
        return Constraints(close_time=_range_of(expr))
    if expr.field == START_TIME:
        return Constraints(start_time=_range_of(expr))
    values = _values_of(expr)
    if values is None:
        return Constraints()
    if expr.field == EXECUTION_STATUS:
        return Constraints(statuses=frozenset(int(v) for v in values))
    strings = frozenset(str(v) for v in values)
    if expr.field == WORKFLOW_ID:
        return Constraints(workflow_ids=strings)
    if expr.field == RUN_ID:
        return Constraints(run_ids=strings)
    if expr.field == WORKFLOW_TYPE:
        return Constraints(workflow_types=strings)
    return Constraints()
