"""Exact time and duration text formats used by Temporal, at nanosecond precision.

Instants are integers: nanoseconds since the Unix epoch, UTC. Python's ``datetime`` is avoided
because it stops at microseconds. Formats follow Go: ``time.RFC3339`` / ``time.RFC3339Nano``
(which Go parses identically: fractional seconds are optional in both), ``time.ParseDuration``
plus Temporal's ``d`` unit, and Temporal's ``HH:MM:SS`` durations.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

NANOS_PER_SECOND = 1_000_000_000
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z"
)
_DATE_ONLY = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")


@dataclass(frozen=True)
class ParsedTime:
    """An instant as written in a query: ``unix_nanos`` (UTC) and the ``offset_seconds`` it was written in."""

    unix_nanos: int
    offset_seconds: int = 0

    @property
    def wall_nanos(self) -> int:
        """The written wall-clock fields read as if they were UTC (Go's ``t.Format`` without ``.UTC()``)."""
        return self.unix_nanos + self.offset_seconds * NANOS_PER_SECOND


def _civil_to_nanos(year: int, month: int, day: int, hour: int, minute: int, second: int, frac: int) -> int:
    days = _dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * NANOS_PER_SECOND) + frac


def parse_rfc3339(text: str, *, allow_date: bool = False) -> ParsedTime | None:
    """Parse Go ``time.RFC3339``/``RFC3339Nano`` text (and, with ``allow_date``, ``YYYY-MM-DD``).

    Returns ``None`` if the text is not such a time or names an impossible date/time.
    """
    m = _RFC3339.match(text)
    try:
        if m is None:
            d = _DATE_ONLY.match(text) if allow_date else None
            if d is None:
                return None
            return ParsedTime(_civil_to_nanos(int(d[1]), int(d[2]), int(d[3]), 0, 0, 0, 0))
        hour, minute, second = int(m[4]), int(m[5]), int(m[6])
        if hour > 23 or minute > 59 or second > 59:
            return None
        frac = int((m[7] or "").ljust(9, "0") or "0")
        nanos = _civil_to_nanos(int(m[1]), int(m[2]), int(m[3]), hour, minute, second, frac)
    except ValueError:
        return None
    offset = 0
    if m[8] is None:
        oh, om = int(m[10]), int(m[11])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m[9] == "+" else -1)
    return ParsedTime(nanos - offset * NANOS_PER_SECOND, offset)


def format_rfc3339_nano(unix_nanos: int, offset_seconds: int = 0) -> str:
    """Format like Go's ``t.Format(time.RFC3339Nano)``: trailing fractional zeros dropped, ``Z`` for UTC."""
    wall = unix_nanos + offset_seconds * NANOS_PER_SECOND
    secs, frac = divmod(wall, NANOS_PER_SECOND)
    days, rem = divmod(secs, 86400)
    date = _dt.date.fromordinal(days + _EPOCH_ORDINAL)
    text = f"{date.year:04d}-{date.month:02d}-{date.day:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if offset_seconds == 0:
        return text + "Z"
    sign = "+" if offset_seconds > 0 else "-"
    off = abs(offset_seconds)
    return f"{text}{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


MIN_NANOS = _civil_to_nanos(1, 1, 1, 0, 0, 0, 0)
MAX_NANOS = _civil_to_nanos(9999, 12, 31, 23, 59, 59, NANOS_PER_SECOND - 1)

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": NANOS_PER_SECOND,
    "m": 60 * NANOS_PER_SECOND,
    "h": 3600 * NANOS_PER_SECOND,
}
_GO_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")
_DAYS = re.compile(r"(\d+(\.\d*)?|(\.\d+))d")
_HHMMSS = re.compile(r"([+-]?\d+):([+-]?\d+):([+-]?\d+)\Z")


def parse_go_duration(text: str) -> int | None:
    """Parse Go ``time.ParseDuration`` text (``300ms``, ``-1.5h``, ``2h45m``) to nanoseconds, or ``None``."""
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = 0
    pos = 0
    while pos < len(s):
        m = _GO_DURATION_PART.match(s, pos)
        if m is None or (not m[1] and not m[2]):
            return None
        unit = _UNITS.get(m[3])
        if unit is None:
            return None
        whole = int(m[1] or "0")
        value = whole * unit
        frac_digits = m[2] or ""
        if frac_digits:
            frac_digits = frac_digits[:18]
            value += int(float(int(frac_digits)) * (unit / 10 ** len(frac_digits)))
        total += value
        pos = m.end()
    if total > (1 << 63) - (0 if neg else 1):
        return None
    return -total if neg else total


def parse_temporal_duration(text: str) -> int | None:
    """Parse a duration the way Temporal's List Filter does for ``ExecutionDuration``, in nanoseconds.

    Tried in order: an integer (nanoseconds), a Go duration with Temporal's extra ``d`` (24h) unit,
    then ``HH:MM:SS`` (minutes and seconds 0-59). Returns ``None`` if none applies.
    """
    try:
        value = int(text, 10)
        if text.strip() == text and "_" not in text and INT64_MIN <= value <= INT64_MAX:
            return value
    except ValueError:
        pass
    replaced = _DAYS.sub(lambda m: f"{24 * float(m[0][:-1]):f}h", text)
    nanos = parse_go_duration(replaced)
    if nanos is not None:
        return nanos
    hms = _HHMMSS.match(text)
    if hms is None:
        return None
    hours, minutes, seconds = (int(g) for g in hms.groups())
    if hours < 0 or not 0 <= minutes <= 59 or not 0 <= seconds <= 59:
        return None
    return (hours * 3600 + minutes * 60 + seconds) * NANOS_PER_SECOND


PRECISION_NANOS = {
    "Day": 86400 * NANOS_PER_SECOND,
    "Hour": 3600 * NANOS_PER_SECOND,
    "Minute": 60 * NANOS_PER_SECOND,
    "Second": NANOS_PER_SECOND,
}


def precision_window(time: ParsedTime, precision: str) -> tuple[int, int]:
    """The half-open UTC window ``[start, end)`` in nanoseconds that ``SearchPrecision`` gives a time.

    Like the built-in archivers, the time's written wall-clock fields are truncated to the precision
    and read as UTC (they format the query time without converting it to UTC first).
    """
    unit = PRECISION_NANOS[precision]
    start = time.wall_nanos // unit * unit
    return start, start + unit
