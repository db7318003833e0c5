"""Planning a query over the native index: partition and file pruning, predicate pushdown, the inbox.

The query's sound :class:`~archivers.query.Constraints` decide which live files are read (close
date and the file's close/start time range from the manifest; its id filter for pinned workflow
or run ids) and become a pyarrow filter over the typed columns, which also skips row groups by
their statistics. The filter may keep more rows than match (times are compared at microsecond
precision, rounded outwards); the shared runner (:func:`archivers.visibility_query.run_query`)
applies the exact filter to every candidate.

Snapshot: the inbox is listed first, then the newest manifest is read, so a record is read either
from a file of that generation or from the inbox, never both and never neither; an inbox object
that vanishes while read (compacted meanwhile) restarts the listing. A run stored twice (archived
again after it was compacted) is returned once, from the file. Compacted files read are kept in
memory (up to :data:`FILE_CACHE_BYTES`), so the next page of a query reads no file twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from archivers.errors import TransientError
from archivers.lru import LruCache
from archivers.query import CompiledQuery, Constraints, TimeRange
from archivers.query.fields import status_name
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.visibility_query import Candidate
from archivers.visindex import idfilter, inbox
from archivers.visindex.keys import day_range_nanos, file_key, inbox_date
from archivers.visindex.manifest import LiveFile, read_latest
from archivers.visindex.record_codec import parse_record
from archivers.visindex.table import TIMESTAMP, read_rows

SNAPSHOT_ATTEMPTS = 5
FILE_CACHE_BYTES = 256 * 1024 * 1024
"""Compacted files are immutable under unique names: the bytes read are kept up to this size."""
_FILES: LruCache[tuple[str, str], bytes] = LruCache(FILE_CACHE_BYTES, len)
_MICROS = 1000  # nanoseconds per microsecond


def _overlaps(times: TimeRange, low: int | None, high: int | None) -> bool:
    """Whether a value within ``low..high`` (nanos; ``None``: no value at all) can lie in ``times``."""
    if times.is_unbounded:
        return True
    if low is None or high is None:
        return False
    return (times.lower is None or high >= times.lower) and (times.upper is None or low <= times.upper)


def _nanos(micros: int | None, end: bool) -> int | None:
    return None if micros is None else micros * _MICROS + (_MICROS - 1 if end else 0)


def file_may_match(entry: LiveFile, constraints: Constraints) -> bool:
    """Whether a live file can hold a row meeting ``constraints`` (from its manifest entry alone)."""
    if not _overlaps(constraints.close_time, _nanos(entry.close_min, False), _nanos(entry.close_max, True)):
        return False
    if not _overlaps(constraints.start_time, _nanos(entry.start_min, False), _nanos(entry.start_max, True)):
        return False
    for values, tag in ((constraints.workflow_ids, idfilter.workflow_tag), (constraints.run_ids, idfilter.run_tag)):
        if values is not None and not idfilter.may_contain_any(entry.ids, (tag(v) for v in values)):
            return False
    return True


def _time_filter(column: str, times: TimeRange) -> list[pc.Expression]:
    terms = []
    if times.lower is not None:
        terms.append(pc.field(column) >= pa.scalar(times.lower // _MICROS, TIMESTAMP))
    if times.upper is not None:
        terms.append(pc.field(column) <= pa.scalar(times.upper // _MICROS, TIMESTAMP))
    return terms


def pushdown(constraints: Constraints) -> pc.Expression | None:
    """The pyarrow filter a file's rows must pass to possibly meet ``constraints`` (``None``: all rows)."""
    terms: list[pc.Expression] = []
    for column, values in (
        ("workflow_id", constraints.workflow_ids),
        ("run_id", constraints.run_ids),
        ("workflow_type", constraints.workflow_types),
        ("status", None if constraints.statuses is None else {status_name(s) for s in constraints.statuses}),
    ):
        if values is not None:
            terms.append(pc.field(column).isin(sorted(values)))
    terms += _time_filter("close_time", constraints.close_time)
    terms += _time_filter("start_time", constraints.start_time)
    return functools.reduce(lambda a, b: a & b, terms) if terms else None


def _inbox_may_match(name: str, constraints: Constraints) -> bool:
    date = inbox_date(name)
    return date is not None and _overlaps(constraints.close_time, *day_range_nanos(date))


def candidates(store: ObjectStore, root: str, namespace_id: str, compiled: CompiledQuery) -> list[Candidate]:
    """Every stored record of the namespace that may match ``compiled`` (see the module docstring)."""
    constraints = compiled.constraints
    if constraints.is_empty:
        return []
    for _ in range(SNAPSHOT_ATTEMPTS):
        try:
            return list(_snapshot(store, root, namespace_id, constraints))
        except _Vanished:
            continue
    raise TransientError(f"{store.bucket}: the visibility inbox of {namespace_id!r} keeps changing; retry")


class _Vanished(Exception):
    """An inbox object went away between listing and reading it."""


def _snapshot(store: ObjectStore, root: str, namespace_id: str, constraints: Constraints) -> Iterator[Candidate]:
    listed = inbox.listing(store, root, namespace_id)
    manifest = read_latest(store, root, namespace_id)
    where = pushdown(constraints)
    seen: set[str] = set()
    found: list[Candidate] = []
    for entry in manifest.files:
        if not file_may_match(entry, constraints):
            continue
        key = file_key(root, namespace_id, entry.path)
        source = f"{store.bucket}/{key}"
        for row in read_rows(_file_bytes(store, key), where, source):
            if row.run_id not in seen:
                seen.add(row.run_id)
                found.append(_row_candidate(row.close_micros, row.record, source))
    for item in listed:
        if item.name in manifest.compacted or not _inbox_may_match(item.name, constraints):
            continue
        try:
            record = inbox.read(store, root, namespace_id, item)
        except ObjectNotFoundError:
            raise _Vanished from None
        if record.run_id not in seen:
            seen.add(record.run_id)
            found.append(Candidate.of(record))
    return iter(found)


def _file_bytes(store: ObjectStore, key: str) -> bytes:
    data = _FILES.get((store.bucket, key))
    if data is None:
        data = store.get(key)
        _FILES.put((store.bucket, key), data)
    return data


def _row_candidate(close_micros: int, data: bytes, source: str) -> Candidate:
    low = close_micros * _MICROS
    return Candidate(low, low + _MICROS - 1, lambda: parse_record(data, source))
