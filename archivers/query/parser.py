"""Recursive-descent parser for Temporal's List Filter syntax, producing :mod:`archivers.query.ast` trees.

Grammar (keywords case-insensitive, field names case-sensitive)::

    query     := [expr] [ORDER BY item ("," item)*]
    expr      := and_expr (OR and_expr)*
    and_expr  := unary (AND unary)*
    unary     := NOT unary | "(" expr ")" | predicate
    predicate := field ( op value | [NOT] BETWEEN value AND value | [NOT] IN "(" value ("," value)* ")"
                       | [NOT] STARTS_WITH value | IS [NOT] NULL )
    item      := field [ASC | DESC]

``SearchPrecision = 'Day'|'Hour'|'Minute'|'Second'`` (the built-in archivers' form) is accepted as a
term of the top-level conjunction: every ``StartTime = t`` / ``CloseTime = t`` in that conjunction
becomes ``(X >= start AND X < end)``, the UTC day/hour/minute/second containing ``t`` (the
``SearchPrecision`` term itself disappears). Without ``SearchPrecision`` a time ``=`` is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from archivers.errors import QueryError
from archivers.query import ast as q
from archivers.query.ast import COMPARE_OPS, CompareOp, Field, Value, ValueKind
from archivers.query.fields import CLOSE_TIME, SEARCH_PRECISION, START_TIME, resolve_field
from archivers.query.lexer import Token, tokenize
from archivers.query.values import Literal, coerce
from archivers.timefmt import PRECISION_NANOS, ParsedTime, precision_window

_ORDERED = frozenset({ValueKind.KEYWORD, ValueKind.INT, ValueKind.DOUBLE, ValueKind.DATETIME, ValueKind.DURATION})
_ALLOWED_OPS: dict[ValueKind, frozenset[str]] = {
    ValueKind.KEYWORD: frozenset({*COMPARE_OPS, "IN", "BETWEEN", "STARTS_WITH"}),
    ValueKind.KEYWORD_LIST: frozenset({"=", "!=", "IN"}),
    ValueKind.TEXT: frozenset({"=", "!="}),
    ValueKind.INT: frozenset({*COMPARE_OPS, "IN", "BETWEEN"}),
    ValueKind.DOUBLE: frozenset({*COMPARE_OPS, "IN", "BETWEEN"}),
    ValueKind.DATETIME: frozenset({*COMPARE_OPS, "IN", "BETWEEN"}),
    ValueKind.DURATION: frozenset({*COMPARE_OPS, "IN", "BETWEEN"}),
    ValueKind.BOOL: frozenset({"=", "!=", "IN"}),
    ValueKind.STATUS: frozenset({"=", "!=", "IN"}),
}
MAX_DEPTH = 100
MAX_QUERY_BYTES = 256 * 1024
"""The longest query accepted, in UTF-8 bytes.

Generous for real use: hand-written and generated queries are a few hundred bytes to a few
kilobytes, and even an ``IN`` list of 5,000 run ids (36-character UUIDs) is about 200 KB. Planning
is linear in the query's length, so a query of this size is planned in well under a second; the
bound keeps a hostile or mistaken multi-megabyte query (a sidecar message may be up to 64 MiB) from
holding a worker.
"""
_PRECISION_FIELD = Field(SEARCH_PRECISION, ValueKind.KEYWORD)


class _Parser:
    def __init__(self, text: str, type_map: Mapping[str, int]) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.type_map = type_map
        # Side tables keyed by node identity (nodes are alive for the whole parse).
        self.positions: dict[int, int] = {}
        self.precisions: list[q.Comparison] = []
        self.time_equalities: dict[int, ParsedTime] = {}

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        if tok.kind != "EOF":
            self.index += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    def at_op(self, op: str) -> bool:
        return self.tok.kind == "OP" and self.tok.value == op

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.unexpected(f"{word}")
        return self.advance()

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(repr(op))
        return self.advance()

    def unexpected(self, expected: str) -> QueryError:
        tok = self.tok
        got = "end of query" if tok.kind == "EOF" else repr(tok.value if tok.kind != "STRING" else f"'{tok.value}'")
        return QueryError(f"expected {expected} but found {got}", position=tok.position)

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> q.Query:
        where: q.Expr | None = None
        if self.tok.kind != "EOF" and not self.at_keyword("ORDER"):
            where = self.expr()
        order: list[q.OrderItem] = []
        if self.at_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.at_op(","):
                self.advance()
                order.append(self.order_item())
        if self.tok.kind != "EOF":
            what = "AND, OR or ORDER BY" if where is not None else "a condition or ORDER BY"
            raise self.unexpected(what)
        if where is not None:
            where = self.apply_precision(where)
        return q.Query(where, tuple(order))

    def order_item(self) -> q.OrderItem:
        tok = self.tok
        field = self.field()
        if field.kind in (ValueKind.KEYWORD_LIST, ValueKind.TEXT):
            raise QueryError(f"cannot ORDER BY {field.name} of type {field.kind.value}", position=tok.position)
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        return q.OrderItem(field, descending)

    def expr(self) -> q.Expr:
        return self.joined("OR", self.and_expr, q.Or)

    def and_expr(self) -> q.Expr:
        return self.joined("AND", self.unary, q.And)

    def joined(self, keyword: str, operand: Callable[[], q.Expr], node: type[q.And] | type[q.Or]) -> q.Expr:
        """``operand (keyword operand)*``: the one operand, or ``node`` of all of them."""
        terms = [operand()]
        while self.at_keyword(keyword):
            self.advance()
            terms.append(operand())
        return terms[0] if len(terms) == 1 else node(tuple(terms))

    def unary(self) -> q.Expr:
        if self.at_keyword("NOT") or self.at_op("("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"query nests deeper than {MAX_DEPTH} levels", position=self.tok.position)
            try:
                if self.advance().value == "NOT":
                    return q.Not(self.unary())
                inner = self.expr()
                self.expect_op(")")
                return inner
            finally:
                self.depth -= 1
        return self.predicate()

    def field(self) -> Field:
        tok = self.tok
        if tok.kind != "IDENT":
            if tok.kind == "KEYWORD":
                raise QueryError(f"expected a field name but found the keyword {tok.value}", position=tok.position,
                                 suggestion="quote a field named like a keyword with backticks")
            raise self.unexpected("a field name")
        self.advance()
        return resolve_field(tok.value, self.type_map, tok.position)

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return Literal("STRING", tok.value, tok.position)
        if tok.kind == "KEYWORD" and tok.value in ("TRUE", "FALSE"):
            self.advance()
            return Literal("BOOL", tok.value, tok.position)
        if tok.kind == "IDENT":
            self.advance()
            return Literal("IDENT", tok.value, tok.position)
        sign = ""
        if self.at_op("-") or self.at_op("+"):
            sign = self.advance().value
            if self.tok.kind != "NUMBER":
                raise self.unexpected("a number")
        if self.tok.kind == "NUMBER":
            number = self.advance()
            return Literal("NUMBER", ("-" if sign == "-" else "") + number.value, tok.position)
        raise self.unexpected("a value")

    def value(self, field: Field) -> tuple[Value, ParsedTime | None]:
        return coerce(self.literal(), field)

    def check_op(self, field: Field, op: str, position: int) -> None:
        if op not in _ALLOWED_OPS[field.kind]:
            allowed = " ".join(sorted(_ALLOWED_OPS[field.kind]))
            raise QueryError(f"operator {op} is not supported for {field.name} ({field.kind.value})",
                             position=position, suggestion=f"supported: {allowed}")

    def predicate(self) -> q.Expr:
        start = self.tok
        if start.kind == "IDENT" and start.value == SEARCH_PRECISION:
            return self.search_precision()
        field = self.field()
        op_tok = self.tok
        node: q.Expr
        if op_tok.kind == "OP" and op_tok.value in COMPARE_OPS:
            self.advance()
            op: CompareOp = op_tok.value
            self.check_op(field, op, op_tok.position)
            value, parsed = self.value(field)
            node = q.Comparison(field, op, value)
            if op == "=" and field in (START_TIME, CLOSE_TIME) and parsed is not None:
                self.time_equalities[id(node)] = parsed
        elif self.at_keyword("IS"):
            self.advance()
            negated = False
            if self.at_keyword("NOT"):
                self.advance()
                negated = True
            self.expect_keyword("NULL")
            node = q.IsNull(field, negated=negated)
        else:
            negated = False
            if self.at_keyword("NOT"):
                self.advance()
                negated = True
            kw = self.tok
            if not self.at_keyword("BETWEEN", "IN", "STARTS_WITH"):
                raise self.unexpected("BETWEEN, IN or STARTS_WITH" if negated else "an operator")
            self.advance()
            self.check_op(field, kw.value, kw.position)
            if kw.value == "BETWEEN":
                low, _ = self.value(field)
                self.expect_keyword("AND")
                high, _ = self.value(field)
                node = q.Between(field, low, high, negated=negated)
            elif kw.value == "IN":
                self.expect_op("(")
                values = [self.value(field)[0]]
                while self.at_op(","):
                    self.advance()
                    values.append(self.value(field)[0])
                self.expect_op(")")
                node = q.InList(field, tuple(values), negated=negated)
            else:
                prefix, _ = self.value(field)
                node = q.StartsWith(field, str(prefix), negated=negated)
        self.positions[id(node)] = start.position
        return node

    def search_precision(self) -> q.Expr:
        start = self.advance()
        op_tok = self.tok
        if not self.at_op("="):
            raise QueryError("only = is supported for SearchPrecision", position=op_tok.position)
        self.advance()
        lit = self.literal()
        if lit.kind != "STRING" or lit.text not in PRECISION_NANOS:
            raise QueryError(f"invalid value for SearchPrecision: {lit.text!r}", position=lit.position,
                             suggestion="use 'Day', 'Hour', 'Minute' or 'Second' (case-sensitive)")
        node = q.Comparison(_PRECISION_FIELD, "=", lit.text)
        self.positions[id(node)] = start.position
        self.precisions.append(node)
        return node

    # -- SearchPrecision desugaring ----------------------------------------------------------------
    def apply_precision(self, where: q.Expr) -> q.Expr:
        if not self.precisions:
            return where
        top: set[int] = set()
        stack: list[q.Expr] = [where]
        while stack:
            node = stack.pop()
            top.add(id(node))
            if isinstance(node, q.And):
                stack.extend(node.terms)
        for marker in self.precisions:
            if id(marker) not in top:
                raise QueryError("SearchPrecision must be joined by AND to the rest of the query, "
                                 "not used under OR or NOT", position=self.positions[id(marker)])
        values = {str(m.value) for m in self.precisions}
        if len(values) > 1:
            raise QueryError("only one value is allowed for SearchPrecision",
                             position=self.positions[id(self.precisions[1])])
        precision = values.pop()
        times = [key for key in self.time_equalities if key in top]
        if not times:
            raise QueryError("SearchPrecision requires a StartTime or CloseTime equality (StartTime = t)",
                             position=self.positions[id(self.precisions[0])])
        for key in self.time_equalities:
            if key not in top:
                raise QueryError("SearchPrecision applies only to StartTime/CloseTime equalities joined by AND "
                                 "at the top level of the query", position=self.positions[key])
        result = self._rewrite(where, precision)
        if result is None:  # pragma: no cover - a time equality always remains
            raise QueryError("SearchPrecision requires a StartTime or CloseTime", position=0)
        return result

    def _rewrite(self, node: q.Expr, precision: str) -> q.Expr | None:
        if isinstance(node, q.Comparison):
            if node.field is _PRECISION_FIELD:
                return None
            parsed = self.time_equalities.get(id(node))
            if parsed is not None:
                start, end = precision_window(parsed, precision)
                return q.And((q.Comparison(node.field, ">=", start), q.Comparison(node.field, "<", end)))
            return node
        if isinstance(node, q.And):
            terms = [t for t in (self._rewrite(term, precision) for term in node.terms) if t is not None]
            if not terms:
                return None
            return terms[0] if len(terms) == 1 else q.And(tuple(terms))
        return node


def parse_query(text: str, search_attribute_types: Mapping[str, int] | None = None, *,
                max_bytes: int = MAX_QUERY_BYTES) -> q.Query:
    """Parse a List Filter query into a :class:`~archivers.query.ast.Query`.

    ``search_attribute_types`` maps custom search attribute names to ``IndexedValueType`` values.
    An empty or blank query gives ``Query(None, ())``. Raises :class:`QueryError` (with the
    0-based position of the problem and a suggestion where one helps) for anything it rejects,
    including a query longer than ``max_bytes`` UTF-8 bytes (:data:`MAX_QUERY_BYTES` unless a
    caller, such as a benchmark, raises it), checked before any parsing. Parsing takes time linear
    in the query's length.
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise QueryError(f"query is longer than the maximum of {max_bytes} bytes",
                         suggestion="split it into several queries")
    return _Parser(text, search_attribute_types or {}).parse()
