"""Conversions between the library's request/response dataclasses and the ``temporal_archivers.v1`` messages.

The remote client (:mod:`archivers.remote`) converts ``*_to_pb`` on the way out and
``*_from_pb`` on the way back; the sidecar does the reverse. Each pair is exact: a dataclass
converted to its message and back compares equal (``ArchiveHistoryRequest.branch_token`` does
not cross the wire). Temporal API messages travel as their serialized bytes. Needs only protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers.interfaces import (
    ArchiveHistoryRequest,
    GetHistoryRequest,
    GetHistoryResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
)
from archivers.progress import ArchiveProgress
from archivers.uri import URI


def header_to_pb(uri: URI | str, request: ArchiveHistoryRequest) -> Any:
    """The ``ArchiveHistoryHeader`` of an archive of ``request``'s run to ``uri`` (also GetArchiveProgress's)."""
    return pb.ArchiveHistoryHeader(
        uri=str(uri),
        namespace_id=request.namespace_id,
        namespace=request.namespace,
        workflow_id=request.workflow_id,
        run_id=request.run_id,
        close_failover_version=request.close_failover_version,
        next_event_id=request.next_event_id,
        shard_id=request.shard_id,
    )


def header_from_pb(header: Any) -> ArchiveHistoryRequest:
    """The library request of an ``ArchiveHistoryHeader`` message (its ``uri`` is read by the caller)."""
    return ArchiveHistoryRequest(
        namespace_id=header.namespace_id,
        namespace=header.namespace,
        workflow_id=header.workflow_id,
        run_id=header.run_id,
        next_event_id=header.next_event_id,
        close_failover_version=header.close_failover_version,
        shard_id=header.shard_id,
    )


def progress_to_pb(progress: ArchiveProgress) -> Any:
    """The ``ArchiveProgress`` message of ``progress``."""
    return pb.ArchiveProgress(last_event_id=progress.last_event_id, complete=progress.complete)


def progress_from_pb(message: Any) -> ArchiveProgress:
    """The library progress of an ``ArchiveProgress`` message."""
    return ArchiveProgress(message.last_event_id, message.complete)


def get_request_to_pb(uri: URI | str, request: GetHistoryRequest) -> Any:
    """The ``GetHistoryRequest`` message asking ``uri`` for ``request``'s page."""
    message = pb.GetHistoryRequest(
        uri=str(uri),
        namespace_id=request.namespace_id,
        workflow_id=request.workflow_id,
        run_id=request.run_id,
        page_size=request.page_size,
        next_page_token=request.next_page_token,
    )
    if request.close_failover_version is not None:
        message.close_failover_version = request.close_failover_version
    return message


def get_request_from_pb(message: Any) -> GetHistoryRequest:
    """The library request of a ``GetHistoryRequest`` message (an unset close failover version is ``None``)."""
    return GetHistoryRequest(
        namespace_id=message.namespace_id,
        workflow_id=message.workflow_id,
        run_id=message.run_id,
        close_failover_version=message.close_failover_version if message.HasField("close_failover_version") else None,
        next_page_token=message.next_page_token,
        page_size=message.page_size,
    )


def get_response_to_pb(response: GetHistoryResponse) -> Any:
    """The ``GetHistoryResponse`` message of ``response``, each batch serialized."""
    return pb.GetHistoryResponse(
        history_batches=[batch.SerializeToString() for batch in response.history_batches],
        next_page_token=response.next_page_token,
    )


def get_response_from_pb(message: Any) -> GetHistoryResponse:
    """The library response of a ``GetHistoryResponse`` message, each batch decoded."""
    return GetHistoryResponse(
        history_batches=[History.FromString(data) for data in message.history_batches],
        next_page_token=message.next_page_token,
    )


def query_request_to_pb(
    uri: URI | str, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
) -> Any:
    """The ``QueryVisibilityRequest`` message asking ``uri`` for ``request``'s page, with the attributes' types."""
    return pb.QueryVisibilityRequest(
        uri=str(uri),
        namespace_id=request.namespace_id,
        page_size=request.page_size,
        next_page_token=request.next_page_token,
        query=request.query,
        search_attribute_types={name: int(kind) for name, kind in search_attribute_types.items()},
        search_attribute_aliases=dict(request.search_attribute_aliases),
    )


def query_request_from_pb(message: Any) -> tuple[QueryVisibilityRequest, SearchAttributeTypes]:
    """The library request of a ``QueryVisibilityRequest`` message and its search attribute types."""
    request = QueryVisibilityRequest(
        namespace_id=message.namespace_id,
        page_size=message.page_size,
        next_page_token=message.next_page_token,
        query=message.query,
        search_attribute_aliases=dict(message.search_attribute_aliases),
    )
    types: Mapping[str, int] = dict(message.search_attribute_types)
    return request, types


def query_response_to_pb(response: QueryVisibilityResponse) -> Any:
    """The ``QueryVisibilityResponse`` message of ``response``, each execution serialized."""
    return pb.QueryVisibilityResponse(
        executions=[execution.SerializeToString() for execution in response.executions],
        next_page_token=response.next_page_token,
    )


def query_response_from_pb(message: Any) -> QueryVisibilityResponse:
    """The library response of a ``QueryVisibilityResponse`` message, each execution decoded."""
    return QueryVisibilityResponse(
        executions=[WorkflowExecutionInfo.FromString(data) for data in message.executions],
        next_page_token=message.next_page_token,
    )
