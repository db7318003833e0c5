"""The contract an object layout implements (see :mod:`archivers.layouts` for how to add one)."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import PROTOJSON, Batch, dumps_batch, json_event_ids, protojson_of
from archivers.codec.protojson import dict_to_message, encode_message
from archivers.errors import CorruptArchiveError
from archivers.interfaces import ArchiveHistoryRequest, DeleteRunRequest, GetHistoryRequest
from archivers.query import Constraints, TimeRange
from archivers.store.base import ObjectInfo, ObjectStore

RunRequest = ArchiveHistoryRequest | GetHistoryRequest | DeleteRunRequest
"""A request naming one run (``namespace_id``, ``workflow_id``, ``run_id``)."""

ListedKey = tuple[ObjectInfo, int, int]
"""``(object, low, high)``: a listed visibility object and the Unix-nanos range its indexed time may have."""


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

    def batch_json(self, index: int) -> tuple[bytes, list[int]]:
        """Batch ``index`` as Go's protojson of a ``History``, and its event ids (protojson layouts slice it)."""
        batch = self.batch(index)
        return encode_message(batch), [event.event_id for event in batch.events]

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

    def batch_json(self, index: int) -> tuple[bytes, list[int]]:
        """See :class:`Part`: the stored object written again as compact JSON, its events not decoded.

        Only the event ids are checked; a reader decoding the text checks the rest.
        """
        raw = self.raw_batches[index]
        return dumps_batch(raw), json_event_ids(raw, self.source, CorruptArchiveError)


class HistoryLayout(abc.ABC):
    """Naming and encoding of history parts for one layout.

    ``stored_encoding`` (:mod:`archivers.batches`) is how the layout stores a batch:
    :meth:`encode_batch` and :meth:`encode_part` take :class:`~archivers.batches.JsonBatch` batches
    only when it is ``protojson``, and store their text as is.
    """

    stored_encoding: ClassVar[str] = PROTOJSON

    @abc.abstractmethod
    def part_key(self, root: str, run: RunRequest, version: int, index: int) -> str:
        """The object key of part ``index`` of one version."""

    @abc.abstractmethod
    def list_prefix(self, root: str, run: RunRequest) -> str:
        """A listing prefix covering every part of every version of the run."""

    @abc.abstractmethod
    def parse_key(self, root: str, run: RunRequest, key: str) -> tuple[int, int] | None:
        """``(version, index)`` of a listed key, or ``None`` if it is not one of the run's parts."""

    def encode_batch(self, batch: Batch) -> bytes:
        """One batch as the layout stores it; parts are sized by these bytes (default: protojson)."""
        return protojson_of(batch)

    @abc.abstractmethod
    def encode_part(
        self, request: ArchiveHistoryRequest, encoded_batches: list[bytes], batches: list[Batch], is_last: bool
    ) -> bytes:
        """The stored bytes of one part; ``encoded_batches`` are the batches as :meth:`encode_batch` made them."""

    @abc.abstractmethod
    def decode_part(self, data: bytes, source: str) -> Part:
        """Decode a stored part, raising :class:`CorruptArchiveError` naming ``source``."""


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
