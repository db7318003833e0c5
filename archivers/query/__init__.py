"""One query language for every backend: Temporal's List Filter plus the built-in archivers' forms.

Entry point: :func:`compile_query`. Modules, one job each: ``lexer`` (tokens), ``parser`` (text -> AST),
``ast`` (the tree), ``fields`` (names, types, statuses), ``values`` (typing literals; times and
durations at nanosecond precision come from ``archivers.timefmt``), ``printer`` (AST -> canonical text), ``evaluate``
(AST x record -> bool), ``constraints`` (sound listing constraints), ``paging`` (keyset pages),
``compiled`` (ties them together).
"""

from archivers.query.ast import (
    And,
    Between,
    Comparison,
    Expr,
    Field,
    InList,
    IsNull,
    Not,
    Or,
    OrderItem,
    Query,
    StartsWith,
    ValueKind,
)
from archivers.query.compiled import CompiledQuery, compile_query
from archivers.query.constraints import Constraints, TimeRange, derive_constraints
from archivers.query.evaluate import evaluate, field_value, matches
from archivers.query.paging import Page, effective_order, paginate, validate_cursor
from archivers.query.parser import MAX_QUERY_BYTES, parse_query
from archivers.query.printer import to_query_string

__all__ = [
    "MAX_QUERY_BYTES",
    "And",
    "Between",
    "Comparison",
    "CompiledQuery",
    "Constraints",
    "Expr",
    "Field",
    "InList",
    "IsNull",
    "Not",
    "Or",
    "OrderItem",
    "Page",
    "Query",
    "StartsWith",
    "TimeRange",
    "ValueKind",
    "compile_query",
    "derive_constraints",
    "effective_order",
    "evaluate",
    "field_value",
    "matches",
    "paginate",
    "parse_query",
    "to_query_string",
    "validate_cursor",
]
