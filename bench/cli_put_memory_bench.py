"""Peak memory and time of ``archiver put`` by history file size, beside baselines from the same run.

For each size, writes a synthetic history in the shape ``temporal workflow show --output json``
prints (``--sizes`` events; about 580 bytes an event), then runs, each in a fresh process archiving
to a fresh ``file://`` directory, and reports its peak RSS (``ru_maxrss`` of that process alone,
under a small wrapper process) and wall time:

- *put*: ``archiver put`` as shipped (the file streamed twice: checked, then archived);
- *whole file*: the same archive done the way ``put`` did it before streaming: the whole file read,
  ``json.loads`` of it, every event decoded (one ``ParseDict``) into a list, then checked and archived;
- *constant*: ``archiver put`` of a two-event file (the interpreter, the imports, the archiver).

The bound ``put`` keeps (and ``tests/test_cli_put_memory.py`` checks) is peak <= 2 x file + constant.

    python bench/cli_put_memory_bench.py [--sizes 10000,25000,50000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

from archivers.cli.history_json import render_history_json
from archivers.testing.synthetic import synthetic_history

_WHOLE_FILE = textwrap.dedent(
    """
    import json, sys
    from google.protobuf import json_format
    from temporalio.api.history.v1 import History
    from archivers.cli.history_json import RunNames, check_history
    from archivers.registry import get_history_archiver

    uri, path = sys.argv[1:3]
    with open(path, "rb") as handle:  # what put did before streaming: all of it read, parsed, decoded
        events = json_format.ParseDict(json.loads(handle.read()), History()).events
    batches = [History(events=[event]) for event in events]
    checked = check_history(lambda: batches, source=path, run=RunNames("ns-id", "ns", "wid", "rid"))
    get_history_archiver(uri).archive(uri, checked.request, batches)
    """
)

# Runs the command and prints its peak RSS and time. A small process of its own: on Linux a child's
# ru_maxrss starts from its parent's RSS at the fork, and this script's own RSS holds the histories.
_WRAPPER = textwrap.dedent(
    """
    import resource, subprocess, sys, time
    started = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - started
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, elapsed)
    """
)
MIB = 1024 * 1024


def run(mode: str, path: str, tmp: str) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of one fresh process archiving ``path`` the ``mode`` way."""
    archive = tempfile.mkdtemp(dir=tmp)
    uri = "file://" + archive
    if mode == "whole file":
        command = [sys.executable, "-c", _WHOLE_FILE, uri, path]
    else:
        command = [sys.executable, "-m", "archivers.cli", "put", "--uri", uri, "--namespace-id", "ns-id",
                   "--namespace", "ns", "--wid", "wid", "--rid", "rid", "--history", path]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{mode} of {path} failed: {done.stderr}")
    max_rss_kib, elapsed = done.stdout.split()
    return int(max_rss_kib) / 1024, float(elapsed)


def write_history(path: str, events: int) -> float:
    """Write a history of ``events`` events in the CLI's shape; return its size in MiB."""
    batches = synthetic_history(events, version=5)
    with open(path, "w", encoding="utf-8") as out:
        out.write(render_history_json(e for b in batches for e in b.events))
    return os.path.getsize(path) / MIB


def main() -> None:
    """Print, per size, the peak RSS and time of put beside the whole-file baseline and the constant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,25000,50000", help="comma-separated event counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the lowest is shown")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = os.path.join(tmp, "tiny.json")
        write_history(tiny, 2)
        constant = min(run("put", tiny, tmp)[0] for _ in range(args.repeat))
        print(f"constant (put of a 2-event file): {constant:.0f} MiB peak RSS")
        print(" events  file MiB |  put MiB  x file  time s | whole file MiB  x file  time s | 2 x file + constant")
        for events in sizes:
            path = os.path.join(tmp, f"history-{events}.json")
            size = write_history(path, events)
            put = [run("put", path, tmp) for _ in range(args.repeat)]
            whole = [run("whole file", path, tmp) for _ in range(args.repeat)]
            put_rss, put_time = min(r for r, _ in put), min(t for _, t in put)
            whole_rss, whole_time = min(r for r, _ in whole), min(t for _, t in whole)
            bound = 2 * size + constant
            print(
                f"{events:7d} {size:9.1f} | {put_rss:8.0f} {put_rss / size:6.1f}x {put_time:7.1f} | "
                f"{whole_rss:14.0f} {whole_rss / size:6.1f}x {whole_time:7.1f} | "
                f"{bound:15.0f} MiB"
            )
            os.unlink(path)
        print(f"(lowest of {args.repeat}; peak RSS of each process alone; x file = peak RSS / file size)")


if __name__ == "__main__":
    main()
