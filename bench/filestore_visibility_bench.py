"""Visibility records/s on ``file://``: sequential and concurrent callers, ``durable`` and ``upstream``.

Each row archives ``--records`` synthetic records with the ``file://`` visibility archiver, either
from one thread (sequential) or from ``--callers`` threads at once. Beside them, the same run
measures a baseline: Temporal's filestore way of storing a record (the same protojson written to
its final name with one plain write, no temp file, no rename, no fsync), from one thread.

    python bench/filestore_visibility_bench.py [--records 2000] [--callers 64] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import encode_message
from archivers.layouts import filestore as layout
from archivers.localfiles import Durability
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver
from archivers.testing.records import make_records


def _best(repeat: int, run: Callable[[str], None]) -> float:
    """The fastest of ``repeat`` runs, each in a fresh directory."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run(tmp)
            times.append(time.perf_counter() - start)
    return min(times)


def archiver_run(records: list[VisibilityRecord], durability: Durability, callers: int) -> Callable[[str], None]:
    """Archive every record with ``callers`` threads (1: in this thread)."""
    archiver = FilestoreVisibilityArchiver(durability=durability)

    def run(tmp: str) -> None:
        uri = f"file://{tmp}"
        if callers == 1:
            for record in records:
                archiver.archive(uri, record)
            return
        with ThreadPoolExecutor(callers) as pool:
            for _ in pool.map(lambda r: archiver.archive(uri, r), records):
                pass

    return run


def baseline_run(records: list[VisibilityRecord]) -> Callable[[str], None]:
    """Temporal's filestore write: the record's protojson written in place, no fsync, no rename."""

    def run(tmp: str) -> None:
        for record in records:
            directory = os.path.join(tmp, record.namespace_id)
            os.makedirs(directory, exist_ok=True)
            name = layout.visibility_filename(record.close_time.ToNanoseconds(), record.run_id)
            with open(os.path.join(directory, name), "wb") as out:
                out.write(encode_message(record))

    return run


def main() -> None:
    """Run every configuration and print records/s and the ratio to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    records = make_records(args.records)
    rows = [("baseline: Temporal-style plain write", baseline_run(records))]
    for durability in Durability:
        for callers in (1, args.callers):
            label = f"{durability.value}, {'sequential' if callers == 1 else f'{callers} concurrent callers'}"
            rows.append((label, archiver_run(records, durability, callers)))
    base = 0.0
    print(f"{'configuration':<40} {'records/s':>10} {'ms/record':>10} {'vs baseline':>11}")
    for label, run in rows:
        seconds = _best(args.repeat, run)
        base = base or seconds
        print(
            f"{label:<40} {args.records / seconds:>10,.0f} {1000 * seconds / args.records:>10.3f} "
            f"{seconds / base:>10.1f}x"
        )
    print(f"({args.records} records, best of {args.repeat}; ratios are time relative to the baseline)")


if __name__ == "__main__":
    main()
