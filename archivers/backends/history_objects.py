"""How history parts are named and encoded on an object store: the s3store and gcloud flavours.

Both split a history into parts of about 2 MiB of whole batches (Temporal's history blob size),
numbered 0, 1, 2, ... The s3store flavour stores each part as a ``HistoryBlob`` whose header says
whether it is the last; the gcloud flavour stores a bare JSON array of batches, so a history is
known to be complete when its last part ends with a workflow close event.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import HistoryBlob, HistoryBlobHeader
from archivers.codec.protojson import decode_histories, decode_message, encode_message
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
    """A decoded history part: its batches and whether it ends the history."""

    batches: list[History]
    is_last: bool

    @property
    def last_event_id(self) -> int:
        """Id of the part's last event (0 for an empty part)."""
        for batch in reversed(self.batches):
            if batch.events:
                return batch.events[-1].event_id
        return 0


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
        """Decode a ``HistoryBlob``; unknown fields are an error, as in Temporal's reader."""
        blob = decode_message(data, HistoryBlob, source=source)
        return Part(list(blob.body), blob.header.is_last)


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
        """Decode a JSON array of batches; complete if its last event closes the workflow."""
        batches = decode_histories(data, source=source)
        last_events = [b.events[-1] for b in batches if b.events]
        return Part(batches, bool(last_events) and last_events[-1].event_type in CLOSE_EVENT_TYPES)
