"""The native visibility index beyond the conformance suite: a corpus spread over compacted files,
bulk files and the inbox (with runs stored twice), crashes of a compactor killed at each step,
two compactors at once, and bad stored objects.

Crashes are real: the compactor runs in a subprocess that stops at the chosen step (its step hook
blocks) and is killed there with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI, NativeRoot

from archivers.errors import CorruptArchiveError
from archivers.interfaces import QueryVisibilityRequest
from archivers.query import compile_query
from archivers.registry import get_backend, get_visibility_archiver
from archivers.testing.conformance import _ARCHIVED_CORPORA, VisibilityConformance
from archivers.testing.records import NS, TYPES, make_records
from archivers.uri import URI
from archivers.visindex.archiver import ByRootVisibilityArchiver, NativeIndexVisibilityArchiver
from archivers.visindex.keys import manifest_key


def native_of(uri: str) -> NativeIndexVisibilityArchiver:
    """The native index archiver serving ``uri`` (a native root)."""
    archiver = get_visibility_archiver(uri)
    assert isinstance(archiver, ByRootVisibilityArchiver)
    chosen = archiver.for_uri(URI.parse(uri))
    assert isinstance(chosen, NativeIndexVisibilityArchiver)
    return chosen


def init_native(uri: str) -> None:
    roots = get_backend(uri).roots
    assert roots is not None
    roots({}).init(URI.parse(uri), "native", "tests")


def query_run_ids(uri: str, query: str = "", page_size: int = 1000) -> list[str]:
    archiver = get_visibility_archiver(uri)
    token, found = b"", []
    while True:
        response = archiver.query(uri, QueryVisibilityRequest(NS, page_size, token, query), TYPES)
        found += [e.execution.run_id for e in response.executions]
        token = response.next_page_token
        if not token:
            return found


class _MixedCorpus(NativeRoot, VisibilityConformance):
    """The conformance queries over a corpus in every state a record can be in."""

    @pytest.fixture
    def archived_records(self, visibility: Any, corpus_uri: str, archive_uri: str) -> list[Any]:
        records = _ARCHIVED_CORPORA.get(corpus_uri)
        if records is None:
            init_native(corpus_uri)
            records = make_records(160)
            native = native_of(corpus_uri)
            for record in records[:60]:
                visibility.archive(corpus_uri, record)
            assert native.compact(corpus_uri, NS).records == 60
            assert native.archive_many(corpus_uri, records[60:110]) == 50
            for record in records[110:]:
                visibility.archive(corpus_uri, record)
            for again in (records[0], records[70], records[120]):  # a run stored twice
                visibility.archive(corpus_uri, again)
            assert native.archive_many(corpus_uri, records[:3]) == 0  # bulk leaves held runs out
            _ARCHIVED_CORPORA[corpus_uri] = records
        return records


class TestMixedMemory(MemoryURI, _MixedCorpus):
    pass


class TestMixedFilestore(FilestoreURI, _MixedCorpus):
    pass


class TestMixedS3(S3URI, _MixedCorpus):
    pass


class TestMixedGcs(GcsURI, _MixedCorpus):
    pass


class TestMixedAzure(AzureURI, _MixedCorpus):
    pass


class TestMixedFsspecMemory(FsspecMemoryURI, _MixedCorpus):
    pass


_COMPACTOR = textwrap.dedent(
    """
    import sys, time
    from archivers.registry import get_visibility_archiver
    from archivers.uri import URI
    uri, namespace_id, stop_at, gate = sys.argv[1:5]
    def step(name):
        print(name, flush=True)
        if name == stop_at:
            print("STOPPED", flush=True)
            if gate == "-":
                time.sleep(600)
            while not __import__("os").path.exists(gate):
                time.sleep(0.01)
    native = get_visibility_archiver(uri).for_uri(URI.parse(uri))
    result = native.compact(uri, namespace_id, step)
    print("RESULT", result.records, flush=True)
    """
)


def start_compactor(uri: str, stop_at: str, gate: str = "-") -> subprocess.Popen[str]:
    """A compactor in a subprocess that stops (blocks) after step ``stop_at`` until ``gate`` exists."""
    process = subprocess.Popen(
        [sys.executable, "-c", _COMPACTOR, uri, NS, stop_at, gate],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ), cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "STOPPED":
            return process
    process.communicate()
    raise AssertionError(f"compactor ended before step {stop_at!r} (exit {process.returncode})")


def assert_exact(uri: str, records: list[Any]) -> None:
    """Every query form answers the brute-force result (each run once)."""
    for query in ("", "ExecutionStatus = 'Failed'", "CloseTime > '2024-05-02T00:00:00Z'", "WorkflowId = 'wf-7'"):
        compiled = compile_query(query, TYPES)
        found = query_run_ids(uri, query, page_size=13)
        assert len(found) == len(set(found)), query
        assert sorted(found) == sorted(r.run_id for r in records if compiled.matches(r)), query


class _Crashes:
    """Kill -9 a compactor at each step; queries stay exact; the next compaction finishes the job."""

    @pytest.mark.parametrize("step", ["read-inbox", "wrote-files", "committed", "deleted-one"])
    def test_killed_compactor(self, archive_uri: str, step: str) -> None:
        records = make_records(40)
        archiver = get_visibility_archiver(archive_uri)
        for record in records[:25]:
            archiver.archive(archive_uri, record)
        native = native_of(archive_uri)
        native.compact(archive_uri, NS)
        for record in records[25:]:
            archiver.archive(archive_uri, record)
        process = start_compactor(archive_uri, step)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        assert_exact(archive_uri, records)
        native.compact(archive_uri, NS)
        assert_exact(archive_uri, records)
        assert native.live_rows(archive_uri, NS) == 40  # every record once
        assert native.compact(archive_uri, NS).records == 0  # the inbox is empty

    def test_two_compactors_at_once(self, archive_uri: str, tmp_path: Path) -> None:
        records = make_records(30)
        archiver = get_visibility_archiver(archive_uri)
        for record in records:
            archiver.archive(archive_uri, record)
        gate = tmp_path / "go"
        first = start_compactor(archive_uri, "wrote-files", str(gate))
        second = start_compactor(archive_uri, "wrote-files", str(gate))  # both have written their files
        gate.touch()
        outputs = [process.communicate(timeout=60)[0] for process in (first, second)]
        assert [process.returncode for process in (first, second)] == [0, 0]
        assert sum("lost-commit" in output for output in outputs) == 1, outputs
        assert native_of(archive_uri).live_rows(archive_uri, NS) == 30
        assert_exact(archive_uri, records)


class TestCrashesFilestore(NativeRoot, FilestoreURI, _Crashes):
    pass


class TestCrashesS3(NativeRoot, S3URI, _Crashes):
    pass


def test_corrupt_manifest_is_refused(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/root"
    init_native(uri)
    records = make_records(5)
    native = native_of(uri)
    native.archive_many(uri, records)
    path = tmp_path / "root" / manifest_key("", NS, 1)
    path.write_bytes(path.read_bytes().replace(b'"rows":', b'"rows":9', 1))
    with pytest.raises(CorruptArchiveError, match="checksum"):
        query_run_ids(uri)


def test_native_roots_created_before_the_index_keep_compat_visibility(tmp_path: Path) -> None:
    root = tmp_path / "old"
    root.mkdir()
    (root / ".temporal-archivers.json").write_text(
        '{"compression": "zstd", "created_at": "2026-05-01T12:00:00Z", "created_by": "tests", '
        '"format": "temporal-archivers", "layout": "native", "version": 1, "visibility_layout": "filestore"}'
    )
    uri = f"file://{root}"
    archiver = get_visibility_archiver(uri)
    assert isinstance(archiver, ByRootVisibilityArchiver)
    assert archiver.for_uri(URI.parse(uri)) is archiver.compat
    record = make_records(1)[0]
    archiver.archive(uri, record)
    assert query_run_ids(uri) == [record.run_id]
    assert not (root / "native-visibility").exists()
