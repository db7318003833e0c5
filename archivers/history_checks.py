"""Validation of the event batches handed to a history archive, shared by every backend.

:class:`BatchChecks` holds the rules over each batch's event range and end versions; the two
iterators feed it: :class:`CheckedBatches` with ``History`` messages (checking every event), and
:class:`CheckedEncoded` with encoded batches (protobuf or protojson bytes), which it checks per batch
only (the event ids and the first and last event's versions, as Temporal's own archivers check each
blob's last event) so that a batch can be stored as received without building a Python object per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from temporalio.api.history.v1 import History

from archivers.batches import BatchInfo, EncodedBatches, read_batch
from archivers.errors import HistoryMutatedError, InvalidHistoryError
from archivers.interfaces import ArchiveHistoryRequest


class BatchChecks:
    """The checks of one archive's batches, told one :class:`BatchInfo` at a time, in order.

    - batches wholly at or before ``resume_after`` (already durable) are skipped;
    - events must be contiguous, starting at 1 (or right after ``resume_after``);
    - an event whose version exceeds the close failover version means the history mutated;
    - after the last batch (:meth:`finish`), the last event must be ``next_event_id - 1`` with
      version equal to the close failover version (Temporal's mutation check).

    Raises :class:`InvalidHistoryError` for malformed input and :class:`HistoryMutatedError` for a
    history that disagrees with the request. ``last_event_id`` tells how far it got.
    """

    def __init__(self, request: ArchiveHistoryRequest, resume_after: int = 0) -> None:
        self._request = request
        self._resume_after = resume_after
        self.last_event_id = resume_after
        self.last_version: int | None = None
        self.saw_events = False

    def admit(self, info: BatchInfo) -> bool:
        """Check the next non-empty batch; ``False`` if it is already durable (skip it), ``True`` to store it."""
        request = self._request
        self.saw_events = True
        first, last = info.first_event_id, info.last_event_id
        if last <= self._resume_after:
            self.last_version = info.last_version
            return False
        if first <= self._resume_after:
            raise InvalidHistoryError(
                f"batch of events {first}..{last} straddles the resume point {self._resume_after}; "
                "batches must keep their boundaries between attempts"
            )
        if first != self.last_event_id + 1:
            raise InvalidHistoryError(f"events out of order: expected event id {self.last_event_id + 1}, got {first}")
        for version in (info.first_version, info.last_version):
            if version > request.close_failover_version:
                raise HistoryMutatedError(
                    f"history was mutated: an event of batch {first}..{last} has version {version} "
                    f"> close failover version {request.close_failover_version}"
                )
        if last >= request.next_event_id:
            raise HistoryMutatedError(
                f"history was mutated: event {last} is at or past next_event_id {request.next_event_id}"
            )
        self.last_event_id = last
        self.last_version = info.last_version
        return True

    def finish(self) -> None:
        """The end-of-history checks, if any event was seen or the archive resumed."""
        if not (self.saw_events or self._resume_after):
            return
        request = self._request
        if self.last_event_id + 1 != request.next_event_id:
            raise HistoryMutatedError(
                f"history was mutated: it ends at event {self.last_event_id} "
                f"but next_event_id is {request.next_event_id}"
            )
        if self.last_version is not None and self.last_version != request.close_failover_version:
            raise HistoryMutatedError(
                f"history was mutated: last event version {self.last_version} "
                f"!= close failover version {request.close_failover_version}"
            )


class Checked:
    """What an iterator of checked batches tells of its progress (the base of the two below).

    An input with no events at all (the history is already gone) is not an error: ``empty`` is
    then true and nothing is yielded.
    """

    _checks: BatchChecks

    @property
    def last_event_id(self) -> int:
        """The last event id checked (or the resume point)."""
        return self._checks.last_event_id

    @property
    def empty(self) -> bool:
        """True if the input held no events at all."""
        return not self._checks.saw_events


class CheckedBatches(Checked):
    """Iterates ``batches`` after ``resume_after``, checking every event against ``request`` (:class:`BatchChecks`)."""

    def __init__(self, request: ArchiveHistoryRequest, batches: Iterable[History], resume_after: int = 0) -> None:
        self._request = request
        self._batches = batches
        self._checks = BatchChecks(request, resume_after)

    def __iter__(self) -> Iterator[History]:
        for batch, _ in self.with_info():
            yield batch

    def with_info(self) -> Iterator[tuple[History, BatchInfo]]:
        """Like iterating, with each batch's :class:`BatchInfo`."""
        checks = self._checks
        cfv = self._request.close_failover_version
        for batch in self._batches:
            events = batch.events
            if not events:
                continue
            first = events[0].event_id
            for offset, event in enumerate(events):
                if event.event_id != first + offset:
                    raise InvalidHistoryError(
                        f"events out of order: expected event id {first + offset}, got {event.event_id}"
                    )
                if event.version > cfv:
                    raise HistoryMutatedError(
                        f"history was mutated: event {event.event_id} has version {event.version} "
                        f"> close failover version {cfv}"
                    )
            info = BatchInfo.of(batch)
            if checks.admit(info):
                yield batch, info
        checks.finish()


class CheckedEncoded(Checked):
    """Iterates encoded ``batches`` after ``resume_after`` as ``(info, bytes as stored)``, checked per batch.

    Each batch is read with :func:`archivers.batches.read_batch` (its event ids, and the versions
    of its first and last event, without decoding events into messages); the rules of
    :class:`BatchChecks` apply to the batch's range and those versions. Bytes that are not a
    ``History`` in their encoding raise :class:`InvalidHistoryError`.
    """

    def __init__(self, request: ArchiveHistoryRequest, batches: EncodedBatches, resume_after: int = 0) -> None:
        self._batches = batches
        self._checks = BatchChecks(request, resume_after)

    def __iter__(self) -> Iterator[tuple[BatchInfo, bytes]]:
        checks = self._checks
        encoding = self._batches.encoding
        for index, received in enumerate(self._batches.batches):
            data, info = read_batch(received, index, encoding)
            if info is not None and checks.admit(info):
                yield info, data
        checks.finish()
