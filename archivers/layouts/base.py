"""The contract an object layout implements (see :mod:`archivers.layouts` for how to add one)."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import PROTOJSON, BatchInfo, dumps_batch, json_event_ids
from archivers.codec.protojson import dict_to_message, encode_message
from archivers.errors import CorruptArchiveError
from archivers.interfaces import ArchiveHistoryRequest, DeleteRunRequest, GetHistoryRequest
from archivers.query import Constraints, TimeRange
from archivers.store.base import ObjectInfo, ObjectStore

RunRequest = ArchiveHistoryRequest | GetHistoryRequest | DeleteRunRequest
"""A request naming one run (``namespace_id``, ``workflow_id``, ``run_id``)."""

ListedKey = tuple[ObjectInfo, int, int]
"""``(object, low, high)``: a listed visibility object and the Unix-nanos range its indexed time may have."""


TARGET_PART_BYTES = 2 * 1024 * 1024
"""Temporal's history blob size: a part is closed once its stored batches reach it."""


class Part(abc.ABC):
    """A stored history part: its batches in order, ``last_event_id`` and whether it ends the history.

    Parts are immutable once read, so a part may be cached and shared between threads.
    """

    is_last: bool
    last_event_id: int
    source: str

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of batches."""

    @abc.abstractmethod
    def batch(self, index: int) -> History:
        """Batch ``index`` as a ``History``; :class:`CorruptArchiveError` naming the part if invalid."""

    def batch_bytes(self, index: int) -> bytes:
        """Batch ``index`` as a serialized ``History`` (layouts storing binary batches slice them, not re-encode)."""
        return self.batch(index).SerializeToString()

    @abc.abstractmethod
    def slices(self, index: int, expected: int, budget: int) -> tuple[list[bytes], int, int]:
        """Batches from ``index`` on as stored, in the layout's ``stored_encoding``, without decoding events.

        Takes batches while fewer than ``budget`` events are taken; the first must start at event
        ``expected`` and each continue the one before (else :class:`CorruptArchiveError`). Returns the
        batches, the index after them and the event id after them.
        """

    @property
    def batches(self) -> list[History]:
        """Every batch (decodes them all)."""
        return [self.batch(i) for i in range(len(self))]


@dataclass(frozen=True)
class JsonPart(Part):
    """A part of a compat layout, parsed as JSON; batches become protobuf only when asked for."""

    raw_batches: list[Any]
    is_last: bool
    last_event_id: int
    source: str
    strict: bool

    def __len__(self) -> int:
        return len(self.raw_batches)

    def batch(self, index: int) -> History:
        """See :class:`Part`."""
        return dict_to_message(
            self.raw_batches[index], History, source=self.source, ignore_unknown_fields=not self.strict
        )

    def slices(self, index: int, expected: int, budget: int) -> tuple[list[bytes], int, int]:
        """See :class:`Part`: each stored batch written again as compact protojson, only its event ids checked."""
        taken: list[bytes] = []
        start = expected
        while index < len(self.raw_batches) and expected - start < budget:
            raw = self.raw_batches[index]
            expected = check_continues(json_event_ids(raw, self.source, CorruptArchiveError), expected, self.source)
            taken.append(dumps_batch(raw))
            index += 1
        return taken, index, expected


class HistoryLayout(abc.ABC):
    """Naming and encoding of history parts for one layout."""

    @abc.abstractmethod
    def part_key(self, root: str, run: RunRequest, version: int, index: int) -> str:
        """The object key of part ``index`` of one version."""

    @abc.abstractmethod
    def list_prefix(self, root: str, run: RunRequest) -> str:
        """A listing prefix covering every part of every version of the run."""

    @abc.abstractmethod
    def parse_key(self, root: str, run: RunRequest, key: str) -> tuple[int, int] | None:
        """``(version, index)`` of a listed key, or ``None`` if it is not one of the run's parts."""

    stored_encoding: ClassVar[str] = PROTOJSON
    """How :meth:`encode_batch` stores a batch (:mod:`archivers.batches`): batches received in it are kept as is."""

    def encode_batch(self, batch: History) -> bytes:
        """One batch as the layout stores it; parts are sized by these bytes (default: protojson)."""
        return encode_message(batch)

    @abc.abstractmethod
    def encode_part(
        self,
        request: ArchiveHistoryRequest,
        encoded_batches: Sequence[bytes],
        infos: Sequence[BatchInfo],
        is_last: bool,
    ) -> bytes:
        """The stored bytes of one part; ``encoded_batches`` are the batches as :meth:`encode_batch` made them."""

    def part_builder(self, request: ArchiveHistoryRequest) -> PartBuilder:
        """A builder of one part of ``request``'s history (default: sized by the encoded batches' bytes)."""
        return PartBuilder(self, request)

    @abc.abstractmethod
    def decode_part(self, data: bytes, source: str) -> Part:
        """Decode a stored part, raising :class:`CorruptArchiveError` naming ``source``."""


class PartBuilder:
    """Collects the encoded batches of one part until it is :attr:`full`, then :meth:`build` gives its bytes.

    This default measures a part by its encoded batches (:data:`TARGET_PART_BYTES`); a layout that
    compresses measures what it will store instead.
    """

    def __init__(self, layout: HistoryLayout, request: ArchiveHistoryRequest) -> None:
        self._layout = layout
        self._request = request
        self.infos: list[BatchInfo] = []
        self.encoded: list[bytes] = []
        self._size = 0

    def add(self, info: BatchInfo, data: bytes) -> None:
        """Append one batch (``data`` as the layout's ``encode_batch`` makes it)."""
        self.infos.append(info)
        self.encoded.append(data)
        self._size += len(data)

    @property
    def full(self) -> bool:
        """Whether the part has reached its size and takes no more batches."""
        return self._size >= TARGET_PART_BYTES

    def build(self, is_last: bool) -> bytes:
        """The part's stored bytes."""
        return self._layout.encode_part(self._request, self.encoded, self.infos, is_last)


def encode_history(layout: HistoryLayout, request: ArchiveHistoryRequest, batches: Iterable[History]) -> list[bytes]:
    """The stored bytes of every part of a whole history, cut as the archiver cuts them (for benches and tests)."""
    parts: list[bytes] = []
    builder = layout.part_builder(request)
    for batch in batches:
        if builder.full:
            parts.append(builder.build(False))
            builder = layout.part_builder(request)
        builder.add(BatchInfo.of(batch), layout.encode_batch(batch))
    parts.append(builder.build(True))
    return parts


def check_continues(event_ids: Iterable[int], expected: int, source: str) -> int:
    """The event id after a batch of ``event_ids``, if they continue the history at ``expected``.

    A stored history that starts later than event 1 or skips events (parts lost or written by
    upstream's multi-part bug) raises :class:`CorruptArchiveError` instead of being served.
    """
    for event_id in event_ids:
        if event_id != expected:
            raise CorruptArchiveError(
                f"{source}: archived history is incomplete: expected event {expected}, found event {event_id}"
            )
        expected += 1
    return expected


def version_and_index(key: str, prefix: str) -> tuple[int, int] | None:
    """``(version, index)`` of a key ``<prefix><version>/<index>``; ``None`` for any other key."""
    rest = key.removeprefix(prefix)
    if rest == key:
        return None
    version, slash, index = rest.partition("/")
    try:
        return (int(version), int(index)) if slash and index.isdigit() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TimeIndex:
    """The time index a query lists: by start time (``by_start``) or close time, within ``times``."""

    by_start: bool
    times: TimeRange

    @classmethod
    def of(cls, constraints: Constraints) -> TimeIndex:
        """The start-time index when the query bounds StartTime but not CloseTime, else the close-time index."""
        if constraints.close_time.is_unbounded and not constraints.start_time.is_unbounded:
            return cls(True, constraints.start_time)
        return cls(False, constraints.close_time)

    def allows(self, low: int, high: int) -> bool:
        """Whether an indexed time within ``low..high`` (Unix nanos, inclusive) can be in the range."""
        times = self.times
        return (times.lower is None or high >= times.lower) and (times.upper is None or low <= times.upper)


class VisibilityLayout(abc.ABC):
    """Where a layout stores a visibility record and how it lists candidates for a query."""

    @abc.abstractmethod
    def keys(self, root: str, record: VisibilityRecord) -> list[str]:
        """Every key the record is stored under."""

    @abc.abstractmethod
    def list_index(
        self, store: ObjectStore, root: str, namespace_id: str, constraints: Constraints, index: TimeIndex
    ) -> Iterator[ListedKey]:
        """The stored records that may match (a superset), from as few listings as the layout allows."""


class ObjectLayout(HistoryLayout, VisibilityLayout):
    """A whole object layout: what a layout module exports as ``LAYOUT``; ``name`` is what descriptors call it."""

    name: ClassVar[str]


def close_and_start(record: VisibilityRecord) -> tuple[Timestamp | None, Timestamp | None]:
    """The record's close and start times, ``None`` where unset (upstream then writes Go's zero time)."""
    close = record.close_time if record.HasField("close_time") else None
    start = record.start_time if record.HasField("start_time") else None
    return close, start
