"""Open many ``ArchiveHistory`` streams that send nothing, from one asyncio client in its own thread.

:class:`IdleStreams` is a context manager: on entry it opens ``count`` calls on one ``grpc.aio``
channel (an idle call costs the client a coroutine, not a thread) and waits until the server serves
them (``served``, e.g. :attr:`sidecar.server.SidecarServer.calls_in_progress`, reaches ``count``;
without it, it gives their headers a moment to reach the server); on exit it cancels them and
closes the channel.
Used by the idle-stream tests and ``bench/sidecar_idle_streams_bench.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import grpc

from archivers._proto.temporal_archivers.v1 import service_pb2_grpc


class IdleStreams:
    """``count`` open, silent ``ArchiveHistory`` calls to ``address`` while the context is entered."""

    def __init__(self, address: str, count: int, served: Callable[[], int] | None = None) -> None:
        self.address = address
        self.count = count
        self._served = served
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="idle-streams", daemon=True)
        self._channel: grpc.aio.Channel | None = None
        self._calls: list[Any] = []

    def __enter__(self) -> IdleStreams:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=60)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _open(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.address)
        stub = service_pb2_grpc.ArchiverServiceStub(self._channel)
        self._calls = [stub.ArchiveHistory() for _ in range(self.count)]
        await self._channel.channel_ready()
        if self._served is None:
            # A client-streaming call gets no server metadata before its response, so there is nothing
            # to await per call: give the opened calls' headers time to reach the server.
            await asyncio.sleep(0.2)
            return
        give_up = asyncio.get_running_loop().time() + 30
        while self._served() < self.count:
            if asyncio.get_running_loop().time() > give_up:
                raise TimeoutError(f"the server serves {self._served()} of {self.count} idle streams after 30 s")
            await asyncio.sleep(0.01)

    async def _close(self) -> None:
        for call in self._calls:
            call.cancel()
        if self._channel is not None:
            await self._channel.close()

    def results(self) -> list[Any]:
        """Wait for every call to end by itself (e.g. an idle timeout) and return each one's code."""
        return asyncio.run_coroutine_threadsafe(self._codes(), self._loop).result(timeout=120)

    async def _codes(self) -> list[Any]:
        codes = []
        for call in self._calls:
            try:
                await call
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
        return codes
