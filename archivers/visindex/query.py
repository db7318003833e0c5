"""Planning a query over the native index: partition and file pruning, predicate pushdown, the inbox.

The query's sound :class:`~archivers.query.Constraints` decide which live files are read (close
date and the file's close/start time range from the manifest; its id filter for pinned workflow
or run ids) and become a pyarrow filter over the typed columns, which also skips row groups by
their statistics. The filter may keep more rows than match (times are compared at microsecond
precision, rounded outwards); the shared runner (:func:`archivers.visibility_query.run_query`)
applies the exact filter to every candidate.

Snapshot: the inbox is listed first, then the newest manifest is read, so a record is read either
from a file of that generation or from the inbox, never both and never neither; an inbox object that
vanishes while read (compacted meanwhile) restarts the listing. When the page is cut in close-time
order, files are read in that order and reading stops once no further file can hold a row of the
page (:class:`Window`). A run stored twice (archived again after it was compacted) is returned once,
from the file. Compacted files read are kept in memory (up to :data:`FILE_CACHE_BYTES`), so the next
page of a query reads no file twice.
"""

from __future__ import annotations

import functools
import heapq

import pyarrow as pa
import pyarrow.compute as pc

from archivers.errors import TransientError
from archivers.lru import LruCache
from archivers.query import CompiledQuery, Constraints, TimeRange
from archivers.query.fields import status_name
from archivers.store.base import ObjectStore
from archivers.visibility_query import Candidate, Window
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


def candidates(
    store: ObjectStore, root: str, namespace_id: str, compiled: CompiledQuery, window: Window
) -> list[Candidate]:
    """The stored records of the namespace that may be on the page (see the module docstring)."""
    if compiled.constraints.is_empty:
        return []
    for _ in range(SNAPSHOT_ATTEMPTS):
        found = _snapshot(store, root, namespace_id, compiled, window)
        if found is not None:
            return found
    raise TransientError(f"{store.bucket}: the visibility inbox of {namespace_id!r} keeps changing; retry")


def _snapshot(
    store: ObjectStore, root: str, namespace_id: str, compiled: CompiledQuery, window: Window
) -> list[Candidate] | None:
    """The candidates of one snapshot; ``None`` if an inbox object vanished while read (try again)."""
    constraints = compiled.constraints
    listed = inbox.listing(store, root, namespace_id)
    manifest = read_latest(store, root, namespace_id)
    pending = [i for i in listed if i.name not in manifest.compacted and _inbox_may_match(i.name, constraints)]
    from_inbox = inbox.read_many(store, root, namespace_id, pending)
    if any(record is None for record in from_inbox):
        return None
    where = pushdown(constraints)
    page = _PageBound(compiled, window)
    seen: set[str] = set()
    found: list[Candidate] = []
    for entry in page.order([f for f in manifest.files if file_may_match(f, constraints)]):
        if page.complete_before(entry):
            break
        key = file_key(root, namespace_id, entry.path)
        source = f"{store.bucket}/{key}"
        for row in read_rows(_file_bytes(store, key), where, source):
            if row.run_id not in seen:
                seen.add(row.run_id)
                candidate = _row_candidate(row.close_micros, row.record, source)
                page.offer(candidate)
                found.append(candidate)
    for record in from_inbox:
        if record is not None and record.run_id not in seen:
            seen.add(record.run_id)
            found.append(Candidate.of(record))
    return found


class _PageBound:
    """Reads files in close-time order when the page is cut in it, and says when no further file can be on it.

    Holds the close times of the best ``page_size + 1`` matching rows after the cursor read so far;
    once that many are held, a file whose every row ranks after the worst of them is not read, nor
    any file after it in the order (the shared runner's rule, :func:`archivers.visibility_query.run_query`,
    applied to whole files).
    """

    def __init__(self, compiled: CompiledQuery, window: Window) -> None:
        self._compiled = compiled
        self._window = window
        self._best: list[int] = []

    def order(self, files: list[LiveFile]) -> list[LiveFile]:
        """``files`` that can hold rows after the cursor, best first (all of them, as they are, unless by close)."""
        window = self._window
        if not window.by_close:
            return files
        after = window.after
        if window.descending:
            kept = [f for f in files if after is None or _nanos(f.close_min, False) <= after]  # type: ignore[operator]
            return sorted(kept, key=lambda f: -f.close_max)
        kept = [f for f in files if after is None or _nanos(f.close_max, True) >= after]  # type: ignore[operator]
        return sorted(kept, key=lambda f: f.close_min)

    def complete_before(self, entry: LiveFile) -> bool:
        """Whether every row of ``entry`` (and of the files after it) ranks after the page."""
        window = self._window
        if not window.by_close or len(self._best) <= window.page_size:
            return False
        if window.descending:
            return _nanos(entry.close_max, True) < self._best[0]  # type: ignore[operator]
        return _nanos(entry.close_min, False) > -self._best[0]  # type: ignore[operator]

    def offer(self, candidate: Candidate) -> None:
        """Count ``candidate`` if it matches and lies after the cursor."""
        window = self._window
        if not window.by_close:
            return
        record = candidate.load()
        if record is None or not self._compiled.matches(record):
            return
        close = record.close_time.ToNanoseconds()
        after = window.after
        if after is not None and not (close < after if window.descending else close > after):
            return
        heapq.heappush(self._best, close if window.descending else -close)
        if len(self._best) > window.page_size + 1:
            heapq.heappop(self._best)


def _file_bytes(store: ObjectStore, key: str) -> bytes:
    data = _FILES.get((store.bucket, key))
    if data is None:
        data = store.get(key)
        _FILES.put((store.bucket, key), data)
    return data


def _row_candidate(close_micros: int, data: bytes, source: str) -> Candidate:
    low = close_micros * _MICROS
    return Candidate(low, low + _MICROS - 1, functools.cache(lambda: parse_record(data, source)))
