"""``archiver put`` streams its history file: peak memory at most twice the file plus a constant.

Also: the streaming reader reads what a whole-file ``json.loads`` reads (at any read size, in every
encoding ``json.loads`` detects) and reports invalid JSON where it does; and an error late in a
large file stores nothing, even on an object store, which writes parts as the archive goes.

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
from temporalio.api.history.v1 import HistoryEvent

from archivers import jsonstream
from archivers.cli import main
from archivers.cli.history_json import parse_history_bytes, render_history_json
from archivers.codec.protojson import message_to_dict
from archivers.errors import InvalidHistoryError
from archivers.store import memory
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


# -- the streaming reader reads what a whole-file json.loads reads --------------------------------


def _shapes(events: list[HistoryEvent]) -> dict[str, str]:
    dicts = [message_to_dict(e) for e in events]
    return {
        "cli": render_history_json(events),
        "cli, other members, minified": json.dumps({"x": [1, {"y": "é"}], "events": dicts, "z": None}),
        "events": json.dumps(dicts, indent=1),
        "archive": json.dumps([{"events": dicts[:2]}, {"events": []}, {"events": dicts[2:]}]),
    }


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, jsonstream.CHUNK])
def test_reader_gives_the_same_batches_at_any_read_size(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    events = [e for b in synthetic_history(7, version=2) for e in b.events]
    events[0].workflow_execution_started_event_attributes.identity = "wörker-😀"  # non-ASCII across reads
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    for shape, text in _shapes(events).items():
        parsed = parse_history_bytes(text, source="h.json")
        assert [e for b in parsed.batches for e in b.events] == events, shape
        assert len(parsed.batches) == (3 - 1 if shape == "archive" else len(events)), shape


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_reader_reads_what_json_loads_reads_of_bytes(encoding: str) -> None:
    events = [e for b in synthetic_history(3) for e in b.events]
    events[0].workflow_execution_started_event_attributes.identity = "wörker"
    parsed = parse_history_bytes(render_history_json(events).encode(encoding), source="h.json")
    assert [e for b in parsed.batches for e in b.events] == events


@pytest.mark.parametrize("chunk", [3, jsonstream.CHUNK])
def test_invalid_json_is_reported_where_json_loads_reports_it(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    good = render_history_json([e for b in synthetic_history(4) for e in b.events])
    bad = [
        good.replace('"eventId": "3"', '"eventId": "3",,', 1),
        good.replace('"eventId": "2"', '"eventId": "2" "x"', 1),
        good.replace('"eventId": "1"', '"eventId": "1", "é": tru', 1),
        good.rstrip() + " []",
        good[: len(good) // 2],
        good[: good.index('"eventId": "4"') + 4],
        "[" + good + ",]",
        "\n\n   ",
    ]
    for text in bad:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        with pytest.raises(InvalidHistoryError) as caught:
            parse_history_bytes(text, source="h.json")
        assert f"h.json: not valid JSON: {where}" in str(caught.value), (text[-40:], str(caught.value))


def test_bytes_that_are_not_utf8_are_refused() -> None:
    text = render_history_json([e for b in synthetic_history(3) for e in b.events]).encode()
    at = text.index(b"SyntheticWorkflow")
    with pytest.raises(InvalidHistoryError, match=f"h.json: not UTF-8 text: invalid start byte at byte {at}"):
        parse_history_bytes(text[:at] + b"\xff" + text[at + 1 :], source="h.json")


# -- a late error: nothing is stored, on an object store that writes parts as it goes -------------


@pytest.mark.parametrize("fault", ["base64", "version", "gap", "json"])
def test_an_error_late_in_a_large_file_stores_nothing(tmp_path: Path, fault: str) -> None:
    events = [e for b in synthetic_history(12_000, version=5) for e in b.events]  # several 2 MiB parts
    good = render_history_json(events)
    last = good.rindex('"eventId"')
    bad = {
        "base64": good[:last] + good[last:].replace('"data": "', '"data": "!!', 1),
        "version": good[:last] + good[last:].replace('"version": "5"', '"version": "4"', 1),
        "gap": good[:last] + good[last:].replace(f'"eventId": "{len(events)}"', f'"eventId": "{len(events) + 1}"', 1),
        "json": good.rstrip()[:-1],
    }[fault]
    assert bad != good
    history = tmp_path / "history.json"
    history.write_text(bad)
    bucket = f"put-late-{fault}"
    memory.create_bucket(bucket)
    args = ["put", "--uri", f"memory://{bucket}/root", "--namespace-id", "ns-id", "--namespace", "ns",
            "--wid", "wid", "--rid", "rid", "--history", str(history)]  # fmt: skip
    try:
        assert main(args) == 2
        assert memory._buckets[bucket] == {}
        history.write_text(good)  # the corrected file archives in full
        assert main(args) == 0
        assert len(memory._buckets[bucket]) > 2
    finally:
        memory.delete_bucket(bucket)
