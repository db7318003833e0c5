"""A fast path for decoding parsed protojson: compiled per message type, exact or declined.

protobuf's ``json_format.ParseDict`` checks and sets one field at a time through Python, which
makes it the slowest step of reading a compat archive (about 4 MB/s). :func:`read_message` walks
the parsed JSON with a reader built once per message type, turns it into the nested keyword
arguments of the message's constructor (which upb fills in C), and builds the message in one call.

It takes only the canonical spelling Go's ``protojson`` writes (int64 as decimal strings or
numbers, standard padded base64, RFC 3339 timestamps, ``"1.5s"`` durations, enum names or
numbers, no ``null``). On anything else (an unknown field, a value of another type or spelling,
two members of one oneof, a well-known type other than Timestamp and Duration) it returns
``None`` and the caller decodes with ``ParseDict``, which gives the same message or the precise
error. So it never accepts what ``ParseDict`` refuses and never builds a different message.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from archivers.codec.field_types import INT32_TYPES, INT64_TYPES

M = TypeVar("M", bound=Message)


class _Declined(Exception):
    """Raised inside a reader when the value is not in the canonical form: ``ParseDict`` decides."""


_Read = Callable[[Any], Any]

_FLOAT32_MAX = 3.4028234663852886e38
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)\Z")
_DURATION = re.compile(r"(-)?(\d{1,12})(?:\.(\d{1,9}))?s\Z")
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 and 9999-12-31T23:59:59
_MAX_DURATION_SECONDS = 315576000000


def read_message(parsed: Any, message_type: type[M], *, ignore_unknown_fields: bool) -> M | None:
    """``parsed`` (one message's JSON object) as a ``message_type``, or ``None`` to leave it to ``ParseDict``.

    With ``ignore_unknown_fields``, fields no message type declares are dropped (as ``ParseDict``
    and Go's reader do for arrays of ``History``); without, they decline the fast path.
    """
    descriptor: Descriptor = message_type.DESCRIPTOR  # type: ignore[assignment]
    try:
        return message_type(**_reader(descriptor, ignore_unknown_fields)(parsed))
    except (_Declined, ValueError, TypeError, OverflowError):  # the constructor's refusals too
        return None


class _MessageReader:
    """Reads one message type's JSON object into its constructor's keyword arguments."""

    def __init__(self, ignore_unknown: bool) -> None:
        self.ignore_unknown = ignore_unknown
        self.fields: dict[str, tuple[str, _Read]] = {}  # by JSON name and by proto name
        self.oneofs: list[frozenset[str]] = []  # proto names of each oneof's members

    def __call__(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Declined
        fields = self.fields
        arguments: dict[str, Any] = {}
        for key, item in value.items():
            entry = fields.get(key)
            if entry is None:
                if self.ignore_unknown:
                    continue
                raise _Declined
            name, read = entry
            if item is None or name in arguments:  # null, or a field spelled both ways
                raise _Declined
            arguments[name] = read(item)
        for members in self.oneofs:
            if len(members.intersection(arguments)) > 1:
                raise _Declined
        return arguments


_READERS: dict[tuple[str, bool], _MessageReader] = {}


def _reader(descriptor: Descriptor, ignore_unknown: bool) -> _MessageReader:
    key = (descriptor.full_name, ignore_unknown)
    reader = _READERS.get(key)
    if reader is not None:
        return reader
    reader = _READERS[key] = _MessageReader(ignore_unknown)  # before the fields: Failure.cause is recursive
    for field in descriptor.fields:
        entry = (field.name, _field_read(field, ignore_unknown))
        reader.fields[field.json_name] = entry
        reader.fields[field.name] = entry
    reader.oneofs = [frozenset(f.name for f in oneof.fields) for oneof in descriptor.oneofs if len(oneof.fields) > 1]
    return reader


def _field_read(field: FieldDescriptor, ignore_unknown: bool) -> _Read:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if entry.fields_by_name["key"].type != FieldDescriptor.TYPE_STRING:
            return _decline
        read_value = _single_read(entry.fields_by_name["value"], ignore_unknown)

        def read_map(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _Declined
            return {key: read_value(item) for key, item in value.items()}

        return read_map
    read_single = _single_read(field, ignore_unknown)
    if not field.is_repeated:
        return read_single

    def read_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Declined
        return [read_single(item) for item in value]

    return read_list


def _single_read(field: FieldDescriptor, ignore_unknown: bool) -> _Read:
    message_type = field.message_type
    if message_type is None:
        if field.type == FieldDescriptor.TYPE_FLOAT:
            return _read_float32
        return _SCALAR_READS.get(field.type, _decline)
    well_known = _WELL_KNOWN_READS.get(message_type.full_name)
    if well_known is not None:
        return well_known
    if message_type.full_name.startswith("google.protobuf."):
        return _decline
    return _reader(message_type, ignore_unknown)


def _decline(value: Any) -> Any:
    raise _Declined


def _read_int64(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str and value.isascii() and (value.isdigit() or (value[:1] == "-" and value[1:].isdigit())):
        return int(value)
    raise _Declined



def _read_double(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    raise _Declined


def _read_float32(value: Any) -> float:
    number = _read_double(value)
    if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise _Declined
    return number




def _read_bytes(value: Any) -> bytes:
    if type(value) is not str or len(value) % 4:
        raise _Declined
    padding = value.find("=")
    if padding != -1 and (padding < len(value) - 2 or value[padding:].strip("=")):
        raise _Declined  # only the standard, padded spelling (binascii's strict_mode needs 3.11)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise _Declined from None


def _read_enum(value: Any) -> str | int:
    kind = type(value)
    if kind is str or kind is int:
        return value  # type: ignore[no-any-return]
    raise _Declined


def _read_timestamp(value: Any) -> dict[str, int]:
    match = _TIMESTAMP.match(value) if type(value) is str else None
    if match is None:
        raise _Declined
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
    datetime.datetime(*fields)  # ValueError for a day or time that does not exist
    seconds = calendar.timegm((*fields, 0, 0, 0))
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds += -offset if zone[0] == "+" else offset
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise _Declined
    return {"seconds": seconds, "nanos": int(fraction.ljust(9, "0")) if fraction else 0}


def _read_duration(value: Any) -> dict[str, int]:
    match = _DURATION.match(value) if type(value) is str else None
    if match is None:
        raise _Declined
    negative, whole, fraction = match.groups()
    seconds, nanos = int(whole), int(fraction.ljust(9, "0")) if fraction else 0
    if seconds > _MAX_DURATION_SECONDS:
        raise _Declined
    return {"seconds": -seconds, "nanos": -nanos} if negative else {"seconds": seconds, "nanos": nanos}


def _exactly(kind: type) -> _Read:
    """A reader taking values of exactly ``kind`` (``True`` is no ``int`` here) as they are."""

    def read(value: Any) -> Any:
        if type(value) is kind:
            return value
        raise _Declined

    return read


_read_int32, _read_string, _read_bool = _exactly(int), _exactly(str), _exactly(bool)

_SCALAR_READS: dict[int, _Read] = {
    FieldDescriptor.TYPE_STRING: _read_string,
    FieldDescriptor.TYPE_BOOL: _read_bool,
    FieldDescriptor.TYPE_BYTES: _read_bytes,
    FieldDescriptor.TYPE_ENUM: _read_enum,
    FieldDescriptor.TYPE_DOUBLE: _read_double,
    **dict.fromkeys(INT64_TYPES, _read_int64),
    **dict.fromkeys(INT32_TYPES, _read_int32),
}
_WELL_KNOWN_READS: dict[str, _Read] = {
    "google.protobuf.Timestamp": _read_timestamp,
    "google.protobuf.Duration": _read_duration,
}
