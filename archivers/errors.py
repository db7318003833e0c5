"""The error hierarchy of temporal-archivers.

Every error derives from :class:`ArchiverError` and carries ``retryable``: whether the same
call may succeed if tried again. Errors that no retry can fix derive from
:class:`NonRetryableError`. Subclasses also inherit the matching builtin exception
(``ValueError``, ``LookupError``, ``ImportError``) so callers can catch them idiomatically.

Every class is built the same way: ``Class(message, *, keyword attributes)``, where ``message``
is the final text of ``str(error)`` (plus what the class adds from its attributes, such as
:class:`QueryError`'s position) and every keyword has a default, so code that only knows the
class and the text (the remote client rebuilding an error from a gRPC status) builds it with the
normal constructor. Every error pickles with its type, message, ``retryable`` and own attributes.

The wire maps these classes to gRPC status codes and the CLI to exit codes, each in one table
(:mod:`archivers.wire.status` and ``archivers.cli``); this module only defines them.
"""

from __future__ import annotations

from archivers.redact import redact


class ArchiverError(Exception):
    """Root of every error raised by this library.

    ``retryable`` defaults to the class attribute and may be overridden per instance. The message
    is passed through :func:`archivers.redact.redact`, so no error ever carries a URI's credentials
    or a secret parameter, whichever code built it.
    """

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class NonRetryableError(ArchiverError):
    """A failure that no retry can fix: bad input, missing bucket, permission denied, corrupt data."""

    retryable = False


class InvalidArgumentError(NonRetryableError, ValueError):
    """The caller's input is invalid (request field, page size, file, ...); nothing was changed."""


class InvalidURIError(InvalidArgumentError):
    """The archival URI is malformed or not valid for the backend."""


class UnknownSchemeError(InvalidURIError):
    """No backend is registered for the URI's scheme."""


class InvalidPageTokenError(InvalidArgumentError):
    """A next-page token is malformed, tampered with, or belongs to another request."""


class InvalidHistoryError(InvalidArgumentError):
    """History events handed to an archive are malformed, out of order, or incomplete."""


class QueryError(InvalidArgumentError):
    """A visibility query does not parse or does not type-check.

    ``position`` is the 0-based character offset of the problem in the query (or ``None``),
    ``suggestion`` an optional hint such as the correctly-cased field name.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        suggestion: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        text = message
        if position is not None:
            text = f"{text} (at position {position})"
        if suggestion:
            text = f"{text}; {suggestion}"
        super().__init__(text, retryable=retryable)
        self.position = position
        self.suggestion = suggestion


class ArchiveNotFoundError(NonRetryableError, LookupError):
    """The requested archived history does not exist."""


class MissingDependencyError(NonRetryableError, ImportError):
    """A backend's optional dependency is not installed; the message names the extra to install.

    ``extra`` is the pip extra that provides ``module`` (empty when unknown, e.g. rebuilt from a
    gRPC status). :meth:`for_backend` writes the usual message.
    """

    def __init__(self, message: str, *, extra: str = "", module: str = "", retryable: bool | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.extra = extra
        self.module = module

    @classmethod
    def for_backend(cls, scheme: str, *, extra: str, module: str) -> MissingDependencyError:
        """The error for the ``scheme`` backend missing ``module``: ``pip install 'temporal-archivers[extra]'``."""
        return cls(
            f"the {scheme!r} backend needs the {module!r} package: pip install 'temporal-archivers[{extra}]'",
            extra=extra,
            module=module,
        )


class StoreConfigurationError(NonRetryableError):
    """The store cannot serve the call as configured: missing bucket or container, permission denied."""


class HistoryMutatedError(NonRetryableError):
    """The history changed after it was closed (its events disagree with the archive request)."""


class CorruptArchiveError(NonRetryableError):
    """Stored archive data cannot be decoded; the message names the object or file."""


class TransientError(ArchiverError):
    """A temporary failure of the store (timeout, throttling, 5xx, connection reset)."""

    retryable = True


class OverloadedError(TransientError):
    """The service is at capacity; retry later without counting it as a failure."""
