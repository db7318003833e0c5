"""Search attribute values: stored strings <-> typed Python values <-> Temporal ``Payload``.

Mirrors Temporal's Go ``searchattribute`` package byte for byte:

- stored strings (``VisibilityRecord.search_attributes``) are written like ``searchattribute.Stringify``:
  keyword/text raw, int base 10, double ``strconv.FormatFloat(v, 'f', -1, 64)``, bool ``true``/``false``,
  datetime RFC3339Nano, lists as Go-``json.Marshal``-ed arrays;
- they are read back like ``searchattribute.Parse`` (``parseValueOrArray``): a string that looks like a
  JSON array is a list of the type, anything else is parsed with Go's ``strconv``/``time.Parse`` rules;
- payloads are what ``sadefs.EncodeValue`` produces: metadata ``encoding`` = ``json/plain`` (or
  ``binary/null`` for no value), ``type`` = the short type name (``Keyword``, ``KeywordList``, ...),
  data = Go ``json.Marshal`` of the value (HTML-escaped strings, Go float formatting).

Typed values: ``str``, ``int``, ``float``, ``bool``, :class:`DateTimeValue` (nanosecond instant plus the
UTC offset it was written with, so re-formatting is exact), or a ``list`` of one of those.
"""

from __future__ import annotations

import json
import re
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType

from archivers.codec.gojson import format_go_float, go_json_float, go_json_string
from archivers.nesting import nesting_limit
from archivers.timefmt import INT64_MAX, INT64_MIN, ParsedTime, format_rfc3339_nano, parse_rfc3339

DateTimeValue = ParsedTime
Scalar = str | int | float | bool | ParsedTime
SearchAttributeValue = Scalar | list[Any]

UNSPECIFIED = IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED
TEXT = IndexedValueType.INDEXED_VALUE_TYPE_TEXT
KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
INT = IndexedValueType.INDEXED_VALUE_TYPE_INT
DOUBLE = IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE
BOOL = IndexedValueType.INDEXED_VALUE_TYPE_BOOL
DATETIME = IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
KEYWORD_LIST = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST

TYPE_SHORT_NAMES: dict[int, str] = {
    TEXT: "Text", KEYWORD: "Keyword", INT: "Int", DOUBLE: "Double", BOOL: "Bool", DATETIME: "Datetime",
    KEYWORD_LIST: "KeywordList",
}
_STRING_TYPES = (TEXT, KEYWORD, KEYWORD_LIST)
_GO_INT = re.compile(r"[+-]?\d+\Z")
_GO_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\Z", re.IGNORECASE)
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def type_from_name(name: str) -> int:
    """An ``IndexedValueType`` from its short or full name; ``UNSPECIFIED`` when unknown.

    Short is ``Keyword``, full is ``INDEXED_VALUE_TYPE_KEYWORD``; an unknown name gives
    ``INDEXED_VALUE_TYPE_UNSPECIFIED`` (like Go's ``GetMetadataType``).
    """
    for number, short in TYPE_SHORT_NAMES.items():
        if name == short:
            return number
    try:
        return int(IndexedValueType.Value(name))
    except ValueError:
        return UNSPECIFIED


def go_json(value: Any) -> str:
    """Go ``json.Marshal`` of a search attribute value (scalar or list), compact."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_json_float(value)
    if isinstance(value, str):
        return go_json_string(value)
    if isinstance(value, ParsedTime):
        return go_json_string(format_rfc3339_nano(value.unix_nanos, value.offset_seconds))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise TypeError(f"unsupported search attribute value {value!r}")


# ---------------------------------------------------------------------------------------------
# stored string <-> typed value
# ---------------------------------------------------------------------------------------------
def _parse_int(text: str) -> int:
    if not _GO_INT.match(text):
        raise ValueError(f"invalid Int value {text!r}")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"Int value {text!r} out of range")
    return value


def _parse_float(text: str) -> float:
    if not _GO_FLOAT.match(text):
        raise ValueError(f"invalid Double value {text!r}")
    return float(text)


def _parse_datetime(text: str) -> ParsedTime:
    parsed = parse_rfc3339(text)
    if parsed is None:
        raise ValueError(f"invalid Datetime value {text!r}")
    return parsed


def _parse_scalar(text: str, value_type: int) -> Scalar:
    if value_type in _STRING_TYPES:
        return text
    if value_type == INT:
        return _parse_int(text)
    if value_type == DOUBLE:
        return _parse_float(text)
    if value_type == BOOL:
        if text not in _GO_BOOLS:
            raise ValueError(f"invalid Bool value {text!r}")
        return _GO_BOOLS[text]
    if value_type == DATETIME:
        return _parse_datetime(text)
    raise ValueError(f"invalid search attribute type {value_type!r}")


def _typed_json_item(item: Any, value_type: int) -> Scalar:
    if value_type in _STRING_TYPES and isinstance(item, str):
        return item
    if value_type == INT and isinstance(item, int) and not isinstance(item, bool):
        return item
    if value_type == DOUBLE and isinstance(item, (int, float)) and not isinstance(item, bool):
        return float(item)
    if value_type == BOOL and isinstance(item, bool):
        return item
    if value_type == DATETIME and isinstance(item, str):
        return _parse_datetime(item)
    raise ValueError(f"invalid {TYPE_SHORT_NAMES.get(value_type, value_type)} list item {item!r}")


def _unspecified(text: str) -> SearchAttributeValue:
    for attempt in (_parse_int, lambda t: _GO_BOOLS[t], _parse_float, _parse_datetime):
        try:
            return attempt(text)
        except (ValueError, KeyError):
            continue
    if _is_json_array(text):
        try:
            items = _load_json(text)
            if isinstance(items, list):
                return items
        except ValueError:
            pass
    return text


def _load_json(data: str | bytes) -> Any:
    """``json.loads``, with nesting too deep to decode a ``ValueError`` like any other bad JSON."""
    with nesting_limit(ValueError, "search attribute value"):
        return json.loads(data)


def _is_json_array(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("[") and stripped.endswith("]")


def parse_stored_value(text: str, value_type: int) -> SearchAttributeValue:
    """Parse a stored search attribute string as Go's ``searchattribute.Parse`` does.

    A JSON array gives a ``list`` of the type's values; otherwise one value. With
    ``INDEXED_VALUE_TYPE_UNSPECIFIED`` the type is guessed (int, bool, float, datetime, array, string).
    Raises ``ValueError`` when the text is not a value of the type.
    """
    value_type = int(value_type)
    if value_type == UNSPECIFIED:
        return _unspecified(text)
    if _is_json_array(text):
        if value_type not in TYPE_SHORT_NAMES:
            raise ValueError(f"invalid search attribute type {value_type!r}")
        try:
            items = _load_json(text)
        except ValueError as exc:
            raise ValueError(f"invalid JSON array {text!r}: {exc}") from None
        if not isinstance(items, list):
            raise ValueError(f"invalid JSON array {text!r}")
        return [_typed_json_item(item, value_type) for item in items]
    return _parse_scalar(text, value_type)


def format_stored_value(value: SearchAttributeValue) -> str:
    """Format a typed value as the stored string (Go ``searchattribute.Stringify``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_go_float(value)
    if isinstance(value, ParsedTime):
        return format_rfc3339_nano(value.unix_nanos, value.offset_seconds)
    if isinstance(value, (list, tuple)):
        return go_json(list(value))
    raise TypeError(f"unsupported search attribute value {value!r}")


# ---------------------------------------------------------------------------------------------
# Payload
# ---------------------------------------------------------------------------------------------
def value_to_payload(value: SearchAttributeValue | None, value_type: int = UNSPECIFIED) -> Payload:
    """Encode a typed value like Go ``sadefs.EncodeValue``: JSON data, ``encoding`` and ``type`` metadata.

    ``None`` gives a ``binary/null`` payload with empty data. The ``type`` metadata is omitted for
    ``INDEXED_VALUE_TYPE_UNSPECIFIED``.
    """
    if value is None:
        payload = Payload(metadata={"encoding": b"binary/null"})
    else:
        payload = Payload(metadata={"encoding": b"json/plain"}, data=go_json(value).encode())
    short = TYPE_SHORT_NAMES.get(int(value_type))
    if short is not None:
        payload.metadata["type"] = short.encode()
    return payload


def stored_to_payload(text: str, value_type: int) -> Payload:
    """A stored string straight to its Payload (Go ``parseValueOrArray``). Raises ``ValueError``."""
    return value_to_payload(parse_stored_value(text, value_type), value_type)


def _typed_from_json(data: Any, value_type: int, allow_list: bool) -> SearchAttributeValue | None:
    if data is None:
        return None
    if value_type == KEYWORD_LIST:
        if not isinstance(data, list):
            raise ValueError("KeywordList payload is not a JSON array")
        return [_typed_json_item(item, KEYWORD) for item in data] or None
    if isinstance(data, list):
        items = [_typed_json_item(item, value_type) for item in data]
        if not items:
            return None
        if allow_list:
            return items
        if len(items) == 1:
            return items[0]
        raise ValueError("list of values not allowed")
    if value_type == DATETIME and not isinstance(data, str):
        raise ValueError(f"invalid Datetime {data!r}")
    return _typed_json_item(data, value_type)


def payload_to_value(payload: Payload, value_type: int = UNSPECIFIED, *,
                     allow_list: bool = True) -> SearchAttributeValue | None:
    """Decode a Payload like Go ``sadefs.DecodeValue``: the given type, else the ``type`` metadata.

    Returns ``None`` for a null value or empty list. Raises ``ValueError`` when the type is unknown or
    the data does not fit it.
    """
    value_type = int(value_type)
    if value_type == UNSPECIFIED:
        value_type = type_from_name(payload.metadata.get("type", b"").decode("utf-8", "replace"))
    if value_type not in TYPE_SHORT_NAMES:
        raise ValueError("search attribute payload has no known type")
    encoding = payload.metadata.get("encoding", b"")
    if encoding == b"binary/null":
        return None
    if encoding != b"json/plain":
        raise ValueError(f"unsupported search attribute payload encoding {encoding!r}")
    try:
        data = _load_json(payload.data)
    except ValueError as exc:
        raise ValueError(f"invalid JSON in search attribute payload: {exc}") from None
    return _typed_from_json(data, value_type, allow_list)


def payload_to_stored(payload: Payload, value_type: int = UNSPECIFIED) -> str | None:
    """A Payload to its stored string (Go ``Stringify`` for one attribute); ``None`` for a null value.

    Like Go, a payload that does not decode is stored as its raw JSON data.
    """
    try:
        value = payload_to_value(payload, value_type)
    except ValueError:
        return payload.data.decode("utf-8", "replace")
    return None if value is None else format_stored_value(value)
