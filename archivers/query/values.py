"""Typing of query literals: turns a literal token into the value a field's kind needs.

Accepted forms follow Temporal's List Filter and the built-in archivers' parsers:

- keyword, text and keyword-list fields take quoted strings;
- ``Int`` fields take integers or decimals, ``Double`` fields any number, ``Bool`` fields ``TRUE``/``FALSE``;
- time fields take an unquoted integer (Unix nanoseconds, UTC; the built-in ``StartTime``,
  ``CloseTime`` and ``ExecutionTime`` clamp values <= 0 to the epoch as Temporal does) or a quoted
  RFC3339/RFC3339Nano time or ``YYYY-MM-DD`` date (midnight UTC);
- ``ExecutionDuration`` takes nanoseconds (number or string), a Go duration (``1h30m``, ``1.5s``, ``2d``)
  or ``HH:MM:SS``;
- ``ExecutionStatus`` takes a name (case-insensitive: ``Failed``, ``timed_out``, ``ContinuedAsNew``,
  ``WORKFLOW_EXECUTION_STATUS_FAILED``) or its number, quoted or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archivers.errors import QueryError
from archivers.query.ast import Field, Value, ValueKind
from archivers.query.fields import TIME_FIELDS, parse_status, status_names
from archivers.timefmt import INT64_MAX, INT64_MIN, ParsedTime, parse_rfc3339, parse_temporal_duration


@dataclass(frozen=True)
class Literal:
    """A literal as written.

    ``kind`` is ``STRING``, ``NUMBER``, ``BOOL`` or ``IDENT``; ``text`` is the decoded string, the
    number with its sign, ``TRUE``/``FALSE``, or the bare word.
    """

    kind: str
    text: str
    position: int


def _is_integer(text: str) -> bool:
    body = text.lstrip("+-")
    return body.isdigit()


def _int64(lit: Literal, field: Field) -> int:
    value = int(lit.text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise QueryError(f"value {lit.text} for {field.name} is out of the 64-bit range", position=lit.position)
    return value


def _float(lit: Literal, field: Field) -> float:
    value = float(lit.text)
    if not math.isfinite(value):
        raise QueryError(f"value {lit.text} for {field.name} is out of range", position=lit.position)
    return value


def _type_error(lit: Literal, field: Field, expected: str) -> QueryError:
    if lit.kind == "IDENT":
        return QueryError(f"{field.name} needs {expected}, got the bare word {lit.text!r}", position=lit.position,
                          suggestion=f"did you forget to quote it: '{lit.text}'?")
    shown = repr(lit.text) if lit.kind == "STRING" else lit.text
    return QueryError(f"{field.name} needs {expected}, got {shown}", position=lit.position)


def coerce(lit: Literal, field: Field) -> tuple[Value, ParsedTime | None]:
    """Type ``lit`` for ``field``; returns the value and, for quoted or numeric times, the time as written.

    Raises :class:`QueryError` pointing at the literal when it does not fit the field's kind.
    """
    kind = field.kind
    if kind in (ValueKind.KEYWORD, ValueKind.TEXT, ValueKind.KEYWORD_LIST):
        if lit.kind != "STRING":
            raise _type_error(lit, field, "a quoted string")
        return lit.text, None
    if kind is ValueKind.INT:
        if lit.kind != "NUMBER":
            raise _type_error(lit, field, "a number")
        return (_int64(lit, field) if _is_integer(lit.text) else _float(lit, field)), None
    if kind is ValueKind.DOUBLE:
        if lit.kind != "NUMBER":
            raise _type_error(lit, field, "a number")
        return _float(lit, field), None
    if kind is ValueKind.BOOL:
        if lit.kind != "BOOL":
            raise _type_error(lit, field, "TRUE or FALSE")
        return lit.text == "TRUE", None
    if kind is ValueKind.DATETIME:
        return _coerce_time(lit, field)
    if kind is ValueKind.DURATION:
        if lit.kind == "NUMBER" and _is_integer(lit.text):
            return _int64(lit, field), None
        if lit.kind == "STRING":
            nanos = parse_temporal_duration(lit.text)
            if nanos is not None:
                return nanos, None
        raise _type_error(lit, field, "a duration (nanoseconds, '1h30m', '1.5s', '2d' or 'HH:MM:SS')")
    # STATUS
    if lit.kind in ("STRING", "NUMBER"):
        status = parse_status(lit.text)
        if status is not None:
            return status, None
    if lit.kind == "IDENT" and parse_status(lit.text) is not None:
        raise _type_error(lit, field, "a status")
    raise QueryError(f"unknown {field.name} {lit.text!r}", position=lit.position,
                     suggestion="expected one of " + ", ".join(status_names()) + " or its number")


def _coerce_time(lit: Literal, field: Field) -> tuple[Value, ParsedTime | None]:
    if lit.kind == "NUMBER" and _is_integer(lit.text):
        nanos = _int64(lit, field)
        if field in TIME_FIELDS:
            nanos = max(nanos, 0)
        return nanos, ParsedTime(nanos)
    if lit.kind == "STRING":
        parsed = parse_rfc3339(lit.text, allow_date=True)
        if parsed is not None:
            return parsed.unix_nanos, parsed
        raise QueryError(f"invalid time {lit.text!r} for {field.name}", position=lit.position,
                         suggestion="use RFC3339 like '2024-05-01T10:00:00Z', a date '2024-05-01', "
                                    "or Unix nanoseconds")
    raise _type_error(lit, field, "a quoted RFC3339 time or Unix nanoseconds")
