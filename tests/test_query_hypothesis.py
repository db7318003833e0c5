"""Property tests: the parser only ever raises QueryError; printed ASTs re-parse to themselves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import IndexedValueType

from archivers.errors import QueryError
from archivers.query import (
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
    parse_query,
    to_query_string,
)
from archivers.query.fields import BUILTIN_FIELDS
from archivers.timefmt import MAX_NANOS, MIN_NANOS

TYPES = {
    "Kw": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Txt": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Num": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Dbl": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Flag": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "When": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Tags": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "with space`tick": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "between": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
KIND = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: ValueKind.KEYWORD,
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: ValueKind.TEXT,
    IndexedValueType.INDEXED_VALUE_TYPE_INT: ValueKind.INT,
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: ValueKind.DOUBLE,
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: ValueKind.BOOL,
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: ValueKind.DATETIME,
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: ValueKind.KEYWORD_LIST,
}
FIELDS = [*BUILTIN_FIELDS.values(), *(Field(n, KIND[t], True) for n, t in TYPES.items())]
ORDERED = {ValueKind.KEYWORD, ValueKind.INT, ValueKind.DOUBLE, ValueKind.DATETIME, ValueKind.DURATION}
CMP_OPS = {
    ValueKind.KEYWORD: ["=", "!=", "<", "<=", ">", ">="],
    ValueKind.KEYWORD_LIST: ["=", "!="],
    ValueKind.TEXT: ["=", "!="],
    ValueKind.BOOL: ["=", "!="],
    ValueKind.STATUS: ["=", "!="],
}
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def values(kind: ValueKind) -> st.SearchStrategy[object]:
    if kind in (ValueKind.KEYWORD, ValueKind.TEXT, ValueKind.KEYWORD_LIST):
        return st.text()
    if kind is ValueKind.INT:
        return st.one_of(st.integers(-(2**63), 2**63 - 1), FINITE)
    if kind is ValueKind.DOUBLE:
        return FINITE
    if kind is ValueKind.BOOL:
        return st.booleans()
    if kind is ValueKind.DATETIME:
        return st.integers(MIN_NANOS, MAX_NANOS)
    if kind is ValueKind.DURATION:
        return st.integers(-(2**63), 2**63 - 1)
    return st.integers(0, 8)


@st.composite
def predicates(draw: st.DrawFn) -> Expr:
    field = draw(st.sampled_from(FIELDS))
    kind = field.kind
    val = values(kind)
    choices = ["cmp", "null"]
    if kind not in (ValueKind.TEXT,):
        choices.append("in")
    if kind in ORDERED:
        choices.append("between")
    if kind is ValueKind.KEYWORD:
        choices.append("starts")
    what = draw(st.sampled_from(choices))
    neg = draw(st.booleans())
    if what == "cmp":
        op = draw(st.sampled_from(CMP_OPS.get(kind, ["=", "!=", "<", "<=", ">", ">="])))
        return Comparison(field, op, draw(val))  # type: ignore[arg-type]
    if what == "null":
        return IsNull(field, negated=neg)
    if what == "in":
        return InList(field, tuple(draw(st.lists(val, min_size=1, max_size=4))), negated=neg)  # type: ignore[arg-type]
    if what == "between":
        return Between(field, draw(val), draw(val), negated=neg)  # type: ignore[arg-type]
    return StartsWith(field, draw(st.text()), negated=neg)


exprs = st.recursive(
    predicates(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(lambda t: And(tuple(t))),
        st.lists(children, min_size=2, max_size=4).map(lambda t: Or(tuple(t))),
        children.map(Not),
    ),
    max_leaves=12,
)
order_items = st.sampled_from([f for f in FIELDS if f.kind not in (ValueKind.KEYWORD_LIST, ValueKind.TEXT)]).flatmap(
    lambda f: st.booleans().map(lambda d: OrderItem(f, d)))
queries = st.builds(Query, st.none() | exprs, st.lists(order_items, max_size=3).map(tuple))


@settings(max_examples=400, deadline=None)
@given(queries)
def test_printed_ast_reparses_to_itself(query: Query) -> None:
    text = to_query_string(query)
    assert parse_query(text, TYPES) == query, text


TOKENS = st.sampled_from([
    "WorkflowId", "RunId", "CloseTime", "StartTime", "ExecutionStatus", "ExecutionDuration", "HistoryLength", "Kw",
    "Tags", "When", "Flag", "SearchPrecision", "`Num`", "AND", "or", "NOT", "BETWEEN", "IN", "STARTS_WITH", "IS",
    "NULL", "ORDER", "BY", "DESC", "(", ")", ",", "=", "!=", "<", ">=", "<>", "'x'", '"2024-05-01"', "'Day'",
    "'1h'", "5", "-3", "1.5e3", "TRUE", "'Failed'", "'2019-01-01T11:11:11Z'", "'", "`", "\\", "-", "+", "$",
])


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(TOKENS, max_size=14).map(" ".join)))
def test_parser_raises_only_query_errors(text: str) -> None:
    try:
        query = parse_query(text, TYPES)
    except QueryError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    assert parse_query(to_query_string(query), TYPES) == query
