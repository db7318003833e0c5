"""History JSON as the ``temporal`` CLI reads and writes it.

Writing (:func:`render_history_json`) reproduces ``temporal workflow show --output json`` byte for
byte: ``{"events": [...]}`` indented by two spaces with ``": "`` after keys, a trailing newline,
events in Go's protojson (:mod:`archivers.codec.protojson`).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from archivers.codec.base64_fields import check_base64_fields
from archivers.codec.protojson import encode_json
from archivers.errors import HistoryMutatedError, InvalidHistoryError
from archivers.history_checks import CheckedBatches
from archivers.interfaces import ArchiveHistoryRequest
from archivers.nesting import nesting_limit

FORM_CLI = "cli"
"""``{"events": [...]}``, as exported by ``temporal workflow show --output json``."""
FORM_EVENTS = "events"
"""A bare JSON array of events."""
FORM_ARCHIVE = "archive"
"""A JSON array of ``History`` batches (Temporal's filestore/gcloud history file)."""


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
    with nesting_limit(InvalidHistoryError, source):
        return _parse_history(data, source)


def _parse_history(data: bytes | str, source: str) -> ParsedHistory:
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
    location = "" if batch_index is None else f" in batch {batch_index}"
    try:  # protobuf would decode text that is not base64 as empty or partial data
        check_base64_fields(body, History.DESCRIPTOR)
    except ValueError as exc:
        raise InvalidHistoryError(f"{source}: invalid event{location}: {exc}") from exc
    try:  # the CLI's own spelling, strictly: unknown fields or enum values would be lost silently
        return json_format.ParseDict(body, History(), ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        strict_error = exc
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


# -- the archive request -----------------------------------------------------------------------


def history_request(
    history: ParsedHistory,
    *,
    source: str,
    namespace_id: str,
    namespace: str,
    workflow_id: str,
    run_id: str,
    close_failover_version: int | None = None,
) -> ArchiveHistoryRequest:
    """Build and fully check the archive request for ``history`` before anything is written.

    ``next_event_id`` is the last event id + 1; ``close_failover_version`` defaults to the last
    event's version. Raises :class:`InvalidHistoryError` (naming ``source``) if the events are not
    contiguous from 1 or disagree with the close failover version, and
    :class:`InvalidArgumentError` for an empty id.
    """
    last = history.last_event
    if last is None:
        raise InvalidHistoryError(f"{source}: the history holds no events")
    request = ArchiveHistoryRequest(
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        next_event_id=last.event_id + 1,
        close_failover_version=last.version if close_failover_version is None else close_failover_version,
    )
    request.validate()
    first = next(batch.events[0] for batch in history.batches if batch.events)
    if first.event_id != 1:
        raise InvalidHistoryError(f"{source}: the history must start at event id 1, it starts at {first.event_id}")
    try:
        for _ in CheckedBatches(request, history.batches):
            pass
    except InvalidHistoryError as exc:
        raise InvalidHistoryError(f"{source}: {exc}") from exc
    except HistoryMutatedError as exc:
        detail = str(exc).removeprefix("history was mutated: ")
        if close_failover_version is not None:
            raise InvalidHistoryError(
                f"{source}: --close-failover-version {close_failover_version} does not match the history: {detail}"
            ) from exc
        raise InvalidHistoryError(f"{source}: inconsistent event versions: {detail}") from exc
    return request


# -- writing ------------------------------------------------------------------------------------


def render_history_json(events: Iterable[HistoryEvent]) -> str:
    """Return ``{"events": [...]}`` exactly as ``temporal workflow show --output json`` prints it.

    See the module docstring for the format; the result ends with a newline.
    """
    return encode_json({"events": list(events)}, indent=2) + "\n"
