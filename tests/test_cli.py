"""Tests of the ``archiver`` command against the real file:// backend and a real Temporal dev server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio import activity, workflow
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.cli import main
from archivers.cli.history_json import parse_history_bytes, render_history_json
from archivers.codec.protojson import message_to_dict
from archivers.testing.synthetic import synthetic_history

NS_ID = "cli-namespace-id"
REPO = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process through :func:`archivers.cli.main`; return (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m archivers.cli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "archivers.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def events_of(batches: list[History]) -> list[HistoryEvent]:
    return [event for batch in batches for event in batch.events]


def write_cli_json(path: Path, events: list[HistoryEvent]) -> str:
    text = render_history_json(events)
    path.write_text(text, encoding="utf-8")
    return text


def put_args(uri: str, history: Path, wid: str = "wf", rid: str = "run", *extra: str) -> list[str]:
    return [
        "put", "--uri", uri, "--namespace-id", NS_ID, "--namespace", "ns",
        "--wid", wid, "--rid", rid, "--history", str(history), *extra,
    ]  # fmt: skip


def get_args(uri: str, wid: str = "wf", rid: str = "run", *extra: str) -> list[str]:
    return ["get", "--uri", uri, "--namespace-id", NS_ID, "--wid", wid, "--rid", rid, *extra]


@pytest.fixture
def archive(tmp_path: Path) -> str:
    return (tmp_path / "archive").as_uri()


# -- history round trips ------------------------------------------------------------------------


def roundtrip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str, count: int, *, reparse: bool = True
) -> None:
    events = events_of(synthetic_history(count, version=7))
    source = tmp_path / "history.json"
    text = write_cli_json(source, events)
    code, out, err = run(capsys, *put_args(archive, source))
    assert (code, err) == (0, ""), err
    assert f"archived {count} events" in out
    code, out, err = run(capsys, *get_args(archive))
    assert (code, err) == (0, "")
    assert out == text  # byte for byte what `temporal workflow show --output json` prints
    if reparse:
        assert events_of(parse_history_bytes(out, source="stdout").batches) == events


def test_put_get_roundtrip_1k_events(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    roundtrip(capsys, tmp_path, archive, 1000)


def test_put_get_roundtrip_50k_events(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    """50,000 events round trip, in time linear in their number: a baseline of 2,500 events is measured in
    the same test (so machine load cancels out); 20 times as many events may take at most 60 times as long
    (quadratic work would take 400 times as long)."""
    started = time.monotonic()
    roundtrip(capsys, tmp_path, (tmp_path / "baseline").as_uri(), 2_500, reparse=False)
    baseline = time.monotonic() - started
    started = time.monotonic()
    roundtrip(capsys, tmp_path, archive, 50_000, reparse=False)  # equal bytes imply equal events
    elapsed = time.monotonic() - started
    assert elapsed < 60 * baseline, f"50,000 events took {elapsed:.1f}s, 2,500 took {baseline:.2f}s"


def test_put_accepts_bare_event_array(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    events = events_of(synthetic_history(20, version=3))
    source = tmp_path / "events.json"
    source.write_text(json.dumps([message_to_dict(e) for e in events]))
    assert run(capsys, *put_args(archive, source))[0] == 0
    code, out, _ = run(capsys, *get_args(archive))
    assert code == 0
    assert out == render_history_json(events)


def test_put_accepts_temporal_archive_format_and_keeps_batches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str
) -> None:
    batches = synthetic_history(31, version=2, batch_size=4)
    source = tmp_path / "archive.history"
    source.write_text(json.dumps([message_to_dict(b) for b in batches]))
    assert run(capsys, *put_args(archive, source))[0] == 0
    code, out, _ = run(capsys, *get_args(archive, "wf", "run", "--page-size", "4"))
    assert code == 0
    assert out == render_history_json(events_of(batches))
    (stored,) = [p for p in Path(archive.removeprefix("file://")).iterdir() if p.name.endswith(".history")]
    assert len(json.loads(stored.read_text())) == len(batches)  # 8 batches, as given


def test_put_is_idempotent(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    source = tmp_path / "h.json"
    write_cli_json(source, events_of(synthetic_history(10)))
    assert run(capsys, *put_args(archive, source))[0] == 0
    assert run(capsys, *put_args(archive, source))[0] == 0
    assert len(os.listdir(archive.removeprefix("file://"))) == 1


def test_get_picks_highest_version_unless_version_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str
) -> None:
    for version in (5, 9):
        source = tmp_path / f"v{version}.json"
        write_cli_json(source, events_of(synthetic_history(4 + version, version=version)))
        assert run(capsys, *put_args(archive, source))[0] == 0
    highest = json.loads(run(capsys, *get_args(archive))[1])
    assert len(highest["events"]) == 13 and highest["events"][0]["version"] == "9"
    code, out, _ = run(capsys, *get_args(archive, "wf", "run", "--version", "5"))
    assert code == 0
    assert len(json.loads(out)["events"]) == 9
    code, _, err = run(capsys, *get_args(archive, "wf", "run", "--version", "6"))
    assert code == 3 and err.startswith("error: ")


def test_get_page_size_does_not_change_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    source = tmp_path / "h.json"
    text = write_cli_json(source, events_of(synthetic_history(50)))
    assert run(capsys, *put_args(archive, source))[0] == 0
    for size in ("1", "7", "256", "0"):
        code, out, _ = run(capsys, *get_args(archive, "wf", "run", "--page-size", size))
        assert (code, out) == (0, text)


def test_close_failover_version_option(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    source = tmp_path / "h.json"
    write_cli_json(source, events_of(synthetic_history(10, version=4)))
    code, out, _ = run(capsys, *put_args(archive, source, "wf", "run", "--close-failover-version", "4"))
    assert code == 0 and "close failover version 4" in out


def test_get_table_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    source = tmp_path / "h.json"
    write_cli_json(source, events_of(synthetic_history(6)))
    assert run(capsys, *put_args(archive, source))[0] == 0
    code, out, err = run(capsys, *get_args(archive, "wf", "run", "--output", "table"))
    assert (code, err) == (0, "")
    assert "WorkflowExecutionStarted" in out and "ActivityTaskScheduled" in out
    assert "WorkflowExecutionCompleted" in out
    assert "2024-05-01 00:00:00.001" in out
    assert "SyntheticWorkflow" in out  # the details column


def test_config_file_sets_file_modes(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "archival:\n  history:\n    provider:\n      filestore:\n        fileMode: '0640'\n        dirMode: '0750'\n"
    )
    source = tmp_path / "h.json"
    write_cli_json(source, events_of(synthetic_history(5)))
    code, _, err = run(capsys, *put_args(archive, source), "--config", str(config))
    assert code == 0, err
    directory = Path(archive.removeprefix("file://"))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    (stored,) = directory.iterdir()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o640
    assert run(capsys, *get_args(archive), "--config", str(config))[0] == 0


# -- validate-uri -------------------------------------------------------------------------------


def test_validate_uri(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    uri = tmp_path.as_uri()
    code, out, err = run(capsys, "validate-uri", uri)
    assert (code, err) == (0, "")
    assert out.startswith("valid history and visibility")
    for kind in ("history", "visibility"):
        code, out, _ = run(capsys, "validate-uri", uri, "--kind", kind)
        assert code == 0 and out.startswith(f"valid {kind} ")
    code, out, err = run(capsys, "validate-uri", "file://somehost/x")
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    file_path = tmp_path / "plain-file"
    file_path.write_text("x")
    assert run(capsys, "validate-uri", file_path.as_uri())[0] == 2


def test_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    done = run_process("validate-uri", tmp_path.as_uri(), "--kind", "history")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid history archival URI")
    done = run_process("--help")
    assert done.returncode == 0
    for command in ("get", "put", "put-visibility", "query", "validate-uri"):
        assert command in done.stdout


# -- visibility ---------------------------------------------------------------------------------


def record(index: int, *, status: str = "WORKFLOW_EXECUTION_STATUS_COMPLETED") -> dict[str, object]:
    return {
        "namespaceId": NS_ID,
        "namespace": "ns",
        "workflowId": f"wf-{index}",
        "runId": f"run-{index}",
        "workflowTypeName": "OrderFlow" if index % 2 else "RefundFlow",
        "startTime": f"2024-05-{index:02d}T00:00:00Z",
        "closeTime": f"2024-05-{index:02d}T00:10:00Z",
        "status": status,
        "historyLength": str(10 + index),
        "searchAttributes": {"CustomerId": f"c-{index}", "Amount": str(index * 10)},
    }


@pytest.fixture
def visibility(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    uri = (tmp_path / "visibility").as_uri()
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(json.dumps(record(i)) + "\n" for i in range(1, 6)))
    code, out, err = run(capsys, "put-visibility", "--uri", uri, "--record", str(lines))
    assert (code, err) == (0, ""), err
    assert "archived 5 visibility records" in out
    array = tmp_path / "records.json"
    array.write_text(json.dumps([record(i, status="WORKFLOW_EXECUTION_STATUS_FAILED") for i in range(6, 8)], indent=2))
    code, out, err = run(capsys, "put-visibility", "--uri", uri, "--record", str(array))
    assert (code, err) == (0, ""), err
    return uri


def query(capsys: pytest.CaptureFixture[str], uri: str, *extra: str) -> list[dict[str, object]]:
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", NS_ID, *extra)
    assert code == 0, err
    assert err == "" or ("--limit" in extra and err.startswith("next page token: ")), err
    return [json.loads(line) for line in out.splitlines()]


def workflow_ids(rows: list[dict[str, object]]) -> list[str]:
    return [row["execution"]["workflowId"] for row in rows]  # type: ignore[index]


def test_put_visibility_and_query_everything(capsys: pytest.CaptureFixture[str], visibility: str) -> None:
    rows = query(capsys, visibility)
    assert workflow_ids(rows) == [f"wf-{i}" for i in range(7, 0, -1)]  # close time, newest first
    first = rows[0]
    assert first["type"] == {"name": "OrderFlow"}
    assert first["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
    assert first["historyLength"] == "17"


def test_query_output_is_compact_protojson(capsys: pytest.CaptureFixture[str], visibility: str) -> None:
    code, out, _ = run(capsys, "query", "--uri", visibility, "--namespace-id", NS_ID, "--limit", "1")
    assert code == 0
    (line,) = out.splitlines()
    assert ": " not in line and ", " not in line
    assert line.startswith('{"execution":{"workflowId":"wf-7","runId":"run-7"},"type":{"name":"OrderFlow"}')


def test_query_filter_paging_and_limit(capsys: pytest.CaptureFixture[str], visibility: str) -> None:
    assert workflow_ids(query(capsys, visibility, "--query", "WorkflowType = 'OrderFlow'")) == [
        "wf-7", "wf-5", "wf-3", "wf-1"
    ]  # fmt: skip
    assert workflow_ids(query(capsys, visibility, "--query", "ExecutionStatus = 'Failed'")) == ["wf-7", "wf-6"]
    assert len(query(capsys, visibility, "--page-size", "2")) == 7
    assert workflow_ids(query(capsys, visibility, "--page-size", "2", "--limit", "3")) == ["wf-7", "wf-6", "wf-5"]
    assert len(query(capsys, visibility, "--limit", "100")) == 7


def test_query_with_search_attribute_types(capsys: pytest.CaptureFixture[str], visibility: str) -> None:
    rows = query(
        capsys,
        visibility,
        "--query", "Amount >= 50 AND CustomerId != 'c-6'",
        "--search-attribute-type", "Amount=int",
        "--search-attribute-type", "CustomerId=KEYWORD",
    )  # fmt: skip
    assert workflow_ids(rows) == ["wf-7", "wf-5"]
    amount = rows[0]["searchAttributes"]["indexedFields"]["Amount"]  # type: ignore[index]
    assert json.loads(__import__("base64").b64decode(amount["data"])) == 70


def test_query_table_output(capsys: pytest.CaptureFixture[str], visibility: str) -> None:
    code, out, err = run(capsys, "query", "--uri", visibility, "--namespace-id", NS_ID, "--output", "table")
    assert (code, err) == (0, "")
    assert "wf-3" in out and "OrderFlow" in out and "Failed" in out and "Completed" in out


def test_put_visibility_upserts(capsys: pytest.CaptureFixture[str], tmp_path: Path, visibility: str) -> None:
    again = tmp_path / "again.jsonl"
    again.write_text(json.dumps(record(1)) + "\n")
    assert run(capsys, "put-visibility", "--uri", visibility, "--record", str(again))[0] == 0
    assert len(query(capsys, visibility)) == 7


def test_search_attribute_type_names() -> None:
    from temporalio.api.enums.v1 import IndexedValueType as T

    from archivers.cli.search_attribute_types import parse_search_attribute_types

    parsed = parse_search_attribute_types(
        ["a=Keyword", "b=text", "c=INT", "d=Double", "e=bool", "f=Datetime", "g=KeywordList",
         "h=keyword_list", "i=INDEXED_VALUE_TYPE_DATETIME"]
    )  # fmt: skip
    assert parsed == {
        "a": T.INDEXED_VALUE_TYPE_KEYWORD, "b": T.INDEXED_VALUE_TYPE_TEXT, "c": T.INDEXED_VALUE_TYPE_INT,
        "d": T.INDEXED_VALUE_TYPE_DOUBLE, "e": T.INDEXED_VALUE_TYPE_BOOL, "f": T.INDEXED_VALUE_TYPE_DATETIME,
        "g": T.INDEXED_VALUE_TYPE_KEYWORD_LIST, "h": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
        "i": T.INDEXED_VALUE_TYPE_DATETIME,
    }  # fmt: skip


def test_visibility_record_file_roundtrips_protojson(tmp_path: Path) -> None:
    from archivers.cli.record_file import read_visibility_records

    path = tmp_path / "one.json"
    path.write_text(json.dumps(record(3), indent=2))
    (parsed,) = read_visibility_records(str(path))
    assert parsed == json_format.ParseDict(record(3), VisibilityRecord())


# -- the real Temporal CLI ----------------------------------------------------------------------


@activity.defn
async def greet(name: str) -> str:
    """Return a greeting."""
    return f"hello {name} <&> é"


@activity.defn
async def refuse(name: str) -> str:
    """Always fail, with a message full of characters that JSON escapes differently."""
    raise ApplicationError(f'no "{name}" <&>\t\x01 ✓', non_retryable=True)


@workflow.defn(name="CliRoundTrip")
class CliRoundTripWorkflow:
    """An activity, a failed activity, a timer, a signal: a history with varied event types."""

    def __init__(self) -> None:
        self._signals: list[str] = []

    @workflow.signal
    def poke(self, value: str) -> None:
        """Record a signal."""
        self._signals.append(value)

    @workflow.run
    async def run(self, name: str) -> dict[str, Any]:
        """Greet, fail once, sleep, wait for a signal, and return a summary."""
        greeting = await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                refuse,
                name,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(backoff_coefficient=1.5, maximum_attempts=1),
            )
        await workflow.sleep(0.05)
        await workflow.wait_condition(lambda: bool(self._signals))
        return {"greeting": greeting, "signals": self._signals, "ratio": 0.25}


async def _run_workflow(address: str, workflow_id: str) -> tuple[str, list[HistoryEvent]]:
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue="cli-roundtrip",
        workflows=[CliRoundTripWorkflow],
        activities=[greet, refuse],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            CliRoundTripWorkflow.run, "wörld", id=workflow_id, task_queue="cli-roundtrip"
        )
        await handle.signal(CliRoundTripWorkflow.poke, "ping")
        await handle.result()
        history = await handle.fetch_history()
    assert handle.result_run_id
    return handle.result_run_id, list(history.events)


def test_real_temporal_cli_export_roundtrip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, temporal_dev: object
) -> None:
    address: str = temporal_dev.address  # type: ignore[attr-defined]
    executable = str(temporal_dev.executable)  # type: ignore[attr-defined]
    workflow_id = f"cli-e2e/<&>é-{uuid.uuid4()}"
    run_id, sdk_events = asyncio.run(_run_workflow(address, workflow_id))
    shown = subprocess.run(
        [executable, "workflow", "show", "-w", workflow_id, "-r", run_id, "--output", "json",
         "--address", address, "--namespace", "default"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    exported = tmp_path / "exported.json"
    exported.write_bytes(shown.stdout)
    archive = (tmp_path / "archive").as_uri()

    code, _, err = run(capsys, *put_args(archive, exported, workflow_id, run_id))
    assert (code, err) == (0, ""), err
    code, out, err = run(capsys, *get_args(archive, workflow_id, run_id))
    assert (code, err) == (0, ""), err

    assert json.loads(out) == json.loads(shown.stdout)  # same parsed JSON as the real CLI
    assert out.encode() == shown.stdout  # and in fact the same bytes
    assert events_of(parse_history_bytes(out, source="stdout").batches) == sdk_events
    assert len(sdk_events) > 15


def test_put_accepts_legacy_enum_spelling(capsys: pytest.CaptureFixture[str], tmp_path: Path, archive: str) -> None:
    events = events_of(synthetic_history(12))
    legacy = []
    for event in events:
        as_dict = message_to_dict(event)
        as_dict["eventType"] = "".join(p.capitalize() for p in as_dict["eventType"].split("_")[2:])
        legacy.append(as_dict)
    assert legacy[0]["eventType"] == "WorkflowExecutionStarted"
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps({"events": legacy}))
    code, _, err = run(capsys, *put_args(archive, source))
    assert (code, err) == (0, "")
    assert run(capsys, *get_args(archive))[1] == render_history_json(events)
