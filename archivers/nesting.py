"""Decoding nested data from outside (JSON, YAML, protobuf JSON) without crashing on deep nesting.

Python's JSON and YAML parsers, protobuf's ``ParseDict`` and the code walking what they return
recurse once per level of nesting, so a document nested a few thousand levels deep (``[[[[...]]]]``)
raises :class:`RecursionError`, which is neither invalid input nor a retryable failure.
:func:`nesting_limit` is the one place that turns it into the caller's own error class at the
decode boundary: an invalid-input error for what a user or client handed in (history and record
files, page tokens, config files), :class:`~archivers.errors.CorruptArchiveError` for stored data,
``ValueError`` for values whose callers already treat ``ValueError`` as "does not parse".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

TOO_DEEP = "nested too deeply to decode"
"""The reason every error raised by :func:`nesting_limit` gives."""


@contextmanager
def nesting_limit(error: type[Exception], source: str) -> Iterator[None]:
    """Run the block; if it raises :class:`RecursionError`, raise ``error(f"{source}: {TOO_DEEP}")`` instead.

    Wrap only decoding (parsing and walking the decoded value), so a recursion bug elsewhere is
    not mistaken for bad data. The original is not chained: its traceback is thousands of frames.
    """
    try:
        yield
    except RecursionError:
        raise error(f"{source}: {TOO_DEEP}") from None
