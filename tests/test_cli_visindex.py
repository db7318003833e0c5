"""``archiver put-visibility`` (bulk) and ``archiver compact`` on native roots' visibility index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archivers.cli import main
from archivers.codec.protojson import message_to_dict
from archivers.testing.records import NS, make_records
from archivers.visindex.keys import DATASET, INBOX_DIR


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def native_root(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[str, Path]:
    directory = tmp_path / "root"
    assert run(capsys, "init", "--uri", directory.as_uri(), "--layout", "native")[0] == 0
    return directory.as_uri(), directory


def write_records(path: Path, count: int) -> list[str]:
    records = make_records(count)
    path.write_text("".join(json.dumps(message_to_dict(r)) + "\n" for r in records))
    return sorted(r.run_id for r in records)


def listed(capsys: pytest.CaptureFixture[str], uri: str) -> list[str]:
    code, out, err = run(capsys, "query", "--uri", uri, "--namespace-id", NS)
    assert code == 0, err
    return sorted(json.loads(line)["execution"]["runId"] for line in out.splitlines())


def inbox_objects(directory: Path) -> list[Path]:
    return [p for p in (directory / DATASET / INBOX_DIR).rglob("*") if p.is_file()]


def test_many_records_go_straight_into_compacted_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    uri, directory = native_root(capsys, tmp_path)
    run_ids = write_records(tmp_path / "records.jsonl", 150)
    code, out, err = run(capsys, "put-visibility", "--uri", uri, "--record", str(tmp_path / "records.jsonl"))
    assert (code, err) == (0, "") and "archived 150 visibility records" in out
    assert inbox_objects(directory) == []
    assert list((directory / DATASET).rglob("*.parquet"))
    assert listed(capsys, uri) == run_ids
    code, out, err = run(capsys, "put-visibility", "--uri", uri, "--record", str(tmp_path / "records.jsonl"))
    assert code == 0 and listed(capsys, uri) == run_ids  # again: nothing doubled


def test_compact_moves_the_inbox(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    uri, directory = native_root(capsys, tmp_path)
    run_ids = write_records(tmp_path / "records.jsonl", 12)
    assert run(capsys, "put-visibility", "--uri", uri, "--record", str(tmp_path / "records.jsonl"))[0] == 0
    assert len(inbox_objects(directory)) == 12
    code, out, err = run(capsys, "compact", "--uri", uri, "--namespace-id", NS)
    assert (code, err) == (0, "")
    assert "compacted 12 records into" in out and "generation 1" in out
    assert inbox_objects(directory) == []
    assert listed(capsys, uri) == run_ids
    code, out, err = run(capsys, "compact", "--uri", uri, "--namespace-id", NS)
    assert code == 0 and "compacted 0 records into 0 files" in out


def test_compact_refuses_a_root_without_the_index(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "compact", "--uri", (tmp_path / "compat").as_uri(), "--namespace-id", NS)
    assert code == 2 and "does not keep its visibility records in the native index" in err
