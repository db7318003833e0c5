"""``archiver put`` streams its history file: peak memory at most twice the file plus a constant.

The constant is measured in the same test: the peak RSS of ``archiver put`` of a two-event history
(the interpreter, the imports and the archive machinery). Each ``put`` runs in its own process under
a small wrapper process, whose ``RUSAGE_CHILDREN`` maximum RSS is then that ``put``'s alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archivers.cli.history_json import render_history_json
from archivers.codec.protojson import message_to_dict
from archivers.testing.synthetic import synthetic_history
from tests.test_cli_errors import REPO

EVENTS = 50_000  # about 29 MB of `temporal workflow show --output json`

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stderr.write(done.stdout + done.stderr)\n"
)


def peak_rss_of_put(history: Path, archive: Path) -> int:
    """Peak RSS in bytes of ``archiver put`` of ``history`` into ``archive``, which must succeed."""
    command = [
        sys.executable, "-c", _WRAPPER, sys.executable, "-m", "archivers.cli", "put", "--uri", archive.as_uri(),
        "--namespace-id", "ns-id", "--namespace", "ns", "--wid", "wid", "--rid", history.stem,
        "--history", str(history),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600, check=True)
    code, max_rss_kib = map(int, done.stdout.split())
    assert code == 0, done.stderr
    assert "archived" in done.stderr, done.stderr
    return max_rss_kib * 1024


@pytest.mark.parametrize("shape", ["cli", "archive"])
def test_put_peak_memory_is_at_most_twice_the_file_plus_a_constant(tmp_path: Path, shape: str) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    files = {}
    for name, count in (("tiny", 2), ("big", EVENTS)):
        batches = synthetic_history(count, version=5)
        path = files[name] = tmp_path / f"{name}.json"
        if shape == "cli":
            path.write_text(render_history_json(e for b in batches for e in b.events))
        else:  # Temporal's archive file: an array of History batches
            path.write_text(json.dumps([message_to_dict(b) for b in batches], separators=(",", ":")))
    constant = peak_rss_of_put(files["tiny"], archive)
    size = files["big"].stat().st_size
    peak = peak_rss_of_put(files["big"], archive)
    mib = 1024 * 1024
    assert peak <= 2 * size + constant, (
        f"put of {size / mib:.1f} MB peaked at {peak / mib:.0f} MB RSS ({peak / size:.1f}x the file); "
        f"allowed: 2x the file + {constant / mib:.0f} MB (the peak of put of a two-event file)"
    )
