"""Build, start and stop the sidecar gRPC server: ``ArchiverService``, gRPC health and reflection.

Health reports ``SERVING`` for the overall server (``""``) and for :data:`sidecar.SERVICE_NAME`
while the server runs, and ``NOT_SERVING`` as soon as a shutdown starts, so load balancers stop
sending calls while in-flight ones get the grace period to finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from archivers._proto.temporal_archivers.v1 import service_pb2, service_pb2_grpc
from archivers.config import ArchivalConfig
from archivers.errors import InvalidArgumentError
from sidecar import DEFAULT_LISTEN, SERVICE_NAME
from sidecar.config import DEFAULT_GRACE_SECONDS, DEFAULT_MAX_WORKERS
from sidecar.servicer import ArchiverServicer

_log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest message accepted or sent (a GetHistory page or one batch group of a big history)."""


class SidecarServer:
    """One running sidecar: a ``grpc.server`` on a thread pool serving the archiver, health and reflection.

    :meth:`start` binds ``listen`` (``host:port``; port 0 picks a free one, see :attr:`port`) and
    raises :class:`InvalidArgumentError` if it cannot. :meth:`stop` is idempotent: health goes
    ``NOT_SERVING``, new calls are refused, in-flight calls get ``grace`` seconds.
    """

    def __init__(
        self,
        archival: ArchivalConfig | None = None,
        *,
        listen: str = DEFAULT_LISTEN,
        max_workers: int = DEFAULT_MAX_WORKERS,
        grace: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self.listen = listen
        self.grace = grace
        self.port = 0
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="archiver-sidecar"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        service_pb2_grpc.add_ArchiverServiceServicer_to_server(ArchiverServicer(archival), self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = (
            service_pb2.DESCRIPTOR.services_by_name["ArchiverService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self._server)

    @property
    def address(self) -> str:
        """``host:port`` the server listens on (the real port once started)."""
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Bind the listen address, start serving and report ``SERVING``."""
        try:
            self.port = self._server.add_insecure_port(self.listen)
        except RuntimeError as exc:
            raise InvalidArgumentError(f"cannot listen on {self.listen!r}: {exc}") from exc
        if self.port == 0:
            raise InvalidArgumentError(f"cannot listen on {self.listen!r}")
        self._server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        _log.info("archiver sidecar listening on %s", self.address)

    def stop(self, grace: float | None = None) -> None:
        """Report ``NOT_SERVING``, refuse new calls and wait up to ``grace`` seconds for in-flight ones."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._health.enter_graceful_shutdown()  # every service NOT_SERVING, frozen
            self._server.stop(self.grace if grace is None else grace).wait()
            self._stopped.set()
            _log.info("archiver sidecar stopped")

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
