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
from dataclasses import KW_ONLY, dataclass
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
class _OnField:
    """A predicate on one field's value."""

    field: Field


@dataclass(frozen=True)
class _Negatable(_OnField):
    """A predicate that a ``NOT`` written inside it inverts (``NOT IN``, ``IS NOT NULL``, ...)."""

    _: KW_ONLY
    negated: bool = False


@dataclass(frozen=True)
class Comparison(_OnField):
    """``field op value`` with ``op`` one of ``= != < <= > >=``."""

    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Between(_Negatable):
    """``field [NOT] BETWEEN low AND high`` (both ends inclusive)."""

    low: Value
    high: Value


@dataclass(frozen=True)
class InList(_Negatable):
    """``field [NOT] IN (v1, v2, ...)`` with at least one value."""

    values: tuple[Value, ...]


@dataclass(frozen=True)
class StartsWith(_Negatable):
    """``field [NOT] STARTS_WITH prefix`` (keyword fields only)."""

    prefix: str


@dataclass(frozen=True)
class IsNull(_Negatable):
    """``field IS NULL`` or, when ``negated``, ``field IS NOT NULL``."""


@dataclass(frozen=True)
class _Connective:
    """Two or more terms joined by one operator."""

    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class And(_Connective):
    """Conjunction of two or more terms."""


@dataclass(frozen=True)
class Or(_Connective):
    """Disjunction of two or more terms."""


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
