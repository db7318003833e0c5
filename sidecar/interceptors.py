"""A server interceptor that measures, logs and tags every ``ArchiverService`` call.

Around each call it: takes the request id from the incoming ``x-request-id`` metadata (when it is
a short token) or makes a uuid4, sets it in :data:`sidecar.logs.REQUEST_ID` for the call's log
records and returns it as trailing metadata ``x-request-id`` (also on errors); counts serialized
bytes in and out (for the client-streaming ``ArchiveHistory`` by wrapping the request iterator,
which also drives the in-flight streams gauge); finds the URI scheme in the request (the first
stream message's header for ``ArchiveHistory``); and when the call ends records the metrics of
:mod:`sidecar.metrics` and writes one ``sidecar.access`` log line with the redacted URI. Health
and reflection calls pass through untouched. The servicer is not changed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from archivers.redact import redact_uri
from archivers.uri import URI
from archivers.wire.status import Metadata, error_info
from archivers.wire.status import is_retryable as status_is_retryable
from sidecar import SERVICE_NAME
from sidecar.logs import REQUEST_ID
from sidecar.metrics import SidecarMetrics

REQUEST_ID_KEY = "x-request-id"
"""Metadata key of the request id, read from the client's metadata and returned in trailing metadata."""

ACCESS_LOGGER = "sidecar.access"
"""Name of the logger that gets one line per call."""

_GOOD_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def is_retryable(code: grpc.StatusCode, trailing_metadata: Metadata | None) -> bool:
    """Whether a failed call may succeed on retry: :func:`archivers.wire.status.is_retryable`.

    The servicer's ``ErrorInfo`` in ``trailing_metadata`` decides when present; otherwise the code
    does (unavailable, deadline, aborted, cancelled, overload, internal and unknown are retryable).
    """
    return status_is_retryable(code, error_info(trailing_metadata))


def request_id_from(metadata: Metadata | None) -> str:
    """The client's ``x-request-id`` if it is 1-128 characters of ``[A-Za-z0-9._:-]``, else a new uuid4."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _GOOD_ID.fullmatch(value):
            return value
    return str(uuid.uuid4())


def uri_of(message: Any) -> str | None:
    """The archival URI of a request message (``uri`` or ``header.uri``), or ``None``."""
    for candidate in (message, getattr(message, "header", None)):
        uri = getattr(candidate, "uri", None)
        if isinstance(uri, str) and uri:
            return uri
    return None


def scheme_of(uri: str | None) -> str:
    """The lower-case scheme of ``uri``, or ``unknown`` if it is missing or does not parse."""
    if not uri:
        return "unknown"
    try:
        return URI.parse(uri).scheme
    except Exception:
        return "unknown"


def _size(message: Any) -> int:
    size = getattr(message, "ByteSize", None)
    return int(size()) if callable(size) else 0


class _Call:
    """What is measured about one call while it runs."""

    def __init__(self, rpc: str, request_id: str) -> None:
        self.rpc = rpc
        self.request_id = request_id
        self.scheme = "unknown"
        self.uri = ""
        self.bytes_in = 0
        self.bytes_out = 0
        self.started = time.perf_counter()
        self.stream_scheme: str | None = None  # set while the call counts in the in-flight gauge

    def saw_request(self, message: Any, first: bool) -> None:
        self.bytes_in += _size(message)
        if first:
            uri = uri_of(message)
            self.scheme = scheme_of(uri)
            self.uri = redact_uri(uri) if uri else ""


Behavior = Callable[[Any, Any], Awaitable[Any]]


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc stubs: Any base
    """Metrics, one access log line and a request id around every ``ArchiverService`` call (``grpc.aio``)."""

    def __init__(self, metrics: SidecarMetrics, *, service: str = SERVICE_NAME) -> None:
        self.metrics = metrics
        self._prefix = f"/{service}/"
        self._log = logging.getLogger(ACCESS_LOGGER)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wrap the unary-unary and stream-unary handlers of the service; pass other methods through."""
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(self._prefix):
            return handler
        rpc = method[len(self._prefix) :]
        metadata: Metadata = tuple(handler_call_details.invocation_metadata or ())
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(rpc, metadata, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._stream(rpc, metadata, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, rpc: str, metadata: Metadata, behavior: Behavior) -> Behavior:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(rpc, request_id_from(metadata))
            call.saw_request(request, first=True)
            return await self._run(call, context, lambda: behavior(request, context))

        return wrapper

    def _stream(self, rpc: str, metadata: Metadata, behavior: Behavior) -> Behavior:
        async def wrapper(request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(rpc, request_id_from(metadata))
            return await self._run(call, context, lambda: behavior(self._counted(call, request_iterator), context))

        return wrapper

    async def _counted(self, call: _Call, request_iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        first = True
        async for message in request_iterator:
            call.saw_request(message, first)
            if first:
                call.stream_scheme = call.scheme
                self.metrics.inflight_streams.labels(call.scheme).inc()
                first = False
            yield message

    async def _run(
        self, call: _Call, context: grpc.aio.ServicerContext[Any, Any], body: Callable[[], Awaitable[Any]]
    ) -> Any:
        token = REQUEST_ID.set(call.request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, call.request_id),))
        failed: grpc.StatusCode | None = None
        try:
            response = await body()
            call.bytes_out += _size(response)
            return response
        except asyncio.CancelledError:
            failed = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            failed = grpc.StatusCode.UNKNOWN  # what gRPC sends for an exception out of a handler
            raise
        finally:
            try:
                self._finish(call, context, failed)
            finally:
                REQUEST_ID.reset(token)

    def _finish(
        self, call: _Call, context: grpc.aio.ServicerContext[Any, Any], failed: grpc.StatusCode | None
    ) -> None:
        """Record the call's metrics and write its access log line.

        Runs before gRPC sends the status of a call whose handler returned (the servicer sets a
        failure's status on the context and returns), so a client that got its answer finds the
        line already written. ``failed`` is the code of a call that ended by an exception (which
        leaves the context's code unset).
        """
        trailing: Metadata = tuple(context.trailing_metadata() or ())
        if not any(key == REQUEST_ID_KEY for key, _ in trailing):  # an abort replaced it
            trailing = (*trailing, (REQUEST_ID_KEY, call.request_id))
            context.set_trailing_metadata(trailing)
        code: grpc.StatusCode | None = context.code()
        if code is None or (code == grpc.StatusCode.OK and failed is not None):
            code = failed or grpc.StatusCode.OK
        seconds = time.perf_counter() - call.started
        retryable = None if code == grpc.StatusCode.OK else is_retryable(code, trailing)
        if call.stream_scheme is not None:
            self.metrics.inflight_streams.labels(call.stream_scheme).dec()
            call.stream_scheme = None
        self.metrics.observe_call(call.rpc, call.scheme, code.name, seconds, call.bytes_in, call.bytes_out, retryable)
        fields: dict[str, Any] = {
            "rpc": call.rpc,
            "scheme": call.scheme,
            "uri": call.uri,
            "code": code.name,
            "duration_ms": round(seconds * 1000, 3),
            "bytes_in": call.bytes_in,
            "bytes_out": call.bytes_out,
        }
        if retryable is not None:
            fields["retryable"] = retryable
        level = logging.WARNING if retryable is False and code != grpc.StatusCode.NOT_FOUND else logging.INFO
        self._log.log(level, "%s %s", call.rpc, code.name, extra={"fields": fields, "request_id": call.request_id})
