"""``archiver`` speaks the cluster's names: Temporal's own search attributes, SQL visibility aliases read
from a running cluster (``--address``) or given as flags, and rows in the ``temporal`` CLI's shape both
ways (``query -o json`` prints them, ``put-visibility`` reads them).

The cluster is the session's Temporal dev server (SQLite visibility, so custom search attributes live in
columns such as ``Keyword02`` and the namespace holds the aliases); rows come from the real ``temporal`` CLI.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from archivers.cli import main
from archivers.codec.cli_rows import ARCHIVED_FIELDS
from tests.harness.emulators import TemporalDevServer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def namespace(server: TemporalDevServer) -> dict[str, Any]:
    """``temporal operator namespace describe -o json`` of the server's namespace."""
    described: dict[str, Any] = json.loads(
        server.cli("operator", "namespace", "describe", "-n", server.namespace, "-o", "json").stdout
    )
    return described


def register(server: TemporalDevServer, **types: str) -> None:
    """Register custom search attributes on the server's namespace (name=Type)."""
    for name, kind in types.items():
        server.cli("operator", "search-attribute", "create", "-n", server.namespace, "--name", name, "--type", kind)


def record_file(tmp_path: Path, namespace_id: str, search_attributes: dict[str, str]) -> str:
    record = {
        "namespaceId": namespace_id, "namespace": "default", "workflowId": "sql-1", "runId": "run-sql-1",
        "workflowTypeName": "OrderFlow", "startTime": "2024-06-01T08:00:00Z", "closeTime": "2024-06-01T08:00:42Z",
        "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED", "historyLength": "11", "searchAttributes": search_attributes,
    }  # fmt: skip
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    return str(path)


def test_query_rows_equal_temporal_workflow_list_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, temporal_dev: TemporalDevServer
) -> None:
    """Rows the temporal CLI printed go in through put-visibility and come out of query -o json unchanged."""
    tag = uuid.uuid4().hex[:8]
    customer, amount = f"Cust{tag}", f"Amount{tag}"
    register(temporal_dev, **{customer: "Keyword", amount: "Int"})
    ids = [f"rows-{tag}-{i}" for i in range(2)]
    temporal_dev.cli(
        "workflow", "start", "--type", "OrderFlow", "--task-queue", f"q-{tag}", "-w", ids[0],
        "--memo", 'note={"a":[1,2.5,"x<&>"],"b":null}', "--memo", "n=5",
        "--search-attribute", f'{customer}="c-1"', "--search-attribute", f"{amount}=120",
        "--search-attribute", 'BuildIds=["b1"]',
    )  # fmt: skip
    temporal_dev.cli("workflow", "start", "--type", "Plain", "--task-queue", f"q-{tag}", "-w", ids[1])
    for workflow_id in ids:
        temporal_dev.cli("workflow", "terminate", "-w", workflow_id, "--reason", "done")
    listed = temporal_dev.cli("workflow", "list", "-q", f"WorkflowId STARTS_WITH 'rows-{tag}'", "-o", "json").stdout
    live = json.loads(listed)
    assert len(live) == 2 and all("closeTime" in row for row in live)
    rows_path = tmp_path / "rows.json"
    rows_path.write_text(listed)
    namespace_id = namespace(temporal_dev)["namespaceInfo"]["id"]
    uri = f"file://{tmp_path}/archive"

    code, out, err = run(capsys, "put-visibility", "--uri", uri, "--record", str(rows_path),
                         "--namespace-id", namespace_id, "--namespace", "default")  # fmt: skip
    assert code == 0, err
    # The cluster types its custom attributes, as the server does for `workflow list --archived`.
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", namespace_id, "-o", "json",
                         "--address", temporal_dev.address)  # fmt: skip
    assert code == 0, err

    # An archived listing has what a visibility record holds; it omits empty search attributes.
    expected = [
        {k: v for k, v in row.items() if k in ARCHIVED_FIELDS and not (k == "searchAttributes" and v == {})}
        for row in live
    ]
    assert json.loads(out) == expected
    assert out.startswith("[\n{\n  \"execution\": {\n") and out.endswith("}\n]\n")
    with_memo = next(row for row in json.loads(out) if row["execution"]["workflowId"] == ids[0])
    assert with_memo["memo"]["fields"] == {"n": 5, "note": {"a": [1, 2.5, "x<&>"], "b": None}}


def test_query_by_the_names_registered_on_the_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, temporal_dev: TemporalDevServer
) -> None:
    """Records holding SQL column names are queried and printed by the names the namespace registered."""
    tag = uuid.uuid4().hex[:8]
    customer = f"Customer{tag}"
    register(temporal_dev, **{customer: "Keyword"})
    described = namespace(temporal_dev)
    column = next(c for c, a in described["config"]["customSearchAttributeAliases"].items() if a == customer)
    assert column.startswith("Keyword")
    namespace_id = described["namespaceInfo"]["id"]
    uri = f"file://{tmp_path}/archive"
    record = record_file(tmp_path, namespace_id, {column: "c-9", "TemporalChangeVersion": '["v1"]'})
    assert run(capsys, "put-visibility", "--uri", uri, "--record", record)[0] == 0

    query = f"{customer} = 'c-9' AND TemporalChangeVersion = 'v1'"
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", namespace_id, "-q", query,
                         "--address", temporal_dev.address)  # fmt: skip
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    fields = row["searchAttributes"]["indexedFields"]
    assert set(fields) == {customer, "TemporalChangeVersion"}
    assert fields[customer]["metadata"]["type"] == "S2V5d29yZA=="  # base64 of "Keyword"

    # Without the cluster, the stored column name is all the archive knows.
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", namespace_id, "-q", query)
    assert code == 2 and f"unknown field {customer!r}" in err


def test_address_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, temporal_dev: TemporalDevServer) -> None:
    uri = f"file://{tmp_path}/archive"
    code, _, err = run(capsys, "query", "--uri", uri, "--namespace-id", "no-such-id", "--address", temporal_dev.address)
    assert code == 2 and "refused to describe namespace id 'no-such-id'" in err
    code, _, err = run(capsys, "query", "--uri", uri, "--namespace-id", "x", "--address", "127.0.0.1:1")
    assert code == 4 and "cannot reach the Temporal cluster at 127.0.0.1:1" in err


def test_predefined_attributes_and_aliases_from_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Temporal's own attributes need no type; a flag alias names a SQL column, typed by its name."""
    uri = f"file://{tmp_path}/archive"
    stored = {"Keyword07": "eu", "Int03": "7", "BuildIds": '["b1","b2"]', "TemporalScheduledById": "sched-1",
              "TemporalPauseInfo": '["Workflow:w"]', "TemporalSchedulePaused": "false"}  # fmt: skip
    assert run(capsys, "put-visibility", "--uri", uri, "--record", record_file(tmp_path, "ns", stored))[0] == 0
    query = ("BuildIds = 'b2' AND TemporalScheduledById = 'sched-1' AND TemporalPauseInfo = 'Workflow:w' "
             "AND TemporalSchedulePaused = false AND Region = 'eu' AND Count > 5")  # fmt: skip
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", "ns", "-q", query,
                         "--search-attribute-alias", "Keyword07=Region", "--search-attribute-alias", "Int03=Count")
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    types = {name: value["metadata"].get("type") for name, value in row["searchAttributes"]["indexedFields"].items()}
    assert set(types) == {"Region", "Count", "BuildIds", "TemporalScheduledById", "TemporalPauseInfo",
                          "TemporalSchedulePaused"}
    assert all(types.values())  # every attribute printed with its type

    code, _, err = run(capsys, "query", "--uri", uri, "--namespace-id", "ns", "--search-attribute-alias", "Keyword07")
    assert code == 2 and "expected FIELD=NAME" in err


def test_put_visibility_row_needs_a_namespace_id(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    row = {"execution": {"workflowId": "w", "runId": "r"}, "type": {"name": "T"},
           "closeTime": "2024-06-01T08:00:42Z", "taskQueue": "q"}  # fmt: skip
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    code, _, err = run(capsys, "put-visibility", "--uri", f"file://{tmp_path}/archive", "--record", str(path))
    assert code == 2 and "pass --namespace-id" in err
    assert not (tmp_path / "archive").exists()
