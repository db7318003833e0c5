"""Prometheus metrics of the sidecar, each server with its own :class:`~prometheus_client.CollectorRegistry`.

=========================================  =========  ===============================  =========================
name                                        type       labels                           counts
=========================================  =========  ===============================  =========================
``archiver_sidecar_calls_total``            counter    ``rpc``, ``scheme``, ``code``    finished calls
``archiver_sidecar_call_seconds``           histogram  ``rpc``, ``scheme``              call latency
``archiver_sidecar_bytes_total``            counter    ``rpc``, ``scheme``,             serialized message bytes
                                                       ``direction`` (``in``/``out``)
``archiver_sidecar_failures_total``         counter    ``rpc``, ``scheme``,             calls that did not end OK
                                                       ``retryable`` (``true``/``false``)
``archiver_sidecar_inflight_streams``       gauge      ``scheme``                       ArchiveHistory streams open
=========================================  =========  ===============================  =========================

``scheme`` is the scheme of the call's archival URI (``unknown`` when it cannot be parsed), so the
label set stays small. :meth:`SidecarMetrics.serve` exposes ``/metrics`` over HTTP.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from archivers.errors import InvalidArgumentError

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Histogram buckets in seconds: from a cached ValidateURI to a long ArchiveHistory stream."""


_Family = TypeVar("_Family", Counter, Histogram)

CODE = ("code", "gRPC status code")
DIRECTION = ("direction", "direction (in, out)")
RETRYABLE = ("retryable", "whether a retry may succeed")


def _per_call(
    family: type[_Family],
    name: str,
    what: str,
    registry: CollectorRegistry,
    label: tuple[str, str] | None = None,
    **options: Any,
) -> _Family:
    """The family ``archiver_sidecar_<name>`` of ``what`` by RPC, URI scheme and ``label`` (its name, its meaning)."""
    labels: tuple[str, ...] = ("rpc", "scheme")
    described = "RPC and URI scheme"
    if label is not None:
        labels, described = (*labels, label[0]), f"RPC, URI scheme and {label[1]}"
    return family(f"archiver_sidecar_{name}", f"{what}, by {described}.", labels, registry=registry, **options)


class SidecarMetrics:
    """The sidecar's metric families in one registry (a fresh one unless ``registry`` is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        registry = self.registry
        self.calls = _per_call(Counter, "calls_total", "ArchiverService calls finished", registry, CODE)
        self.call_seconds = _per_call(
            Histogram, "call_seconds", "ArchiverService call latency in seconds", registry, buckets=LATENCY_BUCKETS
        )
        self.bytes = _per_call(Counter, "bytes_total", "Serialized ArchiverService message bytes", registry, DIRECTION)
        self.failures = _per_call(Counter, "failures_total", "ArchiverService calls that failed", registry, RETRYABLE)
        self.inflight_streams = Gauge(
            "archiver_sidecar_inflight_streams",
            "ArchiveHistory streams in progress, by URI scheme.",
            ("scheme",),
            registry=registry,
        )
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe_call(
        self,
        rpc: str,
        scheme: str,
        code: str,
        seconds: float,
        bytes_in: int,
        bytes_out: int,
        retryable: bool | None,
    ) -> None:
        """Record one finished call; ``retryable`` is ``None`` for a call that ended OK."""
        self.calls.labels(rpc, scheme, code).inc()
        self.call_seconds.labels(rpc, scheme).observe(seconds)
        self.bytes.labels(rpc, scheme, "in").inc(bytes_in)
        self.bytes.labels(rpc, scheme, "out").inc(bytes_out)
        if retryable is not None:
            self.failures.labels(rpc, scheme, "true" if retryable else "false").inc()

    def serve(self, listen: str) -> str:
        """Serve ``/metrics`` on ``listen`` (``host:port``, port 0 picks one); return the bound ``host:port``."""
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        try:
            self._http, self._thread = start_http_server(int(port), addr=host, registry=self.registry)
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"cannot serve metrics on {listen!r}: {exc}") from exc
        bound = self._http.server_port
        return f"{listen.rpartition(':')[0]}:{bound}"

    def close(self) -> None:
        """Stop the ``/metrics`` HTTP server if :meth:`serve` started one (idempotent)."""
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
