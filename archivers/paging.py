"""Reading past one page: every event of an archived history, every execution of a query.

``HistoryArchiver.get`` and ``VisibilityArchiver.query`` return one page and a next-page token;
these helpers follow the tokens. They add no requests of their own: each page is one call of the
archiver with the caller's request and the token of the previous page. An archiver that hands back
the token it was just given would make them loop forever, so that raises :class:`ArchiverError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers.errors import ArchiverError
from archivers.interfaces import (
    DEFAULT_QUERY_PAGE_SIZE,
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.uri import URI


def iter_history_batches(archiver: HistoryArchiver, uri: URI | str, request: GetHistoryRequest) -> Iterator[History]:
    """Yield every event batch of the archived history of ``request``, from its page token to the end.

    Each page asks for ``request.page_size`` events. The close failover version the first page
    resolved is carried by the token, so a run archived again meanwhile does not mix versions.
    Raises what ``archiver.get`` raises (:class:`ArchiveNotFoundError`, ...) and
    :class:`ArchiverError` if the archiver returns the same token twice in a row.
    """
    token = request.next_page_token
    while True:
        response = archiver.get(uri, replace(request, next_page_token=token))
        yield from response.history_batches
        if not response.next_page_token:
            return
        token = _following(token, response.next_page_token)


def iter_history_events(
    archiver: HistoryArchiver, uri: URI | str, request: GetHistoryRequest
) -> Iterator[HistoryEvent]:
    """Yield every event of the archived history of ``request``, in order (see :func:`iter_history_batches`)."""
    for batch in iter_history_batches(archiver, uri, request):
        yield from batch.events


class Listing:
    """The executions matching a query, page after page, until the end or ``limit`` of them.

    Iterating calls ``archiver.query`` from ``request.next_page_token`` on, one page at a time, with
    ``search_attribute_types``. With a limit, each page asks for no more than the rows still wanted
    (``request.page_size``, or the archiver's default, capped), so once iteration stops
    ``next_page_token`` continues exactly after the last row yielded; it is empty when the listing
    reached its end. Raises what ``archiver.query`` raises, and :class:`ArchiverError` if the
    archiver returns the same token twice in a row.
    """

    def __init__(
        self,
        archiver: VisibilityArchiver,
        uri: URI | str,
        request: QueryVisibilityRequest,
        search_attribute_types: SearchAttributeTypes | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        self._archiver, self._uri, self._request = archiver, uri, request
        self._types = search_attribute_types
        self._limit = limit
        self.next_page_token = b""

    def __iter__(self) -> Iterator[WorkflowExecutionInfo]:
        request, limit = self._request, self._limit
        token = request.next_page_token
        count = 0
        while limit is None or count < limit:
            page_size = request.page_size
            if limit is not None:
                page_size = min(page_size or DEFAULT_QUERY_PAGE_SIZE, limit - count)
            response = self._archiver.query(
                self._uri, replace(request, page_size=page_size, next_page_token=token), self._types
            )
            yield from response.executions
            count += len(response.executions)
            self.next_page_token = response.next_page_token
            if not response.next_page_token:
                return
            token = _following(token, response.next_page_token)


def _following(token: bytes, following: bytes) -> bytes:
    if following == token:
        raise ArchiverError("the archiver returned the same next page token twice", retryable=False)
    return following
