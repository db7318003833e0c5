"""The typed, immutable syntax tree of a visibility query.

Every node is a frozen dataclass, so trees compare by value and can be hashed. Values are already
typed by their field's :class:`ValueKind`:

============  =====================================================================
kind          Python value
============  =====================================================================
KEYWORD,      ``str``
TEXT,
KEYWORD_LIST
INT           ``int`` (or ``float`` when the literal had a fraction, as Temporal allows)
DOUBLE        ``float``
BOOL          ``bool``
DATETIME      ``int``: nanoseconds since the Unix epoch, UTC
DURATION      ``int``: nanoseconds
STATUS        ``int``: a ``temporal.api.enums.v1.WorkflowExecutionStatus`` value
============  =====================================================================

``And``/``Or`` hold two or more terms; the parser flattens ``a AND b AND c`` written at one level
into one node, while a parenthesised group stays a node of its own (so printing and re-parsing
gives the same tree).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Value = str | int | float | bool
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")


class ValueKind(enum.Enum):
    """How a field's values are typed, compared and printed."""

    KEYWORD = "Keyword"
    TEXT = "Text"
    KEYWORD_LIST = "KeywordList"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"
    DURATION = "Duration"
    STATUS = "Status"


@dataclass(frozen=True)
class Field:
    """A resolved field: canonical ``name``, value ``kind``, and whether it is a custom search attribute."""

    name: str
    kind: ValueKind
    search_attribute: bool = False


@dataclass(frozen=True)
class Comparison:
    """``field op value`` with ``op`` one of ``= != < <= > >=``."""

    field: Field
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Between:
    """``field [NOT] BETWEEN low AND high`` (both ends inclusive)."""

    field: Field
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True)
class InList:
    """``field [NOT] IN (v1, v2, ...)`` with at least one value."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class StartsWith:
    """``field [NOT] STARTS_WITH prefix`` (keyword fields only)."""

    field: Field
    prefix: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """``field IS NULL`` or, when ``negated``, ``field IS NOT NULL``."""

    field: Field
    negated: bool = False


@dataclass(frozen=True)
class And:
    """Conjunction of two or more terms."""

    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more terms."""

    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """Negation of a term (SQL three-valued: NOT unknown is unknown)."""

    term: Expr


Predicate = Comparison | Between | InList | StartsWith | IsNull
Expr = Comparison | Between | InList | StartsWith | IsNull | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key."""

    field: Field
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: the filter (``None`` = match everything) and the ``ORDER BY`` keys as written."""

    where: Expr | None
    order_by: tuple[OrderItem, ...] = ()
