"""Conversions between the library's request/response dataclasses and the ``temporal_archivers.v1`` messages.

The remote client (:mod:`archivers.remote`) converts ``*_to_pb`` on the way out and
``*_from_pb`` on the way back; the sidecar does the reverse. Each pair is exact: a dataclass
converted to its message and back compares equal (``ArchiveHistoryRequest.branch_token`` does
not cross the wire). A pair copies the fields that the dataclass and the message share by name;
Temporal API messages travel as their serialized bytes. Needs only protobuf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message
from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers.batches import PROTOBUF, PROTOJSON
from archivers.errors import InvalidArgumentError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
)
from archivers.progress import ArchiveProgress
from archivers.uri import URI

_M = TypeVar("_M", bound=Message)

_HEADER_FIELDS = (
    "namespace_id",
    "namespace",
    "workflow_id",
    "run_id",
    "next_event_id",
    "close_failover_version",
    "shard_id",
)
_GET_REQUEST_FIELDS = ("namespace_id", "workflow_id", "run_id", "page_size", "next_page_token")
_QUERY_REQUEST_FIELDS = ("namespace_id", "page_size", "next_page_token", "query")
_PROGRESS_FIELDS = ("last_event_id", "complete")


def _copied(source: Any, names: Iterable[str]) -> dict[str, Any]:
    """The ``names`` attributes of ``source``, as keyword arguments for the other side's constructor."""
    return {name: getattr(source, name) for name in names}


def _serialized(messages: Iterable[Message]) -> list[bytes]:
    return [message.SerializeToString() for message in messages]


def _parsed(message_type: type[_M], payloads: Iterable[bytes]) -> list[_M]:
    return [message_type.FromString(payload) for payload in payloads]


def header_to_pb(uri: URI | str, request: ArchiveHistoryRequest) -> Any:
    """The ``ArchiveHistoryHeader`` of an archive of ``request``'s run to ``uri`` (also GetArchiveProgress's)."""
    return pb.ArchiveHistoryHeader(uri=str(uri), **_copied(request, _HEADER_FIELDS))


def header_from_pb(header: Any) -> ArchiveHistoryRequest:
    """The library request of an ``ArchiveHistoryHeader`` message (its ``uri`` is read by the caller)."""
    return ArchiveHistoryRequest(**_copied(header, _HEADER_FIELDS))


def progress_to_pb(progress: ArchiveProgress) -> Any:
    """The ``ArchiveProgress`` message of ``progress``."""
    return pb.ArchiveProgress(**_copied(progress, _PROGRESS_FIELDS))


def progress_from_pb(message: Any) -> ArchiveProgress:
    """The library progress of an ``ArchiveProgress`` message."""
    return ArchiveProgress(**_copied(message, _PROGRESS_FIELDS))


def get_request_to_pb(uri: URI | str, request: GetHistoryRequest) -> Any:
    """The ``GetHistoryRequest`` message asking ``uri`` for ``request``'s page (``None`` version: field unset)."""
    message = pb.GetHistoryRequest(uri=str(uri), **_copied(request, _GET_REQUEST_FIELDS))
    if request.close_failover_version is not None:
        message.close_failover_version = request.close_failover_version
    return message


def get_request_from_pb(message: Any) -> GetHistoryRequest:
    """The library request of a ``GetHistoryRequest`` message (an unset close failover version is ``None``)."""
    version = message.close_failover_version if message.HasField("close_failover_version") else None
    return GetHistoryRequest(close_failover_version=version, **_copied(message, _GET_REQUEST_FIELDS))


def get_response_to_pb(page: EncodedHistoryPage) -> Any:
    """The ``GetHistoryResponse`` message of an encoded page (its batches as they are, their encoding named)."""
    return pb.GetHistoryResponse(
        history_batches=page.batches, next_page_token=page.next_page_token, batch_encoding=encoding_to_pb(page.encoding)
    )


def encoded_page_from_pb(message: Any) -> EncodedHistoryPage:
    """The encoded page of a ``GetHistoryResponse`` message (its batches not decoded)."""
    return EncodedHistoryPage(
        list(message.history_batches), encoding_from_pb(message.batch_encoding), message.next_page_token
    )


_ENCODINGS: dict[int, str] = {pb.BATCH_ENCODING_PROTOBUF: PROTOBUF, pb.BATCH_ENCODING_PROTOJSON: PROTOJSON}


def encoding_to_pb(encoding: str) -> Any:
    """The ``BatchEncoding`` value of an encoding name of :mod:`archivers.batches`."""
    return next(value for value, name in _ENCODINGS.items() if name == encoding)


def encoding_from_pb(value: int) -> str:
    """The encoding name of a ``BatchEncoding`` value (unset: protobuf); :class:`InvalidArgumentError` if unknown."""
    if value == pb.BATCH_ENCODING_UNSPECIFIED:
        return PROTOBUF
    try:
        return _ENCODINGS[value]
    except KeyError:
        raise InvalidArgumentError(f"unknown batch encoding {value}") from None


def accepted_from_pb(values: Iterable[int]) -> frozenset[str]:
    """The encodings a ``GetHistoryRequest`` accepts: protobuf, and those of ``accepted_encodings`` known here.

    An encoding this sidecar does not know is ignored (it never answers in it).
    """
    return frozenset({PROTOBUF, *(_ENCODINGS[v] for v in values if v in _ENCODINGS)})


def get_response_from_pb(message: Any) -> GetHistoryResponse:
    """The library response of a ``GetHistoryResponse`` message, each batch decoded."""
    return GetHistoryResponse(_parsed(History, message.history_batches), message.next_page_token)


def query_request_to_pb(
    uri: URI | str, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
) -> Any:
    """The ``QueryVisibilityRequest`` message asking ``uri`` for ``request``'s page, with the attributes' types."""
    return pb.QueryVisibilityRequest(
        uri=str(uri),
        search_attribute_types={name: int(kind) for name, kind in search_attribute_types.items()},
        search_attribute_aliases=dict(request.search_attribute_aliases),
        **_copied(request, _QUERY_REQUEST_FIELDS),
    )


def query_request_from_pb(message: Any) -> tuple[QueryVisibilityRequest, SearchAttributeTypes]:
    """The library request of a ``QueryVisibilityRequest`` message and its search attribute types."""
    aliases = dict(message.search_attribute_aliases)
    request = QueryVisibilityRequest(search_attribute_aliases=aliases, **_copied(message, _QUERY_REQUEST_FIELDS))
    types: Mapping[str, int] = dict(message.search_attribute_types)
    return request, types


def query_response_to_pb(response: QueryVisibilityResponse) -> Any:
    """The ``QueryVisibilityResponse`` message of ``response``, each execution serialized."""
    executions = _serialized(response.executions)
    return pb.QueryVisibilityResponse(executions=executions, next_page_token=response.next_page_token)


def query_response_from_pb(message: Any) -> QueryVisibilityResponse:
    """The library response of a ``QueryVisibilityResponse`` message, each execution decoded."""
    return QueryVisibilityResponse(_parsed(WorkflowExecutionInfo, message.executions), message.next_page_token)
