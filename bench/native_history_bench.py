"""The native history layout beside protojson and beside the raw store on the same bytes.

For synthetic histories (``--sizes``, default 1k, 10k and 50k events; 3 events a batch, 64-byte
payloads, as the conformance suite's), in one run:

- *size*: bytes stored by the native layout vs. the protojson of the s3store layout;
- *archive*: ``HistoryArchiver.archive_encoded`` (serialized batches, the sidecar's path) and
  ``archive`` (``History`` messages) to a native root (a new run each time) vs. the *baseline*:
  the raw store writing exactly the native parts' bytes (file://: ``open(O_EXCL)``, write, fsync;
  s3 on moto's server: boto3 ``put_object``), best of ``--repeat``;
- *get*: every page (256 events) through ``get_encoded`` and ``get`` vs. the raw read of the
  same objects (``open().read()`` / ``get_object``);
- the same serialized archive and get **through a sidecar process** (``archiver serve``, called
  with :class:`archivers.remote.RemoteHistoryArchiver` over loopback gRPC);
- *first page* of the largest history on file://, in 5 new processes (imports excluded, the root's
  descriptor read included), beside the raw read of its first part in that process; and the
  requests the first page costs on s3 without and with the close failover version (through a
  counting proxy, a new archiver).

    python bench/native_history_bench.py [--sizes 1000,10000,50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import _repo_on_path  # noqa: F401  (for tests.harness)
from _sidecar_process import SidecarProcess
from temporalio.api.history.v1 import History

from archivers.interfaces import GetHistoryRequest, HistoryArchiver
from archivers.layouts import native, s3store
from archivers.layouts.base import HistoryLayout, encode_history
from archivers.registry import get_history_archiver, get_root_manager
from archivers.remote import RemoteHistoryArchiver, connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI
from tests.harness.emulators import MotoS3Server
from tests.harness.http_proxy import HttpProxy

PAGE = 256


def parts(layout: HistoryLayout, batches: list[History], run: str) -> list[bytes]:
    """The parts the archiver stores for ``batches``."""
    return encode_history(layout, request_for(batches, run_id=run), batches)


def best(repeat: int, run: Callable[[int], object]) -> float:
    """The fastest of ``repeat`` runs of ``run(attempt)``, in seconds."""
    times = []
    for attempt in range(repeat):
        start = time.perf_counter()
        run(attempt)
        times.append(time.perf_counter() - start)
    return min(times)


def read_all(history: HistoryArchiver, uri: str, run: str, serialized: bool) -> int:
    """Every page of one run (``get_encoded`` or ``get``); returns the batch count."""
    token, batches = b"", 0
    while True:
        request = GetHistoryRequest("test-namespace-id", "test-workflow-id", run, None, token, PAGE)
        if serialized:
            page = history.get_encoded(uri, request)
            batches += len(page.batches)
            token = page.next_page_token
        else:
            response = history.get(uri, request)
            batches += len(response.history_batches)
            token = response.next_page_token
        if not token:
            return batches


def compare(name: str, measured: float, baseline: float) -> None:
    """One line: the native figure, the raw baseline and raw/native (>= 0.9: within 10% of raw)."""
    print(
        f"  {name:<34} native {measured * 1000:8.1f} ms  raw {baseline * 1000:8.1f} ms"
        f"  raw/native {baseline / measured:4.2f}"
    )


def measure(
    uri: str,
    history: HistoryArchiver,
    raw_put: Callable[[str, bytes], object],
    raw_get: Callable[[str], object],
    size: int,
    repeat: int,
    *,
    section: str,
    messages: bool = True,
) -> None:
    """Archive and full get of one size through ``history``, beside the raw put and get of the same parts.

    Serialized batches (``archive_encoded``/``get_encoded``: the sidecar's path) always;
    ``History`` messages (``archive``/``get``) too if ``messages``. Each repeat archives and reads
    its own run, so no read is served from the archiver's part cache.
    """
    batches = synthetic_history(size)
    serialized = [b.SerializeToString() for b in batches]
    stored = parts(native.LAYOUT, batches, "x")
    tag = uuid.uuid4().hex[:8]  # raw objects of this call only
    put = best(repeat, lambda a: [raw_put(f"{tag}-{size}-{a}-{i}", data) for i, data in enumerate(stored)])
    raw = best(repeat, lambda a: [raw_get(f"{tag}-{size}-{a}-{i}") for i in range(len(stored))])
    for kind in ("serialized", "History") if messages else ("serialized",):
        archive, get = _timed(uri, history, batches, serialized, f"{section}-{size}-{kind}", repeat)
        compare(f"archive {size} events ({kind})", archive, put)
        compare(f"full get {size} events ({kind})", get, raw)


def _timed(
    uri: str, history: HistoryArchiver, batches: list[History], serialized: list[bytes], name: str, repeat: int
) -> tuple[float, float]:
    """Best archive and full-get times, each repeat on its own run ``run-<name>-<repeat>``.

    ``name`` ends with the kind of batches: ``serialized`` or ``History``.
    """
    run = f"run-{name}-{{}}"
    if name.endswith("serialized"):
        archive = best(
            repeat, lambda a: history.archive_encoded(uri, request_for(batches, run_id=run.format(a)), serialized)
        )
    else:
        archive = best(repeat, lambda a: history.archive(uri, request_for(batches, run_id=run.format(a)), batches))
    get = best(repeat, lambda a: read_all(history, uri, run.format(a), name.endswith("serialized")))
    return archive, get


def bench_file(sizes: list[int], repeat: int) -> None:
    """file:// native root; raw: exclusive create + write + fsync, and read."""
    root = tempfile.mkdtemp(prefix="native-bench-")
    uri = f"file://{root}/archive"
    get_root_manager(uri).init(URI.parse(uri), "native", "bench")
    raw_dir = Path(root) / "raw"
    raw_dir.mkdir()

    def raw_put(name: str, data: bytes) -> None:
        with open(raw_dir / name, "xb") as handle:
            handle.write(data)
            os.fsync(handle.fileno())

    raw_get = lambda name: (raw_dir / name).read_bytes()  # noqa: E731
    print("file:// (native root), library")
    for size in sizes:
        measure(uri, get_history_archiver(uri), raw_put, raw_get, size, repeat, section="lib")
    first_page(uri, root, max(sizes))
    print("file:// (native root), through a sidecar process")
    with SidecarProcess() as sidecar, connect(sidecar.address) as channel:
        remote = RemoteHistoryArchiver(channel)
        for size in sizes:
            measure(uri, remote, raw_put, raw_get, size, repeat, section="sidecar", messages=False)


_FIRST_PAGE = """
import sys, time
from pathlib import Path
from archivers.interfaces import GetHistoryRequest
from archivers.registry import get_history_archiver
uri, part = sys.argv[1], sys.argv[2]
history = get_history_archiver(uri)
start = time.perf_counter()
response = history.get(uri, GetHistoryRequest("test-namespace-id", "test-workflow-id", sys.argv[3], None, b"", 256))
page = time.perf_counter() - start
start = time.perf_counter()
Path(part).read_bytes()
raw = time.perf_counter() - start
print(page, raw, sum(len(b.events) for b in response.history_batches))
"""


def first_page(uri: str, root: str, size: int, processes: int = 5) -> None:
    """The first page of the largest history in ``processes`` new processes, one after the other."""
    run = f"run-lib-{size}-serialized-0"
    key = native.LAYOUT.part_key("", request_for(synthetic_history(2), run_id=run), 0, 0)
    part = f"{root}/archive/{key}"
    pages, raws = [], []
    for _ in range(processes):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_PAGE, uri, part, run], capture_output=True, text=True, check=True
        ).stdout.split()
        pages.append(float(out[0]) * 1000)
        raws.append(float(out[1]) * 1000)
        events = int(out[2])
    print(
        f"  first page ({events} events) of {size}, {processes} new processes: "
        f"{' '.join(f'{p:.1f}' for p in pages)} ms (raw read of part 0: {' '.join(f'{r:.1f}' for r in raws)} ms)"
    )


def bench_s3(sizes: list[int], repeat: int) -> None:
    """s3 native root on moto's server; raw: boto3 put_object and get_object; then the first page's requests."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoS3Server() as moto:
        os.environ.update(moto.env() | {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        bucket = "native-bench"
        moto.create_bucket(bucket)
        client = moto.client()
        uri = f"s3://{bucket}/archive"
        settings = {"endpoint": moto.endpoint_url, "region": moto.region, "s3ForcePathStyle": True}
        get_root_manager(uri, settings).init(URI.parse(uri), "native", "bench")
        raw_put = lambda name, data: client.put_object(Bucket=bucket, Key=f"raw/{name}", Body=data)  # noqa: E731
        raw_get = lambda name: client.get_object(Bucket=bucket, Key=f"raw/{name}")["Body"].read()  # noqa: E731
        print("s3 on moto (native root), library")
        for size in sizes:
            measure(uri, get_history_archiver(uri, settings), raw_put, raw_get, size, repeat, section="lib")
        print("s3 on moto (native root), through a sidecar process")
        with SidecarProcess({"s3store": settings}) as sidecar, connect(sidecar.address) as channel:
            remote = RemoteHistoryArchiver(channel)
            for size in sizes:
                measure(uri, remote, raw_put, raw_get, size, repeat, section="sidecar", messages=False)
        size = max(sizes)
        with HttpProxy(moto.endpoint_url) as proxy:
            proxied = settings | {"endpoint": proxy.url}
            run = f"run-lib-{size}-serialized-0"
            for version in (None, 0):
                read = GetHistoryRequest("test-namespace-id", "test-workflow-id", run, version, b"", PAGE)
                get_history_archiver(uri, proxied).get(uri, read)  # the first call also reads the root's descriptor
                proxy.reset_counts()
                get_history_archiver(uri, proxied).get(uri, read)  # a new archiver: no part cached
                sent = ", ".join(f"{r.method} {r.path.split('?')[0]}" for r in proxy.requests)
                print(f"  first page of {size} events, version {version}, requests of a second get: {sent}")


def sizes_report(sizes: list[int]) -> None:
    print("stored size (native vs s3store protojson)")
    for size in sizes:
        batches = synthetic_history(size)
        ours = sum(map(len, parts(native.LAYOUT, batches, "x")))
        theirs = sum(map(len, parts(s3store.LAYOUT, batches, "x")))
        print(
            f"  {size:>6} events: native {ours:>10,} B   protojson {theirs:>11,} B"
            f"   native/protojson {ours / theirs:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sizes_report(sizes)
    bench_file(sizes, args.repeat)
    bench_s3(sizes, args.repeat)


if __name__ == "__main__":
    main()
