"""A client stream read on the event loop with an idle timeout, consumed by a worker thread.

An ``ArchiveHistory`` call is served by a coroutine, so a silent stream costs no thread; the library
that archives it is synchronous and runs in a worker thread, pulling messages one at a time through
:meth:`RequestStream.blocking`. Promises:

- A read that gets no message for ``idle_timeout`` seconds raises :class:`StreamIdleError` (a
  retryable :class:`~archivers.errors.TransientError`, so the call ends ``UNAVAILABLE``).
- After :meth:`RequestStream.close` (the call's coroutine ended, e.g. it was cancelled), every
  pending or later read in the worker raises :class:`~archivers.errors.TransientError`: a cut stream
  never looks like the end of a history.
- gRPC's asyncio server ends the request stream of a call the client cancels *before* it cancels the
  call's coroutine, so an end of stream alone does not say the client finished.
  :meth:`RequestStream.check_finished` (from the worker) and :meth:`RequestStream.check_ended` (on
  the loop) tell the two apart by waiting (briefly) for the cancellation.
- A read never swallows the cancellation of the coroutine awaiting it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from archivers.errors import TransientError

CANCEL_SETTLE_SECONDS = 1.0
"""How long :meth:`RequestStream.check_finished` waits for a cancellation to follow an end of stream.

gRPC delivers the two within milliseconds; only a stream that ended where the history had not (an
error path) pays this wait, so it is generous."""


class StreamIdleError(TransientError):
    """A client stream sent nothing for the idle timeout (retryable: the archive resumes on retry)."""


class RequestStream:
    """The request messages of one call, read on ``loop`` with ``idle_timeout`` seconds per message.

    Create it in the call's coroutine; read the first messages there with :meth:`next`, hand
    :meth:`blocking` to a worker thread for the rest, and call :meth:`close` when the coroutine ends.
    """

    def __init__(
        self, messages: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any], idle_timeout: float
    ) -> None:
        self._messages = messages
        self._context = context
        self._idle_timeout = idle_timeout
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._closed = False
        self._pending: concurrent.futures.Future[Any] | None = None

    async def next(self) -> Any | None:
        """The next message, ``None`` at the end of the stream; :class:`StreamIdleError` after the idle timeout."""
        # Not asyncio.wait_for: before Python 3.12 it loses a cancellation that arrives as the read
        # completes, which is just what a client's cancel does (it also ends the request stream).
        read: asyncio.Future[Any] = asyncio.ensure_future(anext(self._messages))
        try:
            done, _ = await asyncio.wait({read}, timeout=self._idle_timeout)
        except BaseException:
            read.cancel()
            raise
        if not done:
            read.cancel()
            raise StreamIdleError(
                f"ArchiveHistory sent nothing for {self._idle_timeout:g} s (sidecar.streamIdleTimeout); retry"
            )
        try:
            return read.result()
        except StopAsyncIteration:
            return None

    def blocking(self) -> Iterator[Any]:
        """The remaining messages, for a worker thread: each read runs on the loop and blocks this thread."""
        while True:
            message = self._call(self.next())
            if message is None:
                return
            yield message

    def check_finished(self) -> None:
        """From a worker thread after the end of the stream: raise :class:`TransientError` if the call was cancelled.

        Returns if the client ended the stream itself (no cancellation within :data:`CANCEL_SETTLE_SECONDS`).
        """
        self._call(self.check_ended())

    async def check_ended(self) -> None:
        """On the loop after the end of the stream: :meth:`check_finished` for the call's coroutine."""
        if await self._settle():
            raise _cut()

    def close(self) -> None:
        """Fail every pending and later read in a worker thread (call when the call's coroutine ends)."""
        with self._lock:
            self._closed = True
            pending = self._pending
        if pending is not None:
            pending.cancel()

    async def _settle(self) -> bool:
        deadline = self._loop.time() + CANCEL_SETTLE_SECONDS
        while not (self._closed or self._context.cancelled()):
            if self._loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def _call(self, coroutine: Any) -> Any:
        with self._lock:
            if self._closed:
                coroutine.close()
                raise _cut()
            try:
                future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
            except RuntimeError:  # the loop is closed: the server stopped
                coroutine.close()
                raise _cut() from None
            self._pending = future
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise _cut() from None
        finally:
            with self._lock:
                self._pending = None


def _cut() -> TransientError:
    return TransientError("ArchiveHistory cut short: the call was cancelled or the sidecar is stopping; retry")
