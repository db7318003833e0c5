"""Protobuf JSON as Temporal's Go archivers write and read it.

Writing follows Go's ``protojson.Marshal``: lowerCamelCase names, enums by full name, int64 as
strings, RFC 3339 timestamps, base64 bytes, default values omitted, no extra whitespace.
Reading follows Temporal's ``JSONPBEncoder``: single messages reject unknown fields, arrays of
``History`` discard them (they may come from a newer API revision).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.history.v1 import History

from archivers.errors import CorruptArchiveError

M = TypeVar("M", bound=Message)

_SEPARATORS = (",", ":")


def message_to_dict(message: Message) -> dict[str, Any]:
    """Return ``message`` as the JSON object Go's protojson writes."""
    return json_format.MessageToDict(message, preserving_proto_field_name=False)


def encode_message(message: Message) -> bytes:
    """Encode one message as compact protojson bytes."""
    return json.dumps(message_to_dict(message), separators=_SEPARATORS, ensure_ascii=False).encode()


def encode_histories(histories: Iterable[History]) -> bytes:
    """Encode event batches as one JSON array of ``History`` objects (the filestore and gcloud format)."""
    return b"[" + b",".join(encode_message(h) for h in histories) + b"]"


def decode_message(data: bytes | str, message_type: type[M], *, source: str) -> M:
    """Decode one protojson message; unknown fields are an error (as in Go).

    Raises :class:`CorruptArchiveError` naming ``source`` if ``data`` is not a valid message.
    """
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptArchiveError(f"{source}: not valid JSON: {exc}") from exc
    return dict_to_message(parsed, message_type, source=source, ignore_unknown_fields=False)


def dict_to_message(parsed: Any, message_type: type[M], *, source: str, ignore_unknown_fields: bool) -> M:
    """Build a ``message_type`` from a parsed JSON value; raise :class:`CorruptArchiveError` naming ``source``."""
    if not isinstance(parsed, dict):
        raise CorruptArchiveError(f"{source}: expected a JSON object for {message_type.__name__}")
    try:
        return json_format.ParseDict(parsed, message_type(), ignore_unknown_fields=ignore_unknown_fields)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise CorruptArchiveError(f"{source}: invalid {message_type.__name__}: {exc}") from exc


def decode_histories(data: bytes | str, *, source: str) -> list[History]:
    """Decode a JSON array of ``History`` objects; unknown fields are discarded (as in Go).

    Raises :class:`CorruptArchiveError` naming ``source`` if ``data`` is not such an array.
    """
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptArchiveError(f"{source}: not valid JSON: {exc}") from exc
    if not isinstance(parsed, list):
        raise CorruptArchiveError(f"{source}: expected a JSON array of event batches")
    return [dict_to_message(item, History, source=source, ignore_unknown_fields=True) for item in parsed]
