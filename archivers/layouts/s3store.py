"""Temporal's s3store layout, byte for byte: its keys, its history blobs and its visibility index.

Also used on Azure Blob, fsspec and memory.

``prefix`` is the URI path; Go joins the parts with ``/`` and trims leading slashes only, so a
trailing slash in the URI path yields an empty segment, exactly as upstream.

History: ``<prefix>/<nsID>/history/<wfID>/<runID>/<closeFailoverVersion>/<blobIndex>`` (one
HistoryBlob per object). Visibility: one record under four index keys
``<prefix>/<nsID>/visibility/{workflowTypeName/<type>|workflowID/<wfID>}/{closeTimeout|startTimeout}/<RFC3339>/<runID>``.

A query lists one index per workflow id (or type) it pins, below the time prefix shared by the
bounds of the close (or start) time it asks for; else the namespace's whole by-type index.

Ids go into keys unescaped, as upstream writes them (escaping would hide every archive Temporal
wrote), so a namespace, workflow or run id must be exactly one key segment: one holding ``/``
would share keys with another run (workflow ``a`` run ``b/r`` and workflow ``a/b`` run ``r``), and
``.``, ``..`` or NUL are not a segment every store keeps as written. :func:`check_key_ids` refuses
them with :class:`~archivers.errors.InvalidArgumentError` before any key is built, for history
archive and get, visibility archive (namespace, workflow and run id) and query (namespace id).
Workflow type names are not checked: a type is parsed from the left of its index key and the time
and run id from the right, so a ``/`` in a type cannot make two records share a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from archivers._proto.temporal_archivers.v1.archival_pb2 import HistoryBlobHeader, VisibilityRecord
from archivers.batches import BatchInfo
from archivers.codec.protojson import dict_to_message, encode_message, parse_json
from archivers.errors import CorruptArchiveError, InvalidArgumentError
from archivers.interfaces import ArchiveHistoryRequest
from archivers.layouts.base import (
    JsonPart,
    ListedKey,
    ObjectLayout,
    Part,
    RunRequest,
    TimeIndex,
    close_and_start,
    version_and_index,
)
from archivers.query import Constraints
from archivers.store.base import ObjectStore

BY_TYPE = "workflowTypeName"
BY_WORKFLOW_ID = "workflowID"
CLOSE = "closeTimeout"
START = "startTimeout"
NANOS = 1_000_000_000
MAX_LISTED_VALUES = 64
"""Above this many WorkflowId/WorkflowType values, one whole-namespace listing is cheaper."""
_KEY_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$")


_NOT_SEGMENTS = (".", "..")


def _join(*parts: str) -> str:
    return "/".join(parts).lstrip("/")


def check_key_ids(**ids: str) -> None:
    """Raise :class:`InvalidArgumentError` (non-retryable) for an id that is not exactly one key segment.

    Refused: ``/`` anywhere (it would alias another run's keys), NUL, and the whole ids ``.`` and
    ``..`` (path-like stores resolve them). The keywords name the ids in the message.
    """
    for name, value in ids.items():
        if "/" in value or "\0" in value or value in _NOT_SEGMENTS:
            raise InvalidArgumentError(
                f"{name.replace('_', ' ')} {value!r} cannot be stored in the s3store layout (s3, azblob, fsspec, "
                "memory): ids are key segments there, so they must not contain '/' or NUL or be '.' or '..'"
            )


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


class S3StoreLayout(ObjectLayout):
    """Temporal's s3store layout: ``HistoryBlob`` parts with a header, four index keys per record."""

    name = "s3store"

    def part_key(self, root: str, run: RunRequest, version: int, index: int) -> str:
        """See :class:`HistoryLayout`: blob ``index`` (0, 1, ...) of a version is ``<run prefix><version>/<index>``."""
        return f"{self.list_prefix(root, run)}{version}/{index}"

    def list_prefix(self, root: str, run: RunRequest) -> str:
        """See :class:`HistoryLayout`: ``<prefix>/<nsID>/history/<wfID>/<runID>/``.

        Raises :class:`InvalidArgumentError` for ids :func:`check_key_ids` refuses.
        """
        check_key_ids(namespace_id=run.namespace_id, workflow_id=run.workflow_id, run_id=run.run_id)
        return _join(root, run.namespace_id, "history", run.workflow_id, run.run_id) + "/"

    def parse_key(self, root: str, run: RunRequest, key: str) -> tuple[int, int] | None:
        """See :class:`HistoryLayout`."""
        return version_and_index(key, self.list_prefix(root, run))

    def encode_part(
        self,
        request: ArchiveHistoryRequest,
        encoded_batches: Sequence[bytes],
        infos: Sequence[BatchInfo],
        is_last: bool,
    ) -> bytes:
        """A ``HistoryBlob``: the header, then the already-encoded batches (Go's field order)."""
        first, last = infos[0], infos[-1]
        header = HistoryBlobHeader(
            namespace=request.namespace,
            namespace_id=request.namespace_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            is_last=is_last,
            first_failover_version=first.first_version,
            last_failover_version=last.last_version,
            first_event_id=first.first_event_id,
            last_event_id=last.last_event_id,
            event_count=sum(i.event_count for i in infos),
        )
        return b'{"header":' + encode_message(header) + b',"body":[' + b",".join(encoded_batches) + b"]}"

    def decode_part(self, data: bytes, source: str) -> Part:
        """Parse a ``HistoryBlob``; unknown fields are an error, as in Temporal's reader."""
        parsed = parse_json(data, source)
        if not isinstance(parsed, dict) or not set(parsed) <= {"header", "body"}:
            raise CorruptArchiveError(f"{source}: not a HistoryBlob (expected header and body)")
        header = dict_to_message(
            parsed.get("header", {}), HistoryBlobHeader, source=source, ignore_unknown_fields=False
        )
        body = parsed.get("body", [])
        if not isinstance(body, list):
            raise CorruptArchiveError(f"{source}: HistoryBlob body is not a list")
        return JsonPart(body, header.is_last, header.last_event_id, source, strict=True)

    def keys(self, root: str, record: VisibilityRecord) -> list[str]:
        """See :class:`VisibilityLayout`: the four index keys one record is stored under.

        Raises :class:`InvalidArgumentError` for ids :func:`check_key_ids` refuses.
        """
        check_key_ids(namespace_id=record.namespace_id, workflow_id=record.workflow_id, run_id=record.run_id)
        keys = []
        close, start = close_and_start(record)
        for primary, value in ((BY_TYPE, record.workflow_type_name), (BY_WORKFLOW_ID, record.workflow_id)):
            for secondary, stamp in ((CLOSE, close), (START, start)):
                prefix = index_prefix(root, record.namespace_id, primary, value, secondary)
                keys.append(f"{prefix}/{key_time(stamp)}/{record.run_id}")
        return keys

    def list_index(
        self, store: ObjectStore, root: str, namespace_id: str, constraints: Constraints, index: TimeIndex
    ) -> Iterator[ListedKey]:
        """List by workflow id or type when the query pins them, by time prefix when it bounds a time."""
        secondary = START if index.by_start else CLOSE
        check_key_ids(namespace_id=namespace_id)
        suffix = time_prefix(index.times.lower, index.times.upper)
        seen: set[str] = set()
        for prefix in _index_prefixes(root, namespace_id, constraints, secondary):
            listing = f"{prefix}/{suffix}" if prefix.endswith(secondary) else prefix
            for page in store.list_all(listing):
                for info in page.objects:
                    entry = parse_index_key(info.key, _index_of(info.key))
                    if entry is None or entry.run_id in seen or _secondary_of(info.key) != secondary:
                        continue
                    if constraints.run_ids is not None and entry.run_id not in constraints.run_ids:
                        continue
                    low, high = entry.seconds * NANOS, (entry.seconds + 1) * NANOS - 1
                    if index.allows(low, high):
                        seen.add(entry.run_id)
                        yield info, low, high


def _index_prefixes(root: str, namespace_id: str, constraints: Constraints, secondary: str) -> list[str]:
    """One index per pinned workflow id (else type), or the whole namespace's by-type index."""
    for primary, values in ((BY_WORKFLOW_ID, constraints.workflow_ids), (BY_TYPE, constraints.workflow_types)):
        if values is not None and len(values) <= MAX_LISTED_VALUES:
            return [index_prefix(root, namespace_id, primary, v, secondary) for v in sorted(values)]
    return [f"{visibility_root(root, namespace_id)}/{BY_TYPE}/"]


def _index_of(key: str) -> str:
    """The index prefix of a visibility key (the key without ``/<time>/<runID>``)."""
    return key.rsplit("/", 2)[0]


def _secondary_of(key: str) -> str:
    return _index_of(key).rsplit("/", 1)[-1]


LAYOUT = S3StoreLayout()
