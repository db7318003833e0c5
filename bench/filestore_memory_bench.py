"""Memory and first-page latency of ``file://`` history ``get``, beside a whole-file baseline from the same run.

Writes a synthetic history file in Temporal's filestore format (``--events`` events, about 50 MB
at the default), then, each in a fresh process (cold: nothing cached in the process):

- *get, page by page*: every page of 256 events through the ``file://`` history archiver, and
  the peak RSS growth while doing it (``VmHWM`` reset before, compared with ``VmRSS``);
- *first page*: the time of the first ``get`` call alone;
- *baseline*: the same two figures for reading the whole file and ``json.loads`` of it (what
  a reader that needs the whole file costs).

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

from archivers.codec.protojson import message_to_dict
from archivers.layouts import filestore as layout
from archivers.testing.synthetic import synthetic_history

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


def main() -> None:
    """Write the history, then print each figure beside the baseline, ``--repeat`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=133_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        batches = synthetic_history(args.events, version=5)
        name = layout.history_filename("test-namespace-id", "test-workflow-id", "test-run-id", 5)
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as out:
            json.dump([message_to_dict(b) for b in batches], out, separators=(",", ":"))
        del batches
        size_mb = os.path.getsize(path) / 1e6
        print(f"history file: {args.events} events, {size_mb:.1f} MB")
        print(f"{'run':>3} | {'get: first page ms':>18} {'peak RSS +MB':>12} | {'baseline: first ms':>18} {'+MB':>6}")
        for run in range(1, args.repeat + 1):
            got = measure("get", f"file://{tmp}", path)
            base = measure("baseline", f"file://{tmp}", path)
            print(
                f"{run:>3} | {got['first_ms']:>18.1f} {got['growth_mb']:>12.1f} | "
                f"{base['first_ms']:>18.1f} {base['growth_mb']:>6.1f}"
            )
    print("(get: every page of 256 events in a fresh process; baseline: read + json.loads of the whole file)")


if __name__ == "__main__":
    main()
