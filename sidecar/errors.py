"""The one table mapping library errors to gRPC status codes, and the status details sent with them.

Every failed call carries a ``google.rpc.Status`` (through :mod:`grpc_status`) with one
``google.rpc.ErrorInfo`` detail: ``domain`` :data:`ERROR_DOMAIN`, ``reason`` naming the error
class (stable strings, see :data:`ERROR_TABLE`) and ``metadata["retryable"]`` = ``"true"`` or
``"false"`` (the error instance's own ``retryable``). :mod:`archivers.remote` reads the same table
to turn a status back into the library error.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
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

ERROR_DOMAIN = "temporal-archivers"
"""``ErrorInfo.domain`` of every error the sidecar returns."""

UNEXPECTED_REASON = "INTERNAL"
"""``ErrorInfo.reason`` of an exception that is not an :class:`ArchiverError` (a bug): ``INTERNAL``, retryable."""

ABORTED_REASON = "ARCHIVE_ABORTED"
"""``ErrorInfo.reason`` of an ArchiveHistory call the client abandoned (status ``ABORTED``)."""


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
    """A ``grpc.Status`` for ``context.abort_with_status`` with an ``ErrorInfo`` detail (see the module docstring)."""
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


def _code_number(code: grpc.StatusCode) -> int:
    number = code.value[0]
    assert isinstance(number, int)
    assert code_pb2.Code.Name(number)  # every grpc.StatusCode is a google.rpc.Code
    return number
