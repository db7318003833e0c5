"""The bytes of one inbox object: a checked, versioned envelope around a serialized ``VisibilityRecord``.

Layout (little-endian): magic ``TAVR``, ``uint16`` format version 1, ``uint16`` flags 0, ``uint32``
CRC-32 (zlib) of the body, then the body: the record as binary protobuf. Anything else is
:class:`CorruptArchiveError` naming the object.
"""

from __future__ import annotations

import struct
import zlib

from google.protobuf.message import DecodeError

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import CorruptArchiveError

MAGIC = b"TAVR"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sHHI")


def encode_record(record: VisibilityRecord) -> bytes:
    """The inbox object of ``record``."""
    body = record.SerializeToString(deterministic=True)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, zlib.crc32(body)) + body


def decode_record(data: bytes, source: str) -> VisibilityRecord:
    """The record of an inbox object; :class:`CorruptArchiveError` naming ``source`` unless it checks out."""
    if len(data) < _HEADER.size:
        raise CorruptArchiveError(f"{source}: truncated visibility inbox object ({len(data)} bytes)")
    magic, version, flags, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptArchiveError(f"{source}: not a visibility inbox object (bad magic)")
    if version != FORMAT_VERSION or flags:
        raise CorruptArchiveError(f"{source}: visibility inbox format version {version} is not supported")
    body = data[_HEADER.size :]
    if zlib.crc32(body) != crc:
        raise CorruptArchiveError(f"{source}: visibility inbox object fails its checksum")
    return parse_record(body, source)


def parse_record(body: bytes, source: str) -> VisibilityRecord:
    """A serialized ``VisibilityRecord``; :class:`CorruptArchiveError` naming ``source`` if it does not parse."""
    try:
        return VisibilityRecord.FromString(body)
    except DecodeError as exc:
        raise CorruptArchiveError(f"{source}: stored visibility record does not parse: {exc}") from exc
