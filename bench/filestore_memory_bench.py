"""Memory and first-page latency of ``file://`` history ``get``, beside a whole-file baseline from the same run.

Writes a synthetic history file in Temporal's filestore format (``--events`` events, about 50 MB
at the default), then, each in a fresh process (cold: nothing cached in the process):

- *get, page by page*: every page of 256 events through the ``file://`` history archiver, and
  the peak RSS growth while doing it (``VmHWM`` reset before, compared with ``VmRSS``);
- *first page*: the time of the first ``get`` call alone;
- *baseline*: the same two figures for reading the whole file and ``json.loads`` of it (what
  a reader that needs the whole file costs).

Then **through a sidecar process** (``archiver serve``, a new one per layout), for the same history
in the filestore layout and in a native root (``archiver init --layout native``): the sidecar's peak
RSS growth (``/proc/<pid>``: ``VmHWM`` after, reset before, against ``VmRSS`` before) while a client
reads every page (256 events) with ``GetHistory``, beside the *baseline* of the same sidecar reading
every page of a 1,000-event history in the same layout first (the growth any read costs: gRPC
buffers, threads, imports on first use).

    python bench/filestore_memory_bench.py [--events 133000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

from _sidecar_process import SidecarProcess
from temporalio.api.history.v1 import History

from archivers.codec.protojson import message_to_dict
from archivers.interfaces import GetHistoryRequest
from archivers.layouts import filestore as layout
from archivers.registry import get_history_archiver, get_root_manager
from archivers.remote import RemoteHistoryArchiver, connect
from archivers.testing.synthetic import request_for, synthetic_history
from archivers.uri import URI

SMALL = 1_000
"""Events of the baseline history (read first, by the same sidecar)."""

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from archivers.interfaces import GetHistoryRequest
    from archivers.localfs.history_archiver import FilestoreHistoryArchiver

    def status_kib(key):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))

    mode, uri, path = sys.argv[1:4]
    archiver = FilestoreHistoryArchiver()
    request = GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id", page_size=256)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status_kib("VmRSS")
    start = time.perf_counter()
    if mode == "baseline":
        with open(path, "rb") as handle:
            json.loads(handle.read())
        first = time.perf_counter() - start
    else:
        response = archiver.get(uri, request)
        first = time.perf_counter() - start
        while response.next_page_token:
            response = archiver.get(uri, GetHistoryRequest(
                "test-namespace-id", "test-workflow-id", "test-run-id",
                page_size=256, next_page_token=response.next_page_token))
    print(json.dumps({"first_ms": first * 1000, "growth_mb": (status_kib("VmHWM") - before) / 1024}))
    """
)


def measure(mode: str, uri: str, path: str) -> dict[str, float]:
    """One cold process: the first page (or whole-file read) time and the peak RSS growth."""
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, uri, path], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def write_roots(tmp: str, batches: list[History]) -> tuple[str, str]:
    """The filestore file of ``batches`` (run ``test-run-id``) and of a ``SMALL`` history (run ``small``) in
    ``<tmp>/compat``, and both archived to a native root ``<tmp>/native``; returns both URIs."""
    compat, native = f"file://{tmp}/compat", f"file://{tmp}/native"
    os.makedirs(f"{tmp}/compat")
    small = synthetic_history(SMALL, version=5)
    for run, history in (("test-run-id", batches), ("small", small)):
        name = layout.history_filename("test-namespace-id", "test-workflow-id", run, 5)
        with open(os.path.join(tmp, "compat", name), "w", encoding="utf-8") as out:
            json.dump([message_to_dict(b) for b in history], out, separators=(",", ":"))
    get_root_manager(native).init(URI.parse(native), "native", "bench")
    archiver = get_history_archiver(native)
    for run, history in (("test-run-id", batches), ("small", small)):
        archiver.archive(native, request_for(history, run_id=run), history)
    return compat, native


def sidecar_growth(uri: str) -> tuple[float, float]:
    """Peak RSS growth (MB) of a new sidecar reading every page of the small run, then of the big one."""
    growth = []
    with SidecarProcess() as sidecar, connect(sidecar.address) as channel:
        remote = RemoteHistoryArchiver(channel, timeout=120)
        for run in ("small", "test-run-id"):
            before = sidecar.rss_kib()
            sidecar.reset_peak()
            token = b""
            while True:
                request = GetHistoryRequest("test-namespace-id", "test-workflow-id", run, None, token, 256)
                token = remote.get_encoded(uri, request).next_page_token
                if not token:
                    break
            growth.append((sidecar.peak_kib() - before) / 1024)
    return growth[0], growth[1]


def main() -> None:
    """Write the history, then print each figure beside the baseline, ``--repeat`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=133_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        batches = synthetic_history(args.events, version=5)
        compat, native = write_roots(tmp, batches)
        del batches
        name = layout.history_filename("test-namespace-id", "test-workflow-id", "test-run-id", 5)
        path = os.path.join(tmp, "compat", name)
        size_mb = os.path.getsize(path) / 1e6
        print(f"history file: {args.events} events, {size_mb:.1f} MB")
        print(f"{'run':>3} | {'get: first page ms':>18} {'peak RSS +MB':>12} | {'baseline: first ms':>18} {'+MB':>6}")
        for run in range(1, args.repeat + 1):
            got = measure("get", compat, path)
            base = measure("baseline", compat, path)
            print(
                f"{run:>3} | {got['first_ms']:>18.1f} {got['growth_mb']:>12.1f} | "
                f"{base['first_ms']:>18.1f} {base['growth_mb']:>6.1f}"
            )
        print("(get: every page of 256 events in a fresh process; baseline: read + json.loads of the whole file)")
        print(f"sidecar process, peak RSS growth reading every page | {'this history +MB':>16} | {SMALL:,} events +MB")
        for run in range(1, args.repeat + 1):
            for name, uri in (("filestore", compat), ("native", native)):
                small, big = sidecar_growth(uri)
                print(f"  run {run} {name:<40} | {big:>16.1f} | {small:>16.1f}")


if __name__ == "__main__":
    main()
