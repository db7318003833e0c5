"""``ArchiverService`` over the :mod:`archivers` library.

Each call builds (once per scheme, then cached) the scheme's archiver from the registry with the
scheme's settings from the loaded config, runs it, and turns any error into a gRPC status through
the one table of :mod:`archivers.wire.status`; messages convert to and from the library's
dataclasses through :mod:`archivers.wire.messages`. ``ArchiveHistory`` hands the library a generator over the
request stream, so a history is decoded batch by batch as it arrives and never held whole.

Threads: every call is served by a coroutine on the server's event loop; the library's (blocking)
work runs in one of two thread pools of ``workers`` threads, one for unary calls and one for
``ArchiveHistory``, so streams can never take the threads unary calls need, and a stream that sends
nothing holds no thread at all (see :mod:`sidecar.streams`; it ends ``UNAVAILABLE`` after
``idle_timeout`` seconds of silence). ``max_calls`` caps the ``ArchiverService`` calls served at
once (health and reflection are not counted); further calls get ``RESOURCE_EXHAUSTED``.

Shutdown: the server gives calls its grace period, then cancels the rest; a cancelled archive's
reads fail in its worker thread (never an end of history), so the library keeps only what is
durable, never publishes a partial history, and the caller's retry resumes from
``GetArchiveProgress``. Cancelled calls reach the client as ``UNAVAILABLE`` (or ``CANCELLED``),
both retryable for :mod:`archivers.remote`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers.batches import read_batch
from archivers.config import ArchivalConfig
from archivers.errors import ArchiverError, InvalidArgumentError, InvalidHistoryError
from archivers.interfaces import BackendConfig, HistoryArchiver, VisibilityArchiver
from archivers.progress import ArchiveProgress
from archivers.registry import get_backend, get_history_archiver, get_visibility_archiver
from archivers.roots import NATIVE
from archivers.uri import URI
from archivers.wire.messages import (
    accepted_from_pb,
    encoding_from_pb,
    encoding_to_pb,
    get_request_from_pb,
    get_response_to_pb,
    header_from_pb,
    progress_to_pb,
    query_request_from_pb,
    query_response_to_pb,
)
from archivers.wire.status import ABORTED_REASON, Metadata, build_status, status_for
from sidecar.config import DEFAULT_MAX_WORKERS, DEFAULT_STREAM_IDLE_TIMEOUT
from sidecar.streams import RequestStream

_log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Req, Context], Awaitable[Resp]]
Archiver = TypeVar("Archiver", HistoryArchiver, VisibilityArchiver)


class ClientAbortedError(Exception):
    """Raised into the library's batch iterator when the client sends ``abort`` (never an ArchiverError)."""


def _mapped(method: Handler[Req, Resp]) -> Handler[Req, Resp | None]:
    """Run an RPC coroutine within the call limit; any exception ends the call with its :func:`status_for` status.

    A call over ``maxConcurrentRpcs`` ends ``RESOURCE_EXHAUSTED`` without running. A failed call
    sets its status on ``context`` and returns ``None`` (see :func:`_fail`) rather than calling
    ``context.abort()``, which sends the status at once: this way the status goes out only after
    every interceptor around the call has finished (the access log line is written before the
    client can see the error). A cancelled call's ``CancelledError`` passes through: there is no
    client left to answer.
    """

    @functools.wraps(method)
    async def wrapper(self: ArchiverServicer, request: Req, context: Context) -> Resp | None:
        if not self.admit():
            _fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "the sidecar serves maxConcurrentRpcs calls; retry")
            return None
        try:
            return await method(self, request, context)
        except ClientAbortedError as exc:
            status = build_status(
                grpc.StatusCode.ABORTED, f"archive aborted by the client: {exc}", ABORTED_REASON, True
            )
            _fail(context, status.code, status.details, status.trailing_metadata)
            return None
        except Exception as exc:
            if not isinstance(exc, ArchiverError):
                _log.exception("%s failed unexpectedly", method.__name__)
            status = status_for(exc)
            _fail(context, status.code, status.details, status.trailing_metadata)
            return None
        finally:
            self.release()

    return wrapper


def _fail(context: Context, code: grpc.StatusCode, details: str, trailing: Metadata = ()) -> None:
    """Set a failed outcome on ``context``: ``code``, ``details``, and ``trailing`` added to the trailing metadata.

    Keeps what is already in the trailing metadata (the request id). gRPC sends the status when the
    handler returns, with no response message, as the code is not ``OK``.
    """
    context.set_trailing_metadata((*tuple(context.trailing_metadata() or ()), *trailing))
    context.set_code(code)
    context.set_details(details)


class _Recorder:
    """Collects the progress the library records during one archive, for the response."""

    def __init__(self) -> None:
        self.points: list[ArchiveProgress] = []

    def record(self, progress: ArchiveProgress) -> None:
        self.points.append(progress)


class ArchiverServicer:
    """Implements every RPC of ``temporal_archivers.v1.ArchiverService`` (see ``service.proto``).

    ``config`` supplies each scheme's backend settings; archivers are built on first use of a
    scheme and shared by all later calls (the library's archivers are thread-safe). Its methods are
    coroutines for a ``grpc.aio`` server; ``workers``, ``idle_timeout`` and ``max_calls`` are as
    described in the module's docstring. :meth:`close` releases the thread pools.
    ``default_layout`` (``native`` or ``compat``) is what ``ValidateURI`` gives a root without a
    descriptor: ``native`` creates a native descriptor (or, on a root already holding compat
    archives, one naming its compat layout); ``compat`` writes nothing.
    """

    def __init__(
        self,
        config: ArchivalConfig | None = None,
        *,
        workers: int = DEFAULT_MAX_WORKERS,
        idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        max_calls: int | None = None,
        default_layout: str = NATIVE,
    ) -> None:
        self._config = config or ArchivalConfig()
        self._default_layout = default_layout
        self._lock = threading.Lock()
        self._history: dict[str, HistoryArchiver] = {}
        self._visibility: dict[str, VisibilityArchiver] = {}
        self._unary_pool = ThreadPoolExecutor(workers, thread_name_prefix="archiver-unary")
        self._stream_pool = ThreadPoolExecutor(workers, thread_name_prefix="archiver-stream")
        self._idle_timeout = idle_timeout
        self._max_calls = max_calls
        self._calls = 0  # touched only on the event loop

    def admit(self) -> bool:
        """Count a starting ``ArchiverService`` call; ``False`` (not counted) if ``max_calls`` are running."""
        if self._max_calls is not None and self._calls >= self._max_calls:
            return False
        self._calls += 1
        return True

    @property
    def calls(self) -> int:
        """``ArchiverService`` calls being served now (an open ``ArchiveHistory`` stream counts, even a silent one)."""
        return self._calls

    def release(self) -> None:
        """Uncount a call that :meth:`admit` counted."""
        self._calls -= 1

    def close(self) -> None:
        """Stop the thread pools (running work finishes; a cut stream's reads fail, so archives end soon)."""
        for pool in (self._unary_pool, self._stream_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    async def _in(self, pool: ThreadPoolExecutor, work: Callable[[], Resp]) -> Resp:
        """Run ``work`` in ``pool`` with the call's context variables (its request id for log lines)."""
        return await asyncio.get_running_loop().run_in_executor(pool, contextvars.copy_context().run, work)

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
    async def ValidateURI(self, request: Any, context: Context) -> Any:
        """Check ``request.uri`` with the archiver its ``kind`` names, then give a new root the default layout."""
        return await self._in(self._unary_pool, lambda: self._validate_uri(request))

    def _validate_uri(self, request: Any) -> Any:
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
    async def GetArchiveProgress(self, request: Any, context: Context) -> Any:
        """Return the durable progress of the archive ``request.header`` describes."""
        header = request.header

        def progress() -> Any:
            found = self.history_archiver(header.uri).progress(header.uri, header_from_pb(header))
            return pb.GetArchiveProgressResponse(progress=progress_to_pb(found))

        return await self._in(self._unary_pool, progress)

    @_mapped
    async def ArchiveHistory(self, request_iterator: AsyncIterator[Any], context: Context) -> Any:
        """Archive the streamed history: header first, then batches, decoded lazily as the library consumes them.

        The header is awaited on the event loop (a silent stream holds no thread); the archive runs in
        the stream pool, reading the rest of the stream through :class:`sidecar.streams.RequestStream`.
        """
        stream = RequestStream(request_iterator, context, self._idle_timeout)
        try:
            first = await stream.next()
            if first is None:
                await stream.check_ended()  # a cancelled call's stream ends before the cancellation shows
            if first is None or first.WhichOneof("message") != "header":
                raise InvalidArgumentError("the first ArchiveHistory message must be the header")
            header = first.header
            request = header_from_pb(header)
            recorder = _Recorder()

            encoding = encoding_from_pb(header.batch_encoding)

            def archive() -> Any:
                archiver = self.history_archiver(header.uri)
                batches = _batches(stream, request.next_event_id, encoding)
                archiver.archive_encoded(header.uri, request, batches, encoding, progress=recorder)
                return pb.ArchiveHistoryResponse(progress=[progress_to_pb(point) for point in recorder.points])

            return await self._in(self._stream_pool, archive)
        finally:
            stream.close()

    @_mapped
    async def GetHistory(self, request: Any, context: Context) -> Any:
        """Return one page of the archived history: in the stored encoding if accepted (stored bytes), else protobuf."""

        def get() -> Any:
            accepted = accepted_from_pb(request.accepted_encodings)
            page = self.history_archiver(request.uri).get_encoded(request.uri, get_request_from_pb(request), accepted)
            return get_response_to_pb(page)

        return await self._in(self._unary_pool, get)

    @_mapped
    async def GetHistoryEncoding(self, request: Any, context: Context) -> Any:
        """Return the batch encoding the history root of ``request.uri`` stores."""

        def encoding() -> Any:
            stored = self.history_archiver(request.uri).stored_encoding(request.uri)
            return pb.GetHistoryEncodingResponse(batch_encoding=encoding_to_pb(stored))

        return await self._in(self._unary_pool, encoding)

    @_mapped
    async def ArchiveVisibility(self, request: Any, context: Context) -> Any:
        """Store ``request.record`` (an upsert)."""
        if not request.HasField("record"):
            raise InvalidArgumentError("record is required")

        def archive() -> Any:
            self.visibility_archiver(request.uri).archive(request.uri, request.record)
            return pb.ArchiveVisibilityResponse()

        return await self._in(self._unary_pool, archive)

    @_mapped
    async def QueryVisibility(self, request: Any, context: Context) -> Any:
        """Return one page of executions matching ``request.query``, each serialized."""

        def query() -> Any:
            parsed, types = query_request_from_pb(request)
            return query_response_to_pb(self.visibility_archiver(request.uri).query(request.uri, parsed, types))

        return await self._in(self._unary_pool, query)


def _batches(stream: RequestStream, next_event_id: int, encoding: str) -> Iterator[bytes]:
    """The batches (``History`` in ``encoding``) of the rest of the stream, one message at a time.

    Raises :class:`InvalidArgumentError` for a misplaced header; an ``abort`` raises :class:`ClientAbortedError`.
    A stream that ends where the history had not (its last batch does not end at event
    ``next_event_id - 1``) because the call was cancelled (or the sidecar is stopping) raises
    :class:`TransientError` instead of ending: the library must not take a cut stream for the end of
    the history (that would fail it as mutated and drop its progress).
    """
    last: bytes | None = None
    for number, message in enumerate(stream.blocking(), start=2):
        kind = message.WhichOneof("message")
        if kind == "abort":
            raise ClientAbortedError(message.abort.reason or "no reason given")
        if kind != "batches":
            raise InvalidArgumentError(f"ArchiveHistory message {number}: expected batches, got {kind or 'nothing'}")
        for data in message.batches.history:
            last = data
            yield data
    if not _ends_at(last, encoding, next_event_id - 1):
        stream.check_finished()


def _ends_at(batch: bytes | None, encoding: str, event_id: int) -> bool:
    """Whether ``batch`` reads and its last event is ``event_id`` (a batch that does not read was refused already)."""
    if batch is None:
        return event_id == 0
    try:
        info = read_batch(batch, 0, encoding)[1]
    except InvalidHistoryError:
        return False
    return info is not None and info.last_event_id == event_id
