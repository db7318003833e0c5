"""Event batches as archivers take them: ``History`` messages, or ``History`` objects already in protojson.

A compat layout stores each batch as Go's protojson (:mod:`archivers.codec.protojson`). A client
that already holds that text (the Go shim encodes batches with Temporal's own encoder) hands it over
as a :class:`JsonBatch`, which a compat layout stores as is: no protobuf decoding or encoding of
events. :meth:`JsonBatch.parse` checks the text cheaply instead (``json.loads``, which is C code,
and the few fields the archive checks need); :func:`facts_of` gives those fields for either kind,
so the checks of :mod:`archivers.history_checks` and the layouts treat both alike.

Constants name the batch encodings of the sidecar contract (``BatchEncoding`` in ``service.proto``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from temporalio.api.history.v1 import History

from archivers.codec.protojson import decode_histories, encode_message
from archivers.errors import InvalidHistoryError
from archivers.nesting import nesting_limit

PROTOBUF = "protobuf"
"""Batches as serialized ``History`` messages (binary protobuf): what the native layout stores."""

PROTOJSON = "protojson"
"""Batches as Go's protojson of ``History``: what the compat layouts (filestore, s3store, gcloud) store."""

_COMPACT = (",", ":")
_INT64 = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class BatchFacts:
    """What the archive checks need of a batch: its first and last event (id, version), the highest version, the count.

    Only batches with events have facts; ids are contiguous from ``first_event_id`` to ``last_event_id``.
    """

    first_event_id: int
    last_event_id: int
    first_version: int
    last_version: int
    max_version: int

    @property
    def event_count(self) -> int:
        """The number of events."""
        return self.last_event_id - self.first_event_id + 1


@dataclass(frozen=True)
class JsonBatch:
    """One ``History`` batch as protojson ``data`` (one JSON object, no newline), with its ``facts``.

    ``facts`` is ``None`` for a batch without events. Build one with :meth:`parse`.
    """

    data: bytes
    facts: BatchFacts | None

    @classmethod
    def parse(cls, data: bytes, source: str) -> JsonBatch:
        """Check that ``data`` is a protojson ``History`` whose events have contiguous ids, and read its facts.

        Checked: the text is JSON; it is an object with no field but ``events``; every event is an
        object with an ``eventId`` and an optional ``version`` (protojson int64: a decimal string, or
        a number). Other event fields are not checked (that is the decoding this class avoids):
        fields of a newer Temporal API than this package's are kept as sent. Raises
        :class:`InvalidHistoryError` naming ``source``. Newlines (JSON whitespace, as text holds
        them only escaped) become spaces, so a batch is always one line.
        """
        try:
            with nesting_limit(InvalidHistoryError, source):
                parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidHistoryError(f"{source} is not a protojson temporal.api.history.v1.History: {exc}") from exc
        if b"\n" in data or b"\r" in data:
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        return cls(data, _facts_of_json(parsed, source))

    def to_history(self, source: str) -> History:
        """The batch as a ``History`` message (decodes every event: for layouts that do not store protojson)."""
        (history,) = decode_histories(b"[" + self.data + b"]", source=source)
        return history


Batch = History | JsonBatch
"""An event batch as archivers take it."""


def facts_of(batch: Batch) -> BatchFacts | None:
    """The facts of ``batch`` (``None`` without events); :class:`InvalidHistoryError` if its ids are not contiguous."""
    if isinstance(batch, JsonBatch):
        return batch.facts
    events = batch.events
    if not events:
        return None
    first = events[0].event_id
    for offset, event in enumerate(events):
        _check_id(first + offset, event.event_id)
    versions = [event.version for event in events]
    return BatchFacts(first, events[-1].event_id, versions[0], versions[-1], max(versions))


def protojson_of(batch: Batch) -> bytes:
    """``batch`` as Go's protojson of one ``History`` (as received for a :class:`JsonBatch`, else encoded)."""
    return batch.data if isinstance(batch, JsonBatch) else encode_message(batch)


def history_of(batch: Batch, source: str) -> History:
    """``batch`` as a ``History`` message (decoded from protojson for a :class:`JsonBatch`)."""
    return batch.to_history(source) if isinstance(batch, JsonBatch) else batch


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


def _facts_of_json(parsed: Any, source: str) -> BatchFacts | None:
    if not isinstance(parsed, dict) or not set(parsed) <= {"events"}:
        raise InvalidHistoryError(f"{source} is not a protojson History (an object whose only field is events)")
    ids = json_event_ids(parsed, source, InvalidHistoryError)
    if not ids:
        return None
    versions = [_int64(event.get("version", 0), "version", source, InvalidHistoryError) for event in parsed["events"]]
    for offset, event_id in enumerate(ids):
        _check_id(ids[0] + offset, event_id)
    return BatchFacts(ids[0], ids[-1], versions[0], versions[-1], max(versions))


def _int64(value: Any, name: str, source: str, error: type[Exception]) -> int:
    """A protojson int64 (a decimal string or an integral number)."""
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    if type(value) is int:
        return value
    raise error(f"{source}: an event has no valid {name} (protojson int64), got {value!r}")


def _check_id(expected: int, got: int) -> None:
    if got != expected:
        raise InvalidHistoryError(f"events out of order: expected event id {expected}, got {got}")
