"""The single entry point: ``compile_query(text, types)`` -> :class:`CompiledQuery`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.query.ast import And, Expr, Field, Not, Or, OrderItem, Query
from archivers.query.constraints import Constraints, derive_constraints
from archivers.query.evaluate import evaluate
from archivers.query.paging import CursorValue, Page, effective_order, paginate
from archivers.query.parser import parse_query
from archivers.query.printer import format_order_item, to_query_string


@dataclass(frozen=True)
class CompiledQuery:
    """A parsed, type-checked query ready for planning, filtering and paging.

    ``where`` is the filter (``None`` = all), ``order_by`` the ``ORDER BY`` as written, ``sort_order``
    the total order pages use, ``constraints`` sound listing constraints, and ``fingerprint`` a stable
    string identifying the query's meaning (canonical text plus the effective order) for binding page
    tokens to a query.
    """

    query: Query
    constraints: Constraints = field(compare=False)
    sort_order: tuple[OrderItem, ...] = field(compare=False)
    fingerprint: str = field(compare=False)

    @property
    def where(self) -> Expr | None:
        """The filter expression, or ``None`` to match every record."""
        return self.query.where

    @property
    def order_by(self) -> tuple[OrderItem, ...]:
        """The ``ORDER BY`` keys as written (empty for the default order)."""
        return self.query.order_by

    def matches(self, record: VisibilityRecord) -> bool:
        """Whether ``record`` satisfies the filter (SQL three-valued logic; unknown is no match)."""
        return self.query.where is None or evaluate(self.query.where, record) is True

    def page(self, records: Iterable[VisibilityRecord], cursor: Sequence[CursorValue] | None,
             page_size: int) -> Page:
        """:func:`archivers.query.paging.paginate` with this query."""
        return paginate(records, self, cursor, page_size)

    def __str__(self) -> str:
        return to_query_string(self.query)


def _search_attributes(query: Query) -> set[Field]:
    found = {item.field for item in query.order_by if item.field.search_attribute}
    stack: list[Expr] = [] if query.where is None else [query.where]
    while stack:
        node = stack.pop()
        if isinstance(node, (And, Or)):
            stack.extend(node.terms)
        elif isinstance(node, Not):
            stack.append(node.term)
        elif node.field.search_attribute:
            found.add(node.field)
    return found


def compile_query(text: str | None, search_attribute_types: Mapping[str, int] | None = None) -> CompiledQuery:
    """Parse and compile ``text`` (empty/blank = match all) with the search attribute type map.

    Raises :class:`archivers.errors.QueryError` for invalid queries.
    """
    query = parse_query(text or "", search_attribute_types)
    order = effective_order(query.order_by)
    where_text = "" if query.where is None else to_query_string(Query(query.where))
    types = ",".join(sorted(f"{f.name}:{f.kind.value}" for f in _search_attributes(query)))
    fingerprint = f"v1|{where_text}|{', '.join(format_order_item(i) for i in order)}|{types}"
    return CompiledQuery(query, derive_constraints(query.where), order, fingerprint)
