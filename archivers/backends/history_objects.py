"""How history parts are named and encoded on an object store: the s3store and gcloud flavours.

Both split a history into parts of about 2 MiB of whole batches (Temporal's history blob size),
numbered 0, 1, 2, ... The s3store flavour stores each part as a ``HistoryBlob`` whose header says
whether it is the last; the gcloud flavour stores a bare JSON array of batches, so a history is
known to be complete when its last part ends with a workflow close event.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import HistoryBlobHeader
from archivers.codec.protojson import dict_to_message, encode_message
from archivers.errors import CorruptArchiveError
from archivers.interfaces import ArchiveHistoryRequest
from archivers.layouts import gcloud, s3store
from archivers.uri import URI

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


@dataclass(frozen=True)
class RunIds:
    """The identifiers that name one run's history."""

    namespace_id: str
    workflow_id: str
    run_id: str


@dataclass(frozen=True)
class Part:
    """A stored history part, parsed as JSON; batches become protobuf only when asked for.

    ``last_event_id`` is the id of its last event and ``is_last`` whether it ends the history.
    """

    raw_batches: list[Any]
    is_last: bool
    last_event_id: int
    source: str
    strict: bool

    def __len__(self) -> int:
        return len(self.raw_batches)

    def batch(self, index: int) -> History:
        """Batch ``index`` as a ``History``; :class:`CorruptArchiveError` naming the part if invalid."""
        return dict_to_message(
            self.raw_batches[index], History, source=self.source, ignore_unknown_fields=not self.strict
        )

    @property
    def batches(self) -> list[History]:
        """Every batch (decodes them all)."""
        return [self.batch(i) for i in range(len(self))]


class HistoryObjects(abc.ABC):
    """Naming and encoding of history parts for one layout."""

    @abc.abstractmethod
    def part_key(self, uri: URI, ids: RunIds, version: int, index: int) -> str:
        """The object key of part ``index`` of one version."""

    @abc.abstractmethod
    def list_prefix(self, uri: URI, ids: RunIds) -> str:
        """A listing prefix covering every part of every version of the run."""

    @abc.abstractmethod
    def parse_key(self, uri: URI, ids: RunIds, key: str) -> tuple[int, int] | None:
        """``(version, index)`` of a listed key, or ``None`` if it is not one of the run's parts."""

    @abc.abstractmethod
    def encode_part(
        self, request: ArchiveHistoryRequest, encoded_batches: list[bytes], batches: list[History], is_last: bool
    ) -> bytes:
        """The stored bytes of one part; ``encoded_batches`` are the batches' protojson."""

    @abc.abstractmethod
    def decode_part(self, data: bytes, source: str) -> Part:
        """Decode a stored part, raising :class:`CorruptArchiveError` naming ``source``."""


class S3Blobs(HistoryObjects):
    """Temporal's s3store flavour: ``HistoryBlob`` objects with a header."""

    def part_key(self, uri: URI, ids: RunIds, version: int, index: int) -> str:
        """See :class:`HistoryObjects`."""
        return s3store.history_blob_key(uri.path, ids.namespace_id, ids.workflow_id, ids.run_id, version, index)

    def list_prefix(self, uri: URI, ids: RunIds) -> str:
        """See :class:`HistoryObjects`."""
        return s3store.history_run_prefix(uri.path, ids.namespace_id, ids.workflow_id, ids.run_id)

    def parse_key(self, uri: URI, ids: RunIds, key: str) -> tuple[int, int] | None:
        """See :class:`HistoryObjects`."""
        rest = key.removeprefix(self.list_prefix(uri, ids))
        if rest == key:
            return None
        version, slash, index = rest.partition("/")
        try:
            return (int(version), int(index)) if slash and index.isdigit() else None
        except ValueError:
            return None

    def encode_part(
        self, request: ArchiveHistoryRequest, encoded_batches: list[bytes], batches: list[History], is_last: bool
    ) -> bytes:
        """A ``HistoryBlob``: the header, then the already-encoded batches (Go's field order)."""
        first, last = batches[0].events[0], batches[-1].events[-1]
        header = HistoryBlobHeader(
            namespace=request.namespace,
            namespace_id=request.namespace_id,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            is_last=is_last,
            first_failover_version=first.version,
            last_failover_version=last.version,
            first_event_id=first.event_id,
            last_event_id=last.event_id,
            event_count=sum(len(b.events) for b in batches),
        )
        return b'{"header":' + encode_message(header) + b',"body":[' + b",".join(encoded_batches) + b"]}"

    def decode_part(self, data: bytes, source: str) -> Part:
        """Parse a ``HistoryBlob``; unknown fields are an error, as in Temporal's reader."""
        parsed = _json(data, source)
        if not isinstance(parsed, dict) or not set(parsed) <= {"header", "body"}:
            raise CorruptArchiveError(f"{source}: not a HistoryBlob (expected header and body)")
        header = dict_to_message(
            parsed.get("header", {}), HistoryBlobHeader, source=source, ignore_unknown_fields=False
        )
        body = parsed.get("body", [])
        if not isinstance(body, list):
            raise CorruptArchiveError(f"{source}: HistoryBlob body is not a list")
        return Part(body, header.is_last, header.last_event_id, source, strict=True)


class GcloudParts(HistoryObjects):
    """Temporal's gcloud flavour: bare JSON arrays of batches, complete when ending with a close event."""

    def part_key(self, uri: URI, ids: RunIds, version: int, index: int) -> str:
        """See :class:`HistoryObjects`."""
        return gcloud.history_part_name(uri.path, ids.namespace_id, ids.workflow_id, ids.run_id, version, index)

    def list_prefix(self, uri: URI, ids: RunIds) -> str:
        """See :class:`HistoryObjects`."""
        return gcloud.history_list_prefix(uri.path, ids.namespace_id, ids.workflow_id, ids.run_id)

    def parse_key(self, uri: URI, ids: RunIds, key: str) -> tuple[int, int] | None:
        """See :class:`HistoryObjects`."""
        run_hash = gcloud.history_hash(ids.namespace_id, ids.workflow_id, ids.run_id)
        return gcloud.parse_history_part(key, uri.path, run_hash)

    def encode_part(
        self, request: ArchiveHistoryRequest, encoded_batches: list[bytes], batches: list[History], is_last: bool
    ) -> bytes:
        """A JSON array of the already-encoded batches."""
        return b"[" + b",".join(encoded_batches) + b"]"

    def decode_part(self, data: bytes, source: str) -> Part:
        """Parse a JSON array of batches; complete if its last event closes the workflow."""
        parsed = _json(data, source)
        if not isinstance(parsed, list):
            raise CorruptArchiveError(f"{source}: expected a JSON array of event batches")
        part = Part(parsed, False, 0, source, strict=False)
        for index in reversed(range(len(part))):
            events = part.batch(index).events
            if events:
                last = events[-1]
                return Part(parsed, last.event_type in CLOSE_EVENT_TYPES, last.event_id, source, strict=False)
        return part


def _json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptArchiveError(f"{source}: not valid JSON: {exc}") from exc
