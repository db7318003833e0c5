r"""Canonical text of a query tree: ``parse_query(to_query_string(q)) == q`` for every valid tree.

Canonical choices: keywords upper-case; strings single-quoted with ``\`` and ``'`` backslash-escaped;
times as quoted RFC3339Nano UTC; durations as integer nanoseconds; statuses by short name
(``'Failed'``); the ``WorkflowTypeName`` alias as ``WorkflowType``; field names that are not plain
identifiers (or that collide with keywords) in backticks.
"""

from __future__ import annotations

import math
import re

from archivers.query import ast as q
from archivers.query.ast import Field, Value, ValueKind
from archivers.query.fields import status_name
from archivers.query.lexer import KEYWORDS
from archivers.timefmt import format_rfc3339_nano

_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote_string(text: str) -> str:
    """Quote ``text`` as a query string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_field(field: Field) -> str:
    """The field's name as it must be written in a query."""
    name = field.name
    if _PLAIN_IDENT.match(name) and name.upper() not in KEYWORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def format_value(field: Field, value: Value) -> str:
    """The literal for ``value`` typed as ``field``'s kind."""
    kind = field.kind
    if kind in (ValueKind.KEYWORD, ValueKind.TEXT, ValueKind.KEYWORD_LIST):
        return quote_string(str(value))
    if kind is ValueKind.BOOL:
        return "TRUE" if value else "FALSE"
    if kind is ValueKind.DATETIME:
        return quote_string(format_rfc3339_nano(int(value)))
    if kind is ValueKind.STATUS:
        return quote_string(status_name(int(value)))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot print non-finite number {value!r}")
        return repr(value)
    return str(int(value))


def _term(expr: q.Expr, parent: type) -> str:
    text = format_expr(expr)
    if isinstance(expr, (q.And, q.Or)) and (parent is q.And or isinstance(expr, parent)):
        return f"({text})"
    if isinstance(expr, (q.And, q.Or)) and parent is q.Not:
        return f"({text})"
    return text


def format_expr(expr: q.Expr) -> str:
    """Canonical text of a filter expression (without ORDER BY)."""
    if isinstance(expr, q.Comparison):
        return f"{format_field(expr.field)} {expr.op} {format_value(expr.field, expr.value)}"
    if isinstance(expr, q.Between):
        neg = "NOT " if expr.negated else ""
        low, high = format_value(expr.field, expr.low), format_value(expr.field, expr.high)
        return f"{format_field(expr.field)} {neg}BETWEEN {low} AND {high}"
    if isinstance(expr, q.InList):
        neg = "NOT " if expr.negated else ""
        values = ", ".join(format_value(expr.field, v) for v in expr.values)
        return f"{format_field(expr.field)} {neg}IN ({values})"
    if isinstance(expr, q.StartsWith):
        neg = "NOT " if expr.negated else ""
        return f"{format_field(expr.field)} {neg}STARTS_WITH {quote_string(expr.prefix)}"
    if isinstance(expr, q.IsNull):
        return f"{format_field(expr.field)} IS {'NOT ' if expr.negated else ''}NULL"
    if isinstance(expr, q.And):
        return " AND ".join(_term(t, q.And) for t in expr.terms)
    if isinstance(expr, q.Or):
        return " OR ".join(_term(t, q.Or) for t in expr.terms)
    return "NOT " + _term(expr.term, q.Not)


def format_order_item(item: q.OrderItem) -> str:
    """``field`` or ``field DESC``."""
    return format_field(item.field) + (" DESC" if item.descending else "")


def to_query_string(query: q.Query) -> str:
    """Canonical text of a whole query; ``""`` for the match-all query without ORDER BY."""
    parts: list[str] = []
    if query.where is not None:
        parts.append(format_expr(query.where))
    if query.order_by:
        parts.append("ORDER BY " + ", ".join(format_order_item(i) for i in query.order_by))
    return " ".join(parts)
