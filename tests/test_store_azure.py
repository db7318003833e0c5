"""AzureBlobStore against Azurite: the storage-seam contract, configuration and error translation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from conftest import AzureContainer, unique_name
from hypothesis import given
from hypothesis import strategies as st

from archivers.errors import InvalidArgumentError, StoreConfigurationError, TransientError
from archivers.store.azure import AzureBlobStore, azure_store, decode_key, encode_key, translate_error
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.testing.store_conformance import ObjectStoreConformance
from archivers.uri import URI
from tests.harness.emulators import AZURITE_ACCOUNT_KEY, AzuriteBlobServer, free_port

# Azurite's well-known key with its first character changed: the signature no longer matches.
WRONG_KEY = ("A" if AZURITE_ACCOUNT_KEY[0] != "A" else "B") + AZURITE_ACCOUNT_KEY[1:]


def _store(uri: str, **settings: object) -> AzureBlobStore:
    return azure_store(URI.parse(uri), settings)


@pytest.fixture
def store(azure_container: AzureContainer) -> Iterator[ObjectStore]:
    """A store on a fresh container, configured only by ``AZURE_STORAGE_CONNECTION_STRING``."""
    created = _store(azure_container.uri)
    yield created
    created.close()


@pytest.fixture
def missing_bucket_store(azurite_env: AzuriteBlobServer, request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """A store on a container that does not exist."""
    created = _store(f"azblob://{unique_name(request, 'missing')}")
    yield created
    created.close()


class TestAzureContract(ObjectStoreConformance):
    """The shared contract of the storage seam."""


def test_environment_selects_the_account(store: AzureBlobStore, azure_container: AzureContainer) -> None:
    store.check_bucket()
    store.put("a/b", b"v")
    with azure_container.server.service_client() as service:
        assert service.get_container_client(azure_container.name).download_blob("a/b").readall() == b"v"


def test_settings_win_over_the_environment(azure_container: AzureContainer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=eA==")
    store = _store(azure_container.uri, connectionString=azure_container.connection_string, apiVersion="2021-08-06")
    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_get_range_edges(store: AzureBlobStore) -> None:
    store.put("r", b"0123")
    assert store.get_range("r", 1, 1) == b""
    assert store.get_range("r", 4, 10) == b""
    assert store.get_range("r", 0, 4) == b"0123"
    with pytest.raises(ObjectNotFoundError, match="nope"):
        store.get_range("nope", 0, 4)
    with pytest.raises(InvalidArgumentError):
        store.get_range("r", 3, 1)


def test_stat_and_delete_in_a_missing_container_name_it(missing_bucket_store: AzureBlobStore) -> None:
    for call in (lambda: missing_bucket_store.stat("k"), lambda: missing_bucket_store.delete("k")):
        with pytest.raises(StoreConfigurationError, match=missing_bucket_store.bucket):
            call()


def test_wrong_account_key_is_a_named_configuration_error(azure_container: AzureContainer) -> None:
    bad = azure_container.connection_string.replace(AZURITE_ACCOUNT_KEY, WRONG_KEY)
    store = _store(azure_container.uri, connectionString=bad, maxAttempts=1)
    for call in (store.check_bucket, lambda: store.get("k"), lambda: store.put_if_absent("k", b"v")):
        with pytest.raises(StoreConfigurationError, match=azure_container.name) as info:
            call()
        assert info.value.retryable is False
        assert isinstance(info.value.__cause__, HttpResponseError) and info.value.__cause__.status_code == 403


def test_no_account_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StoreConfigurationError, match="my-container"):
        _store("azblob://my-container/p")
    with pytest.raises(StoreConfigurationError, match="my-container"):
        _store("azblob://my-container/p", connectionString="not a connection string")


def test_account_url_uses_default_azure_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_URL", "https://example.blob.core.windows.net")
    store = _store("azblob://my-container/p")
    try:
        assert type(store._client.credential).__name__ == "DefaultAzureCredential"
        assert store._client.url.startswith("https://example.blob.core.windows.net/my-container")
    finally:
        store.close()


def test_dead_endpoint_with_one_attempt_fails_fast_as_transient() -> None:
    dead = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_ACCOUNT_KEY};"
        f"BlobEndpoint={dead};"
    )
    store = _store("azblob://some-container", connectionString=connection_string, maxAttempts=1,
                   connectionTimeout=1, readTimeout=1)  # fmt: skip
    began = time.monotonic()
    with pytest.raises(TransientError, match="some-container") as info:
        store.get("k")
    assert time.monotonic() - began < 5
    assert info.value.retryable is True
    assert isinstance(info.value.__cause__, ServiceRequestError)


@pytest.mark.parametrize(
    "settings", [{"maxAttempts": 0}, {"maxAttempts": 1.5}, {"readTimeout": "soon"}, {"connectionTimeout": -1}]
)
def test_bad_settings_are_invalid_arguments(azurite_env: AzuriteBlobServer, settings: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        azure_store(URI.parse("azblob://cont/p"), settings)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(403, StoreConfigurationError), (429, TransientError), (503, TransientError), (500, TransientError),
     (400, InvalidArgumentError)],
)  # fmt: skip
def test_translate_error_by_status(status: int, expected: type[Exception]) -> None:
    exc = HttpResponseError(message="boom")
    exc.status_code = status
    error = translate_error(exc, "cont", "k")
    assert type(error) is expected
    assert "cont" in str(error)
    assert error.__cause__ is exc


@given(st.text(alphabet="ab./%\\\\-!&é", max_size=12), st.text(alphabet="ab./%\\\\-", max_size=6))
def test_key_escaping_round_trips_and_keeps_prefixes(key: str, tail: str) -> None:
    assert decode_key(encode_key(key)) == key
    assert encode_key(key + tail).startswith(encode_key(key, is_prefix=True))
    for segment in encode_key(key + tail).split("/"):
        assert not segment.endswith(".") and "\\" not in segment


def test_dot_segments_and_backslashes_round_trip(store: AzureBlobStore) -> None:
    keys = ["a/./b", "a/..", ".", "x\\y", "p.%/q", "trail."]
    for key in keys:
        assert store.put_if_absent(key, key.encode()) is True
    for key in keys:
        assert store.get(key) == key.encode()
        assert store.stat(key) is not None
    assert sorted(o.key for page in store.list_all("") for o in page.objects) == sorted(keys)
    assert [p for page in store.list_all("a/", delimiter="/") for p in page.prefixes] == ["a/./"]
    # The documented exception to byte order: "a/./b" is stored as "a/.%/b", before "a/..%".
    assert [o.key for page in store.list_all("a/.") for o in page.objects] == ["a/./b", "a/.."]
