"""The one table between library errors and gRPC statuses, and the one rule for "may a retry succeed?".

Every failed sidecar call carries a ``google.rpc.Status`` with one ``google.rpc.ErrorInfo``
detail: ``domain`` :data:`ERROR_DOMAIN`, ``reason`` naming the error class (stable strings, see
:data:`ERROR_TABLE`) and ``metadata["retryable"]`` = ``"true"`` or ``"false"`` (the error
instance's own ``retryable``). The sidecar builds statuses with :func:`status_for`; the remote
client turns them back into library errors with :func:`error_for_status`; the sidecar's metrics
and the Go shim (``shim/archiver/errors.go``, ``sidecarRetryable``, checked against this module by
``shim/archiver/retryable_table_test.go``) decide retryability with :func:`is_retryable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import (  # type: ignore[import-untyped]  # googleapis-common-protos has no stubs
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status

from archivers.errors import (
    ArchiveNotFoundError,
    ArchiverError,
    CorruptArchiveError,
    HistoryMutatedError,
    InvalidArgumentError,
    InvalidHistoryError,
    InvalidPageTokenError,
    InvalidURIError,
    MissingDependencyError,
    NonRetryableError,
    OverloadedError,
    QueryError,
    StoreConfigurationError,
    TransientError,
    UnknownSchemeError,
)
from archivers.redact import redact

ERROR_DOMAIN = "temporal-archivers"
"""``ErrorInfo.domain`` of every error the sidecar returns."""

UNEXPECTED_REASON = "INTERNAL"
"""``ErrorInfo.reason`` of an exception that is not an :class:`ArchiverError` (a bug): ``INTERNAL``, retryable."""

ABORTED_REASON = "ARCHIVE_ABORTED"
"""``ErrorInfo.reason`` of an ArchiveHistory call the client abandoned (status ``ABORTED``)."""

STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""Trailing metadata key holding the serialized ``google.rpc.Status`` with the details."""

Metadata = Sequence[tuple[str, str | bytes]]
"""gRPC metadata: ``(key, value)`` pairs, binary values (``-bin`` keys) as bytes."""


@dataclass(frozen=True)
class ErrorMapping:
    """One row of :data:`ERROR_TABLE`: instances of ``error`` go out as ``code`` with ``reason``."""

    error: type[ArchiverError]
    code: grpc.StatusCode
    reason: str


ERROR_TABLE: tuple[ErrorMapping, ...] = (
    # most specific classes first: the first row the error is an instance of wins
    ErrorMapping(UnknownSchemeError, grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_SCHEME"),
    ErrorMapping(InvalidURIError, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_URI"),
    ErrorMapping(InvalidPageTokenError, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"),
    ErrorMapping(InvalidHistoryError, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_HISTORY"),
    ErrorMapping(QueryError, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
    ErrorMapping(InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ErrorMapping(ArchiveNotFoundError, grpc.StatusCode.NOT_FOUND, "ARCHIVE_NOT_FOUND"),
    ErrorMapping(MissingDependencyError, grpc.StatusCode.FAILED_PRECONDITION, "MISSING_DEPENDENCY"),
    ErrorMapping(StoreConfigurationError, grpc.StatusCode.FAILED_PRECONDITION, "STORE_CONFIGURATION"),
    ErrorMapping(HistoryMutatedError, grpc.StatusCode.FAILED_PRECONDITION, "HISTORY_MUTATED"),
    ErrorMapping(CorruptArchiveError, grpc.StatusCode.DATA_LOSS, "CORRUPT_ARCHIVE"),
    ErrorMapping(NonRetryableError, grpc.StatusCode.FAILED_PRECONDITION, "NON_RETRYABLE"),
    ErrorMapping(OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED"),
    ErrorMapping(TransientError, grpc.StatusCode.UNAVAILABLE, "TRANSIENT"),
    ErrorMapping(ArchiverError, grpc.StatusCode.UNAVAILABLE, "ARCHIVER_ERROR"),
)
"""The error -> status table (invalid input, not found, non-retryable store failure, corrupt data,
overload, transient), searched in order. Reasons are part of the wire contract: never rename one."""

ERROR_FOR_CODE: dict[grpc.StatusCode, type[ArchiverError]] = {
    grpc.StatusCode.UNAVAILABLE: TransientError,
    grpc.StatusCode.DEADLINE_EXCEEDED: TransientError,
    grpc.StatusCode.ABORTED: TransientError,
    grpc.StatusCode.CANCELLED: TransientError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OverloadedError,
    grpc.StatusCode.INTERNAL: ArchiverError,
    # UNKNOWN is retryable. Our sidecar never sends it on purpose (its own unexpected exceptions
    # go out as INTERNAL, retryable): it comes from grpc-python for an exception outside the
    # servicer, from a proxy, or from a peer that crashed mid-call. None of these says that a
    # retry cannot succeed. For an archive, "non-retryable" is terminal: Temporal's archival
    # queue sends the task to the DLQ at once, so a wrong "no" loses the archive, while a wrong
    # "yes" only costs retries that the queue bounds (about an hour).
    grpc.StatusCode.UNKNOWN: ArchiverError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.DATA_LOSS: CorruptArchiveError,
}
"""The library error a status without our ``ErrorInfo`` stands for (a proxy, a dead sidecar, gRPC
itself); every code not listed is a :class:`NonRetryableError`. The class's ``retryable`` is the
code's retryability."""


def mapping_for(error: ArchiverError) -> ErrorMapping:
    """The first row of :data:`ERROR_TABLE` whose class ``error`` is an instance of (the last row matches any)."""
    for row in ERROR_TABLE:
        if isinstance(error, row.error):
            return row
    raise AssertionError("ERROR_TABLE ends with ArchiverError, which matches every library error")


def mapping_for_reason(reason: str) -> ErrorMapping | None:
    """The row of :data:`ERROR_TABLE` with ``reason``, or ``None`` for an unknown reason."""
    for row in ERROR_TABLE:
        if row.reason == reason:
            return row
    return None


def build_status(code: grpc.StatusCode, message: str, reason: str, retryable: bool) -> grpc.Status:
    """A ``grpc.Status`` for ``context.abort_with_status`` with an ``ErrorInfo`` detail (see the module docstring).

    ``message`` goes out through :func:`archivers.redact.redact`: the last line of defence, so no
    status message or detail ever carries a credential, whatever raised the error.
    """
    message = redact(message)
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=ERROR_DOMAIN, metadata={"retryable": "true" if retryable else "false"}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=_code_number(code), message=message, details=[detail])
    result: grpc.Status = rpc_status.to_status(status)
    return result


def status_for(error: BaseException) -> grpc.Status:
    """The status ``error`` is returned as: the table's row for library errors, ``INTERNAL`` for anything else."""
    if isinstance(error, ArchiverError):
        row = mapping_for(error)
        return build_status(row.code, str(error), row.reason, error.retryable)
    message = f"internal error: {type(error).__name__}: {error}"
    return build_status(grpc.StatusCode.INTERNAL, message, UNEXPECTED_REASON, True)


def error_info(trailing_metadata: Metadata | None) -> error_details_pb2.ErrorInfo | None:
    """The ``ErrorInfo`` of domain :data:`ERROR_DOMAIN` in a failed call's trailing metadata, or ``None``.

    A missing, undecodable or foreign detail is ``None``: the status code then decides.
    """
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                return info
    return None


def retryable_flag(info: error_details_pb2.ErrorInfo | None) -> bool | None:
    """``metadata["retryable"]`` of ``info`` as a bool; ``None`` without ``info`` or for any value but true/false."""
    if info is None:
        return None
    flag = info.metadata.get("retryable")
    return {"true": True, "false": False}.get(flag) if isinstance(flag, str) else None


def is_retryable(code: grpc.StatusCode, info: error_details_pb2.ErrorInfo | None) -> bool:
    """Whether a call that failed with ``code`` (and our ``info``, if any) may succeed on retry.

    The sidecar's verdict (:func:`retryable_flag`) decides when present; otherwise the code does
    (:data:`ERROR_FOR_CODE`: unavailable, deadline exceeded, aborted, cancelled, resource
    exhausted, internal and unknown are retryable; every other code is not).
    """
    flag = retryable_flag(info)
    if flag is not None:
        return flag
    return ERROR_FOR_CODE.get(code, NonRetryableError).retryable


def error_for_status(code: grpc.StatusCode, message: str, info: error_details_pb2.ErrorInfo | None) -> ArchiverError:
    """The library error a failed call stands for (the inverse of :func:`status_for`).

    ``info``'s reason selects the class from :data:`ERROR_TABLE` when its row has ``code``;
    otherwise :data:`ERROR_FOR_CODE` does. ``retryable`` is :func:`is_retryable`'s answer.
    """
    row = mapping_for_reason(info.reason) if info is not None else None
    error = row.error if row is not None and row.code == code else ERROR_FOR_CODE.get(code, NonRetryableError)
    return error(message, retryable=is_retryable(code, info))


def _code_number(code: grpc.StatusCode) -> int:
    number = code.value[0]
    assert isinstance(number, int)
    assert code_pb2.Code.Name(number)  # every grpc.StatusCode is a google.rpc.Code
    return number
