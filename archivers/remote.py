"""History and visibility archivers that call a running sidecar (``archiver serve``) over gRPC.

:class:`RemoteHistoryArchiver` and :class:`RemoteVisibilityArchiver` implement the library
interfaces (:class:`~archivers.interfaces.HistoryArchiver`, :class:`~archivers.interfaces.VisibilityArchiver`)
by calling ``temporal_archivers.v1.ArchiverService``; the sidecar's own backends do the work.
Failed calls raise the library error the sidecar reported (:func:`error_from_rpc`, the inverse of
the table in :mod:`sidecar.errors`). Needs the ``sidecar`` extra (``grpcio``, ``grpcio-status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # googleapis-common-protos has no stubs
from grpc_status import rpc_status
from temporalio.api.history.v1 import History
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import (
    ArchiverError,
    CorruptArchiveError,
    InvalidArgumentError,
    MissingDependencyError,
    NonRetryableError,
    OverloadedError,
    QueryError,
    TransientError,
)
from archivers.interfaces import (
    ArchiveHistoryRequest,
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
from sidecar.errors import ERROR_DOMAIN, mapping_for_reason

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
    """The library error a failed sidecar call stands for.

    With the sidecar's ``ErrorInfo`` the reason selects the class from :data:`sidecar.errors.ERROR_TABLE`
    and ``metadata["retryable"]`` sets ``retryable``; without it (a proxy, a dead sidecar) the status
    code decides: ``UNAVAILABLE``/``DEADLINE_EXCEEDED``/``ABORTED``/``CANCELLED`` are transient,
    ``RESOURCE_EXHAUSTED`` overload, ``INVALID_ARGUMENT`` invalid input, ``DATA_LOSS`` corruption,
    the rest non-retryable.
    """
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (error.details() if isinstance(error, grpc.Call) else None) or str(error)
    reason, retryable = "", None
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    details: list[Any] = list(status.details) if status is not None else []
    for detail in details:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            reason = info.reason
            retryable = {"true": True, "false": False}.get(info.metadata.get("retryable", ""))
    row = mapping_for_reason(reason)
    cls: type[ArchiverError]
    if row is not None and row.code == code:
        cls = row.error
    elif code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    ):
        cls = TransientError
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        cls = OverloadedError
    elif code == grpc.StatusCode.INVALID_ARGUMENT:
        cls = InvalidArgumentError
    elif code == grpc.StatusCode.DATA_LOSS:
        cls = CorruptArchiveError
    elif code == grpc.StatusCode.INTERNAL:
        cls = ArchiverError
    else:
        cls = NonRetryableError
    # Build without the subclass constructor: some (QueryError, MissingDependencyError) take other
    # arguments, and the message is already final text.
    exc = cls.__new__(cls)
    ArchiverError.__init__(exc, message, retryable=retryable)
    if isinstance(exc, QueryError):
        exc.position, exc.suggestion = None, None
    if isinstance(exc, MissingDependencyError):
        exc.extra = ""
    return exc


class _Remote:
    def __init__(self, channel: grpc.Channel, *, timeout: float | None = None) -> None:
        self._stub: Any = service_pb2_grpc.ArchiverServiceStub(channel)
        self.timeout = timeout

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc


class RemoteHistoryArchiver(_Remote, HistoryArchiver):
    """A :class:`HistoryArchiver` for every scheme the sidecar behind ``channel`` serves.

    ``timeout`` (seconds, ``None``: none) bounds each call. ``check_uri`` only parses: the sidecar
    checks each URI for its backend and a bad one raises :class:`InvalidURIError` from the call.
    ``archive`` streams batches as ``batches`` yields them (never a list) and tells ``progress``
    the sidecar's progress points after the call returns (one response per client-streaming call).
    If ``batches`` raises, the archive is aborted on the sidecar, which keeps what is durable, and
    the exception is re-raised once the sidecar has stopped.
    """

    def __init__(
        self, channel: grpc.Channel, *, timeout: float | None = None, group_bytes: int = DEFAULT_GROUP_BYTES
    ) -> None:
        super().__init__(channel, timeout=timeout)
        self.group_bytes = group_bytes

    def check_uri(self, uri: URI) -> None:
        """Nothing beyond parsing (done by the caller): the sidecar checks the URI on every call."""

    def validate_uri(self, uri: URI | str) -> None:
        """Ask the sidecar to check ``uri`` for history archival (may touch the store)."""
        self._call("ValidateURI", pb.ValidateURIRequest(uri=str(as_uri(uri)), kind=pb.ARCHIVER_KIND_HISTORY))

    def _archive(
        self,
        uri: URI,
        request: ArchiveHistoryRequest,
        batches: Iterable[History],
        progress: ProgressRecorder | None,
    ) -> None:
        failure: list[Exception] = []
        messages = self._stream(_header(uri, request), batches, failure)
        try:
            response = self._stub.ArchiveHistory(messages, timeout=self.timeout)
        except grpc.RpcError as exc:
            if failure:
                raise failure[0] from exc
            raise error_from_rpc(exc) from exc
        if failure:
            raise failure[0]
        if progress is not None:
            for point in response.progress:
                progress.record(ArchiveProgress(point.last_event_id, point.complete))

    def _stream(self, header: Any, batches: Iterable[History], failure: list[Exception]) -> Iterator[Any]:
        yield pb.ArchiveHistoryRequest(header=header)
        group: list[bytes] = []
        size = 0
        try:
            for batch in batches:
                data = batch.SerializeToString()
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
        message = pb.GetHistoryRequest(
            uri=str(uri),
            namespace_id=request.namespace_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            page_size=request.page_size,
            next_page_token=request.next_page_token,
        )
        if request.close_failover_version is not None:
            message.close_failover_version = request.close_failover_version
        response = self._call("GetHistory", message)
        return GetHistoryResponse(
            history_batches=[History.FromString(data) for data in response.history_batches],
            next_page_token=response.next_page_token,
        )

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        response = self._call("GetArchiveProgress", pb.GetArchiveProgressRequest(header=_header(uri, request)))
        return ArchiveProgress(response.progress.last_event_id, response.progress.complete)


class RemoteVisibilityArchiver(_Remote, VisibilityArchiver):
    """A :class:`VisibilityArchiver` for every scheme the sidecar behind ``channel`` serves.

    ``timeout`` (seconds, ``None``: none) bounds each call; ``check_uri`` only parses (see
    :class:`RemoteHistoryArchiver`).
    """

    def check_uri(self, uri: URI) -> None:
        """Nothing beyond parsing (done by the caller): the sidecar checks the URI on every call."""

    def validate_uri(self, uri: URI | str) -> None:
        """Ask the sidecar to check ``uri`` for visibility archival (may touch the store)."""
        self._call("ValidateURI", pb.ValidateURIRequest(uri=str(as_uri(uri)), kind=pb.ARCHIVER_KIND_VISIBILITY))

    def _archive(self, uri: URI, record: VisibilityRecord) -> None:
        self._call("ArchiveVisibility", pb.ArchiveVisibilityRequest(uri=str(uri), record=record))

    def _query(
        self, uri: URI, request: QueryVisibilityRequest, search_attribute_types: SearchAttributeTypes
    ) -> QueryVisibilityResponse:
        response = self._call(
            "QueryVisibility",
            pb.QueryVisibilityRequest(
                uri=str(uri),
                namespace_id=request.namespace_id,
                page_size=request.page_size,
                next_page_token=request.next_page_token,
                query=request.query,
                search_attribute_types={name: int(kind) for name, kind in search_attribute_types.items()},
                search_attribute_aliases=dict(request.search_attribute_aliases),
            ),
        )
        return QueryVisibilityResponse(
            executions=[WorkflowExecutionInfo.FromString(data) for data in response.executions],
            next_page_token=response.next_page_token,
        )


def _header(uri: URI, request: ArchiveHistoryRequest) -> Any:
    return pb.ArchiveHistoryHeader(
        uri=str(uri),
        namespace_id=request.namespace_id,
        namespace=request.namespace,
        workflow_id=request.workflow_id,
        run_id=request.run_id,
        close_failover_version=request.close_failover_version,
        next_event_id=request.next_event_id,
        shard_id=request.shard_id,
    )
