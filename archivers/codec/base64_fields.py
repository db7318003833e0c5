"""Strict checking of the base64 text of protojson ``bytes`` fields, before protobuf decodes it.

protobuf's Python ``json_format`` decodes ``bytes`` fields with a lenient base64 decoder that drops
every character outside the alphabet, so ``"data": "!!!!"`` becomes empty data instead of an error.
Go's ``protojson`` (which Temporal uses) refuses such text. :func:`check_base64_fields` walks a
parsed JSON value beside its message descriptor and raises ``ValueError`` naming the first ``bytes``
field (a plain field, an element of a repeated field, a map value, or a
``google.protobuf.BytesValue``) whose text is not base64 as Go's reader accepts it: the standard or
URL-safe alphabet, padded or not, line breaks ignored. Fields it does not know (``ParseDict``
reports them) and ``google.protobuf.Any`` contents are not checked.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_BYTES_VALUE = "google.protobuf.BytesValue"
_WELL_KNOWN_PREFIX = "google.protobuf."
_URL_SAFE = str.maketrans("-_", "+/", "\r\n")


def check_base64_fields(value: Any, descriptor: Descriptor, where: str = "") -> None:
    """Raise ``ValueError`` (naming the field's path below ``where``) if a bytes field is not base64.

    ``value`` is the parsed JSON of one ``descriptor`` message. Values of the wrong JSON type are
    left to ``ParseDict``, which refuses them.
    """
    stack: list[tuple[Any, Descriptor, str]] = [(value, descriptor, where)]
    while stack:
        current, message, path = stack.pop()
        if not isinstance(current, dict):
            continue
        fields = _fields(message)
        for key, item in current.items():
            field = fields.get(key)
            if field is None or item is None:
                continue
            here = f"{path}.{key}" if path else str(key)
            single = _single(field)
            for element_path, element in _elements(field, item, here):
                if single.type == FieldDescriptor.TYPE_BYTES:
                    _check_text(element, element_path)
                elif single.message_type is None or element is None:
                    continue
                elif single.message_type.full_name == _BYTES_VALUE:
                    _check_text(element, element_path)
                elif not single.message_type.full_name.startswith(_WELL_KNOWN_PREFIX):
                    stack.append((element, single.message_type, element_path))


def _single(field: FieldDescriptor) -> FieldDescriptor:
    """What one value of ``field`` is: the value field of a map's entries, else the field itself."""
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        return entry.fields_by_name["value"]  # type: ignore[no-any-return]
    return field


def _elements(field: FieldDescriptor, value: Any, path: str) -> list[tuple[str, Any]]:
    """The single values of ``value`` with their paths: map values, list elements, or the value itself."""
    if _single(field) is not field:
        return [(f"{path}[{key!r}]", item) for key, item in value.items()] if isinstance(value, dict) else []
    if field.is_repeated:
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)] if isinstance(value, list) else []
    return [(path, value)]


@functools.cache
def _fields(message: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by JSON name and by proto name (``ParseDict`` accepts both)."""
    fields: dict[str, FieldDescriptor] = {}
    for field in message.fields:
        fields[field.name] = field
        fields[field.json_name] = field
    return fields


def _check_text(value: Any, path: str) -> None:
    if not isinstance(value, str):
        return
    text = value.translate(_URL_SAFE)
    if "=" not in text:
        text += "=" * (-len(text) % 4)
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{path}: not valid base64 ({len(value)} characters)") from None
