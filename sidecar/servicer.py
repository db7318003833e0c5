"""``ArchiverService`` over the :mod:`archivers` library.

Each call builds (once per scheme, then cached) the scheme's archiver from the registry with the
scheme's settings from the loaded config, runs it, and turns any error into a gRPC status through
the one table of :mod:`archivers.wire.status`; messages convert to and from the library's
dataclasses through :mod:`archivers.wire.messages`. ``ArchiveHistory`` hands the library a generator over the
request stream, so a history is decoded batch by batch as it arrives and never held whole.

Shutdown: :meth:`ArchiverServicer.begin_shutdown` (called by the server as it stops) makes every
archive still streaming when its request stream breaks end ``UNAVAILABLE`` with a retryable
``TRANSIENT`` ``ErrorInfo``, so the caller retries and resumes from ``GetArchiveProgress``; the
library keeps only what is durable and never publishes a partial history. Calls that gRPC itself
cancels at the end of the grace period reach the client as ``UNAVAILABLE`` (or ``CANCELLED``), both
retryable for :mod:`archivers.remote`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers.config import ArchivalConfig
from archivers.errors import ArchiverError, InvalidArgumentError, InvalidHistoryError, TransientError
from archivers.interfaces import BackendConfig, HistoryArchiver, VisibilityArchiver
from archivers.progress import ArchiveProgress
from archivers.registry import get_backend, get_history_archiver, get_visibility_archiver
from archivers.roots import NATIVE
from archivers.uri import URI
from archivers.wire.messages import (
    get_request_from_pb,
    get_response_to_pb,
    header_from_pb,
    progress_to_pb,
    query_request_from_pb,
    query_response_to_pb,
)
from archivers.wire.status import ABORTED_REASON, build_status, status_for

_log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.ServicerContext], Resp]
Archiver = TypeVar("Archiver", HistoryArchiver, VisibilityArchiver)


class ClientAbortedError(Exception):
    """Raised into the library's batch iterator when the client sends ``abort`` (never an ArchiverError)."""


def _mapped(method: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Run an RPC method; any exception leaves as the status :func:`archivers.wire.status.status_for` gives it."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Resp:
        try:
            return method(self, request, context)
        except ClientAbortedError as exc:
            _abort(
                context,
                build_status(grpc.StatusCode.ABORTED, f"archive aborted by the client: {exc}", ABORTED_REASON, True),
            )
        except grpc.RpcError:
            if not context.is_active():  # the client went away or gRPC cancelled the call: no status to send
                raise
            shutting_down = getattr(self, "shutting_down", False)
            if not shutting_down:
                _log.exception("%s failed", method.__name__)
            reason = "the sidecar is shutting down" if shutting_down else "the request stream failed"
            _abort(context, status_for(TransientError(f"{method.__name__} cut short: {reason}; retry")))
        except Exception as exc:
            if not isinstance(exc, ArchiverError):
                _log.exception("%s failed unexpectedly", method.__name__)
            _abort(context, status_for(exc))

    return wrapper


def _abort(context: grpc.ServicerContext, status: grpc.Status) -> NoReturn:
    context.abort_with_status(status)
    raise AssertionError("abort_with_status returns only by raising")


class _Recorder:
    """Collects the progress the library records during one archive, for the response."""

    def __init__(self) -> None:
        self.points: list[ArchiveProgress] = []

    def record(self, progress: ArchiveProgress) -> None:
        self.points.append(progress)


class ArchiverServicer:
    """Implements every RPC of ``temporal_archivers.v1.ArchiverService`` (see ``service.proto``).

    ``config`` supplies each scheme's backend settings; archivers are built on first use of a
    scheme and shared by all later calls (the library's archivers are thread-safe).
    ``default_layout`` (``native`` or ``compat``) is what ``ValidateURI`` gives a root without a
    descriptor: ``native`` creates a native descriptor (or, on a root already holding compat
    archives, one naming its compat layout); ``compat`` writes nothing.
    """

    def __init__(self, config: ArchivalConfig | None = None, *, default_layout: str = NATIVE) -> None:
        self._config = config or ArchivalConfig()
        self._default_layout = default_layout
        self._lock = threading.Lock()
        self._history: dict[str, HistoryArchiver] = {}
        self._visibility: dict[str, VisibilityArchiver] = {}
        self._shutdown = threading.Event()

    def begin_shutdown(self) -> None:
        """Note that the server is stopping: archives cut short from now on end ``UNAVAILABLE`` (retryable)."""
        self._shutdown.set()

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`begin_shutdown` was called."""
        return self._shutdown.is_set()

    def history_archiver(self, uri: str) -> HistoryArchiver:
        """The history archiver for ``uri``'s scheme (built once with the scheme's settings)."""
        return self._cached(self._history, uri, get_history_archiver, self._config.history_settings)

    def visibility_archiver(self, uri: str) -> VisibilityArchiver:
        """The visibility archiver for ``uri``'s scheme (built once with the scheme's settings)."""
        return self._cached(self._visibility, uri, get_visibility_archiver, self._config.visibility_settings)

    def _cached(
        self,
        cache: dict[str, Archiver],
        uri: str,
        build: Callable[[str, BackendConfig], Archiver],
        settings: Callable[[str], BackendConfig],
    ) -> Archiver:
        scheme = URI.parse(uri).scheme
        with self._lock:
            archiver = cache.get(scheme)
        if archiver is None:
            archiver = build(scheme, settings(scheme))
            with self._lock:
                archiver = cache.setdefault(scheme, archiver)
        return archiver

    # -- RPCs ------------------------------------------------------------------------------------

    @_mapped
    def ValidateURI(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Check ``request.uri`` with the archiver its ``kind`` names, then give a new root the default layout."""
        if request.kind == pb.ARCHIVER_KIND_HISTORY:
            self.history_archiver(request.uri).validate_uri(request.uri)
            self._init_root(request.uri, self._config.history_settings)
        elif request.kind == pb.ARCHIVER_KIND_VISIBILITY:
            self.visibility_archiver(request.uri).validate_uri(request.uri)
            self._init_root(request.uri, self._config.visibility_settings)
        else:
            raise InvalidArgumentError("kind must be ARCHIVER_KIND_HISTORY or ARCHIVER_KIND_VISIBILITY")
        return pb.ValidateURIResponse()

    def _init_root(self, uri: str, settings: Callable[[str], BackendConfig]) -> None:
        """Create the descriptor of a root that has none, in the default layout (see the class docstring)."""
        parsed = URI.parse(uri)
        roots = get_backend(parsed).roots
        if self._default_layout == NATIVE and roots is not None:
            roots(settings(parsed.scheme)).init(parsed, NATIVE, "sidecar ValidateURI", strict=False)

    @_mapped
    def GetArchiveProgress(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Return the durable progress of the archive ``request.header`` describes."""
        header = request.header
        progress = self.history_archiver(header.uri).progress(header.uri, header_from_pb(header))
        return pb.GetArchiveProgressResponse(progress=progress_to_pb(progress))

    @_mapped
    def ArchiveHistory(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        """Archive the streamed history: header first, then batches, decoded lazily as the library consumes them."""
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("message") != "header":
            raise InvalidArgumentError("the first ArchiveHistory message must be the header")
        header = first.header
        request = header_from_pb(header)
        archiver = self.history_archiver(header.uri)
        recorder = _Recorder()
        archiver.archive(header.uri, request, _batches(request_iterator, self._shutdown, context), progress=recorder)
        return pb.ArchiveHistoryResponse(progress=[progress_to_pb(point) for point in recorder.points])

    @_mapped
    def GetHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Return one page of the archived history, each batch serialized."""
        response = self.history_archiver(request.uri).get(request.uri, get_request_from_pb(request))
        return get_response_to_pb(response)

    @_mapped
    def ArchiveVisibility(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Store ``request.record`` (an upsert)."""
        if not request.HasField("record"):
            raise InvalidArgumentError("record is required")
        self.visibility_archiver(request.uri).archive(request.uri, request.record)
        return pb.ArchiveVisibilityResponse()

    @_mapped
    def QueryVisibility(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Return one page of executions matching ``request.query``, each serialized."""
        query, types = query_request_from_pb(request)
        response = self.visibility_archiver(request.uri).query(request.uri, query, types)
        return query_response_to_pb(response)


def _batches(
    request_iterator: Iterator[Any], shutdown: threading.Event, context: grpc.ServicerContext
) -> Iterator[History]:
    """Decode the batches of the rest of the stream one message at a time.

    Raises :class:`InvalidHistoryError` for bytes that are not a ``History`` and
    :class:`InvalidArgumentError` for a misplaced header; an ``abort`` raises :class:`ClientAbortedError`.
    Once ``shutdown`` is set, a call gRPC has already cancelled raises :class:`TransientError` before the
    library sees another batch (the library must not treat a cut stream as the end of the history).
    """
    index = 0
    for number, message in enumerate(request_iterator, start=2):
        if shutdown.is_set() and not context.is_active():
            raise TransientError("ArchiveHistory cut short: the sidecar is shutting down; retry")
        kind = message.WhichOneof("message")
        if kind == "abort":
            raise ClientAbortedError(message.abort.reason or "no reason given")
        if kind != "batches":
            raise InvalidArgumentError(f"ArchiveHistory message {number}: expected batches, got {kind or 'nothing'}")
        for data in message.batches.history:
            try:
                batch = History.FromString(data)
            except DecodeError as exc:
                raise InvalidHistoryError(
                    f"history batch {index} is not a serialized temporal.api.history.v1.History"
                ) from exc
            index += 1
            yield batch
    if not context.is_active():  # cancelled, not half-closed: the stream was cut, not finished
        reason = "the sidecar is shutting down" if shutdown.is_set() else "the call was cancelled"
        raise TransientError(f"ArchiveHistory cut short: {reason}; retry")
