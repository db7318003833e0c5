"""History and visibility archivers that call a running sidecar (``archiver serve``) over gRPC.

:class:`RemoteHistoryArchiver` and :class:`RemoteVisibilityArchiver` implement the library
interfaces (:class:`~archivers.interfaces.HistoryArchiver`, :class:`~archivers.interfaces.VisibilityArchiver`)
by calling ``temporal_archivers.v1.ArchiverService``; the sidecar's own backends do the work.
Failed calls raise the library error the sidecar reported (:func:`error_from_rpc`, the inverse of
the table in :mod:`archivers.wire.status`). Needs the ``sidecar`` extra (``grpcio``, ``grpcio-status``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any

import grpc
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import ENCODINGS, PROTOBUF, EncodedBatches
from archivers.errors import ArchiverError, InvalidArgumentError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.uri import URI, as_uri
from archivers.wire.messages import (
    encoded_page_from_pb,
    encoding_from_pb,
    encoding_to_pb,
    get_request_to_pb,
    get_response_from_pb,
    header_to_pb,
    progress_from_pb,
    query_request_to_pb,
    query_response_from_pb,
)
from archivers.wire.status import error_for_status, error_info

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest message a channel from :func:`connect` sends or accepts (matches the sidecar)."""

DEFAULT_GROUP_BYTES = 1024 * 1024
"""ArchiveHistory packs consecutive batches into one stream message up to about this many bytes."""


def connect(
    target: str,
    *,
    tls: bool | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    server_name: str | None = None,
) -> grpc.Channel:
    """A channel to the sidecar at ``target`` (``host:port``) with the sidecar's message size limits.

    Plaintext unless ``tls`` is true or any TLS option is given (``tls=None`` decides from them).
    ``ca_file`` (PEM) verifies the sidecar's certificate (default: the system roots);
    ``cert_file`` and ``key_file`` (PEM, both or neither) are the client certificate for mutual
    TLS; ``server_name`` overrides the name checked against the server certificate. Raises
    :class:`InvalidArgumentError` for an incomplete or unreadable set of files.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    wanted = any(value is not None for value in (ca_file, cert_file, key_file, server_name))
    if tls is False and wanted:
        raise InvalidArgumentError("TLS options were given with tls=False")
    if not (tls or wanted):
        return grpc.insecure_channel(target, options=options)
    if (cert_file is None) != (key_file is None):
        raise InvalidArgumentError("a client certificate needs both cert_file and key_file")

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read TLS file {path}: {exc.strerror}") from exc

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca_file), private_key=read(key_file), certificate_chain=read(cert_file)
    )
    if server_name is not None:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, credentials, options=options)


def error_from_rpc(error: grpc.RpcError) -> ArchiverError:
    """The library error a failed sidecar call stands for (:func:`archivers.wire.status.error_for_status`).

    With the sidecar's ``ErrorInfo`` the reason selects the class from :data:`archivers.wire.status.ERROR_TABLE`
    and ``metadata["retryable"]`` sets ``retryable``; without it (a proxy, a dead sidecar) the status
    code decides: ``UNAVAILABLE``/``DEADLINE_EXCEEDED``/``ABORTED``/``CANCELLED`` are transient,
    ``RESOURCE_EXHAUSTED`` overload, ``INTERNAL`` and ``UNKNOWN`` retryable :class:`ArchiverError`,
    ``INVALID_ARGUMENT`` invalid input, ``DATA_LOSS`` corruption, the rest non-retryable.
    """
    if not isinstance(error, grpc.Call):
        return error_for_status(grpc.StatusCode.UNKNOWN, str(error), None)
    return error_for_status(error.code(), error.details() or str(error), error_info(error.trailing_metadata()))


class _Remote:
    """What both remote archivers share: the stub, the timeout, error mapping and the URI checks."""

    _kind: pb.ArchiverKind.ValueType  # what ValidateURI checks the URI for

    def __init__(self, channel: grpc.Channel, *, timeout: float | None = None) -> None:
        self._stub: Any = service_pb2_grpc.ArchiverServiceStub(channel)
        self.timeout = timeout

    def check_uri(self, uri: URI) -> None:
        """Nothing beyond parsing (done by the caller): the sidecar checks the URI on every call."""

    def validate_uri(self, uri: URI | str) -> None:
        """Ask the sidecar to check ``uri`` for this archiver's kind of archival (may touch the store)."""
        self._call("ValidateURI", pb.ValidateURIRequest(uri=str(as_uri(uri)), kind=self._kind))

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc


class RemoteHistoryArchiver(_Remote, HistoryArchiver):
    """A :class:`HistoryArchiver` for every scheme the sidecar behind ``channel`` serves.

    ``timeout`` (seconds, ``None``: none) bounds each call. ``check_uri`` only parses: the sidecar
    checks each URI for its backend and a bad one raises :class:`InvalidURIError` from the call;
    ``validate_uri`` asks the sidecar to check a URI for history archival (may touch the store).
    ``archive`` streams batches as ``batches`` yields them (never a list) and tells ``progress``
    the sidecar's progress points after the call returns (one response per client-streaming call).
    If ``batches`` raises, the archive is aborted on the sidecar, which keeps what is durable, and
    the exception is re-raised once the sidecar has stopped.
    """

    _kind = pb.ARCHIVER_KIND_HISTORY

    def __init__(
        self, channel: grpc.Channel, *, timeout: float | None = None, group_bytes: int = DEFAULT_GROUP_BYTES
    ) -> None:
        super().__init__(channel, timeout=timeout)
        self.group_bytes = group_bytes

    def _archive(
        self, uri: URI, request: ArchiveHistoryRequest, batches: Iterable[History], progress: ProgressRecorder | None
    ) -> None:
        serialized = (batch.SerializeToString() for batch in batches)
        self._archive_encoded(uri, request, EncodedBatches(serialized, PROTOBUF), progress)

    def _archive_encoded(
        self, uri: URI, request: ArchiveHistoryRequest, batches: EncodedBatches, progress: ProgressRecorder | None
    ) -> None:
        failure: list[Exception] = []
        header = header_to_pb(uri, request)
        header.batch_encoding = encoding_to_pb(batches.encoding)
        stream = self._stream(header, batches.batches, failure)
        try:
            response = self._stub.ArchiveHistory(stream, timeout=self.timeout)
        except grpc.RpcError as exc:
            if failure:
                raise failure[0] from exc
            raise error_from_rpc(exc) from exc
        if failure:
            raise failure[0]
        if progress is not None:
            for point in response.progress:
                progress.record(progress_from_pb(point))

    def _stream(self, header: Any, batches: Iterable[bytes], failure: list[Exception]) -> Iterator[Any]:
        yield pb.ArchiveHistoryRequest(header=header)
        group: list[bytes] = []
        size = 0
        try:
            for data in batches:
                group.append(data)
                size += len(data)
                if size >= self.group_bytes:
                    yield pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=group))
                    group, size = [], 0
        except Exception as exc:  # the caller's event source failed: abort, re-raise after the call
            failure.append(exc)
            yield pb.ArchiveHistoryRequest(abort=pb.ArchiveAbort(reason=f"{type(exc).__name__}: {exc}"))
            return
        if group:
            yield pb.ArchiveHistoryRequest(batches=pb.HistoryBatches(history=group))

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        return get_response_from_pb(self._call("GetHistory", get_request_to_pb(uri, request)))

    def _get_encoded(self, uri: URI, request: GetHistoryRequest, accepted: Collection[str]) -> EncodedHistoryPage:
        message = get_request_to_pb(uri, request)
        message.accepted_encodings.extend(encoding_to_pb(name) for name in sorted(set(accepted) & set(ENCODINGS)))
        return encoded_page_from_pb(self._call("GetHistory", message))

    def _stored_encoding(self, uri: URI) -> str:
        response = self._call("GetHistoryEncoding", pb.GetHistoryEncodingRequest(uri=str(uri)))
        return encoding_from_pb(response.batch_encoding)

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        response = self._call("GetArchiveProgress", pb.GetArchiveProgressRequest(header=header_to_pb(uri, request)))
        return progress_from_pb(response.progress)


class RemoteVisibilityArchiver(_Remote, VisibilityArchiver):
    """A :class:`VisibilityArchiver` for every scheme the sidecar behind ``channel`` serves.

    ``timeout`` (seconds, ``None``: none) bounds each call; ``check_uri`` only parses and
    ``validate_uri`` asks the sidecar (see :class:`RemoteHistoryArchiver`).
    """

    _kind = pb.ARCHIVER_KIND_VISIBILITY

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        self._call("ArchiveVisibility", pb.ArchiveVisibilityRequest(uri=str(uri), record=record))

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        message = query_request_to_pb(uri, request, search_attribute_types)
        return query_response_from_pb(self._call("QueryVisibility", message))
