"""The emulator fixtures really run the emulators, and the emulators behave as the backends rely on:
conditional writes refuse a second create, listings page, state is isolated between tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import AzureContainer, GcsBucket, S3Bucket

from tests.harness.emulators import (
    AzuriteBlobServer,
    EmulatorNotInstalledError,
    EmulatorStartError,
    FakeGcsServer,
    MotoS3Server,
    TemporalDevServer,
    find_temporal_cli,
)

pytestmark = pytest.mark.timeout(120)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan is reaped by init, a child by Popen.wait)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# ---------------------------------------------------------------------------------------------------
# moto S3
# ---------------------------------------------------------------------------------------------------


def test_moto_env_and_roundtrip(s3_bucket: S3Bucket) -> None:
    import boto3

    assert os.environ["AWS_ENDPOINT_URL"] == s3_bucket.endpoint_url
    assert os.environ["AWS_REGION"] == s3_bucket.region
    client = boto3.client("s3")  # configured by the environment only
    client.put_object(Bucket=s3_bucket.name, Key="a/b.json", Body=b"{}")
    assert client.get_object(Bucket=s3_bucket.name, Key="a/b.json")["Body"].read() == b"{}"
    assert s3_bucket.uri == f"s3://{s3_bucket.name}"


def test_moto_conditional_put_refuses_second_create(s3_bucket: S3Bucket) -> None:
    from botocore.exceptions import ClientError

    client = s3_bucket.server.client()
    client.put_object(Bucket=s3_bucket.name, Key="k", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=s3_bucket.name, Key="k", Body=b"2", IfNoneMatch="*")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=s3_bucket.name, Key="k")["Body"].read() == b"1"


def test_moto_list_paging(s3_bucket: S3Bucket) -> None:
    client = s3_bucket.server.client()
    for i in range(25):
        client.put_object(Bucket=s3_bucket.name, Key=f"p/{i:03d}", Body=b"x")
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=s3_bucket.name, Prefix="p/", PaginationConfig={"PageSize": 10}
    )
    assert [len(page["Contents"]) for page in pages] == [10, 10, 5]


def test_moto_reset_isolates(moto_s3: MotoS3Server) -> None:
    client = moto_s3.client()
    client.create_bucket(Bucket="reset-me")
    moto_s3.reset()
    assert client.list_buckets()["Buckets"] == []


def test_moto_previous_test_left_nothing(s3_bucket: S3Bucket) -> None:
    names = [b["Name"] for b in s3_bucket.server.client().list_buckets()["Buckets"]]
    assert names == [s3_bucket.name]


# ---------------------------------------------------------------------------------------------------
# fake-gcs-server
# ---------------------------------------------------------------------------------------------------


def test_gcs_env_and_generation_precondition(gcs_bucket: GcsBucket) -> None:
    from google.api_core.exceptions import PreconditionFailed
    from google.cloud import storage

    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_bucket.endpoint_url
    client = storage.Client()  # configured by the environment only (anonymous against the emulator)
    bucket = client.bucket(gcs_bucket.name)
    bucket.blob("h/1.json").upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.blob("h/1.json").upload_from_string(b"second", if_generation_match=0)
    blob = bucket.get_blob("h/1.json")
    assert blob is not None and blob.download_as_bytes() == b"first"
    with pytest.raises(PreconditionFailed):
        bucket.blob("h/1.json").upload_from_string(b"x", if_generation_match=blob.generation + 1)
    bucket.blob("h/1.json").upload_from_string(b"third", if_generation_match=blob.generation)
    assert bucket.blob("h/1.json").download_as_bytes() == b"third"


def test_gcs_list_paging(gcs_bucket: GcsBucket) -> None:
    client = gcs_bucket.server.client()
    bucket = client.bucket(gcs_bucket.name)
    for i in range(25):
        bucket.blob(f"p/{i:03d}").upload_from_string(b"x")
    bucket.blob("q/other").upload_from_string(b"x")
    pages = [[b.name for b in page] for page in client.list_blobs(gcs_bucket.name, prefix="p/", page_size=10).pages]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == [f"p/{i:03d}" for i in range(25)]
    # max_results caps the total across pages
    capped = client.list_blobs(gcs_bucket.name, prefix="p/", max_results=7, page_size=5)
    assert [len(list(page)) for page in capped.pages] == [5, 2]
    # a page token handed back resumes where the page ended
    first = client.list_blobs(gcs_bucket.name, prefix="p/", max_results=10)
    names = [b.name for b in first]
    token = first.next_page_token
    assert names == [f"p/{i:03d}" for i in range(10)] and token
    rest = client.list_blobs(gcs_bucket.name, prefix="p/", page_token=token)
    assert [b.name for b in rest] == [f"p/{i:03d}" for i in range(10, 25)]
    # delimiter listing gives prefixes
    it = client.list_blobs(gcs_bucket.name, delimiter="/")
    list(it)
    assert it.prefixes == {"p/", "q/"}


def test_gcs_buckets_are_per_test(gcs_bucket: GcsBucket) -> None:
    names = [b.name for b in gcs_bucket.server.client().list_buckets()]
    assert names == [gcs_bucket.name]


# ---------------------------------------------------------------------------------------------------
# Azurite
# ---------------------------------------------------------------------------------------------------


def test_azurite_env_and_create_only_upload(azure_container: AzureContainer) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    with service:
        container = service.get_container_client(azure_container.name)
        container.upload_blob("h/1.json", b"first", overwrite=False)
        with pytest.raises(ResourceExistsError):
            container.upload_blob("h/1.json", b"second", overwrite=False)
        assert container.download_blob("h/1.json").readall() == b"first"


def test_azurite_list_paging(azure_container: AzureContainer) -> None:
    with azure_container.server.service_client() as service:
        container = service.get_container_client(azure_container.name)
        for i in range(25):
            container.upload_blob(f"p/{i:03d}", b"x")
        pages = container.list_blobs(name_starts_with="p/", results_per_page=10).by_page()
        sizes = [len(list(page)) for page in pages]
        assert sizes == [10, 10, 5]


def test_azurite_containers_are_per_test(azure_container: AzureContainer) -> None:
    with azure_container.server.service_client() as service:
        assert [c.name for c in service.list_containers()] == [azure_container.name]


# ---------------------------------------------------------------------------------------------------
# Temporal dev server
# ---------------------------------------------------------------------------------------------------


def test_temporal_dev_answers(temporal_env: TemporalDevServer) -> None:
    assert os.environ["TEMPORAL_ADDRESS"] == temporal_env.address
    result = temporal_env.cli("operator", "cluster", "health")
    assert "SERVING" in result.stdout
    # the CLI picks the address from the environment as well
    assert temporal_env.executable is not None
    env_run = subprocess.run(
        [str(temporal_env.executable), "operator", "namespace", "describe", "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_run.returncode == 0, env_run.stderr


# ---------------------------------------------------------------------------------------------------
# lifecycle: clean stop, readable repr, clear errors
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [FakeGcsServer, AzuriteBlobServer, TemporalDevServer])
def test_process_emulator_lifecycle(cls: type[FakeGcsServer | AzuriteBlobServer | TemporalDevServer]) -> None:
    try:
        emulator = cls()
        with emulator:
            assert "running" in repr(emulator) and str(emulator.port) in repr(emulator)
            pid = emulator.pid
            assert pid is not None and _pid_alive(pid)
            workdir = emulator.workdir
        assert "stopped" in repr(emulator)
        assert not _pid_alive(pid)
        assert not workdir.exists()
        emulator.stop()  # idempotent
    except EmulatorNotInstalledError as err:
        pytest.fail(str(err))


def test_moto_lifecycle() -> None:
    with MotoS3Server() as server:
        assert "running" in repr(server)
        assert urllib.request.urlopen(f"{server.endpoint_url}/", timeout=5).status == 200
    assert "stopped" in repr(server)


def test_failed_start_reports_log_and_cleans_up(tmp_path: Path) -> None:
    # A real binary that refuses its arguments: the error must carry what it printed.
    bogus = FakeGcsServer(extra_args=["-no-such-flag"], startup_timeout=20)
    with pytest.raises(EmulatorStartError) as info:
        bogus.start()
    assert "no-such-flag" in str(info.value)
    assert "emulator log" in str(info.value)
    assert not bogus.running and bogus.pid is None


def test_port_taken_is_reported(fake_gcs: FakeGcsServer) -> None:
    clash = FakeGcsServer(port=fake_gcs.port, startup_timeout=20)
    with pytest.raises(EmulatorStartError):
        clash.start()
    assert fake_gcs.running


def test_missing_binary_names_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZURITE_BLOB_BIN", str(tmp_path / "nope"))
    with pytest.raises(EmulatorNotInstalledError, match="AZURITE_BLOB_BIN"):
        AzuriteBlobServer().start()
    monkeypatch.delenv("AZURITE_BLOB_BIN")
    monkeypatch.setenv("TEMPORAL_CLI", str(tmp_path / "nope"))
    with pytest.raises(EmulatorNotInstalledError):
        find_temporal_cli()


def test_emulator_dies_with_its_parent() -> None:
    """An emulator started by a process that is killed outright (no cleanup) does not outlive it."""
    script = (
        "import sys, time\n"
        "from tests.harness.emulators import FakeGcsServer\n"
        "server = FakeGcsServer().start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _pid_alive(pid)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 15
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(pid)


def test_restart_after_stop() -> None:
    server = FakeGcsServer()
    with server:
        first = server.port
    with server:
        assert server.running and server.port
        assert server.client().list_buckets() is not None
    assert not server.running and first
