"""Reading a small UTF-8 text file the user named, failing with one line that names it."""

from __future__ import annotations

from archivers.errors import InvalidArgumentError


def read_text(path: str, what: str, error: type[InvalidArgumentError]) -> str:
    """Return the text of the UTF-8 file ``path``.

    Raises ``error`` with the message ``"{path}: cannot read {what}: {reason}"`` if the file cannot
    be opened or read or is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{path}: cannot read {what}: {reason}") from exc
