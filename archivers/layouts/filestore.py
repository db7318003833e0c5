"""Names of Temporal's filestore layout (``file://``), byte for byte.

History: ``<h(namespaceID)><h(workflowID)><h(runID)>_<closeFailoverVersion>.history``.
Visibility: ``<namespaceID>/<closeTime unix nanos>_<h(runID)>.visibility``.
``h`` is FarmHash Fingerprint64 in decimal.
"""

from __future__ import annotations

import re

from archivers.codec.naming import fingerprint
from archivers.errors import InvalidArgumentError

HISTORY_SUFFIX = ".history"
VISIBILITY_SUFFIX = ".visibility"
_HISTORY_NAME = re.compile(r"^(\d+)_(-?\d+)\.history$")
_VISIBILITY_NAME = re.compile(r"^(-?\d+)_(\d+)\.visibility$")


def history_prefix(namespace_id: str, workflow_id: str, run_id: str) -> str:
    """The hash prefix shared by every version of one run's history file."""
    return fingerprint(namespace_id) + fingerprint(workflow_id) + fingerprint(run_id)


def history_filename(namespace_id: str, workflow_id: str, run_id: str, close_failover_version: int) -> str:
    """The history file name of one run at one close failover version."""
    return f"{history_prefix(namespace_id, workflow_id, run_id)}_{close_failover_version}{HISTORY_SUFFIX}"


def history_version(filename: str, prefix: str) -> int | None:
    """The close failover version in ``filename`` if it is a history file of the run with ``prefix``."""
    match = _HISTORY_NAME.match(filename)
    if not match or match.group(1) != prefix:
        return None
    return int(match.group(2))


def visibility_filename(close_time_nanos: int, run_id: str) -> str:
    """The visibility file name of one run."""
    return f"{close_time_nanos}_{fingerprint(run_id)}{VISIBILITY_SUFFIX}"


def parse_visibility_filename(filename: str) -> tuple[int, str] | None:
    """``(close time nanos, run id hash)`` of a visibility file name, or ``None`` for other files."""
    match = _VISIBILITY_NAME.match(filename)
    return (int(match.group(1)), match.group(2)) if match else None


def namespace_dirname(namespace_id: str) -> str:
    """The visibility directory name of a namespace, refusing ids that would leave the URI directory."""
    if namespace_id in (".", "..") or any(c in namespace_id for c in "/\\\0"):
        raise InvalidArgumentError(f"namespace id {namespace_id!r} cannot be used as a directory name")
    return namespace_id
