"""Protobuf JSON as Temporal's Go code writes and reads it: the one Go-compatible protojson codec.

Writing follows protobuf-go's ``protojson.Marshal`` (which Temporal's archivers and the ``temporal``
CLI use): lowerCamelCase names, fields in ``.proto`` declaration order, enums by full name, int64 as
strings, RFC 3339 timestamps with 0/3/6/9 fractional digits, standard base64 bytes, durations like
``"10s"``, map keys sorted, default values omitted, set-but-empty messages as ``{}``, doubles in Go's
number format (``2`` not ``2.0``, ``1e-7``), non-ASCII text unescaped. Go inserts random whitespace
in its own output, so readers compare parsed JSON; this codec writes none (or the indentation asked for).

Reading follows Temporal's ``JSONPBEncoder``: single messages reject unknown fields, arrays of
``History`` discard them (they may come from a newer API revision).

Both directions run through code built once per message type: :mod:`archivers.codec.message_writer`
(several times faster than ``json_format.MessageToDict``) and :mod:`archivers.codec.message_reader`,
which reads the canonical spelling and leaves anything else to ``json_format.ParseDict``, so
results and errors are ``ParseDict``'s. ``bench/codec_bench.py`` measures both against json_format.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.history.v1 import History

from archivers.codec.gojson import go_json_float, indent_json
from archivers.codec.message_reader import read_message
from archivers.codec.message_writer import message_dict
from archivers.errors import CorruptArchiveError
from archivers.nesting import nesting_limit

M = TypeVar("M", bound=Message)

_COMPACT = (",", ":")


# -- writing ------------------------------------------------------------------------------------


def message_to_dict(message: Message) -> dict[str, Any]:
    """Return ``message`` as the JSON object Go's protojson builds (keys in Go's order).

    Doubles stay Python floats: equal to Go's numbers once parsed, though ``json.dumps`` would
    spell some differently (use :func:`encode_json` for Go's text).
    """
    return message_dict(message, None)


def encode_message(message: Message) -> bytes:
    """Encode one message as compact Go protojson bytes (UTF-8, no whitespace)."""
    floats = _FloatSlots()
    text = json.dumps(message_dict(message, floats), separators=_COMPACT, ensure_ascii=False)
    return floats.substitute(text).encode()


def encode_json(value: Any, *, indent: int | None = None) -> str:
    """Return ``value`` as Go's JSON text; messages anywhere in it are written as Go's protojson.

    ``value`` is a message, or plain JSON data (dicts, lists, strings, numbers...) holding messages,
    e.g. ``{"events": [event, ...]}``. Without ``indent`` the text is compact (no whitespace);
    with it, it is what Go's ``json.MarshalIndent`` with that many spaces gives (``": "`` after keys).
    """
    floats = _FloatSlots()
    tree = _with_messages_as_dicts(value, floats)
    text = json.dumps(tree, separators=_COMPACT, ensure_ascii=False)  # json's C encoder: compact only
    return floats.substitute(indent_json(text, indent) if indent else text)


def _with_messages_as_dicts(value: Any, floats: _FloatSlots) -> Any:
    if isinstance(value, Message):
        return message_dict(value, floats)
    if isinstance(value, dict):
        return {key: _with_messages_as_dicts(item, floats) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_with_messages_as_dicts(item, floats) for item in value]
    return value


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
        """Replace the placeholders in json.dumps output by the Go-formatted numbers (in one pass)."""
        if not self._texts:
            return dumped
        texts = self._texts
        placeholder = re.compile(f'"\\\\u0000{self._nonce}:([0-9]+)\\\\u0000"')
        return placeholder.sub(lambda found: texts[int(found.group(1))], dumped)


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
            return parse_dict(parsed, message_type, ignore_unknown_fields=ignore_unknown_fields)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise CorruptArchiveError(f"{source}: invalid {message_type.__name__}: {exc}") from exc


def parse_dict(parsed: Any, message_type: type[M], *, ignore_unknown_fields: bool) -> M:
    """``json_format.ParseDict(parsed, message_type(), ...)``, through the compiled fast path when it applies.

    Raises what ``ParseDict`` raises (``ParseError``, ``ValueError``, ``TypeError``) for invalid input.
    """
    message = read_message(parsed, message_type, ignore_unknown_fields=ignore_unknown_fields)
    if message is not None:
        return message
    return json_format.ParseDict(parsed, message_type(), ignore_unknown_fields=ignore_unknown_fields)


def decode_histories(data: bytes | str, *, source: str) -> list[History]:
    """Decode a JSON array of ``History`` objects; unknown fields are discarded (as in Go).

    Raises :class:`CorruptArchiveError` naming ``source`` if ``data`` is not such an array.
    """
    parsed = parse_json(data, source)
    if not isinstance(parsed, list):
        raise CorruptArchiveError(f"{source}: expected a JSON array of event batches")
    return [dict_to_message(item, History, source=source, ignore_unknown_fields=True) for item in parsed]
