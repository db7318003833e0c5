"""Keys of Temporal's s3store layout, byte for byte (also used on Azure Blob and fsspec).

``prefix`` is the URI path; Go joins the parts with ``/`` and trims leading slashes only, so a
trailing slash in the URI path yields an empty segment, exactly as upstream.

History: ``<prefix>/<nsID>/history/<wfID>/<runID>/<closeFailoverVersion>/<blobIndex>`` (one
HistoryBlob per object). Visibility: one record under four index keys
``<prefix>/<nsID>/visibility/{workflowTypeName/<type>|workflowID/<wfID>}/{closeTimeout|startTimeout}/<RFC3339>/<runID>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord

BY_TYPE = "workflowTypeName"
BY_WORKFLOW_ID = "workflowID"
CLOSE = "closeTimeout"
START = "startTimeout"
NANOS = 1_000_000_000
_KEY_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$")


def _join(*parts: str) -> str:
    return "/".join(parts).lstrip("/")


def history_run_prefix(path: str, namespace_id: str, workflow_id: str, run_id: str) -> str:
    """``<prefix>/<nsID>/history/<wfID>/<runID>/``: the versions of a run are listed under it."""
    return _join(path, namespace_id, "history", workflow_id, run_id) + "/"


def history_version_prefix(path: str, namespace_id: str, workflow_id: str, run_id: str, version: int) -> str:
    """The prefix of the blobs of one close failover version."""
    return f"{history_run_prefix(path, namespace_id, workflow_id, run_id)}{version}/"


def history_blob_key(path: str, namespace_id: str, workflow_id: str, run_id: str, version: int, index: int) -> str:
    """The key of blob ``index`` (0, 1, ...) of one version of a run's history."""
    return f"{history_version_prefix(path, namespace_id, workflow_id, run_id, version)}{index}"


ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time``, which upstream writes for a record without that timestamp."""


def key_time(stamp: Timestamp | None) -> str:
    """Go's ``time.Format(time.RFC3339)`` of a UTC timestamp: seconds, ``Z``, fraction dropped."""
    if stamp is None:
        return ZERO_TIME
    return datetime.fromtimestamp(stamp.seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def index_prefix(path: str, namespace_id: str, primary: str, value: str, secondary: str) -> str:
    """``<prefix>/<nsID>/visibility/<primary>/<value>/<secondary>`` (no trailing slash, as upstream)."""
    return _join(path, namespace_id, "visibility", primary, value, secondary)


def visibility_root(path: str, namespace_id: str) -> str:
    """``<prefix>/<nsID>/visibility``: every index of a namespace lies under it."""
    return _join(path, namespace_id, "visibility")


def visibility_keys(path: str, record: VisibilityRecord) -> list[str]:
    """The four index keys one record is stored under."""
    keys = []
    for primary, value in ((BY_TYPE, record.workflow_type_name), (BY_WORKFLOW_ID, record.workflow_id)):
        close = record.close_time if record.HasField("close_time") else None
        start = record.start_time if record.HasField("start_time") else None
        for secondary, stamp in ((CLOSE, close), (START, start)):
            prefix = index_prefix(path, record.namespace_id, primary, value, secondary)
            keys.append(f"{prefix}/{key_time(stamp)}/{record.run_id}")
    return keys


@dataclass(frozen=True)
class IndexEntry:
    """A parsed visibility index key: the second its time names and the run id."""

    seconds: int
    run_id: str


def parse_index_key(key: str, prefix: str) -> IndexEntry | None:
    """Parse ``<prefix>/<RFC3339>/<runID>`` (``prefix`` as from :func:`index_prefix`); ``None`` otherwise."""
    if not key.startswith(prefix + "/"):
        return None
    rest = key[len(prefix) + 1 :]
    stamp, slash, run_id = rest.partition("/")
    seconds = parse_key_time(stamp)
    if not slash or not run_id or seconds is None:
        return None
    return IndexEntry(seconds, run_id)


def parse_key_time(text: str) -> int | None:
    """Unix seconds of a key time written by :func:`key_time`; ``None`` if it is not one."""
    match = _KEY_TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(moment.timestamp())


def time_prefix(lower_nanos: int | None, upper_nanos: int | None) -> str:
    """The longest key-time prefix shared by every second in ``[lower, upper]`` (``""`` if unbounded)."""
    if lower_nanos is None or upper_nanos is None or lower_nanos > upper_nanos:
        return ""
    low = _format_seconds(lower_nanos // NANOS)
    high = _format_seconds(upper_nanos // NANOS)
    common = 0
    while common < len(low) and low[common] == high[common]:
        common += 1
    return low[:common]


def _format_seconds(seconds: int) -> str:
    return key_time(Timestamp(seconds=seconds))
