"""Writing compacted files and making them live: shared by compaction and bulk loads.

:func:`write_files` turns records into one immutable Parquet file per close date (a fresh random
name each, created conditionally), leaving out runs a live file already holds; nothing is live until
a manifest names it. :func:`commit_records` is the bulk path: files written, then the next manifest
generation committed, again from a fresh manifest if another writer committed first. A file whose
commit lost is never live (it stays as an unreferenced object; queries read only live files).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import TransientError
from archivers.store.base import ObjectStore
from archivers.visindex import idfilter
from archivers.visindex.keys import close_date, file_key
from archivers.visindex.manifest import LiveFile, Manifest, commit, read_latest
from archivers.visindex.table import encode_table, micros, read_run_ids, sort_records

COMMIT_ATTEMPTS = 20
Step = Callable[[str], None]
"""Told the name of each step a writer has completed (tests stop a writer there to kill it)."""


def no_step(name: str) -> None:
    """The default :data:`Step`: nothing."""


def _stored_run_ids(store: ObjectStore, root: str, namespace_id: str, live: Sequence[LiveFile],
                    run_ids: set[str]) -> set[str]:
    """Those of ``run_ids`` that ``live`` files of one close date hold (reads only files their filter may hold)."""
    tags = [idfilter.run_tag(r) for r in run_ids]
    found: set[str] = set()
    for entry in live:
        if idfilter.may_contain_any(entry.ids, tags):
            key = file_key(root, namespace_id, entry.path)
            found |= read_run_ids(store.get(key), f"{store.bucket}/{key}") & run_ids
    return found


def write_files(
    store: ObjectStore, root: str, namespace_id: str, manifest: Manifest, records: Iterable[VisibilityRecord]
) -> list[LiveFile]:
    """Write ``records`` (of ``namespace_id``) as new files, one per close date; runs held already are left out.

    Of several records of one run, the first stands (as for the inbox's conditional create).
    """
    by_date: dict[str, dict[str, VisibilityRecord]] = defaultdict(dict)
    for record in records:
        by_date[close_date(micros(record.close_time))].setdefault(record.run_id, record)
    written = []
    for date, runs in sorted(by_date.items()):
        live = [f for f in manifest.files if f.close_date == date]
        for run_id in _stored_run_ids(store, root, namespace_id, live, set(runs)):
            del runs[run_id]
        if runs:
            written.append(_write_file(store, root, namespace_id, date, sort_records(list(runs.values()))))
    return written


def _write_file(store: ObjectStore, root: str, namespace_id: str, date: str,
                records: list[VisibilityRecord]) -> LiveFile:
    data = encode_table(records)
    path = f"close_date={date}/part-{uuid.uuid4().hex}.parquet"
    store.put_if_absent(file_key(root, namespace_id, path), data)  # a fresh name: always created
    starts = [micros(r.start_time) for r in records if r.HasField("start_time")]
    tags = [idfilter.workflow_tag(r.workflow_id) for r in records] + [idfilter.run_tag(r.run_id) for r in records]
    return LiveFile(
        path, date, len(records), len(data), micros(records[0].close_time), micros(records[-1].close_time),
        min(starts, default=None), max(starts, default=None), idfilter.build(tags, len(tags)),
    )  # fmt: skip


def commit_records(
    store: ObjectStore, root: str, namespace_id: str, records: Sequence[VisibilityRecord], step: Step = no_step
) -> int:
    """Make ``records`` live in compacted files (the bulk path); returns the rows written (held runs left out)."""
    for _ in range(COMMIT_ATTEMPTS):
        manifest = read_latest(store, root, namespace_id)
        written = write_files(store, root, namespace_id, manifest, records)
        step("wrote-files")
        if not written:
            return 0
        following = Manifest(manifest.generation + 1, manifest.files + tuple(written), manifest.compacted)
        if commit(store, root, namespace_id, following):
            step("committed")
            return sum(f.rows for f in written)
        step("lost-commit")
    raise TransientError(f"{store.bucket}: visibility manifest of {namespace_id!r} is contended; retry")
