"""Event batches as bytes: their encodings, the facts the archive checks need, and how to read them.

A batch travels as a serialized ``History`` (:data:`PROTOBUF`: what the native layout stores) or as
Go's protojson of one (:data:`PROTOJSON`: what the compat layouts store; the Go shim writes it with
Temporal's own encoder). :func:`read_batch` checks a batch in either encoding without decoding its
events into messages and gives its :class:`BatchInfo`, so a layout that stores that encoding keeps
the bytes as received. Constants name the encodings of the sidecar contract (``BatchEncoding`` in
``service.proto``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from temporalio.api.history.v1 import History

from archivers.codec.protojson import decode_histories
from archivers.errors import InvalidArgumentError, InvalidHistoryError
from archivers.nesting import nesting_limit

PROTOBUF = "protobuf"
"""Batches as serialized ``History`` messages (binary protobuf): what the native layout stores."""

PROTOJSON = "protojson"
"""Batches as Go's protojson of ``History``: what the compat layouts (filestore, s3store, gcloud) store."""

ENCODINGS = (PROTOBUF, PROTOJSON)
"""Every batch encoding."""

_COMPACT = (",", ":")
_INT64 = re.compile(r"-?[0-9]{1,19}")


class BatchInfo(NamedTuple):
    """What the checks and a part's header need of a batch: its event range and end versions (a cheap tuple)."""

    first_event_id: int
    event_count: int
    first_version: int
    last_version: int

    @property
    def last_event_id(self) -> int:
        """The id of the batch's last event (batches hold consecutive ids)."""
        return self.first_event_id + self.event_count - 1

    @classmethod
    def of(cls, batch: History) -> BatchInfo:
        """The info of a non-empty batch whose event ids are consecutive."""
        events = batch.events
        first, last = events[0], events[-1]
        return cls(first.event_id, len(events), first.version, last.version)


class EncodedBatches(NamedTuple):
    """Event batches, each a ``History`` in ``encoding`` (one of :data:`ENCODINGS`)."""

    batches: Iterable[bytes]
    encoding: str


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is one of :data:`ENCODINGS`, else :class:`InvalidArgumentError`."""
    if encoding not in ENCODINGS:
        raise InvalidArgumentError(f"unknown batch encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return encoding


def parse_batch(data: bytes, index: int) -> History:
    """Batch number ``index`` of an archive, parsed; :class:`InvalidHistoryError` if it is not a ``History``."""
    try:
        return History.FromString(data)
    except DecodeError as exc:
        raise InvalidHistoryError(f"history batch {index} is not a serialized temporal.api.history.v1.History") from exc


def decode_batch(data: bytes, index: int, encoding: str) -> History:
    """Batch number ``index`` in ``encoding`` as a ``History`` (decodes every event: for layouts storing the other)."""
    if encoding == PROTOBUF:
        return parse_batch(data, index)
    data, _ = read_batch(data, index, PROTOJSON)
    (history,) = decode_histories(b"[" + data + b"]", source=f"history batch {index}")
    return history


def read_batch(data: bytes, index: int, encoding: str) -> tuple[bytes, BatchInfo | None]:
    """Batch number ``index`` as it is stored in ``encoding``, and its info (``None`` without events).

    Checked, without decoding events into messages: the bytes are a ``History`` in ``encoding``
    whose event ids run from the first to the last without a gap. Protobuf is parsed in C for its
    first and last event; protojson with ``json.loads`` (C), reading each event's ``eventId`` and
    ``version`` only (other event fields, maybe of a newer Temporal API than this package's, are
    kept as sent), and newlines (JSON whitespace) become spaces so a stored batch is one line.
    Raises :class:`InvalidHistoryError` naming the batch.
    """
    if encoding == PROTOBUF:
        return data, _protobuf_info(data, index)
    source = f"history batch {index}"
    try:
        with nesting_limit(InvalidHistoryError, source):
            parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidHistoryError(f"{source} is not a protojson temporal.api.history.v1.History: {exc}") from exc
    if b"\n" in data or b"\r" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")
    return data, _protojson_info(parsed, source)


def dumps_batch(parsed: dict[str, Any]) -> bytes:
    """A parsed protojson batch as compact JSON text again (for reads that slice stored JSON, not decode it)."""
    return json.dumps(parsed, separators=_COMPACT, ensure_ascii=False).encode()


def json_event_ids(parsed: Any, source: str, error: type[Exception]) -> list[int]:
    """The event ids of a parsed protojson ``History`` (``error`` naming ``source`` if it is not one)."""
    if not isinstance(parsed, dict):
        raise error(f"{source}: a history batch is not a JSON object")
    events = parsed.get("events", [])
    if not isinstance(events, list):
        raise error(f"{source}: the events of a history batch are not a JSON array")
    return [_int64(event.get("eventId") if isinstance(event, dict) else None, "eventId", source, error)
            for event in events]


def _protobuf_info(data: bytes, index: int) -> BatchInfo | None:
    events = parse_batch(data, index).events
    if not events:
        return None
    first, last = events[0], events[-1]
    if last.event_id - first.event_id + 1 != len(events):
        raise InvalidHistoryError(
            f"events out of order: batch {index} holds {len(events)} events from id {first.event_id} "
            f"to id {last.event_id}"
        )
    return BatchInfo(first.event_id, len(events), first.version, last.version)


def _protojson_info(parsed: Any, source: str) -> BatchInfo | None:
    if not isinstance(parsed, dict) or not set(parsed) <= {"events"}:
        raise InvalidHistoryError(f"{source} is not a protojson History (an object whose only field is events)")
    ids = json_event_ids(parsed, source, InvalidHistoryError)
    if not ids:
        return None
    for offset, event_id in enumerate(ids):
        if event_id != ids[0] + offset:
            raise InvalidHistoryError(f"events out of order: expected event id {ids[0] + offset}, got {event_id}")
    first, last = (_int64(event.get("version", 0), "version", source, InvalidHistoryError)
                   for event in (parsed["events"][0], parsed["events"][-1]))
    return BatchInfo(ids[0], len(ids), first, last)


def _int64(value: Any, name: str, source: str, error: type[Exception]) -> int:
    """A protojson int64 (a decimal string or an integral number)."""
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    if type(value) is int:
        return value
    raise error(f"{source}: an event has no valid {name} (protojson int64), got {value!r}")
