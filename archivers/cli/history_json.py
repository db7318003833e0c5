"""History JSON as the ``temporal`` CLI reads and writes it.

Writing (:func:`render_history_json`) reproduces ``temporal workflow show --output json`` byte for
byte: ``{"events": [...]}`` indented by two spaces with ``": "`` after keys, a trailing newline,
Go protojson values (lowerCamelCase names, enums by full name such as ``EVENT_TYPE_...``, int64 as
strings, RFC 3339 timestamps with 0/3/6/9 fractional digits, bytes - payload metadata and data
included - as standard base64, durations like ``"10s"``), fields in ``.proto`` declaration order,
map keys sorted, set-but-empty messages as ``{}``, doubles in Go's number format (``2`` not
``2.0``), non-ASCII text unescaped.

Reading (:func:`parse_history_file`) accepts three shapes, detected from the top-level value:

- ``{"events": [...]}`` - what ``temporal workflow show --output json`` and the Temporal UI export;
- ``[event, ...]`` - a bare array of events;
- ``[{"events": [...]}, ...]`` - Temporal's filestore/gcloud archive file, an array of ``History``
  batches (its batch boundaries are kept).

Events are decoded strictly (an unknown field or enum value is an error: it would be lost). If that
fails, ``temporalio.client.WorkflowHistory.from_json`` is tried, which understands the older UI
spelling of enums (``WorkflowExecutionStarted``) but ignores unknown fields; an event whose type it
cannot tell is still an error. The first two shapes carry no batch
boundaries (the server's transaction batches are not recoverable from events), so each event becomes
its own batch: pages of ``get`` then hold exactly ``--page-size`` events, and readers (Temporal's
frontend included) flatten batches anyway.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from archivers.codec.search_attributes import go_json_float
from archivers.errors import InvalidHistoryError

FORM_CLI = "cli"
"""``{"events": [...]}``, as exported by ``temporal workflow show --output json``."""
FORM_EVENTS = "events"
"""A bare JSON array of events."""
FORM_ARCHIVE = "archive"
"""A JSON array of ``History`` batches (Temporal's filestore/gcloud history file)."""

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


@dataclass(frozen=True)
class ParsedHistory:
    """A history read from a file: its event batches in order, and the shape it was read from."""

    batches: list[History]
    form: str

    @property
    def event_count(self) -> int:
        """The number of events in all batches."""
        return sum(len(batch.events) for batch in self.batches)

    @property
    def last_event(self) -> HistoryEvent | None:
        """The last event, or ``None`` if there are no events."""
        for batch in reversed(self.batches):
            if batch.events:
                return batch.events[-1]
        return None


# -- reading ------------------------------------------------------------------------------------


def parse_history_file(path: str) -> ParsedHistory:
    """Read a history JSON file in any of the shapes of the module docstring.

    Raises :class:`InvalidHistoryError` (one line, naming ``path``) if the file cannot be read, is
    not valid or complete JSON, has another shape, holds no events, or an event does not decode.
    Event ids and versions are not checked here (the archive request does that).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InvalidHistoryError(f"{path}: cannot read history file: {exc.strerror or exc}") from exc
    return parse_history_bytes(data, source=path)


def parse_history_bytes(data: bytes | str, *, source: str) -> ParsedHistory:
    """Like :func:`parse_history_file` for content already in memory; ``source`` names it in errors."""
    try:
        parsed: Any = json.loads(data)
    except UnicodeDecodeError as exc:
        raise InvalidHistoryError(f"{source}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        hint = " (the file looks truncated)" if exc.pos >= len(data.rstrip()) else ""
        raise InvalidHistoryError(
            f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}"
        ) from exc
    if isinstance(parsed, dict):
        if "events" not in parsed:
            raise InvalidHistoryError(
                f'{source}: expected a JSON object with "events" (temporal workflow show --output json)'
            )
        events = _events_list(parsed["events"], source, "events")
        return ParsedHistory(_one_per_batch(_decode_events(events, source)), FORM_CLI)
    if isinstance(parsed, list):
        if not parsed:
            raise InvalidHistoryError(f"{source}: the history holds no events")
        if all(isinstance(item, dict) and _is_batch(item) for item in parsed):
            batches = [
                _decode_batch(_events_list(item.get("events", []), source, f"batch {index}"), source, index)
                for index, item in enumerate(parsed)
            ]
            history = ParsedHistory([b for b in batches if b.events], FORM_ARCHIVE)
            if not history.batches:
                raise InvalidHistoryError(f"{source}: the history holds no events")
            return history
        return ParsedHistory(_one_per_batch(_decode_events(parsed, source)), FORM_EVENTS)
    raise InvalidHistoryError(
        f'{source}: expected {{"events": [...]}}, an array of events or an array of History batches, '
        f"got a JSON {type(parsed).__name__}"
    )


def _is_batch(item: dict[str, Any]) -> bool:
    """A ``History`` object has only ``events`` (an event always has ``eventId`` or ``eventType``)."""
    return "events" in item and "eventId" not in item and "eventType" not in item


def _events_list(value: Any, source: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidHistoryError(f'{source}: "events" of {where} is not a JSON array')
    return value


def _decode_events(events: Sequence[Any], source: str) -> list[HistoryEvent]:
    if not events:
        raise InvalidHistoryError(f"{source}: the history holds no events")
    return list(_decode_batch(events, source, None).events)


def _decode_batch(events: Sequence[Any], source: str, batch_index: int | None) -> History:
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise InvalidHistoryError(f"{source}: {_where(batch_index, position)} is not a JSON object")
    body = {"events": list(events)}
    try:  # the CLI's own spelling, strictly: unknown fields or enum values would be lost silently
        return json_format.ParseDict(body, History(), ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        strict_error = exc
    location = "" if batch_index is None else f" in batch {batch_index}"
    if "has no field named" in str(strict_error):  # a field this temporalio does not know: refuse to drop it
        raise InvalidHistoryError(
            f"{source}: invalid event{location}: {_one_line(str(strict_error))} "
            "(exported by a newer Temporal? upgrade temporalio)"
        ) from strict_error
    try:  # older UI/CLI exports spell enums differently; temporalio normalizes them
        history = History(events=WorkflowHistory.from_json("", body).events)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, KeyError):
        history = None
    if history is None:
        raise InvalidHistoryError(
            f"{source}: invalid event{location}: {_one_line(str(strict_error))}"
        ) from strict_error
    for position, event in enumerate(history.events):
        if event.event_type == EventType.EVENT_TYPE_UNSPECIFIED:
            raise InvalidHistoryError(
                f"{source}: invalid event{location}: {_where(batch_index, position)} has no known eventType "
                f"({_one_line(str(strict_error))})"
            ) from strict_error
    return history


def _where(batch_index: int | None, position: int) -> str:
    if batch_index is None:
        return f"event #{position + 1}"
    return f"event #{position + 1} of batch {batch_index}"


def _one_per_batch(events: Iterable[HistoryEvent]) -> list[History]:
    return [History(events=[event]) for event in events]


def _one_line(text: str) -> str:
    text = text.split(" Available Fields", 1)[0]  # protobuf appends every field name of the message
    return " ".join(text.replace("Failed to parse events field: ", "").split())


# -- writing ------------------------------------------------------------------------------------


def render_history_json(events: Iterable[HistoryEvent]) -> str:
    """Return ``{"events": [...]}`` exactly as ``temporal workflow show --output json`` prints it.

    See the module docstring for the format; the result ends with a newline.
    """
    floats = _FloatSlots()
    body = {"events": [go_message_dict(event, floats) for event in events]}
    return floats.substitute(json.dumps(body, indent=2, ensure_ascii=False)) + "\n"


def render_message_compact(message: Message) -> str:
    """Return one message as compact Go-style protojson (one line, no spaces), e.g. for JSON lines."""
    floats = _FloatSlots()
    return floats.substitute(json.dumps(go_message_dict(message, floats), separators=(",", ":"), ensure_ascii=False))


def go_message_dict(message: Message, floats: _FloatSlots | None = None) -> dict[str, Any]:
    """Return ``message`` as the JSON object Go's protojson builds, keys in declaration order.

    Doubles that Python would print differently from Go are replaced by placeholders from
    ``floats`` (pass the same object to ``floats.substitute`` on the dumped text); without
    ``floats`` they stay Python floats (equal when parsed).
    """
    value = json_format.MessageToDict(message, preserving_proto_field_name=False)
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    return _reorder(value, descriptor, floats)


class _FloatSlots:
    """Placeholders for numbers whose Go spelling json.dumps cannot produce (``2`` for 2.0, ``1e-7``)."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
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
        self._texts.append(text)
        return f"\x00{self._nonce}:{len(self._texts) - 1}\x00"

    def substitute(self, dumped: str) -> str:
        """Replace the placeholders in json.dumps output by the Go-formatted numbers."""
        for index, text in enumerate(self._texts):
            dumped = dumped.replace(f'"\\u0000{self._nonce}:{index}\\u0000"', text, 1)
        return dumped


def _reorder(value: dict[str, Any], descriptor: Descriptor, floats: _FloatSlots | None) -> dict[str, Any]:
    if descriptor.full_name.startswith(_WELL_KNOWN_PREFIX):
        return value  # Timestamp, Duration, Struct, ...: MessageToDict already has Go's form
    out: dict[str, Any] = {}
    for field in descriptor.fields:  # declaration order, as Go's protojson writes
        key = field.json_name
        if key not in value:
            continue
        out[key] = _field_value(value[key], field, floats)
    for key, item in value.items():  # extensions or anything unexpected: keep, after the rest
        out.setdefault(key, item)
    return out


def _field_value(value: Any, field: FieldDescriptor, floats: _FloatSlots | None) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        key_field = message_type.fields_by_name["key"]
        value_field = message_type.fields_by_name["value"]
        keys = sorted(value, key=int) if key_field.type in _INT_KEY_TYPES else sorted(value)
        return {key: _single(value[key], value_field, floats) for key in keys}
    if field.is_repeated:
        return [_single(item, field, floats) for item in value]
    return _single(value, field, floats)


def _single(value: Any, field: FieldDescriptor, floats: _FloatSlots | None) -> Any:
    if field.message_type is not None and isinstance(value, dict):
        return _reorder(value, field.message_type, floats)
    if field.type in _FLOAT_TYPES and floats is not None:
        return floats.number(value)
    return value
