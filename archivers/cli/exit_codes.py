"""The ``archiver`` command's exit codes, and the one function that maps an exception to one.

| code | meaning |
| --- | --- |
| 0 | success |
| 1 | anything else (a store failure that no retry fixes, a missing optional dependency, a bug) |
| 2 | invalid input: usage, URI, query, page token, a bad file (:class:`InvalidArgumentError`) |
| 3 | not found (:class:`ArchiveNotFoundError`) |
| 4 | transient failure: a retry may succeed (an :class:`ArchiverError` whose ``retryable`` is true) |
"""

from __future__ import annotations

import click

from archivers.errors import ArchiveNotFoundError, ArchiverError, InvalidArgumentError

SUCCESS = 0
FAILURE = 1
INVALID_INPUT = 2
NOT_FOUND = 3
TRANSIENT = 4
INTERRUPTED = 130
"""Ctrl-C, as shells report a SIGINT death."""


def exit_code_for(error: BaseException) -> int:
    """Return the exit code for ``error``, following the table in this module's docstring.

    Invalid input wins over ``retryable`` (invalid input is never retryable anyway), not found
    comes next, then any retryable library error; everything else is :data:`FAILURE`.
    """
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(error, (InvalidArgumentError, click.UsageError, click.BadParameter)):
        return INVALID_INPUT
    if isinstance(error, ArchiveNotFoundError):
        return NOT_FOUND
    if isinstance(error, ArchiverError) and error.retryable:
        return TRANSIENT
    return FAILURE
