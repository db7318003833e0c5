"""file:// writes under concurrency: group commit of the fsyncs, failed fsyncs, the ``durability`` setting.

``os.fsync`` is wrapped by the tests to count (or fail) the real system calls; the files, the
renames and the directories are real.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.codec.protojson import decode_message
from archivers.errors import InvalidArgumentError, TransientError
from archivers.interfaces import QueryVisibilityRequest
from archivers.localfiles import Durability
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver
from archivers.registry import get_visibility_archiver
from archivers.testing.records import NS, TYPES, make_records
from archivers.visindex.archiver import ByRootVisibilityArchiver

WRITERS = 64


class FsyncProbe:
    """Counts ``os.fsync`` calls on files and directories; can make either kind fail with ENOSPC."""

    def __init__(self, real: Callable[[int], None]) -> None:
        self._real = real
        self._lock = threading.Lock()
        self.files = 0
        self.directories = 0
        self.fail_files = False
        self.fail_directories = False

    def __call__(self, fd: int) -> None:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        with self._lock:
            if is_dir:
                self.directories += 1
            else:
                self.files += 1
        if (self.fail_directories and is_dir) or (self.fail_files and not is_dir):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._real(fd)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[FsyncProbe]:
    wrapper = FsyncProbe(os.fsync)
    monkeypatch.setattr(os, "fsync", wrapper)
    yield wrapper


def archive_concurrently(
    uri: str, archiver: FilestoreVisibilityArchiver, records: list[VisibilityRecord]
) -> list[BaseException | None]:
    """Archive each record from its own thread, all released at once; each thread's outcome."""
    barrier = threading.Barrier(len(records))
    outcomes: list[BaseException | None] = [None] * len(records)

    def write(index: int) -> None:
        barrier.wait()
        try:
            archiver.archive(uri, records[index])
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(records))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_concurrent_writers_share_directory_fsyncs_and_all_records_are_readable(
    tmp_path: Path, probe: FsyncProbe
) -> None:
    records = make_records(WRITERS)
    archiver = FilestoreVisibilityArchiver()
    uri = f"file://{tmp_path}"
    assert archive_concurrently(uri, archiver, records) == [None] * WRITERS
    assert probe.files == WRITERS  # every record's data is flushed: durability is kept
    assert probe.files + probe.directories < 2 * WRITERS  # ... and directory fsyncs are shared
    response = archiver.query(uri, QueryVisibilityRequest(NS, 1000, b"", ""), TYPES)
    assert sorted(e.execution.run_id for e in response.executions) == sorted(r.run_id for r in records)
    assert not [p for p in visible_files(tmp_path) if p.name.startswith(".")]  # no temp file left


def test_a_failed_file_fsync_fails_the_writer_and_leaves_nothing(tmp_path: Path, probe: FsyncProbe) -> None:
    probe.fail_files = True
    outcomes = archive_concurrently(f"file://{tmp_path}", FilestoreVisibilityArchiver(), make_records(8))
    assert all(isinstance(o, TransientError) and "No space left" in str(o) for o in outcomes), outcomes
    assert visible_files(tmp_path) == []


def test_a_failed_directory_fsync_fails_every_writer_of_its_group(tmp_path: Path, probe: FsyncProbe) -> None:
    records = make_records(WRITERS)
    probe.fail_directories = True
    outcomes = archive_concurrently(f"file://{tmp_path}", FilestoreVisibilityArchiver(), records)
    assert all(isinstance(o, TransientError) and "No space left" in str(o) for o in outcomes), outcomes
    assert 0 < probe.directories < WRITERS  # writers were grouped, and each group's failure reached all of them
    # Renamed files may be visible (not known to be durable, so not acknowledged): each is complete.
    by_name = {p.name: p for p in visible_files(tmp_path)}
    assert not [name for name in by_name if name.startswith(".")]
    expected = {r.run_id: r for r in records}
    for path in by_name.values():
        record = decode_message(path.read_bytes(), VisibilityRecord, source=str(path))
        assert record == expected[record.run_id]


def test_upstream_durability_never_fsyncs(tmp_path: Path, probe: FsyncProbe) -> None:
    records = make_records(WRITERS)
    archiver = get_visibility_archiver("file", {"durability": "upstream"})
    assert isinstance(archiver, ByRootVisibilityArchiver)  # a root without a descriptor is in the filestore layout
    assert isinstance(archiver.compat, FilestoreVisibilityArchiver)
    uri = f"file://{tmp_path}"
    assert archive_concurrently(uri, archiver, records) == [None] * WRITERS
    assert probe.files + probe.directories == 0
    response = archiver.query(uri, QueryVisibilityRequest(NS, 1000, b"", ""), TYPES)
    assert len(response.executions) == WRITERS


def test_durability_setting_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="durability must be one of 'durable', 'upstream'"):
        get_visibility_archiver("file", {"durability": "fast"})
    assert Durability("durable") is Durability.DURABLE
