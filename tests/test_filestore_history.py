"""The file:// history archiver: Temporal's layout, atomicity, concurrency, resume, paging, bad input."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History

from archivers.codec.protojson import decode_histories, message_to_dict
from archivers.errors import (
    ArchiveNotFoundError,
    CorruptArchiveError,
    HistoryMutatedError,
    InvalidHistoryError,
    InvalidPageTokenError,
    InvalidURIError,
)
from archivers.interfaces import GetHistoryRequest
from archivers.localfiles import FileModes
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.paging import iter_history_batches
from archivers.progress import ArchiveProgress
from archivers.registry import get_history_archiver
from archivers.testing.synthetic import request_for, synthetic_history

VECTOR_NAME = "141323698701063509081739672280485489488911532452831150339470_100.history"


def read_all(
    archiver: FilestoreHistoryArchiver, uri: str, page_size: int = 0, version: int | None = None
) -> list[History]:
    request = GetHistoryRequest(
        "test-namespace-id", "test-workflow-id", "test-run-id", close_failover_version=version, page_size=page_size
    )
    return list(iter_history_batches(archiver, uri, request))


def test_interop_vector_file_name_and_content(tmp_path: Path) -> None:
    batches = synthetic_history(10, version=100)
    FilestoreHistoryArchiver().archive(f"file://{tmp_path}", request_for(batches), batches)
    assert os.listdir(tmp_path) == [VECTOR_NAME]
    content = json.loads((tmp_path / VECTOR_NAME).read_bytes())
    assert content == [message_to_dict(b) for b in batches]
    assert b": " not in (tmp_path / VECTOR_NAME).read_bytes()


def test_reads_file_written_in_temporal_format(tmp_path: Path) -> None:
    """Go inserts random whitespace and may order fields differently; unknown fields are discarded."""
    batches = synthetic_history(7, version=100)
    objects = [message_to_dict(b) for b in batches]
    objects[0]["events"][0] = dict(reversed(list(objects[0]["events"][0].items())))
    objects[0]["events"][0]["someFutureField"] = {"x": 1}
    (tmp_path / VECTOR_NAME).write_text(json.dumps(objects, indent=3, separators=(" ,  ", " :  ")))
    got = read_all(FilestoreHistoryArchiver(), f"file://{tmp_path}")
    assert got == batches


def test_round_trip_50k_events_and_page_size_at_batch_granularity(tmp_path: Path) -> None:
    batches = synthetic_history(50_000, version=3, batch_size=4)
    archiver = FilestoreHistoryArchiver()
    uri = f"file://{tmp_path}"
    archiver.archive(uri, request_for(batches), batches)
    first = archiver.get(uri, GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id", page_size=10))
    assert [len(b.events) for b in first.history_batches] == [4, 4, 4]
    token = json.loads(first.next_page_token)
    assert {k: token[k] for k in ("CloseFailoverVersion", "NextBatchIdx")} == {
        "CloseFailoverVersion": 3,
        "NextBatchIdx": 3,
    }
    assert read_all(archiver, uri, page_size=1000) == batches


def test_highest_version_is_default_and_explicit_version_is_honoured(tmp_path: Path) -> None:
    archiver = FilestoreHistoryArchiver()
    uri = f"file://{tmp_path}"
    for version, size in ((-5, 4), (12, 6), (3, 8)):
        batches = synthetic_history(size, version=version)
        archiver.archive(uri, request_for(batches), batches)
    assert sum(len(b.events) for b in read_all(archiver, uri)) == 6
    assert sum(len(b.events) for b in read_all(archiver, uri, version=-5)) == 4
    with pytest.raises(ArchiveNotFoundError):
        read_all(archiver, uri, version=99)


def test_missing_run_and_missing_directory_are_not_found(tmp_path: Path) -> None:
    archiver = FilestoreHistoryArchiver()
    with pytest.raises(ArchiveNotFoundError):
        read_all(archiver, f"file://{tmp_path}")
    with pytest.raises(ArchiveNotFoundError):
        read_all(archiver, f"file://{tmp_path}/nope")


@pytest.mark.parametrize(
    "content", [b"", b"[", b'[{"events":[{"eventId":"1"}]}', b"{}", b'[{"events":[{"eventId":"x"}]}]', b"[1]"]
)
def test_corrupt_file_is_a_clear_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / VECTOR_NAME).write_bytes(content)
    with pytest.raises(CorruptArchiveError, match=VECTOR_NAME) as info:
        read_all(FilestoreHistoryArchiver(), f"file://{tmp_path}")
    assert info.value.retryable is False


@pytest.mark.parametrize(
    "token",
    [
        b"junk",
        b"{}1",
        b'{"CloseFailoverVersion":"1"}',
        b'{"NextBatchIdx":-1}',
        b'{"Other":1}',
        b'{"CloseFailoverVersion":100,"NextBatchIdx":99}',
    ],
)
def test_tampered_get_tokens_are_rejected(tmp_path: Path, token: bytes) -> None:
    batches = synthetic_history(10, version=100)
    archiver = FilestoreHistoryArchiver()
    archiver.archive(f"file://{tmp_path}", request_for(batches), batches)
    with pytest.raises(InvalidPageTokenError):
        archiver.get(
            f"file://{tmp_path}",
            GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id", next_page_token=token),
        )


def test_modes_are_honoured(tmp_path: Path) -> None:
    batches = synthetic_history(5)
    old = os.umask(0)
    try:
        FilestoreHistoryArchiver(FileModes(file_mode=0o640, dir_mode=0o750)).archive(
            f"file://{tmp_path}/sub", request_for(batches), batches
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o750
    (name,) = os.listdir(tmp_path / "sub")
    assert stat.S_IMODE((tmp_path / "sub" / name).stat().st_mode) == 0o640


def test_hostile_ids_stay_inside_the_directory(tmp_path: Path) -> None:
    batches = synthetic_history(5)
    target = tmp_path / "archive"
    request = request_for(batches, workflow_id="../../etc/passwd", run_id="../x", namespace_id="/abs")
    FilestoreHistoryArchiver().archive(f"file://{target}", request, batches)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"]
    assert len(os.listdir(target)) == 1


def test_history_already_gone_is_success_and_writes_nothing(tmp_path: Path) -> None:
    batches = synthetic_history(5)
    FilestoreHistoryArchiver().archive(f"file://{tmp_path}", request_for(batches), [])
    assert os.listdir(tmp_path) == []


def test_mutated_and_malformed_histories_are_refused(tmp_path: Path) -> None:
    archiver = FilestoreHistoryArchiver()
    uri = f"file://{tmp_path}"
    batches = synthetic_history(9, version=5)
    request = request_for(batches)
    with pytest.raises(HistoryMutatedError):
        archiver.archive(uri, request, batches[:-1])
    mutated = synthetic_history(9, version=6)
    with pytest.raises(HistoryMutatedError):
        archiver.archive(uri, request, mutated)
    with pytest.raises(InvalidHistoryError):
        archiver.archive(uri, request, [batches[0], batches[2]])
    assert not any(n.endswith(".history") for n in os.listdir(tmp_path))


def test_invalid_uris() -> None:
    archiver = FilestoreHistoryArchiver()
    for uri in ("s3://bucket/x", "file://host/x", "file:relative", "file://"):
        with pytest.raises(InvalidURIError):
            archiver.validate_uri(__import__("archivers.uri", fromlist=["URI"]).URI.parse(uri))


def test_registry_builds_the_filestore_with_config(tmp_path: Path) -> None:
    archiver = get_history_archiver("file:///x", {"fileMode": "0600", "dirMode": "0700"})
    batches = synthetic_history(3)
    archiver.archive(f"file://{tmp_path}/d", request_for(batches), batches)
    (name,) = os.listdir(tmp_path / "d")
    assert stat.S_IMODE((tmp_path / "d" / name).stat().st_mode) == 0o600


def test_concurrent_duplicate_archives_leave_one_correct_file(tmp_path: Path) -> None:
    batches = synthetic_history(3000, version=2)
    request = request_for(batches)
    uri = f"file://{tmp_path}"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            FilestoreHistoryArchiver().archive(uri, request, batches)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    procs = [
        multiprocessing.get_context("spawn").Process(target=_archive_in_process, args=(str(tmp_path), 3000))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join()
    assert not errors
    assert all(p.exitcode == 0 for p in procs)
    assert os.listdir(tmp_path) == ["141323698701063509081739672280485489488911532452831150339470_2.history"]
    assert read_all(FilestoreHistoryArchiver(), uri) == batches


def _archive_in_process(directory: str, size: int) -> None:
    batches = synthetic_history(size, version=2)
    FilestoreHistoryArchiver().archive(f"file://{directory}", request_for(batches), batches)


_SLOW_ARCHIVE = """
import sys, time
from archivers.localfs.history_archiver import FilestoreHistoryArchiver, SYNC_EVERY_BYTES
import archivers.localfs.history_archiver as fh
fh.SYNC_EVERY_BYTES = 4096
from archivers.testing.synthetic import request_for, synthetic_history
batches = synthetic_history(20000, version=1)
def slow():
    for i, b in enumerate(batches):
        if i == 3000:
            print("half", flush=True)
            time.sleep(60)
        yield b
FilestoreHistoryArchiver().archive("file://" + sys.argv[1], request_for(batches), slow())
"""


def test_killed_archive_resumes_without_duplicates_or_temp_files(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", _SLOW_ARCHIVE, str(tmp_path)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"half"
        proc.send_signal(signal.SIGKILL)
    batches = synthetic_history(20000, version=1)
    request = request_for(batches)
    archiver = FilestoreHistoryArchiver()
    uri = f"file://{tmp_path}"
    resumed = archiver.progress(uri, request)
    assert not resumed.complete and 0 < resumed.last_event_id <= 9000
    # the retry supplies only what is not durable yet, as the sidecar's client does
    remaining = [b for b in batches if b.events[0].event_id > resumed.last_event_id]
    seen: list[ArchiveProgress] = []
    archiver.archive(uri, request, remaining, progress=_Recorder(seen))
    assert seen[-1] == ArchiveProgress(20000, complete=True)
    assert os.listdir(tmp_path) == [VECTOR_NAME.replace("_100", "_1")]
    assert read_all(archiver, uri) == batches
    assert archiver.progress(uri, request).complete


class _Recorder:
    def __init__(self, seen: list[ArchiveProgress]) -> None:
        self.seen = seen

    def record(self, progress: ArchiveProgress) -> None:
        self.seen.append(progress)


def test_retry_with_the_whole_history_skips_what_is_durable(tmp_path: Path) -> None:
    batches = synthetic_history(100, version=1)
    request = request_for(batches)
    name = VECTOR_NAME.replace("_100", "_1")
    partial = tmp_path / f".{name}.partial"
    from archivers.codec.protojson import encode_message

    partial.write_bytes(b"".join(encode_message(b) + b"\n" for b in batches[:10]) + b'{"events":[{"eventId":"3')
    archiver = FilestoreHistoryArchiver()
    assert archiver.progress(f"file://{tmp_path}", request).last_event_id == 30
    archiver.archive(f"file://{tmp_path}", request, batches)
    assert os.listdir(tmp_path) == [name]
    assert decode_histories((tmp_path / name).read_bytes(), source=name) == batches
