"""Validation of the event batches handed to a history archive, shared by every backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from archivers.batches import Batch, facts_of
from archivers.errors import HistoryMutatedError, InvalidHistoryError
from archivers.interfaces import ArchiveHistoryRequest


class CheckedBatches:
    """Iterates ``batches`` after ``resume_after``, checking them against ``request``.

    - batches wholly at or before ``resume_after`` (already durable) are skipped;
    - events must be contiguous, starting at 1 (or right after ``resume_after``);
    - an event whose version exceeds the close failover version means the history mutated;
    - after the last batch, the last event must be ``next_event_id - 1`` with version equal to
      the close failover version (Temporal's mutation check).

    Batches are ``History`` messages or :class:`~archivers.batches.JsonBatch` (checked through
    their facts, without decoding events). Raises :class:`InvalidHistoryError` for malformed input
    and :class:`HistoryMutatedError` for a history that disagrees with the request.
    ``last_event_id`` tells how far it got. An input with no events at all (the history is already
    gone) is not an error: ``empty`` is then true and nothing is yielded.
    """

    def __init__(self, request: ArchiveHistoryRequest, batches: Iterable[Batch], resume_after: int = 0) -> None:
        self._request = request
        self._batches = batches
        self.last_event_id = resume_after
        self.last_version: int | None = None
        self.saw_events = False
        self._resume_after = resume_after

    @property
    def empty(self) -> bool:
        """True if the input held no events at all."""
        return not self.saw_events

    def __iter__(self) -> Iterator[Batch]:
        request = self._request
        for batch in self._batches:
            facts = facts_of(batch)
            if facts is None:
                continue
            self.saw_events = True
            first, last = facts.first_event_id, facts.last_event_id
            if last <= self._resume_after:
                self.last_version = facts.last_version
                continue
            if first <= self._resume_after:
                raise InvalidHistoryError(
                    f"batch of events {first}..{last} straddles the resume point {self._resume_after}; "
                    "batches must keep their boundaries between attempts"
                )
            if first != self.last_event_id + 1:
                raise InvalidHistoryError(
                    f"events out of order: expected event id {self.last_event_id + 1}, got {first}"
                )
            if facts.max_version > request.close_failover_version:
                raise HistoryMutatedError(
                    f"history was mutated: an event of events {first}..{last} has version {facts.max_version} "
                    f"> close failover version {request.close_failover_version}"
                )
            if last >= request.next_event_id:
                raise HistoryMutatedError(
                    f"history was mutated: event {last} is at or past next_event_id {request.next_event_id}"
                )
            self.last_event_id = last
            self.last_version = facts.last_version
            yield batch
        if self.saw_events or self._resume_after:
            self._check_end()

    def _check_end(self) -> None:
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
