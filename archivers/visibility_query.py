"""Answering a visibility query, shared by every backend.

A backend supplies only the candidate records its layout can list cheaply for the query's
constraints; this module parses the query, applies the residual filter, orders and pages the
rows, converts them to ``WorkflowExecutionInfo`` and issues the page token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.visibility import record_to_execution_info
from archivers.interfaces import QueryVisibilityRequest, QueryVisibilityResponse, SearchAttributeTypes
from archivers.query import CompiledQuery, compile_query, validate_cursor
from archivers.query.paging import CursorValue
from archivers.tokens import decode_token, encode_token

TOKEN_KIND = "visibility-query"

CandidateSource = Callable[[CompiledQuery, "Sequence[CursorValue] | None", int], Iterable[VisibilityRecord]]
"""Called with the query, the validated cursor (``None`` on the first page) and the page size; yields
every stored record that may belong on the page (a superset is fine; order does not matter)."""


def run_query(
    request: QueryVisibilityRequest,
    search_attribute_types: SearchAttributeTypes,
    candidates: CandidateSource,
) -> QueryVisibilityResponse:
    """Answer ``request`` from the records ``candidates`` yields for the compiled query."""
    compiled = compile_query(request.query, search_attribute_types)
    binding = _binding(request.namespace_id, compiled, search_attribute_types)
    cursor = None
    if request.next_page_token:
        cursor = validate_cursor(decode_token(request.next_page_token, TOKEN_KIND, binding), compiled.sort_order)
    page_size = request.effective_page_size
    page = compiled.page(candidates(compiled, cursor, page_size), cursor, page_size)
    return QueryVisibilityResponse(
        executions=[record_to_execution_info(record, search_attribute_types) for record in page.records],
        next_page_token=b"" if page.next_cursor is None else encode_token(TOKEN_KIND, binding, page.next_cursor),
    )


def _binding(namespace_id: str, compiled: CompiledQuery, types: SearchAttributeTypes) -> str:
    typed = ",".join(f"{name}={value}" for name, value in sorted(types.items()))
    return f"{namespace_id}\n{compiled.fingerprint}\n{typed}"
