"""Bad input to the ``archiver`` command: one ``error:`` line on stderr, the documented exit code,
and nothing written. Every case runs the CLI as a real process (``python -m archivers.cli``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archivers.cli.exit_codes import exit_code_for
from archivers.cli.history_json import render_history_json
from archivers.codec.protojson import message_to_dict
from archivers.errors import (
    ArchiveNotFoundError,
    CorruptArchiveError,
    HistoryMutatedError,
    InvalidPageTokenError,
    InvalidURIError,
    MissingDependencyError,
    OverloadedError,
    QueryError,
    StoreConfigurationError,
    TransientError,
)
from archivers.interfaces import GetHistoryRequest
from archivers.registry import get_history_archiver
from archivers.testing.synthetic import request_for, synthetic_history

REPO = Path(__file__).resolve().parents[1]
NS_ID = "err-namespace-id"

Snapshot = dict[str, tuple[int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file and directory under ``root`` with its size and modification time."""
    state: Snapshot = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            state[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return state


def run_cli(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a process (or ``script``, which ends by calling it)."""
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "archivers.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)


def assert_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Exactly one ``error: ...`` line on stderr, no traceback, nothing on stdout, exit ``code``."""
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    (line,) = lines
    assert line.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A directory holding the archive directory and the input files; snapshots cover all of it."""
    (tmp_path / "archive").mkdir()
    return tmp_path


def archive_uri(root: Path) -> str:
    return (root / "archive").as_uri()


def put(
    root: Path, history: Path, *extra: str, uri: str | None = None, wid: str = "wf", rid: str = "run"
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "put", "--uri", uri or archive_uri(root), "--namespace-id", NS_ID, "--namespace", "ns",
        "--wid", wid, "--rid", rid, "--history", str(history), *extra,
    )  # fmt: skip


def good_history(root: Path, count: int = 30, version: int = 0) -> tuple[Path, str]:
    events = [e for b in synthetic_history(count, version=version) for e in b.events]
    text = render_history_json(events)
    path = root / "history.json"
    path.write_text(text)
    return path, text


# -- URIs and backends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("not a uri", "invalid URI"),
        ("file://somehost/var/archive", "must not name a host"),
        ("file:relative/path", "empty directory path"),
        ("file:///bad%zzescape", "percent-escape"),
    ],
)
def test_malformed_uri(root: Path, uri: str, fragment: str) -> None:
    history, _ = good_history(root)
    before = snapshot(root)
    assert_error(put(root, history, uri=uri), 2, fragment)
    assert_error(run_cli("validate-uri", uri), 2, fragment)
    assert snapshot(root) == before


def test_unknown_scheme(root: Path) -> None:
    history, _ = good_history(root)
    before = snapshot(root)
    assert_error(put(root, history, uri="nosuchstore://bucket/x"), 2, "no archiver backend for scheme 'nosuchstore'")
    line = assert_error(run_cli("query", "--uri", "nosuchstore://b", "--namespace-id", NS_ID), 2, "known schemes: ")
    for scheme in ("file", "s3", "gs", "azblob", "fsspec+PROTOCOL"):
        assert scheme in line
    assert snapshot(root) == before


MISSING_SDK_SCRIPT = textwrap.dedent(
    """
    import sys
    from archivers import registry
    from archivers.cli import main

    built_in = registry._BUILT_INS.get("s3")
    if built_in is not None and built_in.requires:
        # The real s3 backend, with its SDK made unimportable the way Python marks a missing module.
        sys.modules[built_in.requires] = None
        uri = "s3://bucket/prefix"
    else:
        # No s3 backend yet: a built-in registration whose SDK module does not exist.
        registry._BUILT_INS["nosdk"] = registry._BuiltIn(
            "archivers.backends.nosdk", "BACKEND", "nosdk", "archivers_no_such_sdk_module"
        )
        uri = "nosdk://bucket/prefix"
    sys.exit(main([a.replace("URI", uri) for a in sys.argv[1:]]))
    """
)


def test_missing_optional_dependency_names_pip_install(root: Path) -> None:
    history, _ = good_history(root)
    before = snapshot(root)
    done = run_cli(
        "put", "--uri", "URI", "--namespace-id", NS_ID, "--namespace", "ns", "--wid", "w", "--rid", "r",
        "--history", str(history), script=MISSING_SDK_SCRIPT,
    )  # fmt: skip
    assert_error(done, 1, "pip install 'temporal-archivers[")
    assert_error(run_cli("validate-uri", "URI", script=MISSING_SDK_SCRIPT), 1, "pip install")
    assert snapshot(root) == before


# -- history files ------------------------------------------------------------------------------


def test_malformed_json_history(root: Path) -> None:
    bad = root / "bad.json"
    bad.write_text('{"events": [{"eventId": "1",, }]}')
    before = snapshot(root)
    assert_error(put(root, bad), 2, "bad.json", "not valid JSON", "line 1")
    assert snapshot(root) == before


def test_truncated_history_file(root: Path) -> None:
    _, text = good_history(root, 200)
    cut = root / "cut.json"
    cut.write_text(text[: len(text) // 2])
    before = snapshot(root)
    assert_error(put(root, cut), 2, "cut.json", "truncated")
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"events": []}', "holds no events"),
        ("[]", "holds no events"),
        ('{"history": []}', 'expected a JSON object with "events"'),
        ('"just a string"', "got a JSON str"),
        ('{"events": {"eventId": "1"}}', "is not a JSON array"),
        ('{"events": [1, 2]}', "event #1 is not a JSON object"),
        ('{"events": [{"eventId": "one"}]}', "invalid event"),
        ('{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_NO_SUCH_THING"}]}', "no known eventType"),
        (
            '{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "newField": 1}]}',
            "newField",
        ),
    ],
)
def test_history_file_with_wrong_shape(root: Path, content: str, fragment: str) -> None:
    bad = root / "shape.json"
    bad.write_text(content)
    before = snapshot(root)
    assert_error(put(root, bad), 2, "shape.json", fragment)
    assert snapshot(root) == before


def test_history_with_a_gap_writes_nothing(root: Path) -> None:
    events = [e for b in synthetic_history(500) for e in b.events]
    del events[300]  # event 301 missing: events 1..300 would be archivable before the gap
    gap = root / "gap.json"
    gap.write_text(render_history_json(events))
    before = snapshot(root)
    assert_error(put(root, gap), 2, "gap.json", "expected event id 301, got 302")
    assert snapshot(root) == before  # no partial file, no lock file


def test_history_not_starting_at_one(root: Path) -> None:
    events = [e for b in synthetic_history(20) for e in b.events][5:]
    late = root / "late.json"
    late.write_text(json.dumps([message_to_dict(e) for e in events]))
    before = snapshot(root)
    assert_error(put(root, late), 2, "must start at event id 1")
    assert snapshot(root) == before


def test_close_failover_version_mismatch(root: Path) -> None:
    history, _ = good_history(root, version=5)
    before = snapshot(root)
    assert_error(put(root, history, "--close-failover-version", "4"), 2, "--close-failover-version 4")
    assert_error(put(root, history, "--close-failover-version", "6"), 2, "--close-failover-version 6")
    assert snapshot(root) == before


def test_inconsistent_versions_in_history(root: Path) -> None:
    events = [e for b in synthetic_history(20, version=3) for e in b.events]
    events[-1].version = 2  # an earlier event has a higher version than the last one
    bad = root / "versions.json"
    bad.write_text(render_history_json(events))
    before = snapshot(root)
    assert_error(put(root, bad), 2, "inconsistent event versions")
    assert snapshot(root) == before


def test_missing_history_file_and_missing_options(root: Path) -> None:
    before = snapshot(root)
    assert_error(put(root, root / "absent.json"), 2, "--history", "does not exist")
    assert_error(run_cli("put", "--uri", archive_uri(root)), 2, "Missing option")
    assert_error(run_cli("get", "--uri", archive_uri(root), "--namespace-id", "n", "--wid", "w"), 2, "--rid")
    assert_error(run_cli("no-such-command"), 2, "No such command")
    assert snapshot(root) == before


def test_workflow_id_with_dot_dot_stays_confined(root: Path) -> None:
    history, text = good_history(root)
    outside = snapshot(root.parent)
    done = put(root, history, wid="../../escape/../x", rid="../../../../tmp/run")
    assert done.returncode == 0, done.stderr
    after = snapshot(root.parent)
    new = sorted(set(after) - set(outside))
    prefix = os.path.join(root.name, "archive") + os.sep
    assert len(new) == 1 and new[0].startswith(prefix), new
    assert "/" not in new[0][len(prefix) :] and ".." not in new[0]
    got = run_cli(
        "get", "--uri", archive_uri(root), "--namespace-id", NS_ID, "--wid", "../../escape/../x",
        "--rid", "../../../../tmp/run",
    )  # fmt: skip
    assert got.returncode == 0 and got.stdout == text


# -- visibility ---------------------------------------------------------------------------------


def visibility_record(index: int) -> dict[str, object]:
    return {
        "namespaceId": NS_ID,
        "workflowId": f"wf-{index}",
        "runId": f"run-{index}",
        "workflowTypeName": "T",
        "startTime": "2024-05-01T00:00:00Z",
        "closeTime": f"2024-05-01T00:0{index}:00Z",
    }


@pytest.mark.parametrize(
    ("second_line", "fragment"),
    [
        ('{"namespaceId": "x", "workflowId": ', "line 2 is not valid JSON"),
        ('{"namespaceId": "x", "noSuchField": 1}', "record 2 (line 2) is not a valid VisibilityRecord"),
        ('{"namespaceId": "x", "workflowId": "w", "runId": "r"}', "record 2 (line 2) has no closeTime"),
        ('{"workflowId": "w", "runId": "r", "closeTime": "2024-05-01T00:00:00Z"}', "has no namespaceId"),
        ('["not", "an", "object"]', "record 2 (line 2) is not a JSON object"),
    ],
)
def test_bad_visibility_record_writes_none(root: Path, second_line: str, fragment: str) -> None:
    records = root / "records.jsonl"
    records.write_text(json.dumps(visibility_record(1)) + "\n" + second_line + "\n")
    before = snapshot(root)
    done = run_cli("put-visibility", "--uri", archive_uri(root), "--record", str(records))
    assert_error(done, 2, "records.jsonl", fragment)
    assert snapshot(root) == before  # the valid first record was not written either


def test_empty_visibility_file(root: Path) -> None:
    records = root / "empty.jsonl"
    records.write_text("\n\n")
    assert_error(run_cli("put-visibility", "--uri", archive_uri(root), "--record", str(records)), 2, "no visibility")


# -- query --------------------------------------------------------------------------------------


def test_query_syntax_error(root: Path) -> None:
    done = run_cli("query", "--uri", archive_uri(root), "--namespace-id", NS_ID, "--query", "WorkflowId = ")
    assert_error(done, 2, "position")
    done = run_cli("query", "--uri", archive_uri(root), "--namespace-id", NS_ID, "--query", "NoSuchField = 'x'")
    assert_error(done, 2, "NoSuchField")


@pytest.mark.parametrize("command", ["query", "get"])
def test_negative_page_size(root: Path, command: str) -> None:
    ids = ["--wid", "w", "--rid", "r"] if command == "get" else []
    done = run_cli(command, "--uri", archive_uri(root), "--namespace-id", NS_ID, *ids, "--page-size", "-5")
    assert_error(done, 2, "--page-size", "-5")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--limit", "0"], "--limit"),
        (["--search-attribute-type", "Amount"], "NAME=TYPE"),
        (["--search-attribute-type", "Amount=Money"], "unknown search attribute type 'Money'"),
        (["--search-attribute-type", "A=Int", "--search-attribute-type", "A=Text"], "two different types"),
        (["--output", "xml"], "--output"),
    ],
)
def test_bad_query_options(root: Path, args: list[str], fragment: str) -> None:
    assert_error(run_cli("query", "--uri", archive_uri(root), "--namespace-id", NS_ID, *args), 2, fragment)


# -- not found, config, debug -------------------------------------------------------------------


def test_not_found_exit_3(root: Path) -> None:
    base = ["get", "--namespace-id", NS_ID, "--wid", "nope", "--rid", "nope"]
    assert_error(run_cli(*base, "--uri", archive_uri(root)), 3, "not found")
    assert_error(run_cli(*base, "--uri", (root / "no-such-dir").as_uri()), 3, "not found")
    assert not (root / "no-such-dir").exists()


def test_bad_config_file(root: Path) -> None:
    history, _ = good_history(root)
    config = root / "bad.yaml"
    config.write_text("archival:\n  history:\n    provider:\n      filestore: [oops\n")
    before = snapshot(root)
    assert_error(put(root, history, "--config", str(config)), 2, "bad.yaml", "invalid YAML")
    config.write_text("archival:\n  history:\n    provider:\n      filestore: {fileMode: '99x'}\n")
    before = snapshot(root)
    assert_error(put(root, history, "--config", str(config)), 2, "fileMode")
    assert snapshot(root) == before


def test_debug_shows_traceback(root: Path) -> None:
    done = run_cli("--debug", "validate-uri", "nosuchstore://x")
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: no archiver backend")


# -- the mapping table and page tokens (library) ------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidURIError("x"), 2),
        (QueryError("x", position=3), 2),
        (InvalidPageTokenError("x"), 2),
        (ArchiveNotFoundError("x"), 3),
        (TransientError("x"), 4),
        (OverloadedError("x"), 4),
        (StoreConfigurationError("x"), 1),
        (CorruptArchiveError("x"), 1),
        (HistoryMutatedError("x"), 1),
        (MissingDependencyError.for_backend("s3", extra="s3", module="boto3"), 1),
        (RuntimeError("x"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_code_table(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1],
        lambda t: b"garbage",
        lambda t: json.dumps({**json.loads(t), "NextBatchIdx": 10_000}).encode(),
        lambda t: json.dumps({**json.loads(t), "NextBatchIdx": -1}).encode(),
        lambda t: json.dumps({**json.loads(t), "Extra": 1}).encode(),
        lambda t: json.dumps({**json.loads(t), "CloseFailoverVersion": 999}).encode(),
    ],
)
def test_tampered_page_token_is_rejected(tmp_path: Path, tamper: object) -> None:
    uri = tmp_path.as_uri()
    batches = synthetic_history(100)
    archiver = get_history_archiver(uri)
    archiver.archive(uri, request_for(batches), batches)
    request = GetHistoryRequest("test-namespace-id", "test-workflow-id", "test-run-id", page_size=10)
    first = archiver.get(uri, request)
    assert first.next_page_token
    forged = tamper(first.next_page_token)  # type: ignore[operator]
    with pytest.raises(InvalidPageTokenError):
        archiver.get(uri, GetHistoryRequest(**{**request.__dict__, "next_page_token": forged}))


def test_query_limit_prints_a_token_that_continues_and_a_tampered_token_is_exit_2(root: Path) -> None:
    records = root / "records.jsonl"
    records.write_text("".join(json.dumps(visibility_record(i)) + "\n" for i in range(1, 8)))
    uri = archive_uri(root)
    assert run_cli("put-visibility", "--uri", uri, "--record", str(records)).returncode == 0
    everything = run_cli("query", "--uri", uri, "--namespace-id", NS_ID)
    assert everything.returncode == 0 and everything.stderr == ""
    first = run_cli("query", "--uri", uri, "--namespace-id", NS_ID, "--limit", "3")
    assert first.returncode == 0
    (line,) = first.stderr.splitlines()
    token = line.removeprefix("next page token: ")
    rest = run_cli("query", "--uri", uri, "--namespace-id", NS_ID, "--page-token", token)
    assert rest.returncode == 0 and rest.stderr == ""
    assert first.stdout + rest.stdout == everything.stdout
    before = snapshot(root)
    tampered = token.replace('"s":[', '"s":[0,', 1)
    done = run_cli("query", "--uri", uri, "--namespace-id", NS_ID, "--page-token", tampered)
    assert_error(done, 2, "page token")
    done = run_cli("query", "--uri", uri, "--namespace-id", NS_ID, "--query", "RunId = 'run-1'", "--page-token", token)
    assert_error(done, 2, "another request or query")
    assert snapshot(root) == before
