"""Sidecar logging: text or JSON lines, a request id on every record, no credentials.

:func:`configure_logging` installs one handler on the root logger. Every record it writes gets
``request_id`` (from :data:`REQUEST_ID`, set by :mod:`sidecar.interceptors` around each call) and
has its text passed through :func:`archivers.redact.redact` (the project's one redaction): URIs lose
userinfo (``user:password@``), query and fragment, since S3-compatible or fsspec URIs may carry keys
there, and secret parameters such as ``AccountKey=`` lose their values. Structured fields
go in a record's ``fields`` attribute (``logger.info("call", extra={"fields": {...}})``); the
JSON formatter emits them as keys, the text formatter as ``key=value`` pairs. Settings mappings
must never be logged; nothing here logs them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, TextIO

from archivers.redact import redact as redact_text
from sidecar.config import LogConfig

REQUEST_ID: ContextVar[str | None] = ContextVar("archiver_sidecar_request_id", default=None)
"""The id of the call the current thread serves (``None`` outside a call)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
"""Line layout of the ``text`` format (structured fields follow as ``key=value``)."""


_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    r"""``text`` with every character that is not printable (bar the space) written as a Python escape.

    Newline, carriage return, tab, ESC and the other C0 and C1 controls, line and paragraph separators
    and any other non-printable character become ``\n``, ``\x1b``, ``\u2028``..., so a value
    taken from a request can never start a new log line or drive a terminal. Printable text,
    backslashes included, is unchanged.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a call) to every record that passes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.request_id`` from :data:`REQUEST_ID` unless the record already has one."""
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


class TextFormatter(logging.Formatter):
    """One human-readable line per record (:data:`TEXT_FORMAT` then ``key=value`` fields), redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, append its structured fields, escape control characters, redact URIs.

        The message, the logger name, the request id and every field key and value pass through
        :func:`escape_control`, so the head line is always one line; a traceback keeps its line
        breaks but has every other control character escaped.
        """
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        line = super().format(record)
        fields = _fields(record).items()
        extra = " ".join(f"{escape_control(str(key))}={escape_control(str(value))}" for key, value in fields)
        if extra:
            head, newline, tail = line.partition("\n")
            line = f"{head} {extra}{newline}{tail}"
        return redact_text(line)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The head line of ``record`` with its message, logger name and request id escaped."""
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = escape_control(record.message)
        safe.name = escape_control(record.name)
        safe.request_id = escape_control(str(getattr(record, "request_id", "-")))
        return super().formatMessage(safe)

    def formatException(self, ei: Any) -> str:
        """The traceback of ``ei``, one frame line per line, other control characters escaped."""
        return _escape_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        """``stack_info`` line by line, other control characters escaped."""
        return _escape_lines(super().formatStack(stack_info))


def _escape_lines(text: str) -> str:
    return "\n".join(escape_control(line) for line in text.split("\n"))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``request_id``, fields, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as a JSON object with every string value redacted."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for key, value in _fields(record).items():
            document.setdefault(str(key), value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        redacted = {key: redact_text(value) if isinstance(value, str) else value for key, value in document.items()}
        # json escapes C0 controls; C1 controls and U+2028/U+2029 (line breaks to some readers) too:
        text = json.dumps(redacted, default=str, ensure_ascii=False)
        return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def make_handler(config: LogConfig, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the formatter ``config.format`` names and the request-id filter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if config.format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


_installed: logging.Handler | None = None


CHATTY_SDK_LOGGERS = ("azure",)
"""SDK loggers that log every HTTP request and response (with headers) at INFO: kept at WARNING
unless the sidecar logs at DEBUG, so they do not bury the access log."""


def configure_logging(config: LogConfig, stream: TextIO | None = None) -> logging.Handler:
    """Make the root logger write ``config.format`` lines at ``config.level`` (replacing an earlier call's handler)."""
    global _installed
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    _installed = make_handler(config, stream)
    root.addHandler(_installed)
    root.setLevel(config.level.upper())
    for name in CHATTY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    return _installed
