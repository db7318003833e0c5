"""One compacted file: visibility records as a Parquet table, sorted by close time.

Columns (one per visibility field, typed; docs/native-format.md): ``workflow_id``, ``run_id``,
``workflow_type``, ``namespace`` (string); ``start_time``, ``execution_time``, ``close_time``
(timestamp, microseconds, UTC; what Spark, Athena and BigQuery read); ``status`` (the short name
Temporal prints: ``Failed``, ``TimedOut``...); ``history_length`` and ``execution_duration_ns``
(int64); ``sa_<Name>`` (string) per custom search attribute a record of the file holds, with the
value as the record stores it; and ``record``, the whole record as binary protobuf, from which
queries return rows (so results are exactly what was archived). ``namespace_id`` and ``close_date``
are the Hive partition of the file's path.

The schema's key-value metadata ``temporal-archivers`` says the format and version; a file without
it, of another version, or that Arrow cannot read is :class:`CorruptArchiveError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import CorruptArchiveError
from archivers.query.fields import status_name

FORMAT = "temporal-archivers-visibility"
FORMAT_VERSION = 1
METADATA_KEY = b"temporal-archivers"
ROW_GROUP_ROWS = 8192
SEARCH_ATTRIBUTE_PREFIX = "sa_"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_FIXED = pa.schema(
    [
        ("workflow_id", pa.string()),
        ("run_id", pa.string()),
        ("workflow_type", pa.string()),
        ("namespace", pa.string()),
        ("start_time", TIMESTAMP),
        ("execution_time", TIMESTAMP),
        ("close_time", TIMESTAMP),
        ("status", pa.string()),
        ("history_length", pa.int64()),
        ("execution_duration_ns", pa.int64()),
    ]
)


def micros(stamp: object) -> int:
    """A protobuf ``Timestamp`` in Unix microseconds (sub-microsecond digits dropped, rounding down)."""
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000  # type: ignore[attr-defined]


def _optional_micros(record: VisibilityRecord, name: str) -> int | None:
    return micros(getattr(record, name)) if record.HasField(name) else None  # type: ignore[arg-type]


def _duration_nanos(record: VisibilityRecord) -> int | None:
    if not record.HasField("execution_duration"):
        return None
    nanos = record.execution_duration.seconds * 1_000_000_000 + record.execution_duration.nanos
    return nanos if _INT64[0] <= nanos <= _INT64[1] else None


def sort_records(records: Sequence[VisibilityRecord]) -> list[VisibilityRecord]:
    """``records`` in a file's row order: close time, then run id."""
    return sorted(records, key=lambda r: (r.close_time.seconds, r.close_time.nanos, r.run_id))


def encode_table(records: Sequence[VisibilityRecord]) -> bytes:
    """The Parquet bytes of ``records`` (already in :func:`sort_records` order): zstd, statistics on."""
    names = sorted({name for r in records for name in r.search_attributes})
    rows = [_row(r, names) for r in records]
    attributes = [pa.field(SEARCH_ATTRIBUTE_PREFIX + name, pa.string()) for name in names]
    fields = [*_FIXED, *attributes, pa.field("record", pa.binary())]
    metadata = {METADATA_KEY: json.dumps({"format": FORMAT, "version": FORMAT_VERSION}).encode()}
    schema = pa.schema(fields, metadata=metadata)
    columns = [pa.array(column, type=f.type) for column, f in zip(zip(*rows, strict=True), fields, strict=True)]
    table = pa.Table.from_arrays(columns, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS, write_statistics=True)
    return sink.getvalue()


def _row(record: VisibilityRecord, names: list[str]) -> tuple[object, ...]:
    """One record's values in column order (the schema's fixed columns, ``sa_*`` of ``names``, ``record``)."""
    attributes = record.search_attributes
    return (
        record.workflow_id, record.run_id, record.workflow_type_name, record.namespace,
        _optional_micros(record, "start_time"), _optional_micros(record, "execution_time"),
        micros(record.close_time), status_name(record.status), record.history_length, _duration_nanos(record),
        *(attributes.get(name) for name in names), record.SerializeToString(deterministic=True),
    )  # fmt: skip


@dataclass(frozen=True)
class Row:
    """A row a query read: its run id, close time (Unix microseconds) and the record's bytes."""

    run_id: str
    close_micros: int
    record: bytes


def read_rows(data: bytes, where: pc.Expression | None, source: str) -> Iterator[Row]:
    """The rows of a compacted file that ``where`` keeps (row groups pruned by their statistics)."""
    try:
        table = pq.read_table(pa.BufferReader(data), columns=["run_id", "close_time", "record"], filters=where)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptArchiveError(f"{source}: not a readable visibility Parquet file: {exc}") from exc
    _check_format(table.schema.metadata, source)
    run_ids = table.column("run_id").to_pylist()
    closes = table.column("close_time").cast(pa.int64()).to_pylist()
    records = table.column("record").to_pylist()
    for run_id, close, record in zip(run_ids, closes, records, strict=True):
        yield Row(run_id, close, record)


def read_run_ids(data: bytes, source: str) -> set[str]:
    """Every run id a compacted file holds."""
    return {row.run_id for row in read_rows(data, None, source)}


def _check_format(metadata: dict[bytes, bytes] | None, source: str) -> None:
    try:
        stated = json.loads((metadata or {})[METADATA_KEY])
    except (KeyError, ValueError) as exc:
        raise CorruptArchiveError(f"{source}: Parquet file is not a {FORMAT} file") from exc
    if stated != {"format": FORMAT, "version": FORMAT_VERSION}:
        raise CorruptArchiveError(f"{source}: {FORMAT} version {stated!r} is not supported")
