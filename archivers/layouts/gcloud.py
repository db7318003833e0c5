"""Temporal's gcloud layout, byte for byte: its object names, history parts and visibility listing.

Every name is ``<path without its leading slash>/<file name>``. History parts:
``<h(nsID)><h(wfID)><h(runID)>_<closeFailoverVersion>_<part>.history``, each a JSON array of
``History`` batches. Visibility: ``<nsID>/closeTimeout_<RFC3339>_<h(type)>_<h(wfID)>_<h(runID)>.visibility``
and the same with ``startTimeout_``. ``h`` is FarmHash Fingerprint64 in decimal, ``""`` for ``""``.

A part carries no "last" flag: a history is complete when its last part ends with a workflow close
event. A query lists one index (close or start time) below the time prefix its bounds share and
prunes the names by the hashes of the workflow ids, types and run ids it pins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import BatchInfo, json_event_ids
from archivers.codec.naming import gcloud_fingerprint as h
from archivers.codec.protojson import parse_json
from archivers.errors import CorruptArchiveError
from archivers.interfaces import ArchiveHistoryRequest
from archivers.layouts.base import (
    JsonPart,
    ListedKey,
    ObjectLayout,
    Part,
    RunRequest,
    TimeIndex,
    close_and_start,
)
from archivers.layouts.s3store import NANOS, key_time, parse_key_time, time_prefix
from archivers.query import Constraints
from archivers.store.base import ObjectStore

CLOSE = "closeTimeout"
START = "startTimeout"
CLOSE_EVENT_TYPES = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
"""The events that end a run's history: a gcloud part ending with one completes the history."""
_CLOSE_EVENT_VALUES = frozenset({*CLOSE_EVENT_TYPES, *(EventType.Name(t) for t in CLOSE_EVENT_TYPES)})
"""The protojson values (enum name, or number) of :data:`CLOSE_EVENT_TYPES`."""
_PART = re.compile(r"^(\d*)_(-?\d+)_(\d+)\.history$")
_VISIBILITY = re.compile(r"^(closeTimeout|startTimeout)_([^_]+)_(\d*)_(\d*)_(\d*)\.visibility$")


def object_name(path: str, file_name: str) -> str:
    """Upstream's ``formatSinkPath(path) + "/" + fileName``: the path without its first character."""
    return f"{path[1:]}/{file_name}"


def _run_hash(run: RunRequest) -> str:
    """The hash prefix of every part of one run's history."""
    return h(run.namespace_id) + h(run.workflow_id) + h(run.run_id)


def parse_history_part(name: str, path: str, run_hash: str) -> tuple[int, int] | None:
    """``(version, part)`` of a part object of the run with ``run_hash``, else ``None``."""
    base = object_name(path, "")
    if not name.startswith(base):
        return None
    match = _PART.match(name[len(base) :])
    if not match or match.group(1) != run_hash:
        return None
    return int(match.group(2)), int(match.group(3))


def visibility_list_prefix(path: str, namespace_id: str, tag: str, time_prefix: str = "") -> str:
    """Listing prefix of one index (``closeTimeout``/``startTimeout``) of a namespace."""
    return object_name(path, f"{namespace_id}/{tag}_{time_prefix}")


@dataclass(frozen=True)
class VisibilityName:
    """A parsed visibility object name: the indexed second and the three hashes."""

    tag: str
    seconds: int
    type_hash: str
    workflow_hash: str
    run_hash: str

    @property
    def nanos_range(self) -> tuple[int, int]:
        """The close (or start) time range the name allows, in Unix nanos, inclusive."""
        return self.seconds * NANOS, self.seconds * NANOS + NANOS - 1


def parse_visibility_name(name: str, path: str, namespace_id: str) -> VisibilityName | None:
    """Parse a visibility object name of ``namespace_id``; ``None`` for anything else."""
    base = object_name(path, f"{namespace_id}/")
    if not name.startswith(base):
        return None
    match = _VISIBILITY.match(name[len(base) :])
    if not match:
        return None
    seconds = parse_key_time(match.group(2))
    if seconds is None:
        return None
    return VisibilityName(match.group(1), seconds, match.group(3), match.group(4), match.group(5))


class GcloudLayout(ObjectLayout):
    """Temporal's gcloud layout: bare JSON arrays of batches, two hashed names per record."""

    name = "gcloud"

    def part_key(self, root: str, run: RunRequest, version: int, index: int) -> str:
        """See :class:`HistoryLayout`: ``<run hash>_<version>_<index>.history``."""
        return object_name(root, f"{_run_hash(run)}_{version}_{index}.history")

    def list_prefix(self, root: str, run: RunRequest) -> str:
        """See :class:`HistoryLayout`: every part of every version of the run starts with its hash."""
        return object_name(root, f"{_run_hash(run)}_")

    def parse_key(self, root: str, run: RunRequest, key: str) -> tuple[int, int] | None:
        """See :class:`HistoryLayout`."""
        return parse_history_part(key, root, _run_hash(run))

    def encode_part(
        self,
        request: ArchiveHistoryRequest,
        encoded_batches: Sequence[bytes],
        infos: Sequence[BatchInfo],
        is_last: bool,
    ) -> bytes:
        """A JSON array of the already-encoded batches."""
        return b"[" + b",".join(encoded_batches) + b"]"

    def decode_part(self, data: bytes, source: str) -> Part:
        """Parse a JSON array of batches; complete if its last event closes the workflow."""
        parsed = parse_json(data, source)
        if not isinstance(parsed, list):
            raise CorruptArchiveError(f"{source}: expected a JSON array of event batches")
        for raw in reversed(parsed):
            event_ids = json_event_ids(raw, source, CorruptArchiveError)
            if event_ids:
                closes = raw["events"][-1].get("eventType") in _CLOSE_EVENT_VALUES
                return JsonPart(parsed, closes, event_ids[-1], source, strict=False)
        return JsonPart(parsed, False, 0, source, strict=False)

    def keys(self, root: str, record: VisibilityRecord) -> list[str]:
        """See :class:`VisibilityLayout`: two object names, in the close and the start time index."""
        hashes = f"{h(record.workflow_type_name)}_{h(record.workflow_id)}_{h(record.run_id)}"
        close, start = close_and_start(record)
        return [
            object_name(root, f"{record.namespace_id}/{tag}_{key_time(stamp)}_{hashes}.visibility")
            for tag, stamp in ((CLOSE, close), (START, start))
        ]

    def list_index(
        self, store: ObjectStore, root: str, namespace_id: str, constraints: Constraints, index: TimeIndex
    ) -> Iterator[ListedKey]:
        """List the close (or start) time index under the time prefix; prune by the hashed ids."""
        tag = START if index.by_start else CLOSE
        wanted_types = _hashes(constraints.workflow_types)
        wanted_workflows = _hashes(constraints.workflow_ids)
        wanted_runs = _hashes(constraints.run_ids)
        prefix = visibility_list_prefix(root, namespace_id, tag, time_prefix(index.times.lower, index.times.upper))
        for page in store.list_all(prefix):
            for info in page.objects:
                name = parse_visibility_name(info.key, root, namespace_id)
                if name is None or name.tag != tag:
                    continue
                if (
                    (wanted_types is not None and name.type_hash not in wanted_types)
                    or (wanted_workflows is not None and name.workflow_hash not in wanted_workflows)
                    or (wanted_runs is not None and name.run_hash not in wanted_runs)
                ):
                    continue
                low, high = name.nanos_range
                if index.allows(low, high):
                    yield info, low, high


def _hashes(values: Iterable[str] | None) -> set[str] | None:
    return None if values is None else {h(v) for v in values}


LAYOUT = GcloudLayout()
