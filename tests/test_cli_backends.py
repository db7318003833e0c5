"""The ``archiver`` command on every object-store backend, configured the way users configure it.

Each backend gets the same session: ``validate-uri`` (an existing bucket, then a missing one),
``put`` of a 1,000-event history and ``put-visibility`` of the sample records written by
``python -m archivers.testing.sample``, ``get`` back (identical to the file), ``query`` with
filters. The CLI runs as a real process (``python -m archivers.cli``) whose environment holds only
the SDK's usual variables for the store under test — ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` for s3://; ``STORAGE_EMULATOR_HOST`` for gs://;
``AZURE_STORAGE_CONNECTION_STRING`` for azblob:// — and once with the endpoint taken from
``--config FILE`` instead. ``fsspec+memory://`` lives in one process's memory, so it runs in
process through :func:`archivers.cli.main`; ``file://`` is the reference.

What the stores hold afterwards is checked with each SDK directly (the data really went to the
emulator named by the environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import farmhash
import fsspec
import pytest
from conftest import AzureContainer, GcsBucket, S3Bucket

from archivers.cli import main
from archivers.cli.exit_codes import FAILURE

REPO = Path(__file__).resolve().parents[1]
NS_ID = "cli-backends-ns"
WID = "order-main"
RID = "run-main-0001"
EVENTS = 1000

_CLOUD_VARIABLES = ("AWS_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "STORAGE_EMULATOR_HOST", "AZURE_")
_HERMETIC_AWS = {  # hide the user's AWS files and instance metadata; they hold no endpoint or key here
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}

Result = tuple[int, str, str]
"""Exit code, stdout, stderr of one CLI run."""


# -- the sample input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The files written by ``python -m archivers.testing.sample``."""

    history: Path
    records: Path

    @property
    def record_dicts(self) -> list[dict[str, Any]]:
        """The visibility records as parsed JSON."""
        return [json.loads(line) for line in self.records.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A 1,000-event history and 8 visibility records, written once by the sample module as a process."""
    root = tmp_path_factory.mktemp("cli-backends-sample")
    history, records = root / "history.json", root / "records.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "archivers.testing.sample", "--history", str(history), "--records", str(records),
         "--namespace-id", NS_ID, "--wid", WID, "--rid", RID, "--events", str(EVENTS)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Sample(history, records)


# -- how the CLI is run -------------------------------------------------------------------------


def clean_environment(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without any cloud SDK variable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLOUD_VARIABLES)}
    env.update(variables)
    return env


def process_runner(variables: dict[str, str]) -> Callable[..., Result]:
    """Run ``python -m archivers.cli ARGS`` with exactly ``variables`` as its cloud configuration."""
    env = clean_environment(variables)

    def run(*args: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "archivers.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    return run


def in_process_runner(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the CLI in this process (for stores that live in this process's memory)."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@dataclass
class Target:
    """One backend under test: a URI in an existing bucket, one in a missing bucket, and how to look inside."""

    uri: str
    missing_uri: str
    missing_name: str
    run: Callable[..., Result]
    stored_keys: Callable[[], set[str]]
    expected_keys: set[str] = field(default_factory=set)


def _s3_keys(bucket: S3Bucket) -> Callable[[], set[str]]:
    def keys() -> set[str]:
        pages = bucket.server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    return keys


def _gcs_keys(bucket: GcsBucket) -> Callable[[], set[str]]:
    return lambda: {blob.name for blob in bucket.server.client().list_blobs(bucket.name)}


def _azure_keys(container: AzureContainer) -> Callable[[], set[str]]:
    def keys() -> set[str]:
        with container.server.service_client() as service:
            return {blob.name for blob in service.get_container_client(container.name).list_blobs()}

    return keys


def _s3_layout_keys(prefix: str) -> set[str]:
    """A few keys the session must leave, in Temporal's s3store layout (close failover version 0).

    ``prefix`` is empty or ends with ``/``.
    """
    return {
        f"{prefix}{NS_ID}/history/{WID}/{RID}/0/0",
        f"{prefix}{NS_ID}/visibility/workflowID/{WID}/closeTimeout/2024-05-01T12:05:00Z/{RID}",
        f"{prefix}{NS_ID}/visibility/workflowTypeName/OrderFlow/startTimeout/2024-05-01T12:00:00Z/{RID}",
    }


def _gcloud_layout_keys(prefix: str) -> set[str]:
    """A few names the session must leave, in Temporal's gcloud layout (FarmHash Fingerprint64 in decimal)."""

    def h(text: str) -> str:
        return str(farmhash.fingerprint64(text))

    return {
        f"{prefix}{h(NS_ID)}{h(WID)}{h(RID)}_0_0.history",
        f"{prefix}{NS_ID}/closeTimeout_2024-05-01T12:05:00Z_{h('OrderFlow')}_{h(WID)}_{h(RID)}.visibility",
        f"{prefix}{NS_ID}/startTimeout_2024-05-01T12:00:00Z_{h('OrderFlow')}_{h(WID)}_{h(RID)}.visibility",
    }


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A directory of fsspec's in-memory file system (the fsspec "bucket"), removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"cli-backends-{uuid.uuid4().hex[:8]}"
    fs.mkdir(root)
    try:
        yield root
    finally:
        fs.rm(root, recursive=True)


@pytest.fixture(params=["file", "s3", "gs", "azblob", "fsspec+memory"])
def target(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Target:
    """The backend named by the parameter, with its emulator's bucket and SDK environment."""
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    if request.param == "file":
        archive = tmp_path / "archive"
        return Target(
            uri=archive.as_uri(),
            missing_uri=(tmp_path / missing).as_uri(),
            missing_name=missing,
            run=process_runner({}),
            stored_keys=lambda: {str(p.relative_to(archive)) for p in archive.rglob("*") if p.is_file()},
        )
    if request.param == "s3":
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        env = {
            "AWS_ENDPOINT_URL": bucket.endpoint_url,
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": bucket.region,
            **_HERMETIC_AWS,
        }
        return Target(
            uri=f"s3://{bucket.name}/cli/archive",
            missing_uri=f"s3://{missing}/cli/archive",
            missing_name=missing,
            run=process_runner(env),
            stored_keys=_s3_keys(bucket),
            expected_keys=_s3_layout_keys("cli/archive/"),
        )
    if request.param == "gs":
        gcs: GcsBucket = request.getfixturevalue("gcs_bucket")
        return Target(
            uri=f"gs://{gcs.name}/cli/archive",
            missing_uri=f"gs://{missing}/cli/archive",
            missing_name=missing,
            run=process_runner({"STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"]}),
            stored_keys=_gcs_keys(gcs),
            expected_keys=_gcloud_layout_keys("cli/archive/"),
        )
    if request.param == "azblob":
        container: AzureContainer = request.getfixturevalue("azure_container")
        return Target(
            uri=f"azblob://{container.name}/cli/archive",
            missing_uri=f"azblob://{missing}/cli/archive",
            missing_name=missing,
            run=process_runner({"AZURE_STORAGE_CONNECTION_STRING": container.connection_string}),
            stored_keys=_azure_keys(container),
            expected_keys=_s3_layout_keys("cli/archive/"),
        )
    root: str = request.getfixturevalue("memory_root")
    fs = fsspec.filesystem("memory")
    return Target(
        uri=f"fsspec+memory://{root}",
        missing_uri=f"fsspec+memory://{missing}",
        missing_name=missing,
        run=in_process_runner(capsys),
        stored_keys=lambda: {p.lstrip("/").removeprefix(f"{root}/") for p in fs.find(f"/{root}")},
        expected_keys=_s3_layout_keys(""),
    )


# -- expectations -------------------------------------------------------------------------------


def execution_info(record: dict[str, Any]) -> dict[str, Any]:
    """The WorkflowExecutionInfo a record becomes (Go's convertToExecutionInfo; search attributes aside)."""
    info: dict[str, Any] = {
        "execution": {"workflowId": record["workflowId"], "runId": record["runId"]},
        "type": {"name": record["workflowTypeName"]},
    }
    for name in ("startTime", "executionTime", "closeTime", "executionDuration", "status", "historyLength", "memo"):
        if name in record:
            info[name] = record[name]
    return info


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    """The executions printed by ``query`` (one protojson object per line), in run id order."""
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    for row in rows:
        row.pop("searchAttributes", None)
    return sorted(rows, key=lambda row: str(row["execution"]["runId"]))


def expected_rows(sample: Sample, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The executions of the sample records that ``keep`` selects, in run id order."""
    rows = [execution_info(r) for r in sample.record_dicts if keep(r)]
    return sorted(rows, key=lambda row: str(row["execution"]["runId"]))


def assert_ok(result: Result, what: str) -> str:
    """Exit 0 and nothing on stderr; return stdout."""
    code, out, err = result
    assert (code, err) == (0, ""), f"{what} failed with exit code {code}: {err}"
    return out


def assert_one_error_line(result: Result, code: int, *fragments: str) -> str:
    """Exit ``code``, one ``error: ...`` line on stderr naming every fragment, no traceback, no stdout."""
    got, out, err = result
    assert got == code, f"expected exit code {code}, got {got}: {err}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and out == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def full_session(target: Target, sample: Sample, *config: str) -> None:
    """validate-uri, put, get, put-visibility, query (two filters) on ``target``; ``config`` is extra options."""
    run = target.run
    out = assert_ok(run("validate-uri", target.uri, *config), "validate-uri")
    assert out == f"valid history and visibility archival URI: {target.uri}\n"

    out = assert_ok(
        run("put", "--uri", target.uri, "--namespace-id", NS_ID, "--namespace", "quickstart",
            "--wid", WID, "--rid", RID, "--history", str(sample.history), *config),
        "put",
    )  # fmt: skip
    assert out.startswith(f"archived {EVENTS} events of workflow {WID!r} run {RID!r}"), out

    out = assert_ok(
        run("get", "--uri", target.uri, "--namespace-id", NS_ID, "--wid", WID, "--rid", RID, *config), "get"
    )
    original = sample.history.read_text(encoding="utf-8")
    assert json.loads(out) == json.loads(original)
    assert out.rstrip("\n") == original.rstrip("\n")  # same rendering as the sample file, byte for byte

    out = assert_ok(run("put-visibility", "--uri", target.uri, "--record", str(sample.records), *config), "put-vis")
    assert out == f"archived {len(sample.record_dicts)} visibility records to {target.uri}\n"

    query = ["query", "--uri", target.uri, "--namespace-id", NS_ID, *config]
    out = assert_ok(run(*query, "--query", "WorkflowType = 'OrderFlow'"), "query by type")
    assert parse_jsonl(out) == expected_rows(sample, lambda r: r["workflowTypeName"] == "OrderFlow")
    out = assert_ok(
        run(*query, "--query", "CustomerId = 'customer-1' AND ExecutionStatus = 'Failed'",
            "--search-attribute-type", "CustomerId=Keyword"),
        "query by search attribute",
    )  # fmt: skip
    wanted = expected_rows(
        sample,
        lambda r: (
            r["searchAttributes"]["CustomerId"] == "customer-1" and r["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
        ),
    )
    assert wanted and parse_jsonl(out) == wanted
    out = assert_ok(run(*query, "--query", "CloseTime >= '2024-05-01T16:00:00Z'", "--page-size", "2"), "query paged")
    assert parse_jsonl(out) == expected_rows(sample, lambda r: r["closeTime"] >= "2024-05-01T16:00:00Z")


# -- the tests ----------------------------------------------------------------------------------


def test_cli_session_with_sdk_environment(target: Target, sample: Sample) -> None:
    full_session(target, sample)
    stored = target.stored_keys()
    assert stored, "nothing was written to the store named by the environment"
    missing = target.expected_keys - stored
    assert not missing, f"keys of Temporal's layout not written: {sorted(missing)}; stored: {sorted(stored)[:6]}..."


def test_validate_uri_of_a_missing_bucket(target: Target) -> None:
    if target.uri.startswith("file:"):
        # Temporal's filestore only checks the URI; directories are created by the first write.
        out = assert_ok(target.run("validate-uri", target.missing_uri), "validate-uri")
        assert out.startswith("valid ")
        return
    # A missing bucket is a StoreConfigurationError: non-retryable, not invalid input -> exit 1.
    for kind in ("history", "visibility"):
        assert_one_error_line(
            target.run("validate-uri", target.missing_uri, "--kind", kind), FAILURE, target.missing_name
        )
    assert_one_error_line(target.run("validate-uri", target.missing_uri), FAILURE, target.missing_name)


def test_cli_session_with_config_file(s3_bucket: S3Bucket, sample: Sample, tmp_path: Path) -> None:
    """The endpoint and region come from the YAML (Temporal's s3store block), credentials from the environment.

    ``AWS_ENDPOINT_URL`` points at a closed port: the configured endpoint must win over it.
    """
    settings = f"{{region: {s3_bucket.region}, endpoint: '{s3_bucket.endpoint_url}', s3ForcePathStyle: true}}"
    config = tmp_path / "archival.yaml"
    config.write_text(
        "archival:\n"
        "  history:\n"
        "    state: enabled\n"
        "    provider:\n"
        f"      s3store: {settings}\n"
        "  visibility:\n"
        "    state: enabled\n"
        "    provider:\n"
        f"      s3store: {settings}\n",
        encoding="utf-8",
    )
    env = {
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing listens there
        "AWS_MAX_ATTEMPTS": "1",
        **_HERMETIC_AWS,
    }
    target = Target(
        uri=f"s3://{s3_bucket.name}/from-config",
        missing_uri="",
        missing_name="",
        run=process_runner(env),
        stored_keys=_s3_keys(s3_bucket),
    )
    full_session(target, sample, "--config", str(config))
    stored = target.stored_keys()
    for key in _s3_layout_keys("from-config/"):
        assert key in stored, key
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    assert_one_error_line(target.run("validate-uri", f"s3://{missing}/x", "--config", str(config)), FAILURE, missing)
