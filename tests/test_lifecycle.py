"""Lifecycle of archived runs: ``delete`` on every backend and layout, and ``archiver delete`` / ``prune``.

The delete contract (:mod:`archivers.testing.lifecycle_conformance`) runs on the compat layouts of
every store (filestore, s3store on memory, S3, Azure and fsspec, gcloud on GCS) and on native
history roots; the native visibility index is not built yet (native roots keep their compat
visibility layout, covered by the compat classes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backend_uris import S3URI, AzureURI, FilestoreURI, FsspecMemoryURI, GcsURI, MemoryURI, NativeRoot

from archivers.cli import main
from archivers.errors import ArchiveNotFoundError
from archivers.interfaces import DeleteRunRequest, GetHistoryRequest
from archivers.layouts import base as layout_base
from archivers.layouts import native as native_layout
from archivers.registry import get_history_archiver
from archivers.store import memory
from archivers.testing.lifecycle_conformance import HistoryDeleteConformance, VisibilityDeleteConformance
from archivers.testing.sample import main as write_sample
from archivers.testing.synthetic import request_for, synthetic_history


class TestMemory(MemoryURI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestFilestore(FilestoreURI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestS3(S3URI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestGcs(GcsURI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestAzure(AzureURI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestFsspecMemory(FsspecMemoryURI, HistoryDeleteConformance, VisibilityDeleteConformance):
    pass


class TestNativeFilestore(NativeRoot, FilestoreURI, HistoryDeleteConformance):
    pass


class TestNativeS3(NativeRoot, S3URI, HistoryDeleteConformance):
    pass


class TestNativeGcs(NativeRoot, GcsURI, HistoryDeleteConformance):
    pass


@pytest.mark.parametrize("layout", ["s3store", "native"])
def test_an_interrupted_delete_serves_nothing_and_is_finished_by_the_next(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last part goes first: a delete cut after one object leaves a history ``get`` refuses."""
    monkeypatch.setattr(layout_base, "TARGET_PART_BYTES", 2_000)  # several parts from a small history
    monkeypatch.setattr(native_layout, "PART_RAW_LIMIT", 2_000)
    bucket = f"lifecycle-{layout}"
    memory.create_bucket(bucket)
    try:
        uri = f"memory://{bucket}/archive"
        if layout == "native":
            main(["init", "--uri", uri, "--layout", "native"])
        history = get_history_archiver(uri)
        batches = synthetic_history(200, version=1)
        history.archive(uri, request_for(batches), batches)
        names = history.delete(uri, DeleteRunRequest("test-namespace-id", "test-workflow-id", "test-run-id",
                                                     dry_run=True)).removed  # fmt: skip
        assert len(names) > 3
        memory.MemoryStore(bucket).delete(names[0].removeprefix(f"{bucket}/"))  # the delete is cut short
        with pytest.raises(ArchiveNotFoundError):
            history.get(uri, GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id"))
        rest = history.delete(uri, DeleteRunRequest("test-namespace-id", "test-workflow-id", "test-run-id")).removed
        assert rest == names[1:]
    finally:
        memory.delete_bucket(bucket)


# -- the commands ---------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """history.json (run-42 of order-42) and the eight records of ``archivers.testing.sample``, in ``tmp_path``."""
    write_sample.main(["--history", str(tmp_path / "history.json"), "--records", str(tmp_path / "records.jsonl"),
                       "--namespace-id", "ns-id", "--wid", "order-42", "--rid", "run-42", "--events", "20"],
                      standalone_mode=False)  # fmt: skip
    capsys.readouterr()
    return tmp_path


def archive_sample(capsys: pytest.CaptureFixture[str], directory: Path, history_uri: str, visibility_uri: str) -> None:
    assert run(capsys, "put", "--uri", history_uri, "--namespace-id", "ns-id", "--namespace", "default",
               "--wid", "order-42", "--rid", "run-42", "--history", str(directory / "history.json"))[0] == 0
    assert run(capsys, "put-visibility", "--uri", visibility_uri, "--record", str(directory / "records.jsonl"))[0] == 0


def run_ids(capsys: pytest.CaptureFixture[str], uri: str) -> list[str]:
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", "ns-id")
    assert code == 0, err
    return sorted(json.loads(line)["execution"]["runId"] for line in out.splitlines())


def test_delete_command(capsys: pytest.CaptureFixture[str], sample: Path) -> None:
    uri = f"file://{sample}/archive"
    archive_sample(capsys, sample, uri, uri)
    args = ["delete", "--uri", uri, "--namespace-id", "ns-id", "--wid", "order-42", "--rid", "run-42"]

    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert out.startswith("would remove workflow 'order-42' run 'run-42':\n")
    assert out.endswith("dry run: would remove 1 run (2 objects); run again with --yes to remove\n")
    assert "run-42" in run_ids(capsys, uri)

    audit = sample / "audit.jsonl"
    code, out, err = run(capsys, *args, "--yes", "--audit-log", str(audit))
    assert code == 0, err
    (line,) = out.splitlines()
    entry = json.loads(line)
    assert (entry["action"], entry["workflowId"], entry["runId"]) == ("delete", "order-42", "run-42")
    assert len(entry["history"]) == 1 and len(entry["visibility"]) == 1
    assert audit.read_text().splitlines() == [line]
    assert err == "removed 1 run (2 objects)\n"
    assert "run-42" not in run_ids(capsys, uri) and len(run_ids(capsys, uri)) == 7
    code, _, err = run(capsys, "get", "--uri", uri, "--namespace-id", "ns-id", "--wid", "order-42", "--rid", "run-42")
    assert code == 3

    code, out, err = run(capsys, *args, "--yes", "--audit-log", str(audit))  # idempotent
    assert (code, out, err) == (0, "", "removed 0 runs (0 objects)\n")
    assert len(audit.read_text().splitlines()) == 1


def test_delete_every_run_of_a_workflow_from_separate_roots(capsys: pytest.CaptureFixture[str], sample: Path) -> None:
    history_uri, visibility_uri = f"file://{sample}/histories", f"memory://lifecycle-sep/{sample.name}"
    memory.create_bucket("lifecycle-sep")
    try:
        archive_sample(capsys, sample, history_uri, visibility_uri)
        code, out, err = run(capsys, "delete", "--history-uri", history_uri, "--visibility-uri", visibility_uri,
                             "--namespace-id", "ns-id", "--wid", "order-42", "--yes")  # fmt: skip
        assert code == 0, err
        (entry,) = [json.loads(line) for line in out.splitlines()]
        assert entry["historyUri"] == history_uri and entry["visibilityUri"] == visibility_uri
        assert len(entry["history"]) == 1 and len(entry["visibility"]) == 4  # s3store: four index keys
        assert not list((sample / "histories").glob("*.history"))
        assert "run-42" not in run_ids(capsys, visibility_uri)
    finally:
        memory.delete_bucket("lifecycle-sep")


def test_prune_command(capsys: pytest.CaptureFixture[str], sample: Path) -> None:
    uri = f"file://{sample}/archive"
    archive_sample(capsys, sample, uri, uri)
    args = ["prune", "--uri", uri, "--namespace-id", "ns-id", "--closed-before", "2024-05-01T16:30:00Z"]

    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert out.endswith("dry run: would remove 5 runs (6 objects); run again with --yes to remove\n")
    assert len(run_ids(capsys, uri)) == 8

    code, out, err = run(capsys, *args, "--query", "ExecutionStatus = 'Failed'", "--yes")
    assert code == 0, err
    assert [json.loads(line)["runId"] for line in out.splitlines()] == ["run-0001"]

    # A prune cut short after a history went (its record left) is finished by the next one.
    history = get_history_archiver(uri)
    assert history.delete(uri, DeleteRunRequest("ns-id", "order-42", "run-42")).removed
    code, out, err = run(capsys, *args, "--yes")
    assert code == 0, err
    removed = {json.loads(line)["runId"]: json.loads(line) for line in out.splitlines()}
    assert set(removed) == {"run-42", "run-0002", "run-0003", "run-0004"}
    assert removed["run-42"]["history"] == [] and len(removed["run-42"]["visibility"]) == 1
    assert run_ids(capsys, uri) == ["run-0005", "run-0006", "run-0007"]
    assert run(capsys, *args, "--yes")[1:] == ("", "removed 0 runs (0 objects)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["delete", "--uri", "file:///tmp/a", "--history-uri", "file:///tmp/b", "--wid", "w"], "not both"),
        (["delete", "--wid", "w"], "name a root"),
        (["delete", "--history-uri", "file:///tmp/h", "--wid", "w"], "without --rid the runs come from"),
        (["prune", "--uri", "file:///tmp/a", "--closed-before", "2024-01-01",
          "-q", "WorkflowId = 'x' ORDER BY CloseTime"], "takes no ORDER BY"),
        (["prune", "--uri", "file:///tmp/a", "--closed-before", "last week"], "invalid time 'last week'"),
        (["prune", "--history-uri", "file:///tmp/h", "--closed-before", "2024-01-01"], "needs a visibility root"),
    ],
)
def test_invalid_input_changes_nothing(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run(capsys, *args, "--namespace-id", "ns-id")
    assert code == 2 and message in err and out == ""
