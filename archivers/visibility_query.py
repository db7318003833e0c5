"""Answering a visibility query, shared by every backend.

A backend supplies only the candidate records its layout can list cheaply for the query's
constraints; this module parses the query, applies the residual filter, orders and pages the
rows, converts them to ``WorkflowExecutionInfo`` and issues the page token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.visibility import record_to_execution_info
from archivers.interfaces import QueryVisibilityRequest, QueryVisibilityResponse, SearchAttributeTypes
from archivers.query import CompiledQuery, compile_query
from archivers.query.paging import paginate
from archivers.tokens import decode_token, encode_token

TOKEN_KIND = "visibility-query"

CandidateSource = Callable[[CompiledQuery], Iterable[VisibilityRecord]]
"""Yields every stored record of the namespace that may match the query (a superset is fine)."""


def run_query(
    request: QueryVisibilityRequest,
    search_attribute_types: SearchAttributeTypes,
    candidates: CandidateSource,
) -> QueryVisibilityResponse:
    """Answer ``request`` from the records ``candidates`` yields for the compiled query."""
    compiled = compile_query(request.query, search_attribute_types)
    binding = _binding(request.namespace_id, compiled, search_attribute_types)
    cursor = decode_token(request.next_page_token, TOKEN_KIND, binding) if request.next_page_token else None
    rows = (record for record in candidates(compiled) if compiled.matches(record))
    page, next_cursor = paginate(rows, compiled, cursor, request.effective_page_size)
    return QueryVisibilityResponse(
        executions=[record_to_execution_info(record, search_attribute_types) for record in page],
        next_page_token=encode_token(TOKEN_KIND, binding, next_cursor) if next_cursor is not None else b"",
    )


def _binding(namespace_id: str, compiled: CompiledQuery, types: SearchAttributeTypes) -> str:
    typed = ",".join(f"{name}={value}" for name, value in sorted(types.items()))
    return f"{namespace_id}\n{compiled.fingerprint}\n{typed}"
