"""History JSON as the ``temporal`` CLI reads and writes it.

Writing (:func:`render_history_json`) reproduces ``temporal workflow show --output json`` byte for
byte: ``{"events": [...]}`` indented by two spaces with ``": "`` after keys, a trailing newline,
events in Go's protojson (:mod:`archivers.codec.protojson`).

Reading (:class:`HistoryReader`; :class:`HistoryFile` streams a file, :func:`parse_history_file`
reads one whole) accepts three shapes, told apart by the top-level value (and an array by its first
element):

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

A file is read one event or batch at a time (:mod:`archivers.jsonstream`), so ``archiver put``
holds about constant memory whatever the file's size: :func:`check_history` reads it once to check
it whole and build the archive request, and the archive reads it again.
"""

from __future__ import annotations

import codecs
import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any

from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent

from archivers.codec.base64_fields import check_base64_fields
from archivers.codec.message_reader import read_message
from archivers.codec.protojson import encode_json
from archivers.errors import HistoryMutatedError, InvalidHistoryError
from archivers.history_checks import CheckedBatches
from archivers.interfaces import ArchiveHistoryRequest
from archivers.jsonstream import JSONStream, JSONStreamError, NotUTF8Error
from archivers.nesting import nesting_limit

FORM_CLI = "cli"
"""``{"events": [...]}``, as exported by ``temporal workflow show --output json``."""
FORM_EVENTS = "events"
"""A bare JSON array of events."""
FORM_ARCHIVE = "archive"
"""A JSON array of ``History`` batches (Temporal's filestore/gcloud history file)."""


@dataclass(frozen=True)
class ParsedHistory:
    """A history read whole: its event batches in order, and the shape it was read from."""

    batches: list[History]
    form: str

    @property
    def event_count(self) -> int:
        """The number of events in all batches."""
        return sum(len(batch.events) for batch in self.batches)


# -- reading ------------------------------------------------------------------------------------


class HistoryFile:
    """A history JSON file in any of the shapes of the module docstring, read as a stream.

    Each call of :meth:`batches` reads the file again from the start, one event or batch at a time,
    in memory bounded by the largest of them (see :mod:`archivers.jsonstream`), never the whole file.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def batches(self) -> Iterator[History]:
        """The file's batches in order; see :class:`HistoryReader` for what it raises."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed when the generator ends
        except OSError as exc:
            raise InvalidHistoryError(f"{self.path}: cannot read history file: {exc.strerror or exc}") from exc
        with handle:
            yield from HistoryReader(handle, self.path)


def parse_history_file(path: str) -> ParsedHistory:
    """Read a whole history JSON file into memory (``archiver put`` streams it with :class:`HistoryFile`)."""
    try:
        with open(path, "rb") as handle:
            return _parse(handle, path)
    except OSError as exc:
        raise InvalidHistoryError(f"{path}: cannot read history file: {exc.strerror or exc}") from exc


def parse_history_bytes(data: bytes | str, *, source: str) -> ParsedHistory:
    """Like :func:`parse_history_file` for content already in memory; ``source`` names it in errors."""
    return _parse(io.BytesIO(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data), source)


def _parse(handle: IO[bytes], source: str) -> ParsedHistory:
    reader = HistoryReader(handle, source)
    batches = list(reader)
    return ParsedHistory(batches, reader.form)


class HistoryReader:
    """Iterates the batches of the history JSON read from ``handle`` (named ``source`` in errors).

    Events of the ``{"events": [...]}`` and bare array forms become one batch each; batches of the
    archive form keep their boundaries (empty ones are skipped). The form is decided by the
    top-level value and, for an array, by its first element; :attr:`form` tells it once known.
    UTF-8 (with or without a byte order mark), UTF-16 and UTF-32 text is read, as :func:`json.loads`
    reads bytes.

    Raises :class:`InvalidHistoryError` (one line, naming ``source``) when it comes to something
    that is not valid or complete JSON, not of these shapes, or does not decode, and at the end if
    the history holds no events. Batches before the problem have been yielded by then: read the
    whole history once before acting on it. Event ids and versions are not checked here
    (:func:`check_history` does that).
    """

    def __init__(self, handle: IO[bytes], source: str) -> None:
        self._handle = handle
        self._source = source
        self.form: str = ""

    def __iter__(self) -> Iterator[History]:
        source = self._source
        encoding = "UTF-8"
        try:
            handle, offset, encoding = _utf8(self._handle)
            stream = JSONStream(handle, source, too_deep=InvalidHistoryError, offset=offset)
            first = stream.peek()
            if first == "{":
                yield from self._object(stream)
            elif first == "[":
                yield from self._array(stream)
            else:
                value = stream.value()
                stream.end()
                raise InvalidHistoryError(
                    f'{source}: expected {{"events": [...]}}, an array of events or an array of History batches, '
                    f"got a JSON {type(value).__name__}"
                )
        except NotUTF8Error as exc:
            raise InvalidHistoryError(f"{source}: not UTF-8 text: {exc}") from exc
        except JSONStreamError as exc:
            hint = " (the file looks truncated)" if exc.truncated else ""
            raise InvalidHistoryError(f"{source}: not valid JSON: {exc}{hint}") from exc
        except UnicodeDecodeError as exc:  # from the transcoding of UTF-16 or UTF-32
            raise InvalidHistoryError(f"{source}: not {encoding} text: {exc.reason}") from exc
        except OSError as exc:
            raise InvalidHistoryError(f"{source}: cannot read history file: {exc.strerror or exc}") from exc

    def _object(self, stream: JSONStream) -> Iterator[History]:
        """``{"events": [...]}``: other members are passed over."""
        source = self._source
        self.form = FORM_CLI
        found = False
        stream.take("{", "Expecting value")
        separator = "}" if stream.peek() == "}" else ","
        if separator == "}":
            stream.take("}", "")
        while separator == ",":
            if stream.peek() != '"':
                raise stream.error("Expecting property name enclosed in double quotes")
            key = stream.value()
            stream.take(":", "Expecting ':' delimiter")
            if key != "events":
                stream.value()
            elif found:
                raise InvalidHistoryError(f'{source}: "events" appears twice in the JSON object')
            elif stream.peek() != "[":
                stream.value()  # not valid JSON is reported as such first
                raise InvalidHistoryError(f'{source}: "events" of events is not a JSON array')
            else:
                found = True
                stream.open_array("")
                yield from self._events(stream, [])
            separator = stream.peek()
            if separator not in (",", "}"):
                raise stream.error("Expecting ',' delimiter")
            stream.take(separator, "")
        stream.end()
        if not found:
            raise InvalidHistoryError(
                f'{source}: expected a JSON object with "events" (temporal workflow show --output json)'
            )

    def _array(self, stream: JSONStream) -> Iterator[History]:
        """An array of events, or of ``History`` batches if its first element is one."""
        source = self._source
        stream.open_array("")
        if stream.array_ended:
            stream.end()
            raise InvalidHistoryError(f"{source}: the history holds no events")
        first = stream.next_element()
        if not (isinstance(first, dict) and _is_batch(first)):
            self.form = FORM_EVENTS
            yield from self._events(stream, [first])
            return
        self.form = FORM_ARCHIVE
        saw_events = False
        item, index = first, 0
        while True:
            if not (isinstance(item, dict) and _is_batch(item)):
                raise InvalidHistoryError(
                    f"{source}: element {index} of the array is not a History batch (element 0 is one)"
                )
            events = _events_list(item.get("events", []), source, f"batch {index}")
            with nesting_limit(InvalidHistoryError, source):
                batch = _decode_batch(events, source, index)
            if batch.events:
                saw_events = True
                yield batch
            if stream.array_ended:
                break
            item, index = stream.next_element(), index + 1
        stream.end()
        if not saw_events:
            raise InvalidHistoryError(f"{source}: the history holds no events")

    def _events(self, stream: JSONStream, read: list[Any]) -> Iterator[History]:
        """One batch per event of the array being read (``read``: its elements already read)."""
        source = self._source
        position = 0
        for event in itertools.chain(read, stream.elements()):
            with nesting_limit(InvalidHistoryError, source):
                batch = _decode_batch([event], source, None, position)
            yield batch
            position += 1
        if self.form == FORM_EVENTS:
            stream.end()
        if position == 0:
            raise InvalidHistoryError(f"{source}: the history holds no events")


def _utf8(handle: IO[bytes]) -> tuple[IO[bytes], int, str]:
    """``handle`` as UTF-8 bytes, the offset of its text (after a UTF-8 byte order mark), and its encoding."""
    head = handle.read(4)
    handle.seek(0)
    encoding = json.detect_encoding(head)
    if encoding == "utf-8":
        return handle, 0, "UTF-8"
    if encoding == "utf-8-sig":
        return handle, len(codecs.BOM_UTF8), "UTF-8"
    return codecs.EncodedFile(handle, "utf-8", encoding), 0, encoding.upper()


def _is_batch(item: dict[str, Any]) -> bool:
    """A ``History`` object has only ``events`` (an event always has ``eventId`` or ``eventType``)."""
    return "events" in item and "eventId" not in item and "eventType" not in item


def _events_list(value: Any, source: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidHistoryError(f'{source}: "events" of {where} is not a JSON array')
    return value


def _decode_batch(events: Sequence[Any], source: str, batch_index: int | None, first_position: int = 0) -> History:
    """``events`` (of batch ``batch_index``, or events ``first_position``... of the events forms) as a ``History``."""
    location = "" if batch_index is None else f" in batch {batch_index}"
    for position, event in enumerate(events, first_position):
        if not isinstance(event, dict):
            raise InvalidHistoryError(f"{source}: {_where(batch_index, position)} is not a JSON object")
    body = {"events": list(events)}
    history = read_message(body, History, ignore_unknown_fields=False)  # canonical spelling: exact and fast
    if history is not None:
        return history
    for position, event in enumerate(events, first_position):
        try:  # protobuf would decode text that is not base64 as empty or partial data
            check_base64_fields(event, HistoryEvent.DESCRIPTOR, f"events[{position}]")
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
    from temporalio.client import WorkflowHistory  # only for old spellings; a slow import

    try:  # older UI/CLI exports spell enums differently; temporalio normalizes them
        history = History(events=WorkflowHistory.from_json("", body).events)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, KeyError):
        history = None
    if history is None:
        raise InvalidHistoryError(
            f"{source}: invalid event{location}: {_one_line(str(strict_error))}"
        ) from strict_error
    for position, event in enumerate(history.events, first_position):
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


def _one_line(text: str) -> str:
    text = text.split(" Available Fields", 1)[0]  # protobuf appends every field name of the message
    return " ".join(text.replace("Failed to parse events field: ", "").split())


# -- the archive request -----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedHistory:
    """What :func:`check_history` found: the archive request, and how many events the history holds."""

    request: ArchiveHistoryRequest
    event_count: int


@dataclass(frozen=True)
class RunNames:
    """The namespace (id and name), workflow id and run id a history file is archived as."""

    namespace_id: str
    namespace: str
    workflow_id: str
    run_id: str


def check_history(
    read: Callable[[], Iterable[History]],
    *,
    source: str,
    run: RunNames,
    close_failover_version: int | None = None,
) -> CheckedHistory:
    """Read the whole history once (``read()`` yields its batches) and build and check its archive request.

    Holds one batch at a time. ``next_event_id`` is the last event id + 1; ``close_failover_version``
    defaults to the last event's version. Raises :class:`InvalidHistoryError` (naming ``source``)
    for what ``read()`` raises, if the events are not contiguous from 1 or disagree with the close
    failover version, and :class:`InvalidArgumentError` for an empty id. Only when a check fails is
    the history read again (by :class:`CheckedBatches`, for its message naming the first event at fault).
    """
    count = first_id = last_id = last_version = max_version = 0
    in_order = True
    for batch in read():
        for event in batch.events:
            if count == 0:
                first_id, max_version = event.event_id, event.version
            elif event.event_id != last_id + 1:
                in_order = False
            last_id, last_version = event.event_id, event.version
            max_version = max(max_version, event.version)
            count += 1
    if count == 0:
        raise InvalidHistoryError(f"{source}: the history holds no events")
    version = last_version if close_failover_version is None else close_failover_version
    request = ArchiveHistoryRequest(**asdict(run), next_event_id=last_id + 1, close_failover_version=version)
    request.validate()
    if first_id != 1:
        raise InvalidHistoryError(f"{source}: the history must start at event id 1, it starts at {first_id}")
    cfv = request.close_failover_version
    if not in_order or max_version > cfv or last_version != cfv:
        _check_batches(request, read(), source, close_failover_version)
    return CheckedHistory(request, count)


def _check_batches(
    request: ArchiveHistoryRequest, batches: Iterable[History], source: str, close_failover_version: int | None
) -> None:
    """Run :class:`CheckedBatches` over ``batches``; its errors name ``source`` (and the option, if given)."""
    try:
        for _ in CheckedBatches(request, batches):
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


# -- writing ------------------------------------------------------------------------------------


def render_history_json(events: Iterable[HistoryEvent]) -> str:
    """Return ``{"events": [...]}`` exactly as ``temporal workflow show --output json`` prints it.

    See the module docstring for the format; the result ends with a newline.
    """
    return encode_json({"events": list(events)}, indent=2) + "\n"
