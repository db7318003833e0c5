"""Object names of Temporal's gcloud layout, byte for byte.

Every name is ``<path without its leading slash>/<file name>``. History parts:
``<h(nsID)><h(wfID)><h(runID)>_<closeFailoverVersion>_<part>.history``, each a JSON array of
``History`` batches. Visibility: ``<nsID>/closeTimeout_<RFC3339>_<h(type)>_<h(wfID)>_<h(runID)>.visibility``
and the same with ``startTimeout_``. ``h`` is FarmHash Fingerprint64 in decimal, ``""`` for ``""``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.naming import gcloud_fingerprint as h
from archivers.layouts.s3store import NANOS, key_time, parse_key_time

CLOSE = "closeTimeout"
START = "startTimeout"
_PART = re.compile(r"^(\d*)_(-?\d+)_(\d+)\.history$")
_VISIBILITY = re.compile(r"^(closeTimeout|startTimeout)_([^_]+)_(\d*)_(\d*)_(\d*)\.visibility$")


def object_name(path: str, file_name: str) -> str:
    """Upstream's ``formatSinkPath(path) + "/" + fileName``: the path without its first character."""
    return f"{path[1:]}/{file_name}"


def history_hash(namespace_id: str, workflow_id: str, run_id: str) -> str:
    """The hash prefix of every part of one run's history."""
    return h(namespace_id) + h(workflow_id) + h(run_id)


def history_part_name(path: str, namespace_id: str, workflow_id: str, run_id: str, version: int, part: int) -> str:
    """The object name of part ``part`` of one version of a run's history."""
    return object_name(path, f"{history_hash(namespace_id, workflow_id, run_id)}_{version}_{part}.history")


def history_list_prefix(path: str, namespace_id: str, workflow_id: str, run_id: str) -> str:
    """The listing prefix covering every part of every version of a run."""
    return object_name(path, f"{history_hash(namespace_id, workflow_id, run_id)}_")


def parse_history_part(name: str, path: str, run_hash: str) -> tuple[int, int] | None:
    """``(version, part)`` of a part object of the run with ``run_hash``, else ``None``."""
    base = object_name(path, "")
    if not name.startswith(base):
        return None
    match = _PART.match(name[len(base) :])
    if not match or match.group(1) != run_hash:
        return None
    return int(match.group(2)), int(match.group(3))


def visibility_names(path: str, record: VisibilityRecord) -> list[str]:
    """The two object names one record is stored under (close and start time indexes)."""
    hashes = f"{h(record.workflow_type_name)}_{h(record.workflow_id)}_{h(record.run_id)}"
    close = record.close_time if record.HasField("close_time") else None
    start = record.start_time if record.HasField("start_time") else None
    return [
        object_name(path, f"{record.namespace_id}/{tag}_{key_time(stamp)}_{hashes}.visibility")
        for tag, stamp in ((CLOSE, close), (START, start))
    ]


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
