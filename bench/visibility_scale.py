"""The native visibility index at scale: build, compaction, size and the issue's query table.

Builds the index of ``--records`` records of one namespace (90 days of close times, 50 workflow
types, every close status, 5 custom search attributes) through the bulk path on a native root,
on ``file://`` and on moto's S3 server, then times each query of the issue (p50 and p99 of
``--repeat`` runs with the file cache emptied before each run, so files are read from the store
every time; manifests stay cached, as in a running sidecar), beside the same queries on a compat
root (Temporal's layout, ``--compat-records`` records, built with plain archives) measured in the
same run. Also: compaction records/s (``--compact-records`` records archived to the inbox, then
``compact``), and the index's bytes per record (all of it, and without the ``record`` column and
the search attribute columns).

    python bench/visibility_scale.py [--records 100000] [--compat-records 10000] [--repeat 7]
        [--compact-records 10000] [--compact-days 1] [--backends file,s3]
    python bench/visibility_scale.py --records 1000000          # the issue's full figure
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import _repo_on_path  # noqa: F401  (tests.harness)
import pyarrow.parquet as pq
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.interfaces import QueryVisibilityRequest, VisibilityArchiver
from archivers.registry import get_backend, get_visibility_archiver
from archivers.store.base import ObjectStore
from archivers.testing.records import timestamp
from archivers.uri import URI
from archivers.visindex import query as index_query
from archivers.visindex.archiver import NativeIndexVisibilityArchiver, native_index
from archivers.visindex.keys import DATASET
from tests.harness.emulators import MotoS3Server

NS = "bench-ns"
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 90
STATUSES = [2, 3, 4, 5, 6, 7]  # every close status
TYPES = {
    "CustomerId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Region": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Priority": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Vip": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "DueAt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


def make_records(count: int, seed: int = 1, days: int = DAYS) -> list[VisibilityRecord]:
    """``count`` records closed over ``days`` days, 50 types, every close status, 5 search attributes."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        close = BASE + timedelta(seconds=rng.randrange(days * 86_400), microseconds=rng.randrange(1_000_000))
        start = close - timedelta(seconds=rng.randrange(1, 36_000))
        records.append(VisibilityRecord(
            namespace_id=NS, namespace="bench", workflow_id=f"wf-{i // 3}",
            run_id=f"run-{i:08d}-{rng.getrandbits(48):012x}", workflow_type_name=f"type-{rng.randrange(50)}",
            start_time=timestamp(start), execution_time=timestamp(start),
            close_time=timestamp(close), status=WorkflowExecutionStatus.ValueType(rng.choice(STATUSES)),
            history_length=rng.randrange(5, 5000),
            execution_duration=Duration(seconds=int((close - start).total_seconds())),
            search_attributes={
                "CustomerId": f"c-{rng.randrange(1000)}", "Region": rng.choice(["eu", "us", "ap"]),
                "Priority": str(rng.randrange(10)), "Vip": rng.choice(["true", "false"]),
                "DueAt": (close + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ))  # fmt: skip
    return records


def _day(offset: int) -> str:
    return (BASE + timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def queries(records: list[VisibilityRecord]) -> list[tuple[str, str, int]]:
    """``(label, query, page size)`` of the issue's table, about ``records``."""
    probe = records[len(records) // 2]
    day = f"CloseTime >= '{_day(40)}' AND CloseTime < '{_day(41)}'"
    return [
        ("WorkflowId = x", f"WorkflowId = '{probe.workflow_id}'", 100),
        ("RunId = x", f"RunId = '{probe.run_id}'", 100),
        ("WorkflowType + 1 day", f"WorkflowType = 'type-7' AND {day}", 100),
        ("Failed + 1 day", f"ExecutionStatus = 'Failed' AND {day}", 100),
        ("Keyword SA + 7 days", f"CustomerId = 'c-42' AND CloseTime >= '{_day(40)}' AND CloseTime < '{_day(47)}'", 100),
        ("StartTime ORDER BY", f"StartTime >= '{_day(40)}' AND StartTime < '{_day(41)}' ORDER BY StartTime", 100),
        ("empty, first page", "", 100),
    ]  # fmt: skip


def _timed(runs: int, before: Callable[[], None], call: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _cold() -> None:
    index_query._FILES = type(index_query._FILES)(index_query.FILE_CACHE_BYTES, len)


def _page(archiver: VisibilityArchiver, uri: str, query: str, size: int, token: bytes = b"") -> bytes:
    return archiver.query(uri, QueryVisibilityRequest(NS, size, token, query), TYPES).next_page_token


def page_50_token(archiver: VisibilityArchiver, uri: str, query: str) -> bytes:
    """The token of page 50 (200 rows a page) of ``query``."""
    token = b""
    for _ in range(49):
        token = _page(archiver, uri, query, 200, token)
    return token


def measure_queries(label: str, uri: str, records: list[VisibilityRecord], repeat: int) -> dict[str, list[float]]:
    archiver = get_visibility_archiver(uri)
    results = {}
    for name, query, size in queries(records):
        results[name] = _timed(repeat, _cold, lambda q=query, s=size: _page(archiver, uri, q, s))  # type: ignore[misc]
    listing = f"CloseTime >= '{_day(40)}' AND CloseTime < '{_day(40 + max(1, 10_000 * DAYS // len(records)))}'"
    token = page_50_token(archiver, uri, listing)
    results["page 50 of 10k rows"] = _timed(repeat, _cold, lambda: _page(archiver, uri, listing, 200, token))
    return results


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(title: str, native: dict[str, list[float]], compat: dict[str, list[float]], n: int, m: int) -> None:
    print(f"\n{title}: native index {n} records | compat root {m} records (baseline)")
    print(f"{'query':24} {'native p50 s':>12} {'p99 s':>8} | {'compat p50 s':>12} {'p99 s':>8}")
    for name in native:
        a, b = native[name], compat[name]
        print(f"{name:24} {_p(a, .5):12.3f} {_p(a, .99):8.3f} | {_p(b, .5):12.3f} {_p(b, .99):8.3f}")


def init(uri: str, layout: str) -> None:
    roots = get_backend(uri).roots
    assert roots is not None
    roots({}).init(URI.parse(uri), layout, "bench")


def build_native(uri: str, records: list[VisibilityRecord]) -> float:
    init(uri, "native")
    native = native_index(get_visibility_archiver(uri), URI.parse(uri))
    start = time.perf_counter()
    native.archive_many(uri, records)
    return time.perf_counter() - start


def build_compat(uri: str, records: list[VisibilityRecord], threads: int) -> float:
    archiver = get_visibility_archiver(uri)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(lambda r: archiver.archive(uri, r), records):
            pass
    return time.perf_counter() - start


def compaction_rate(uri: str, count: int, days: int) -> tuple[float, int]:
    """Records/s of ``compact`` over ``count`` inbox records closed over ``days`` days, and requests per archive."""
    init(uri, "native")
    archiver = get_visibility_archiver(uri)
    native = native_index(archiver, URI.parse(uri))
    counter = _count_requests(native)
    for record in make_records(count, seed=2, days=days):
        archiver.archive(uri, record)
    per_record = counter() // count
    start = time.perf_counter()
    native.compact(uri, NS)
    return count / (time.perf_counter() - start), per_record


def _count_requests(native: NativeIndexVisibilityArchiver) -> Callable[[], int]:
    """Wrap the store's calls of ``native`` to count them (puts, gets, lists)."""
    calls = [0]
    stores = native._stores

    def counting(uri: URI) -> ObjectStore:
        store = stores(uri)
        for name in ("put_if_absent", "put", "get", "list_page", "stat", "delete"):
            method = getattr(type(store), name)

            def wrapped(*args: object, _method: Callable[..., object] = method, **kwargs: object) -> object:
                calls[0] += 1
                return _method(store, *args, **kwargs)

            setattr(store, name, wrapped)
        return store

    native._stores = counting
    return lambda: calls[0]


def index_bytes(directory: str) -> tuple[int, int]:
    """Bytes of the compacted files under ``directory``: all, and without ``record`` and ``sa_*`` columns."""
    total = lean = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            if name.endswith(".parquet"):
                path = os.path.join(folder, name)
                total += os.path.getsize(path)
                meta = pq.read_metadata(path)
                lean += os.path.getsize(path)
                for group in range(meta.num_row_groups):
                    for column in range(meta.num_columns):
                        chunk = meta.row_group(group).column(column)
                        if chunk.path_in_schema == "record" or chunk.path_in_schema.startswith("sa_"):
                            lean -= chunk.total_compressed_size
    return total, lean


@contextlib.contextmanager
def moto_env() -> Iterator[MotoS3Server]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoS3Server() as moto:
        saved = dict(os.environ)
        os.environ.update(moto.env() | {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                                        "AWS_EC2_METADATA_DISABLED": "true"})  # fmt: skip
        try:
            yield moto
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--compat-records", type=int, default=10_000)
    parser.add_argument("--compact-records", type=int, default=10_000)
    parser.add_argument("--compact-days", type=int, default=1, help="close dates the inbox records span")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backends", default="file,s3")
    args = parser.parse_args()
    records = make_records(args.records)
    compat_records = make_records(args.compat_records)
    print(f"{args.records} records ({DAYS} days, 50 types, 6 close statuses, 5 search attributes)")
    with tempfile.TemporaryDirectory() as tmp:
        if "file" in args.backends:
            native_uri, compat_uri = f"file://{tmp}/native", f"file://{tmp}/compat"
            seconds = build_native(native_uri, records)
            print(f"file: bulk build {seconds:.1f} s = {args.records / seconds:,.0f} records/s (one process)")
            total, lean = index_bytes(os.path.join(tmp, "native", DATASET))
            print(f"file: index {total / args.records:.1f} bytes/record; {lean / args.records:.1f} without the "
                  "record column and search attribute columns")  # fmt: skip
            rate, requests = compaction_rate(f"file://{tmp}/compaction", args.compact_records, args.compact_days)
            print(f"file: compaction {rate:,.0f} records/s ({args.compact_records} inbox records, "
                  f"{args.compact_days} close date(s)); "
                  f"{requests} request(s) per archived record")  # fmt: skip
            build_compat(compat_uri, compat_records, 8)
            report("file://", measure_queries("native", native_uri, records, args.repeat),
                   measure_queries("compat", compat_uri, compat_records, args.repeat), args.records,
                   args.compat_records)  # fmt: skip
        if "s3" in args.backends:
            with moto_env() as moto:
                moto.create_bucket("bench")
                native_uri, compat_uri = "s3://bench/native", "s3://bench/compat"
                seconds = build_native(native_uri, records)
                print(f"\ns3 (moto): bulk build {seconds:.1f} s = {args.records / seconds:,.0f} records/s")
                rate, requests = compaction_rate(
                    "s3://bench/compaction", min(args.compact_records, 2000), args.compact_days
                )
                print(f"s3 (moto): compaction {rate:,.0f} records/s; {requests} request(s) per archived record")
                seconds = build_compat(compat_uri, compat_records, 16)
                report("s3 (moto)", measure_queries("native", native_uri, records, args.repeat),
                       measure_queries("compat", compat_uri, compat_records, args.repeat), args.records,
                       args.compat_records)  # fmt: skip
    print(f"\n(p50/p99 of {args.repeat} runs, file cache emptied before each; one page of 100 rows, "
          "page 50 at 200 rows a page)")  # fmt: skip


if __name__ == "__main__":
    main()
