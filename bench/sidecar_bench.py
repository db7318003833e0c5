"""Archive and read back histories through the sidecar vs calling the library directly, in one run.

For ``memory://`` and ``file://`` and each history size, times ``archive`` then ``get`` of every
page with the library's own archiver (the baseline) and with :class:`~archivers.remote.RemoteHistoryArchiver`
calling an in-process sidecar on loopback, and prints p50/p99 latencies and the overhead ratio
(sidecar time / library time, p50).

    python bench/sidecar_bench.py [--sizes 100,1000,10000] [--repeat 15] [--page-size 256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from temporalio.api.history.v1 import History

from archivers.interfaces import ArchiveHistoryRequest, GetHistoryRequest, HistoryArchiver
from archivers.registry import get_history_archiver
from archivers.remote import RemoteHistoryArchiver, connect
from archivers.testing.synthetic import request_for, synthetic_history
from sidecar.server import SidecarServer


def _timings(repeat: int, action: Callable[[int], None]) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``action(i)`` after one warm-up call."""
    action(-1)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _get_all(archiver: HistoryArchiver, uri: str, request: ArchiveHistoryRequest, page_size: int) -> int:
    token, batches = b"", 0
    while True:
        get = GetHistoryRequest(
            request.namespace_id, request.workflow_id, request.run_id, next_page_token=token, page_size=page_size
        )
        response = archiver.get(uri, get)
        batches += len(response.history_batches)
        token = response.next_page_token
        if not token:
            return batches


def bench(
    archiver: HistoryArchiver, base_uri: str, batches: list[History], repeat: int, page_size: int
) -> dict[str, list[float]]:
    """Archive-time and get-time samples of ``archiver`` on fresh URIs under ``base_uri``."""
    run = uuid.uuid4().hex[:8]
    request = request_for(batches)

    def uri(i: int) -> str:
        return f"{base_uri}/{run}-{i + 1}"

    def archive(i: int) -> None:
        archiver.archive(uri(i), request, iter(batches))

    def get(i: int) -> None:
        assert _get_all(archiver, uri(i), request, page_size) == len(batches)

    return {"archive": _timings(repeat, archive), "get": _timings(repeat, get)}


def main() -> None:
    """Run the benchmark and print one row per scheme, size and operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="events per history")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--page-size", type=int, default=256, help="events per get page (Temporal's frontend: 256)")
    args = parser.parse_args()
    server = SidecarServer(listen="127.0.0.1:0", grace=1)
    server.start()
    channel = connect(server.address)
    remote = RemoteHistoryArchiver(channel, timeout=120)
    print(
        f"{'scheme':<9} {'events':>6} {'op':<8} | {'library p50 ms':>14} {'p99':>8} | "
        f"{'sidecar p50 ms':>14} {'p99':>8} | {'overhead':>8}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for scheme, base in (("memory", f"memory://bench-{uuid.uuid4().hex[:8]}/h"), ("file", f"file://{tmp}")):
                library = get_history_archiver(scheme)
                for size in (int(s) for s in args.sizes.split(",")):
                    batches = synthetic_history(size, version=7)
                    repeat = max(3, args.repeat * 100 // max(size, 100)) if size > 1000 else args.repeat
                    direct = bench(library, f"{base}/lib", batches, repeat, args.page_size)
                    # the sidecar's memory:// store is its own process-wide one: same process here, distinct paths
                    through = bench(remote, f"{base}/sidecar", batches, repeat, args.page_size)
                    for op in ("archive", "get"):
                        lib_p50, side_p50 = statistics.median(direct[op]), statistics.median(through[op])
                        lib_p99, side_p99 = _p99(direct[op]), _p99(through[op])
                        print(
                            f"{scheme + '://':<9} {size:>6} {op:<8} | {lib_p50 * 1e3:>14.2f} {lib_p99 * 1e3:>8.2f}"
                            f" | {side_p50 * 1e3:>14.2f} {side_p99 * 1e3:>8.2f} | {side_p50 / lib_p50:>7.2f}x"
                        )
    finally:
        channel.close()
        server.stop()
    print(
        f"(archive = one archive call; get = every page of {args.page_size} events; overhead = sidecar p50 / "
        "library p50, both measured in this run on the same data; sidecar in-process on loopback)"
    )


if __name__ == "__main__":
    main()
