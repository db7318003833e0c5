"""Answering a visibility query, shared by every backend.

A backend only lists what its layout can list cheaply for the query's constraints, as
:class:`Candidate` entries that know bounds on their record's close time from the listing alone
and load the record on demand. This module parses the query (Temporal's predefined search
attributes typed as Temporal's own archivers type them, below the given type map), skips
candidates that cannot be on the page, reads the rest in the query's order when that order starts
with ``CloseTime`` (stopping as soon as the page is certain), applies the residual filter, pages,
converts the rows to ``WorkflowExecutionInfo`` and issues the page token.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.known_search_attributes import PREDEFINED_TYPES
from archivers.codec.visibility import record_to_execution_info
from archivers.interfaces import QueryVisibilityRequest, QueryVisibilityResponse, SearchAttributeTypes
from archivers.query import CompiledQuery, compile_query, validate_cursor
from archivers.query.paging import CursorValue
from archivers.tokens import decode_token, encode_token

TOKEN_KIND = "visibility-query"


@dataclass(frozen=True)
class Candidate:
    """A listed record that may match.

    ``close_min..close_max`` bound its close time (Unix nanos, inclusive; ``None`` if the listing
    does not tell) and ``load`` reads it (``None`` if it vanished).
    """

    close_min: int | None
    close_max: int | None
    load: Callable[[], VisibilityRecord | None]

    @classmethod
    def of(cls, record: VisibilityRecord) -> Candidate:
        """A candidate for a record already in memory."""
        close = record.close_time.ToNanoseconds() if record.HasField("close_time") else None
        return cls(close, close, lambda: record)


@dataclass(frozen=True)
class Window:
    """What the page being cut needs, for a source that can read less when the order allows.

    ``by_close``: the sort order starts with ``CloseTime`` (``descending`` says which way);
    ``after``: the close time (Unix nanos) of the cursor's row when it has one, else ``None``;
    ``page_size``: the rows the page takes. A source may leave out a stored record only if at least
    ``page_size + 1`` matching records strictly after ``after`` it does list rank before it.
    """

    by_close: bool
    descending: bool
    after: int | None
    page_size: int


CandidateSource = Callable[[CompiledQuery, Window], Iterable[Candidate]]
"""Lists the stored records that may be on the page (a superset is fine, in any order; see :class:`Window`)."""


def run_query(
    request: QueryVisibilityRequest,
    search_attribute_types: SearchAttributeTypes,
    candidates: CandidateSource,
) -> QueryVisibilityResponse:
    """Answer ``request`` from the records ``candidates`` lists for the compiled query."""
    aliases = request.search_attribute_aliases
    types = _aliased_types({**PREDEFINED_TYPES, **search_attribute_types}, aliases)
    compiled = compile_query(request.query, types)
    binding = _binding(request.namespace_id, compiled, types)
    cursor = None
    if request.next_page_token:
        cursor = validate_cursor(decode_token(request.next_page_token, TOKEN_KIND, binding), compiled.sort_order)
    page_size = request.effective_page_size
    first = compiled.sort_order[0]
    bound = cursor[0] if cursor is not None and isinstance(cursor[0], int) else None
    by_close = first.field.name == "CloseTime"
    window = Window(by_close, first.descending, bound if by_close else None, page_size)
    records = _read(compiled, list(candidates(compiled, window)), cursor, page_size)
    if aliases:
        records = (_with_aliases(record, aliases) for record in records)
    page = compiled.page(records, cursor, page_size)
    return QueryVisibilityResponse(
        executions=[record_to_execution_info(record, types) for record in page.records],
        next_page_token=b"" if page.next_cursor is None else encode_token(TOKEN_KIND, binding, page.next_cursor),
    )


def _aliased_types(types: SearchAttributeTypes, aliases: Mapping[str, str]) -> SearchAttributeTypes:
    """The type map under the names users see: an aliased attribute only under its alias."""
    return {aliases.get(name, name): value_type for name, value_type in types.items()}


def _with_aliases(record: VisibilityRecord, aliases: Mapping[str, str]) -> VisibilityRecord:
    """A copy of ``record`` whose search attributes are keyed by alias where one exists."""
    renamed = VisibilityRecord()
    renamed.CopyFrom(record)
    renamed.search_attributes.clear()
    for name, value in record.search_attributes.items():
        renamed.search_attributes[aliases.get(name, name)] = value
    return renamed


def _read(
    compiled: CompiledQuery, listed: list[Candidate], cursor: Sequence[CursorValue] | None, page_size: int
) -> Iterator[VisibilityRecord]:
    """Load the candidates that may be on the page, in close-time order when the sort order allows."""
    first = compiled.sort_order[0]
    spans = [(c.close_min, c.close_max, c) for c in listed if c.close_min is not None and c.close_max is not None]
    if first.field.name != "CloseTime" or len(spans) != len(listed):
        yield from _loaded(listed)
        return
    descending = first.descending
    bound = cursor[0] if cursor is not None and isinstance(cursor[0], int) else None
    if bound is not None:  # rows after the cursor have close <= bound (DESC) or >= bound (ASC)
        spans = [s for s in spans if (s[0] <= bound if descending else s[1] >= bound)]
    spans.sort(key=lambda s: -s[1] if descending else s[0])
    best: list[int] = []  # heap of the page_size + 1 best close times seen after the cursor
    for close_min, close_max, candidate in spans:
        if len(best) > page_size:
            worst = best[0] if descending else -best[0]
            if (close_max < worst) if descending else (close_min > worst):
                return  # nothing left can rank above a row already in hand
        record = candidate.load()
        if record is None:
            continue
        yield record
        close = record.close_time.ToNanoseconds()
        # only rows surely after the cursor count (at its own close time, RunId decides)
        after = bound is None or (close < bound if descending else close > bound)
        if after and compiled.matches(record):
            heapq.heappush(best, close if descending else -close)
            if len(best) > page_size + 1:
                heapq.heappop(best)


def _loaded(listed: Iterable[Candidate]) -> Iterator[VisibilityRecord]:
    for candidate in listed:
        record = candidate.load()
        if record is not None:
            yield record


def _binding(namespace_id: str, compiled: CompiledQuery, types: SearchAttributeTypes) -> str:
    typed = ",".join(f"{name}={value}" for name, value in sorted(types.items()))
    return f"{namespace_id}\n{compiled.fingerprint}\n{typed}"
