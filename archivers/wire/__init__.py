"""What crosses the sidecar's gRPC wire, shared by the sidecar (server) and :mod:`archivers.remote` (client).

:mod:`archivers.wire.status` is the one error <-> status table (with ``google.rpc.ErrorInfo``) and
the one rule deciding whether a failed call is retryable; :mod:`archivers.wire.messages` converts
the library's request and response dataclasses to and from the ``temporal_archivers.v1`` messages.
``status`` needs the ``sidecar`` extra (``grpcio``, ``grpcio-status``): import it lazily from code
that must run without it. This package imports nothing by itself.
"""
