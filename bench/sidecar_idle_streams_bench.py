"""Health and ValidateURI latency of an in-process sidecar with N idle ArchiveHistory streams open.

For each N in ``--streams`` (the 0 case is the baseline, measured in the same run), opens N streams
that send nothing and waits until the sidecar serves them all, then times ``--repeat`` health
``Check`` calls and as many ``ValidateURI`` calls (``file://``), each with a 5 s deadline, and
prints p50/p99 in milliseconds, the calls that failed, and the p50 ratio against the baseline.

    python bench/sidecar_idle_streams_bench.py [--streams 0,16,300] [--repeat 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import _repo_on_path  # noqa: F401  (for tests.harness)
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers.remote import connect
from sidecar.server import SidecarServer
from tests.harness.idle_streams import IdleStreams


def _latencies(repeat: int, call: Callable[[], object]) -> tuple[list[float], int]:
    """Milliseconds of each successful call of ``repeat`` and how many failed (after one warm-up call)."""
    call()
    times, failed = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            call()
        except grpc.RpcError:
            failed += 1
            continue
        times.append((time.perf_counter() - start) * 1000)
    return times, failed


def _p(values: list[float], quantile: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def main() -> None:
    """Run the benchmark and print one line per (streams, rpc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="0,16,300", help="comma-separated idle stream counts; 0 is the baseline")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    counts = [int(part) for part in args.streams.split(",")]
    root = tempfile.mkdtemp()
    server = SidecarServer(listen="127.0.0.1:0", grace=0)
    server.start()
    baseline: dict[str, float] = {}
    print(f"{'idle streams':>12} {'rpc':<12} {'p50 ms':>8} {'p99 ms':>8} {'failed':>6} {'p50 vs 0':>9}")
    try:
        with connect(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = service_pb2_grpc.ArchiverServiceStub(channel)
            calls: dict[str, Callable[[], object]] = {
                "Health": lambda: health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5),
                "ValidateURI": lambda: stub.ValidateURI(
                    pb.ValidateURIRequest(uri=f"file://{root}", kind=pb.ARCHIVER_KIND_HISTORY), timeout=5
                ),
            }
            for count in counts:
                with IdleStreams(server.address, count, lambda: server.calls_in_progress):
                    for name, call in calls.items():
                        times, failed = _latencies(args.repeat, call)
                        p50 = statistics.median(times) if times else float("nan")
                        if count == 0:
                            baseline[name] = p50
                        ratio = p50 / baseline[name] if name in baseline else float("nan")
                        print(f"{count:>12} {name:<12} {p50:>8.2f} {_p(times, 0.99):>8.2f} {failed:>6} {ratio:>8.2f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
