"""GcsStore against fake-gcs-server: the storage-seam contract, configuration and error translation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GcsBucket, unique_name
from google.api_core import exceptions as gexc

from archivers.errors import InvalidArgumentError, StoreConfigurationError, TransientError
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.store.gcs import GcsStore, gcs_store, translate_error
from archivers.testing.store_conformance import ObjectStoreConformance
from archivers.uri import URI
from tests.harness.emulators import FakeGcsServer, free_port


def _store(uri: str, **settings: object) -> GcsStore:
    return gcs_store(URI.parse(uri), settings)


@pytest.fixture
def store(gcs_bucket: GcsBucket) -> Iterator[ObjectStore]:
    """A store on a fresh bucket, configured only by the environment (``STORAGE_EMULATOR_HOST``)."""
    created = _store(gcs_bucket.uri)
    yield created
    created.close()


@pytest.fixture
def missing_bucket_store(fake_gcs_env: FakeGcsServer, request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """A store on a bucket that does not exist."""
    created = _store(f"gs://{unique_name(request, 'missing')}")
    yield created
    created.close()


class TestGcsContract(ObjectStoreConformance):
    """The shared contract of the storage seam."""


def test_environment_selects_the_emulator_and_project(store: GcsStore, gcs_bucket: GcsBucket) -> None:
    store.check_bucket()
    assert store._client.project == gcs_bucket.project
    store.put("a/b", b"v")
    assert gcs_bucket.server.client().bucket(gcs_bucket.name).blob("a/b").download_as_bytes() == b"v"


def test_get_range_edges(store: GcsStore) -> None:
    store.put("r", b"0123")
    assert store.get_range("r", 1, 1) == b""
    assert store.get_range("r", 4, 10) == b""
    assert store.get_range("r", 0, 4) == b"0123"
    with pytest.raises(ObjectNotFoundError, match="nope"):
        store.get_range("nope", 0, 4)
    with pytest.raises(InvalidArgumentError):
        store.get_range("r", 3, 1)


def test_stat_and_delete_in_a_missing_bucket_name_it(missing_bucket_store: GcsStore) -> None:
    for call in (lambda: missing_bucket_store.stat("k"), lambda: missing_bucket_store.delete("k")):
        with pytest.raises(StoreConfigurationError, match=missing_bucket_store.bucket):
            call()


def test_missing_credentials_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    with pytest.raises(StoreConfigurationError, match="my-bucket") as info:
        _store("gs://my-bucket/p", credentialsPath=str(tmp_path / "absent.json"))
    assert info.value.retryable is False


def test_unusable_default_credentials_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "nonsense"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    with pytest.raises(StoreConfigurationError, match="my-bucket"):
        _store("gs://my-bucket/p")


def test_dead_endpoint_without_retries_fails_fast_as_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    store = _store("gs://some-bucket/p", maxAttempts=1, timeout=1)
    began = time.monotonic()
    with pytest.raises(TransientError, match="some-bucket") as info:
        store.get("k")
    assert time.monotonic() - began < 5
    assert info.value.retryable is True
    assert not isinstance(info.value.__cause__, gexc.RetryError)  # one attempt, no retry loop


def test_dead_endpoint_retries_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    store = _store("gs://some-bucket/p", timeout=0.5, retryDeadline=1.5)
    began = time.monotonic()
    with pytest.raises(TransientError, match="some-bucket") as info:
        store.put_if_absent("k", b"v")
    assert time.monotonic() - began < 10
    # google-api-core gave up at the deadline (it stops early when the next back-off would pass it).
    assert isinstance(info.value.__cause__, gexc.RetryError)


@pytest.mark.parametrize("settings", [{"timeout": 0}, {"retryDeadline": "soon"}, {"maxAttempts": -1}])
def test_bad_settings_are_invalid_arguments(fake_gcs_env: FakeGcsServer, settings: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        gcs_store(URI.parse("gs://b/p"), settings)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (gexc.Forbidden("denied"), StoreConfigurationError),
        (gexc.Unauthorized("who"), StoreConfigurationError),
        (gexc.TooManyRequests("slow down"), TransientError),
        (gexc.ServiceUnavailable("later"), TransientError),
        (gexc.GatewayTimeout("later"), TransientError),
        (gexc.BadRequest("bad name"), InvalidArgumentError),
    ],
)
def test_translate_error_classes(exc: Exception, expected: type[Exception]) -> None:
    error = translate_error(exc, "bkt", "k")
    assert type(error) is expected
    assert "bkt" in str(error)
    assert error.__cause__ is exc


def test_translate_not_found_depends_on_the_bucket() -> None:
    assert isinstance(translate_error(gexc.NotFound("x"), "bkt", "k"), ObjectNotFoundError)
    assert isinstance(translate_error(gexc.NotFound("x"), "bkt", "k", bucket_exists=False), StoreConfigurationError)
    assert isinstance(translate_error(gexc.NotFound("x"), "bkt", None), StoreConfigurationError)
