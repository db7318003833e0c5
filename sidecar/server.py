"""Build, start and stop the sidecar gRPC server: ``ArchiverService``, gRPC health and reflection.

The server listens in plaintext, TLS, or mutual TLS (see :class:`sidecar.config.TLSConfig`), caps
message sizes and concurrent calls, and runs every ``ArchiverService`` call through
:class:`sidecar.interceptors.ObservabilityInterceptor` (metrics in its own registry, optionally
served on ``/metrics``; one access log line; ``x-request-id``).

The server is a ``grpc.aio`` server on an event loop of its own thread (see
:mod:`sidecar.servicer` for the worker threads): health and reflection are answered on that loop,
never behind archive work, and an idle ``ArchiveHistory`` stream costs a coroutine, not a thread.

Health reports ``SERVING`` for the overall server (``""``) and for :data:`sidecar.SERVICE_NAME`
while the server runs, and ``NOT_SERVING`` as soon as a shutdown starts, so load balancers stop
sending calls while in-flight ones get the grace period to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from archivers._proto.temporal_archivers.v1 import service_pb2, service_pb2_grpc
from archivers.config import ArchivalConfig
from archivers.errors import InvalidArgumentError
from archivers.roots import NATIVE
from sidecar import DEFAULT_LISTEN, SERVICE_NAME
from sidecar.config import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_WORKERS,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    SidecarConfig,
    TLSConfig,
    tls_problem,
)
from sidecar.interceptors import ObservabilityInterceptor
from sidecar.metrics import SidecarMetrics
from sidecar.servicer import ArchiverServicer

_log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_BYTES
"""Default largest message accepted or sent (a GetHistory page or one batch group of a big history)."""

UNWIND_SECONDS = 5.0
"""How long :meth:`SidecarServer.stop` waits, after the grace period, for cancelled calls' coroutines to end."""

T = TypeVar("T")


class SidecarServer:
    """One running sidecar: a ``grpc.aio`` server in its own thread serving the archiver, health and reflection.

    :meth:`start` binds ``listen`` (``host:port``; port 0 picks a free one, see :attr:`port`) and
    raises :class:`InvalidArgumentError` if it cannot (or cannot read the TLS files, or serve
    metrics). :meth:`stop` is idempotent: health goes ``NOT_SERVING``, new calls are refused,
    in-flight calls get ``grace`` seconds. With ``tls`` the port speaks only TLS (mutual TLS when
    ``tls.client_ca_file`` is set); ``max_concurrent_rpcs`` calls at once at most, the rest get
    ``RESOURCE_EXHAUSTED`` (health and reflection are never refused); ``max_workers`` threads serve
    unary calls and as many serve archive streams; a stream silent for ``stream_idle_timeout`` seconds
    ends ``UNAVAILABLE`` (retryable); ``metrics_listen`` set serves ``/metrics`` there (:attr:`metrics_address`);
    ``default_layout`` is what ``ValidateURI`` gives a root without a descriptor (see
    :class:`sidecar.servicer.ArchiverServicer`).
    """

    def __init__(
        self,
        archival: ArchivalConfig | None = None,
        *,
        listen: str = DEFAULT_LISTEN,
        max_workers: int = DEFAULT_MAX_WORKERS,
        grace: float = DEFAULT_GRACE_SECONDS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_concurrent_rpcs: int | None = None,
        tls: TLSConfig | None = None,
        metrics_listen: str | None = None,
        metrics: SidecarMetrics | None = None,
        stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        default_layout: str = NATIVE,
    ) -> None:
        self.listen = listen
        self.grace = grace
        self.port = 0
        self.tls = tls
        self.metrics_listen = metrics_listen
        self.metrics_address: str | None = None
        self.metrics = metrics if metrics is not None else SidecarMetrics()
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._servicer = ArchiverServicer(
            archival,
            workers=max_workers,
            idle_timeout=stream_idle_timeout,
            max_calls=max_concurrent_rpcs,
            default_layout=default_layout,
        )
        self._health = health_aio.HealthServicer()
        self._loop: asyncio.AbstractEventLoop | None = None  # with its thread, from start() to stop()
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None

    @classmethod
    def from_config(cls, config: SidecarConfig, *, listen: str | None = None) -> SidecarServer:
        """A server with every setting of ``config``; ``listen`` (e.g. ``--listen``) overrides ``config.listen``."""
        return cls(
            config.archival,
            listen=listen or config.listen,
            max_workers=config.max_workers,
            grace=config.shutdown_grace_seconds,
            max_message_bytes=config.max_message_bytes,
            max_concurrent_rpcs=config.max_concurrent_rpcs,
            tls=config.tls,
            metrics_listen=config.metrics_listen,
            stream_idle_timeout=config.stream_idle_timeout,
            default_layout=config.default_layout,
        )

    @property
    def address(self) -> str:
        """``host:port`` the server listens on (the real port once started)."""
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    @property
    def calls_in_progress(self) -> int:
        """``ArchiverService`` calls being served now (what ``max_concurrent_rpcs`` caps; health is not counted)."""
        return self._servicer.calls

    def start(self) -> None:
        """Bind the listen address (and the metrics address), start serving and report ``SERVING``.

        Call once. If it raises, nothing is left bound or running (no loop, thread or metrics server).
        """
        credentials = None if self.tls is None else _server_credentials(self.tls)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="archiver-sidecar", daemon=True)
        self._thread.start()
        try:
            self._on_loop(self._start(credentials))
        except BaseException:
            self.metrics.close()
            self._close_loop()
            raise
        if self.metrics_address is not None:
            _log.info("archiver sidecar metrics on http://%s/metrics", self.metrics_address)
        security = "plaintext" if self.tls is None else "mutual TLS" if self.tls.mutual else "TLS"
        _log.info("archiver sidecar listening on %s (%s)", self.address, security)

    async def _start(self, credentials: grpc.ServerCredentials | None) -> None:
        server = grpc.aio.server(interceptors=[ObservabilityInterceptor(self.metrics)], options=self._options)
        service_pb2_grpc.add_ArchiverServiceServicer_to_server(self._servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (
            service_pb2.DESCRIPTOR.services_by_name["ArchiverService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        try:
            try:
                if credentials is None:
                    self.port = server.add_insecure_port(self.listen)
                else:
                    self.port = server.add_secure_port(self.listen, credentials)
            except RuntimeError as exc:
                raise InvalidArgumentError(f"cannot listen on {self.listen!r}: {exc}") from exc
            if self.port == 0:
                raise InvalidArgumentError(f"cannot listen on {self.listen!r}")
            if self.metrics_listen is not None:
                self.metrics_address = self.metrics.serve(self.metrics_listen)
            await server.start()
        except BaseException:
            await server.stop(None)
            raise
        self._server = server
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = None) -> None:
        """Report ``NOT_SERVING``, refuse new calls and wait up to ``grace`` seconds for in-flight ones."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            if self._server is not None:
                self._on_loop(self._stop(self.grace if grace is None else grace))
            self._close_loop()
            self.metrics.close()
            self._stopped.set()
            _log.info("archiver sidecar stopped")

    async def _stop(self, grace: float) -> None:
        await self._health.enter_graceful_shutdown()  # every service NOT_SERVING, frozen
        assert self._server is not None
        await self._server.stop(grace)
        # gRPC cancels the calls still running but does not wait for their coroutines: let them
        # unwind (finally blocks, access log lines) before the loop stops, within a bound.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=UNWIND_SECONDS)
        await asyncio.get_running_loop().shutdown_asyncgens()

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "start() runs the loop"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _close_loop(self) -> None:
        """Release the thread pools, then stop and close the event loop and its thread (if started)."""
        self._servicer.close()
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def wait(self) -> None:
        """Block until :meth:`stop` has finished."""
        self._stopped.wait()

    def serve_until_signalled(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then stop gracefully (call from the main thread)."""
        requested = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            _log.info("received %s, shutting down", signal.Signals(signum).name)
            requested.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not requested.wait(0.5):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    """Credentials from the PEM files of ``tls``; with a client CA, clients must present a cert it signed.

    Raises :class:`InvalidArgumentError` naming the ``sidecar.tls`` key if a file does not load
    (see :func:`sidecar.config.tls_problem`), before anything is bound.
    """
    problem = tls_problem(tls)
    if problem is not None:
        raise InvalidArgumentError(problem)
    try:
        with open(tls.key_file, "rb") as handle:
            key = handle.read()
        with open(tls.cert_file, "rb") as handle:
            chain = handle.read()
        client_ca = None
        if tls.client_ca_file is not None:
            with open(tls.client_ca_file, "rb") as handle:
                client_ca = handle.read()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
