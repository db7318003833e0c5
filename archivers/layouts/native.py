"""The native history layout: binary protobuf batches compressed with zstd, framed for slicing.

This is the project's own format for new archive roots (a root says so in its descriptor, see
:mod:`archivers.roots`); docs/native-format.md describes it byte by byte. It promises:

- **one object per part** of about :data:`TARGET_PART_BYTES` stored (compressed) bytes, keyed
  ``<root>/native-history/<nsID>/<wfID>/<runID>/<version>/<index>`` with each id percent-encoded
  (any id is one key segment, no id aliases another; outside every namespace's directory, which
  Temporal's filestore reader wants to itself), created once with one conditional put, exactly like
  the compat layouts' parts, so archive, resume and concurrent duplicates work as there;
- **self-description**: a magic, a format version and a header (ids, event range, ``is_last``, a
  frame table and a batch index) covered by a CRC-32; every frame carries its own CRC-32, so a
  flipped byte or a truncated object raises :class:`~archivers.errors.CorruptArchiveError`
  (DATA_LOSS) and is never served;
- **slicing, not decoding**: batches are grouped into zstd frames of about :data:`FRAME_BYTES`; a
  batch's stored bytes are a slice of its decompressed frame and are a serialized ``History`` as
  they are (:meth:`NativePart.batch_bytes`), so a page can be served without re-encoding events.

Visibility is not part of this format yet: a native root keeps its scheme's compat visibility
layout (``visibility``), which this layout delegates to.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import zstandard
from google.protobuf.message import DecodeError
from temporalio.api.history.v1 import History

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.batches import PROTOBUF, BatchInfo
from archivers.errors import CorruptArchiveError
from archivers.interfaces import ArchiveHistoryRequest
from archivers.layouts import s3store
from archivers.layouts.base import (
    TARGET_PART_BYTES,
    ListedKey,
    ObjectLayout,
    Part,
    PartBuilder,
    RunRequest,
    TimeIndex,
    VisibilityLayout,
    version_and_index,
)
from archivers.query import Constraints
from archivers.store.base import ObjectStore

MAGIC = b"TAHN"
"""The first four bytes of every native history part."""
FORMAT_VERSION = 1
FRAME_BYTES = 128 * 1024
"""Batches are grouped into one zstd frame until their serialized size reaches this."""
ZSTD_LEVEL = 3
PART_RAW_LIMIT = 16 * 1024 * 1024
"""A part also ends once its batches (uncompressed) reach this, whatever they compress to."""

_PREFIX = struct.Struct("<4sHHII")  # magic, format version, flags (0), header length, header CRC-32
_FIXED = struct.Struct("<qqqqBIIIIII")
# close failover version, first and last event id, event count, is_last, frame count, batch count,
# byte lengths of the namespace, namespace id, workflow id and run id (UTF-8, after the fixed part)
_FRAME = struct.Struct("<QIII")  # offset after the header, stored length, decompressed length, CRC-32 of stored bytes
_BATCH = struct.Struct("<qIIII")  # first event id, event count, frame, offset and length in the decompressed frame
KEY_SEGMENT = "native-history"


def key_segment(value: str) -> str:
    """An id as one key segment: percent-encoded, a leading ``.`` too (so ``.`` and ``..`` are not special)."""
    encoded = quote(value, safe="")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def _join(*parts: str) -> str:
    return "/".join(parts).lstrip("/")


@dataclass(frozen=True)
class _Frame:
    offset: int
    length: int
    raw_length: int
    crc: int


@dataclass(frozen=True)
class _Batch:
    first_event_id: int
    event_count: int
    frame: int
    offset: int
    length: int


class NativePart(Part):
    """A decoded native part: header checked, frames decompressed and checked only when a batch is asked for."""

    def __init__(
        self, data: bytes, frames: list[_Frame], index: bytes, base: int, header: tuple[int, ...], source: str
    ) -> None:
        self._data = data
        self._frames = frames
        self._index = index  # the batch index, unpacked one entry at a time (a part may index 100k batches)
        self._count = len(index) // _BATCH.size
        self._base = base
        self.is_last = bool(header[4])
        self.last_event_id = header[2]
        self.source = source
        self._lock = threading.Lock()
        self._current: tuple[int, bytes] | None = None  # the last decompressed frame: pages read on in order

    def __len__(self) -> int:
        return self._count

    def _entry(self, index: int) -> _Batch:
        """Entry ``index`` of the batch index, checked against the frame table (event ids: see :meth:`slices`)."""
        if not 0 <= index < self._count:
            raise IndexError(index)
        entry = _Batch(*_BATCH.unpack_from(self._index, index * _BATCH.size))
        if (
            entry.frame >= len(self._frames)
            or entry.event_count < 1
            or entry.offset + entry.length > self._frames[entry.frame].raw_length
        ):
            raise CorruptArchiveError(f"{self.source}: native history batch index is inconsistent (batch {index})")
        return entry

    def _frame(self, index: int) -> bytes:
        with self._lock:
            if self._current is not None and self._current[0] == index:
                return self._current[1]
        frame = self._frames[index]
        start = self._base + frame.offset
        stored = self._data[start : start + frame.length]
        if zlib.crc32(stored) != frame.crc:
            raise CorruptArchiveError(f"{self.source}: frame {index} fails its checksum")
        try:
            raw = zstandard.ZstdDecompressor().decompress(stored, max_output_size=frame.raw_length)
        except zstandard.ZstdError as exc:
            raise CorruptArchiveError(f"{self.source}: frame {index} does not decompress: {exc}") from exc
        if len(raw) != frame.raw_length:
            raise CorruptArchiveError(
                f"{self.source}: frame {index} decompresses to {len(raw)} bytes, not {frame.raw_length}"
            )
        with self._lock:
            self._current = (index, raw)
        return raw

    def batch_bytes(self, index: int) -> bytes:
        """Batch ``index`` as a serialized ``History``: a slice of its decompressed frame."""
        entry = self._entry(index)
        return self._frame(entry.frame)[entry.offset : entry.offset + entry.length]

    def slices(self, index: int, expected: int, budget: int) -> tuple[list[bytes], int, int]:
        """See :class:`Part`: slices of the decompressed frames, found from the batch index alone."""
        taken: list[bytes] = []
        start = expected
        frames = self._frames
        current, raw = -1, b""
        while index < self._count and expected - start < budget:
            first, count, frame, offset, length = _BATCH.unpack_from(self._index, index * _BATCH.size)
            if first != expected:
                raise CorruptArchiveError(
                    f"{self.source}: archived history is incomplete: expected event {expected}, found event {first}"
                )
            if frame >= len(frames) or count < 1 or offset + length > frames[frame].raw_length:
                raise CorruptArchiveError(f"{self.source}: native history batch index is inconsistent (batch {index})")
            if frame != current:
                current, raw = frame, self._frame(frame)
            taken.append(raw[offset : offset + length])
            expected += count
            index += 1
        return taken, index, expected

    def batch(self, index: int) -> History:
        """See :class:`Part`; the batch must hold the events its index entry names."""
        entry = self._entry(index)
        try:
            batch = History.FromString(self.batch_bytes(index))
        except DecodeError as exc:
            raise CorruptArchiveError(f"{self.source}: batch {index} is not a History: {exc}") from exc
        events = batch.events
        if len(events) != entry.event_count or events[0].event_id != entry.first_event_id:
            raise CorruptArchiveError(f"{self.source}: batch {index} does not hold the events its index names")
        return batch


class NativePartBuilder(PartBuilder):
    """Builds one native part, compressing each frame once it holds :data:`FRAME_BYTES` of batches.

    The part is :attr:`full` once its compressed frames reach :data:`TARGET_PART_BYTES` (what is
    stored, so a part is about one request's worth of bytes however well the batches compress) or
    its batches reach :data:`PART_RAW_LIMIT` (which bounds the writer's memory).
    """

    def __init__(self, layout: NativeLayout, request: ArchiveHistoryRequest) -> None:
        super().__init__(layout, request)
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._frames: list[bytes] = []
        self._frame_table: list[bytes] = []
        self._batch_index: list[bytes] = []
        self._group: list[bytes] = []
        self._group_bytes = 0
        self._stored = 0
        self._raw = 0

    def add(self, info: BatchInfo, data: bytes) -> None:
        """See :class:`PartBuilder`."""
        super().add(info, data)
        self._batch_index.append(
            _BATCH.pack(info.first_event_id, info.event_count, len(self._frames), self._group_bytes, len(data))
        )
        self._group.append(data)
        self._group_bytes += len(data)
        if self._group_bytes >= FRAME_BYTES:
            self._seal()

    def _seal(self) -> None:
        if not self._group:
            return
        raw = b"".join(self._group)
        stored = self._compressor.compress(raw)
        self._frame_table.append(_FRAME.pack(self._stored, len(stored), len(raw), zlib.crc32(stored)))
        self._frames.append(stored)
        self._stored += len(stored)
        self._raw += len(raw)
        self._group, self._group_bytes = [], 0

    @property
    def full(self) -> bool:
        """See :class:`NativePartBuilder`."""
        return self._stored >= TARGET_PART_BYTES or self._raw + self._group_bytes >= PART_RAW_LIMIT

    def build(self, is_last: bool) -> bytes:
        """See :class:`PartBuilder`."""
        self._seal()
        request, infos = self._request, self.infos
        names = [s.encode() for s in (request.namespace, request.namespace_id, request.workflow_id, request.run_id)]
        fixed = _FIXED.pack(
            request.close_failover_version, infos[0].first_event_id, infos[-1].last_event_id,
            sum(i.event_count for i in infos), is_last, len(self._frames), len(infos), *map(len, names),
        )  # fmt: skip
        header = b"".join([fixed, *names, *self._frame_table, *self._batch_index])
        prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header), zlib.crc32(header))
        return b"".join([prefix, header, *self._frames])


class NativeLayout(ObjectLayout):
    """Native history parts (see the module docstring); visibility delegated to ``visibility``."""

    name = "native"

    def __init__(self, visibility: VisibilityLayout) -> None:
        self.visibility = visibility

    # -- history ---------------------------------------------------------------------------

    def part_key(self, root: str, run: RunRequest, version: int, index: int) -> str:
        """See :class:`HistoryLayout`: ``<run prefix><version>/<index>``."""
        return f"{self.list_prefix(root, run)}{version}/{index}"

    def list_prefix(self, root: str, run: RunRequest) -> str:
        """See :class:`HistoryLayout`: ``<root>/native-history/<nsID>/<wfID>/<runID>/``, ids percent-encoded."""
        ids = (key_segment(run.namespace_id), key_segment(run.workflow_id), key_segment(run.run_id))
        return _join(root, KEY_SEGMENT, *ids) + "/"

    def parse_key(self, root: str, run: RunRequest, key: str) -> tuple[int, int] | None:
        """See :class:`HistoryLayout`."""
        return version_and_index(key, self.list_prefix(root, run))

    stored_encoding = PROTOBUF

    def encode_batch(self, batch: History) -> bytes:
        """Binary protobuf: the bytes a native part stores (compressed) and hands out (decompressed)."""
        return batch.SerializeToString()

    def encode_part(
        self,
        request: ArchiveHistoryRequest,
        encoded_batches: Sequence[bytes],
        infos: Sequence[BatchInfo],
        is_last: bool,
    ) -> bytes:
        """Magic, version, checked header, then the zstd frames of the batches (docs/native-format.md)."""
        builder = self.part_builder(request)
        for info, data in zip(infos, encoded_batches, strict=True):
            builder.add(info, data)
        return builder.build(is_last)

    def part_builder(self, request: ArchiveHistoryRequest) -> PartBuilder:
        """A :class:`NativePartBuilder`: frames are compressed as they fill, a part is sized by its stored bytes."""
        return NativePartBuilder(self, request)

    def decode_part(self, data: bytes, source: str) -> Part:
        """Check the magic, version, header checksum, index and object length; frames are checked when read."""
        if len(data) < _PREFIX.size:
            raise CorruptArchiveError(f"{source}: truncated native history part ({len(data)} bytes)")
        magic, version, flags, header_length, header_crc = _PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise CorruptArchiveError(f"{source}: not a native history part (bad magic)")
        if version != FORMAT_VERSION or flags:
            raise CorruptArchiveError(f"{source}: native history format version {version} is not supported")
        base = _PREFIX.size + header_length
        header = data[_PREFIX.size : base]
        if len(header) != header_length or zlib.crc32(header) != header_crc:
            raise CorruptArchiveError(f"{source}: native history header is truncated or fails its checksum")
        fields = _FIXED.unpack_from(header)
        frame_count, batch_count = fields[5], fields[6]
        tables = _FIXED.size + sum(fields[7:])
        if tables + frame_count * _FRAME.size + batch_count * _BATCH.size != header_length:
            raise CorruptArchiveError(f"{source}: native history header has the wrong length")
        frames = [_Frame(*f) for f in _FRAME.iter_unpack(header[tables : tables + frame_count * _FRAME.size])]
        index = header[tables + frame_count * _FRAME.size :]
        _check_frames(frames, len(data) - base, source)
        _check_ends(fields, index, source)
        return NativePart(data, frames, index, base, fields, source)

    # -- visibility: the scheme's compat layout ----------------------------------------------

    def keys(self, root: str, record: VisibilityRecord) -> list[str]:
        """See :class:`VisibilityLayout` (delegated)."""
        return self.visibility.keys(root, record)

    def list_index(
        self, store: ObjectStore, root: str, namespace_id: str, constraints: Constraints, index: TimeIndex
    ) -> Iterator[ListedKey]:
        """See :class:`VisibilityLayout` (delegated)."""
        return self.visibility.list_index(store, root, namespace_id, constraints, index)


def _check_frames(frames: list[_Frame], body: int, source: str) -> None:
    """The frames tile the body exactly."""
    offset = 0
    for frame in frames:
        if frame.offset != offset:
            raise CorruptArchiveError(f"{source}: native history frame table is inconsistent")
        offset += frame.length
    if offset != body:
        raise CorruptArchiveError(f"{source}: native history part is truncated ({body} of {offset} frame bytes)")


def _check_ends(fields: tuple[int, ...], index: bytes, source: str) -> None:
    """The batch index is not empty, its first entry starts the part's event range and its last ends it."""
    if not index:
        raise CorruptArchiveError(f"{source}: native history batch index is empty")
    first = _Batch(*_BATCH.unpack_from(index, 0))
    last = _Batch(*_BATCH.unpack_from(index, len(index) - _BATCH.size))
    if first.first_event_id != fields[1] or last.first_event_id + last.event_count - 1 != fields[2]:
        raise CorruptArchiveError(f"{source}: native history batch index does not cover the part's events")
    if fields[2] - fields[1] + 1 != fields[3]:
        raise CorruptArchiveError(f"{source}: native history header's event count does not match its range")


LAYOUT = NativeLayout(s3store.LAYOUT)
"""The native layout with the s3store visibility index (s3, azblob, fsspec, memory, file); gs uses gcloud's."""
