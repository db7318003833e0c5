"""The temporal-archivers gRPC sidecar: serves ``temporal_archivers.v1.ArchiverService``.

:mod:`sidecar.server` builds, starts and stops the server (with gRPC health and reflection);
:mod:`sidecar.servicer` implements the service over the :mod:`archivers` library;
:mod:`archivers.wire` holds the error <-> status table and the message conversions it shares
with the remote client; :mod:`sidecar.config` reads the sidecar's YAML file. Run it with ``archiver serve``.
"""

from __future__ import annotations

DEFAULT_LISTEN = "127.0.0.1:7299"
"""Default listen address: loopback only, on a port clear of Temporal's own (7233-7243, 6933-6939)."""

SERVICE_NAME = "temporal_archivers.v1.ArchiverService"
"""The fully qualified gRPC service name (also the health-check service name)."""

__all__ = ["DEFAULT_LISTEN", "SERVICE_NAME"]
