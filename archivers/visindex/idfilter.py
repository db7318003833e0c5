"""A small Bloom filter over the workflow ids and run ids of one compacted file.

A manifest keeps one per live file, so a query pinning ``WorkflowId`` or ``RunId`` skips the files
that surely hold neither, without reading them. About 10 bits per id and 5 probes: about 1% false
positives, no false negatives. Probe positions are double hashing of CRC-32 and Adler-32 of the
tagged id (stable across processes and releases: the format depends on them).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

BITS_PER_ID = 10
PROBES = 5


def _positions(tagged: bytes, bits: int) -> list[int]:
    first = zlib.crc32(tagged)
    step = zlib.adler32(tagged) | 1
    return [(first + i * step) % bits for i in range(PROBES)]


def workflow_tag(workflow_id: str) -> bytes:
    """The filter entry of a workflow id."""
    return b"w\0" + workflow_id.encode()


def run_tag(run_id: str) -> bytes:
    """The filter entry of a run id."""
    return b"r\0" + run_id.encode()


def build(tags: Iterable[bytes], count: int) -> bytes:
    """A filter holding ``tags`` (about ``count`` of them), as stored bytes."""
    bits = max(64, count * BITS_PER_ID)
    bits += -bits % 8
    table = bytearray(bits // 8)
    for tag in tags:
        for position in _positions(tag, bits):
            table[position >> 3] |= 1 << (position & 7)
    return bytes(table)


def may_contain(table: bytes, tag: bytes) -> bool:
    """False only if ``tag`` was surely not put in the filter ``table``."""
    bits = len(table) * 8
    return bits > 0 and all(table[p >> 3] & (1 << (p & 7)) for p in _positions(tag, bits))


def may_contain_any(table: bytes, tags: Iterable[bytes]) -> bool:
    """Whether any of ``tags`` may be in the filter."""
    return any(may_contain(table, tag) for tag in tags)
