"""Build, start and stop the sidecar gRPC server: ``ArchiverService``, gRPC health and reflection.

The server listens in plaintext, TLS, or mutual TLS (see :class:`sidecar.config.TLSConfig`), caps
message sizes and concurrent calls, and runs every ``ArchiverService`` call through
:class:`sidecar.interceptors.ObservabilityInterceptor` (metrics in its own registry, optionally
served on ``/metrics``; one access log line; ``x-request-id``).

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
from archivers.roots import NATIVE
from sidecar import DEFAULT_LISTEN, SERVICE_NAME
from sidecar.config import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_WORKERS,
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


class SidecarServer:
    """One running sidecar: a ``grpc.server`` on a thread pool serving the archiver, health and reflection.

    :meth:`start` binds ``listen`` (``host:port``; port 0 picks a free one, see :attr:`port`) and
    raises :class:`InvalidArgumentError` if it cannot (or cannot read the TLS files, or serve
    metrics). :meth:`stop` is idempotent: health goes ``NOT_SERVING``, new calls are refused,
    in-flight calls get ``grace`` seconds. With ``tls`` the port speaks only TLS (mutual TLS when
    ``tls.client_ca_file`` is set); ``max_concurrent_rpcs`` calls at once at most, the rest get
    ``RESOURCE_EXHAUSTED``; ``metrics_listen`` set serves ``/metrics`` there (:attr:`metrics_address`).
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
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="archiver-sidecar"),
            interceptors=[ObservabilityInterceptor(self.metrics)],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        self._servicer = ArchiverServicer(archival, default_layout=default_layout)
        service_pb2_grpc.add_ArchiverServiceServicer_to_server(self._servicer, self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = (
            service_pb2.DESCRIPTOR.services_by_name["ArchiverService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self._server)

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
            default_layout=config.default_layout,
        )

    @property
    def address(self) -> str:
        """``host:port`` the server listens on (the real port once started)."""
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Bind the listen address (and the metrics address), start serving and report ``SERVING``."""
        try:
            if self.tls is None:
                self.port = self._server.add_insecure_port(self.listen)
            else:
                self.port = self._server.add_secure_port(self.listen, _server_credentials(self.tls))
        except RuntimeError as exc:
            raise InvalidArgumentError(f"cannot listen on {self.listen!r}: {exc}") from exc
        if self.port == 0:
            raise InvalidArgumentError(f"cannot listen on {self.listen!r}")
        if self.metrics_listen is not None:
            self.metrics_address = self.metrics.serve(self.metrics_listen)
            _log.info("archiver sidecar metrics on http://%s/metrics", self.metrics_address)
        self._server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        security = "plaintext" if self.tls is None else "mutual TLS" if self.tls.mutual else "TLS"
        _log.info("archiver sidecar listening on %s (%s)", self.address, security)

    def stop(self, grace: float | None = None) -> None:
        """Report ``NOT_SERVING``, refuse new calls and wait up to ``grace`` seconds for in-flight ones."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._health.enter_graceful_shutdown()  # every service NOT_SERVING, frozen
            self._servicer.begin_shutdown()  # archives cut short from now on end UNAVAILABLE (retryable)
            self._server.stop(self.grace if grace is None else grace).wait()
            self.metrics.close()
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
