"""Archive and read back histories of 1k, 10k and 50k events on ``file://``.

Prints events/s and MB/s for the archiver (``archive`` then ``get`` of every page) beside a
baseline measured in the same run on the same data: ``json.dumps`` of the already-converted
JSON objects plus a plain file write, and a plain file read plus ``json.loads``.

    python bench/filestore_bench.py [--sizes 1000,10000,50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable

from archivers.codec.protojson import message_to_dict
from archivers.interfaces import GetHistoryRequest
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.testing.synthetic import request_for, synthetic_history


def _best(repeat: int, action: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def bench(size: int, repeat: int, page_size: int) -> dict[str, float]:
    """Time archive/get and the baseline for one history size; return seconds and bytes."""
    batches = synthetic_history(size, version=7)
    request = request_for(batches)
    archiver = FilestoreHistoryArchiver()
    dicts = [message_to_dict(b) for b in batches]
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def archive() -> None:
            directory = os.path.join(tmp, f"a{next(counter)}")
            archiver.archive(f"file://{directory}", request, batches)

        archive_s = _best(repeat, archive)
        uri = f"file://{tmp}/a0"
        size_bytes = sum(os.path.getsize(os.path.join(tmp, "a0", n)) for n in os.listdir(os.path.join(tmp, "a0")))

        def get_all() -> None:
            token = b""
            while True:
                response = archiver.get(
                    uri,
                    GetHistoryRequest(
                        request.namespace_id,
                        request.workflow_id,
                        request.run_id,
                        next_page_token=token,
                        page_size=page_size,
                    ),
                )
                token = response.next_page_token
                if not token:
                    return

        get_s = _best(repeat, get_all)
        baseline_path = os.path.join(tmp, "baseline.json")

        def baseline_write() -> None:
            with open(baseline_path, "w") as out:
                out.write(json.dumps(dicts, separators=(",", ":")))

        def baseline_read() -> None:
            with open(baseline_path) as handle:
                json.loads(handle.read())

        base_write_s = _best(repeat, baseline_write)
        base_read_s = _best(repeat, baseline_read)
    return {
        "archive_s": archive_s,
        "get_s": get_s,
        "base_write_s": base_write_s,
        "base_read_s": base_read_s,
        "bytes": float(size_bytes),
    }


def main() -> None:
    """Run the benchmark and print one table row per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=256, help="events per get page (Temporal's frontend: 256)")
    args = parser.parse_args()
    header = (
        f"{'events':>7} {'MB':>6} | {'archive ev/s':>12} {'MB/s':>6} | {'baseline write MB/s':>19} | "
        f"{'get ev/s':>10} {'MB/s':>6} | {'baseline read MB/s':>18} | archive/baseline  get/baseline"
    )
    print(header)
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args.repeat, args.page_size)
        mb = r["bytes"] / 1e6
        print(
            f"{size:>7} {mb:>6.1f} | {size / r['archive_s']:>12,.0f} {mb / r['archive_s']:>6.1f} | "
            f"{mb / r['base_write_s']:>19.1f} | {size / r['get_s']:>10,.0f} {mb / r['get_s']:>6.1f} | "
            f"{mb / r['base_read_s']:>18.1f} | {r['archive_s'] / r['base_write_s']:>15.1f}x "
            f"{r['get_s'] / r['base_read_s']:>12.1f}x"
        )
    print(f"(best of {args.repeat}; get pages of {args.page_size} events; ratios are time relative to the baseline)")


if __name__ == "__main__":
    main()
