"""Protobuf JSON as Temporal's Go code writes and reads it: the one Go-compatible protojson codec.

Writing follows protobuf-go's ``protojson.Marshal`` (which Temporal's archivers and the ``temporal``
CLI use): lowerCamelCase names, fields in ``.proto`` declaration order, enums by full name, int64 as
strings, RFC 3339 timestamps with 0/3/6/9 fractional digits, standard base64 bytes, durations like
``"10s"``, map keys sorted, default values omitted, set-but-empty messages as ``{}``, doubles in Go's
number format (``2`` not ``2.0``, ``1e-7``), non-ASCII text unescaped. Go inserts random whitespace
in its own output, so readers compare parsed JSON; this codec writes none (or the indentation asked for).

Reading follows Temporal's ``JSONPBEncoder``: single messages reject unknown fields, arrays of
``History`` discard them (they may come from a newer API revision).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.history.v1 import History

from archivers.codec.gojson import go_json_float
from archivers.errors import CorruptArchiveError
from archivers.nesting import nesting_limit

M = TypeVar("M", bound=Message)

_COMPACT = (",", ":")
_WELL_KNOWN_PREFIX = "google.protobuf."
_FLOAT_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_INT_KEY_TYPES = (
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
)


# -- writing ------------------------------------------------------------------------------------


def message_to_dict(message: Message) -> dict[str, Any]:
    """Return ``message`` as the JSON object Go's protojson builds (keys in Go's order).

    Doubles stay Python floats: equal to Go's numbers once parsed, though ``json.dumps`` would
    spell some differently (use :func:`encode_json` for Go's text).
    """
    return _go_dict(message, None)


def encode_message(message: Message) -> bytes:
    """Encode one message as compact Go protojson bytes (UTF-8, no whitespace)."""
    floats = _FloatSlots()
    return floats.substitute(json.dumps(_go_dict(message, floats), separators=_COMPACT, ensure_ascii=False)).encode()


def encode_json(value: Any, *, indent: int | None = None) -> str:
    """Return ``value`` as Go's JSON text; messages anywhere in it are written as Go's protojson.

    ``value`` is a message, or plain JSON data (dicts, lists, strings, numbers...) holding messages,
    e.g. ``{"events": [event, ...]}``. Without ``indent`` the text is compact (no whitespace);
    with it, it is what Go's ``json.MarshalIndent`` with that many spaces gives (``": "`` after keys).
    """
    floats = _FloatSlots()
    tree = _with_messages_as_dicts(value, floats)
    text = json.dumps(tree, indent=indent, separators=None if indent else _COMPACT, ensure_ascii=False)
    return floats.substitute(text)


def _with_messages_as_dicts(value: Any, floats: _FloatSlots) -> Any:
    if isinstance(value, Message):
        return _go_dict(value, floats)
    if isinstance(value, dict):
        return {key: _with_messages_as_dicts(item, floats) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_with_messages_as_dicts(item, floats) for item in value]
    return value


def _go_dict(message: Message, floats: _FloatSlots | None) -> dict[str, Any]:
    value = json_format.MessageToDict(message, preserving_proto_field_name=False)
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    plan = _plan(descriptor)
    return value if plan is None else plan.apply(value, floats)


class _FloatSlots:
    """Placeholders for numbers whose Go spelling json.dumps cannot produce (``2`` for 2.0, ``1e-7``)."""

    def __init__(self) -> None:
        self._nonce = ""
        self._texts: list[str] = []

    def number(self, value: Any) -> Any:
        """Return ``value`` (a JSON number, or a special-value string) as json.dumps should see it."""
        if not isinstance(value, float) or not math.isfinite(value):
            return value
        text = go_json_float(value)
        if "." not in text and "e" not in text:
            return int(text)
        if text == repr(value):
            return value
        if not self._nonce:
            self._nonce = secrets.token_hex(8)
        self._texts.append(text)
        return f"\x00{self._nonce}:{len(self._texts) - 1}\x00"

    def substitute(self, dumped: str) -> str:
        """Replace the placeholders in json.dumps output by the Go-formatted numbers."""
        for index, text in enumerate(self._texts):
            dumped = dumped.replace(f'"\\u0000{self._nonce}:{index}\\u0000"', text, 1)
        return dumped


_Fix = Callable[[Any, "_FloatSlots | None"], Any]


@dataclass
class _Plan:
    """What turns ``MessageToDict``'s object for one message type into Go's.

    ``MessageToDict`` writes fields in number order, Go in declaration order: ``rank`` (json name ->
    declaration index) puts them back, needed only when a ``displaced`` field is present (one whose
    number is out of line with its place; without them both orders agree). ``fixes`` holds, by json
    name, what a field's value needs: sorted map keys, Go floats, a nested message's own plan.
    Plans are built once per message type.
    """

    rank: dict[str, int]
    displaced: frozenset[str]
    fixes: dict[str, _Fix]

    def apply(self, value: dict[str, Any], floats: _FloatSlots | None) -> dict[str, Any]:
        """Rewrite ``value`` (in place where possible) into Go's form and return it."""
        fixes = self.fixes
        for key in value:
            fix = fixes.get(key)
            if fix is not None:
                value[key] = fix(value[key], floats)
        if self.displaced.isdisjoint(value):
            return value
        rank, last = self.rank, len(self.rank)  # unknown keys (extensions) stay, after the known fields
        return {key: value[key] for key in sorted(value, key=lambda key: rank.get(key, last))}


_PLANS: dict[str, _Plan | None] = {}


def _plan(descriptor: Descriptor) -> _Plan | None:
    """The plan of ``descriptor``'s messages, or ``None`` when ``MessageToDict`` already writes Go's form."""
    name = descriptor.full_name
    if name in _PLANS:
        return _PLANS[name]
    if name.startswith(_WELL_KNOWN_PREFIX):  # Timestamp, Duration, Struct, ...: already Go's form
        _PLANS[name] = None
        return None
    fields = descriptor.fields
    plan = _Plan({f.json_name: i for i, f in enumerate(fields)}, _displaced(fields), {})
    _PLANS[name] = plan  # before the fields: a recursive type (Failure.cause) finds itself
    for field in fields:
        fix = _field_fix(field)
        if fix is not None:
            plan.fixes[field.json_name] = fix
    if not plan.displaced and not plan.fixes:
        _PLANS[name] = None
        return None
    return plan


def _displaced(fields: Sequence[FieldDescriptor]) -> frozenset[str]:
    """The json names of the fields outside a longest run, in declaration order, of increasing numbers."""
    best: list[list[FieldDescriptor]] = []  # best[i]: a longest increasing run ending at fields[i]
    for index, field in enumerate(fields):
        before = [best[j] for j in range(index) if fields[j].number < field.number]
        best.append([*max(before, key=len, default=[]), field])
    kept = {f.json_name for f in max(best, key=len, default=[])}
    return frozenset(f.json_name for f in fields if f.json_name not in kept)


def _field_fix(field: FieldDescriptor) -> _Fix | None:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return _map_fix(message_type)
    single = _single_fix(field)
    if single is None or not field.is_repeated:
        return single
    return lambda items, floats: [single(item, floats) for item in items]


def _single_fix(field: FieldDescriptor) -> _Fix | None:
    if field.message_type is not None:
        plan = _plan(field.message_type)
        if plan is None:
            return None
        return plan.apply  # MessageToDict writes every message this plan applies to as a dict
    if field.type in _FLOAT_TYPES:
        return lambda value, floats: value if floats is None else floats.number(value)
    return None


def _map_fix(entry: Descriptor) -> _Fix:
    value_fix = _single_fix(entry.fields_by_name["value"])
    sort_key: Callable[[str], Any] | None = int if entry.fields_by_name["key"].type in _INT_KEY_TYPES else None

    def fix(value: dict[str, Any], floats: _FloatSlots | None) -> dict[str, Any]:
        if value_fix is None and len(value) < 2:
            return value
        keys = sorted(value, key=sort_key)
        if value_fix is None:
            return {key: value[key] for key in keys}
        return {key: value_fix(value[key], floats) for key in keys}

    return fix


# -- reading ------------------------------------------------------------------------------------


def decode_message(data: bytes | str, message_type: type[M], *, source: str) -> M:
    """Decode one protojson message; unknown fields are an error (as in Go).

    Raises :class:`CorruptArchiveError` naming ``source`` if ``data`` is not a valid message.
    """
    return dict_to_message(parse_json(data, source), message_type, source=source, ignore_unknown_fields=False)


def parse_json(data: bytes | str, source: str) -> Any:
    """``data`` parsed as JSON; :class:`CorruptArchiveError` naming ``source`` if it is not JSON."""
    try:
        with nesting_limit(CorruptArchiveError, source):
            return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptArchiveError(f"{source}: not valid JSON: {exc}") from exc


def dict_to_message(parsed: Any, message_type: type[M], *, source: str, ignore_unknown_fields: bool) -> M:
    """Build a ``message_type`` from a parsed JSON value; raise :class:`CorruptArchiveError` naming ``source``."""
    if not isinstance(parsed, dict):
        raise CorruptArchiveError(f"{source}: expected a JSON object for {message_type.__name__}")
    try:
        with nesting_limit(CorruptArchiveError, source):
            return json_format.ParseDict(parsed, message_type(), ignore_unknown_fields=ignore_unknown_fields)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise CorruptArchiveError(f"{source}: invalid {message_type.__name__}: {exc}") from exc


def decode_histories(data: bytes | str, *, source: str) -> list[History]:
    """Decode a JSON array of ``History`` objects; unknown fields are discarded (as in Go).

    Raises :class:`CorruptArchiveError` naming ``source`` if ``data`` is not such an array.
    """
    parsed = parse_json(data, source)
    if not isinstance(parsed, list):
        raise CorruptArchiveError(f"{source}: expected a JSON array of event batches")
    return [dict_to_message(item, History, source=source, ignore_unknown_fields=True) for item in parsed]
