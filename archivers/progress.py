"""Progress of a history archive: how far a retried archive may skip ahead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ArchiveProgress:
    """Durable progress of one run's history archive.

    ``complete`` is true when the whole history is archived (a retry has nothing to do);
    otherwise a retry resumes with the event after ``last_event_id`` (0: from the start).
    """

    last_event_id: int = 0
    complete: bool = False


class ProgressRecorder(Protocol):
    """Told by an archiver each time more of a history has become durable.

    Archivers derive resume points from what they stored (``HistoryArchiver.progress``); a
    recorder lets a caller observe progress as it happens (heartbeats, logs, metrics).
    """

    def record(self, progress: ArchiveProgress) -> None:
        """Called after the events up to ``progress.last_event_id`` are durable."""
