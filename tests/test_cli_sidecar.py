"""``archiver --sidecar ADDR ...``: every subcommand through a running sidecar gives what the direct path gives.

One sidecar runs in this process (a free loopback port) for the module. For ``file://`` and
``s3://`` (moto) each subcommand runs twice on the same archive, directly and with ``--sidecar``, and
the two runs must print the same stdout and stderr and exit with the same code, including the
error cases (not found 3, bad query 2, tampered page token 2, bad URI 2). The global option's own
rules (``--config`` refused with it, ``ARCHIVER_SIDECAR``, an unreachable sidecar exiting 4) are
checked on their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archivers.cli import main
from archivers.cli.commands import SIDECAR_ENV
from archivers.cli.exit_codes import INVALID_INPUT, NOT_FOUND, SUCCESS, TRANSIENT
from archivers.cli.history_json import render_history_json
from archivers.testing.synthetic import synthetic_history

NS_ID = "cli-sidecar-ns"
WID, RID = "order-1", "run-1"
EVENTS = 120

Result = tuple[int, str, str]
"""Exit code, stdout, stderr of one CLI run."""


@pytest.fixture(params=["file", "s3"])
def archive_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty archive: a directory, or a fresh moto bucket (with the SDK environment pointing at moto)."""
    if request.param == "file":
        return (tmp_path / "archive").as_uri()
    bucket: Any = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket.name}/archive"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run the CLI in-process through :func:`archivers.cli.main`."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def both(capsys: pytest.CaptureFixture[str], sidecar: str, *args: str, expect: int = SUCCESS) -> Result:
    """Run ``args`` directly, then through the sidecar; both must match exactly and exit ``expect``."""
    direct = run(capsys, *args)
    remote = run(capsys, "--sidecar", sidecar, *args)
    assert direct[0] == expect, direct
    assert remote == direct, f"through the sidecar: {remote!r}\ndirectly: {direct!r}"
    return direct


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """A history file (``temporal workflow show --output json`` form) and a visibility record file."""
    events = [event for batch in synthetic_history(EVENTS, version=3) for event in batch.events]
    history = tmp_path / "history.json"
    history.write_text(render_history_json(events), encoding="utf-8")
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(_record(i)) + "\n" for i in range(1, 8)), encoding="utf-8")
    bad_history = tmp_path / "bad-history.json"
    bad_history.write_text(render_history_json(events[1:]), encoding="utf-8")  # does not start at 1
    return {"history": history, "records": records, "bad_history": bad_history}


def _record(index: int) -> dict[str, object]:
    return {
        "namespaceId": NS_ID,
        "namespace": "ns",
        "workflowId": f"wf-{index}",
        "runId": f"run-{index}",
        "workflowTypeName": "OrderFlow" if index % 2 else "RefundFlow",
        "startTime": f"2024-05-{index:02d}T00:00:00Z",
        "closeTime": f"2024-05-{index:02d}T00:10:00Z",
        "status": "WORKFLOW_EXECUTION_STATUS_FAILED" if index > 5 else "WORKFLOW_EXECUTION_STATUS_COMPLETED",
        "historyLength": str(10 + index),
        "searchAttributes": {"CustomerId": f"c-{index}", "Amount": str(index * 10)},
    }


def _put(uri: str, history: Path) -> list[str]:
    return [
        "put", "--uri", uri, "--namespace-id", NS_ID, "--namespace", "ns",
        "--wid", WID, "--rid", RID, "--history", str(history),
    ]  # fmt: skip


def _get(uri: str, *extra: str, wid: str = WID) -> list[str]:
    return ["get", "--uri", uri, "--namespace-id", NS_ID, "--wid", wid, "--rid", RID, *extra]


def _query(uri: str, *extra: str) -> list[str]:
    return ["query", "--uri", uri, "--namespace-id", NS_ID, *extra]


def test_history_commands_match(
    capsys: pytest.CaptureFixture[str], sidecar: str, archive_uri: str, inputs: dict[str, Path]
) -> None:
    both(capsys, sidecar, "validate-uri", archive_uri)
    both(capsys, sidecar, "validate-uri", archive_uri, "--kind", "history")
    both(capsys, sidecar, *_get(archive_uri), expect=NOT_FOUND)  # nothing archived yet
    _, out, _ = both(capsys, sidecar, *_put(archive_uri, inputs["history"]))  # the second run is idempotent
    assert f"archived {EVENTS} events" in out
    _, out, _ = both(capsys, sidecar, *_get(archive_uri))
    assert out == inputs["history"].read_text(encoding="utf-8")
    both(capsys, sidecar, *_get(archive_uri, "--page-size", "7"))
    both(capsys, sidecar, *_get(archive_uri, "--output", "table"))
    both(capsys, sidecar, *_get(archive_uri, "--version", "3"))
    both(capsys, sidecar, *_get(archive_uri, "--version", "99"), expect=NOT_FOUND)
    both(capsys, sidecar, *_get(archive_uri, wid="no-such-workflow"), expect=NOT_FOUND)
    both(capsys, sidecar, *_put(archive_uri, inputs["bad_history"]), expect=INVALID_INPUT)


def test_visibility_commands_match(
    capsys: pytest.CaptureFixture[str], sidecar: str, archive_uri: str, inputs: dict[str, Path]
) -> None:
    both(capsys, sidecar, "validate-uri", archive_uri, "--kind", "visibility")
    _, out, _ = both(capsys, sidecar, "put-visibility", "--uri", archive_uri, "--record", str(inputs["records"]))
    assert "archived 7 visibility records" in out
    _, out, _ = both(capsys, sidecar, *_query(archive_uri))
    assert len(out.splitlines()) == 7
    _, out, _ = both(capsys, sidecar, *_query(archive_uri, "--query", "WorkflowType = 'OrderFlow'", "--page-size", "1"))
    assert len(out.splitlines()) == 4
    both(capsys, sidecar, *_query(archive_uri, "--output", "table"))
    both(
        capsys, sidecar,
        *_query(archive_uri, "--query", "Amount >= 50", "--search-attribute-type", "Amount=Int"),
    )  # fmt: skip
    _, out, err = both(capsys, sidecar, *_query(archive_uri, "--page-size", "2", "--limit", "3"))
    assert len(out.splitlines()) == 3
    token = err.removeprefix("next page token: ").strip()
    assert token
    _, out, _ = both(capsys, sidecar, *_query(archive_uri, "--page-token", token))
    assert len(out.splitlines()) == 4
    both(capsys, sidecar, *_query(archive_uri, "--namespace-id", "nobody"))  # an empty listing
    # errors
    both(capsys, sidecar, *_query(archive_uri, "--query", "WorkflowId = "), expect=INVALID_INPUT)
    both(capsys, sidecar, *_query(archive_uri, "--query", "NoSuchField = 1"), expect=INVALID_INPUT)
    tampered = token.replace('"s":[', '"s":[1,', 1) if '"s":[' in token else token[:-3] + "xyz"
    both(capsys, sidecar, *_query(archive_uri, "--page-token", tampered), expect=INVALID_INPUT)
    both(capsys, sidecar, *_query(archive_uri, "--page-token", "garbage"), expect=INVALID_INPUT)


def test_bad_uris_match(capsys: pytest.CaptureFixture[str], sidecar: str, tmp_path: Path) -> None:
    for uri in ("file://relative/path", "nosuchscheme://bucket/x", "s3://", "not a uri"):
        both(capsys, sidecar, "validate-uri", uri, expect=INVALID_INPUT)
        both(capsys, sidecar, *_get(uri), expect=INVALID_INPUT)


def test_config_with_sidecar_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], sidecar: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "archival.yaml"
    config.write_text("archival: {}\n", encoding="utf-8")
    uri = (tmp_path / "archive").as_uri()
    code, out, err = run(capsys, "--sidecar", sidecar, "validate-uri", uri, "--config", str(config))
    assert (code, out) == (INVALID_INPUT, "")
    assert "--config cannot be used with --sidecar" in err
    monkeypatch.setenv(SIDECAR_ENV, sidecar)
    code, out, err = run(capsys, "validate-uri", uri, "--config", str(config))
    assert (code, out) == (INVALID_INPUT, "")
    assert f"--config cannot be used with {SIDECAR_ENV}" in err


def test_sidecar_from_the_environment(
    capsys: pytest.CaptureFixture[str], sidecar: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIDECAR_ENV, sidecar)
    missing = tmp_path / "missing"
    code, _, err = run(capsys, *_get(missing.as_uri()))
    assert code == NOT_FOUND, err
    # the environment's sidecar is unreachable: only an env pointing elsewhere can show it was used
    monkeypatch.setenv(SIDECAR_ENV, "127.0.0.1:1")
    code, out, err = run(capsys, "validate-uri", missing.as_uri())
    assert (code, out) == (TRANSIENT, ""), err
    assert err.startswith("error: ") and err.count("\n") == 1
    monkeypatch.setenv(SIDECAR_ENV, "")  # empty: no sidecar
    assert run(capsys, "validate-uri", missing.as_uri())[0] == SUCCESS


def test_unreachable_sidecar_is_transient(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--sidecar", "127.0.0.1:1", *_get((tmp_path / "a").as_uri()))
    assert (code, out) == (TRANSIENT, "")
    assert err.startswith("error: ") and "Traceback" not in err


def test_sidecar_does_not_apply_to_serve(capsys: pytest.CaptureFixture[str], sidecar: str) -> None:
    code, _, err = run(capsys, "--sidecar", sidecar, "serve", "--listen", "127.0.0.1:0")
    assert code == INVALID_INPUT
    assert "--sidecar does not apply to 'serve'" in err


def test_sidecar_timeout(capsys: pytest.CaptureFixture[str], sidecar: str, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--sidecar", sidecar, "--sidecar-timeout", "30", "validate-uri", tmp_path.as_uri())
    assert (code, err) == (SUCCESS, "") and out.startswith("valid ")
    code, _, err = run(capsys, "--sidecar-timeout", "5", "validate-uri", tmp_path.as_uri())
    assert code == INVALID_INPUT
    assert "--sidecar-timeout needs --sidecar" in err
