"""The S3 store against moto's real S3 server: the store contract, settings → client behaviour, errors."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import S3Bucket

from archivers.errors import ArchiverError, InvalidArgumentError, StoreConfigurationError, TransientError
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.store.s3 import S3Store, s3_store, translate_error
from archivers.testing.store_conformance import ObjectStoreConformance
from archivers.uri import URI
from tests.harness.emulators import MotoS3Server, free_port


def _store(bucket: str, **settings: Any) -> S3Store:
    return s3_store(URI.parse(f"s3://{bucket}/prefix"), settings)


def _sent_urls(store: S3Store) -> list[str]:
    """Record the URL of every HTTP request the store's client sends (retries included)."""
    urls: list[str] = []
    store.client.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    return urls


class TestS3StoreContract(ObjectStoreConformance):
    """The shared store contract, credentials, region and endpoint coming from the environment."""

    @pytest.fixture
    def store(self, s3_bucket: S3Bucket) -> Iterator[ObjectStore]:
        store = _store(s3_bucket.name)
        yield store
        store.close()

    @pytest.fixture
    def missing_bucket_store(self, s3_bucket: S3Bucket) -> Iterator[ObjectStore]:
        store = _store(f"missing-{uuid.uuid4().hex[:12]}")
        yield store
        store.close()


def test_put_if_absent_sends_one_conditional_put(s3_bucket: S3Bucket) -> None:
    store = _store(s3_bucket.name)
    urls = _sent_urls(store)
    assert store.put_if_absent("k", b"1") is True
    assert store.put_if_absent("k", b"2") is False
    assert len(urls) == 2
    assert store.get("k") == b"1"


def test_stat_of_a_missing_bucket_is_a_configuration_error(moto_s3_env: MotoS3Server) -> None:
    store = _store("no-such-bucket-for-stat")
    with pytest.raises(StoreConfigurationError, match="no-such-bucket-for-stat"):
        store.stat("k")
    with pytest.raises(StoreConfigurationError, match="no-such-bucket-for-stat"):
        store.delete("k")


def test_errors_keep_the_sdk_error_as_cause(s3_bucket: S3Bucket) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ObjectNotFoundError) as info:
        _store(s3_bucket.name).get("nope")
    assert isinstance(info.value.__cause__, ClientError)
    assert "nope" in str(info.value)


def test_explicit_endpoint_region_and_path_style(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    store = _store(s3_bucket.name, endpoint=s3_bucket.endpoint_url, region="us-east-1", s3ForcePathStyle=True)
    urls = _sent_urls(store)
    store.put("a/b", b"x")
    assert store.get("a/b") == b"x"
    assert urls[0] == f"{s3_bucket.endpoint_url}/{s3_bucket.name}/a/b"
    assert store.client.meta.region_name == "us-east-1"


class _Stop(Exception):
    """Raised from an event hook to stop a request before it is sent."""


def test_aws_endpoints_use_virtual_hosts_without_force_path_style(
    moto_s3_env: MotoS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    store = _store("vhost-bucket", region="eu-west-1")
    urls: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise _Stop

    store.client.meta.events.register("before-send.s3", capture)
    with pytest.raises(_Stop):
        store.put("k", b"v")
    assert urls == ["https://vhost-bucket.s3.eu-west-1.amazonaws.com/k"]  # stopped before it is sent


def test_endpoint_without_scheme_defaults_to_https(moto_s3_env: MotoS3Server) -> None:
    assert _store("bkt-x", endpoint="minio.internal:9000").client.meta.endpoint_url == "https://minio.internal:9000"


def test_unreachable_endpoint_is_transient_and_fast(moto_s3_env: MotoS3Server) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = _store("some-bucket", endpoint=endpoint, maxAttempts=1, connectTimeout=0.5, readTimeout=0.5)
    urls = _sent_urls(store)
    began = time.monotonic()
    with pytest.raises(TransientError, match="some-bucket") as info:
        store.get("k")
    assert time.monotonic() - began < 3
    assert info.value.retryable is True
    assert len(urls) == 1


def test_max_attempts_is_the_number_of_requests(moto_s3_env: MotoS3Server) -> None:
    store = _store("some-bucket", endpoint=f"http://127.0.0.1:{free_port()}", maxAttempts=3, connectTimeout=0.2)
    urls = _sent_urls(store)
    with pytest.raises(TransientError):
        store.check_bucket()
    assert len(urls) == 3


def test_retry_settings_default_to_the_environment(moto_s3_env: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    assert _store("b-x", endpoint=endpoint).client.meta.config.retries["mode"] == "standard"
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    store = _store("some-bucket", endpoint=endpoint, connectTimeout=0.2)
    assert store.client.meta.config.retries["mode"] == "adaptive"
    urls = _sent_urls(store)
    with pytest.raises(TransientError):
        store.check_bucket()
    assert len(urls) == 2
    assert _store("b-x", endpoint=endpoint, retryMode="legacy").client.meta.config.retries["mode"] == "legacy"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_read_timeout_is_transient(moto_s3_env: MotoS3Server, silent_server: str) -> None:
    store = _store("some-bucket", endpoint=silent_server, maxAttempts=1, readTimeout=0.3)
    began = time.monotonic()
    with pytest.raises(TransientError, match="some-bucket"):
        store.get("k")
    assert time.monotonic() - began < 3


def test_credentials_come_from_the_environment(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
    store = _store(s3_bucket.name)
    credentials = store.client._request_signer._credentials
    assert credentials.access_key == "AKIAFROMENVIRONMENT1"


def test_no_credentials_is_a_configuration_error(moto_s3_env: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreConfigurationError, match="creds-bucket"):
        _store("creds-bucket").get("k")


@pytest.mark.parametrize(
    "settings",
    [{"maxAttempts": 0}, {"maxAttempts": "x"}, {"maxAttempts": 1.5}, {"retryMode": "eager"}, {"readTimeout": -1}],
)
def test_invalid_settings_are_rejected(moto_s3_env: MotoS3Server, settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=next(iter(settings))):
        _store("bkt", **settings)


def test_uri_without_bucket_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError):
        s3_store(URI.parse("s3:///prefix"), {})


# --------------------------------------------------------------------------------------------------
# permission errors: moto checks signatures and IAM policies once /moto-api/reset-auth turns auth on
# --------------------------------------------------------------------------------------------------


def _set_moto_auth(server: MotoS3Server, free_actions: str) -> None:
    request = urllib.request.Request(
        f"{server.endpoint_url}/moto-api/reset-auth",
        method="POST",
        data=free_actions.encode(),
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def unprivileged_keys(s3_bucket: S3Bucket) -> Iterator[tuple[str, str]]:
    """Access keys of an IAM user without any policy; moto enforces auth while the fixture is active."""
    import boto3

    iam = boto3.client("iam", endpoint_url=s3_bucket.endpoint_url, region_name="us-east-1")
    user = f"nobody-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_moto_auth(s3_bucket.server, "0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _set_moto_auth(s3_bucket.server, "inf")


def test_access_denied_names_the_bucket(
    s3_bucket: S3Bucket, unprivileged_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", unprivileged_keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", unprivileged_keys[1])
    store = _store(s3_bucket.name)
    for call in (lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: store.list_page("")):
        with pytest.raises(StoreConfigurationError, match=s3_bucket.name) as info:
            call()
        assert info.value.retryable is False
        assert "AccessDenied" in str(info.value)


def test_unknown_access_key_names_the_bucket(
    s3_bucket: S3Bucket, unprivileged_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    store = _store(s3_bucket.name)
    with pytest.raises(StoreConfigurationError, match=s3_bucket.name) as info:
        store.put_if_absent("k", b"v")
    assert "InvalidAccessKeyId" in str(info.value)


# --------------------------------------------------------------------------------------------------
# translate_error on errors moto does not produce on demand
# --------------------------------------------------------------------------------------------------


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )
    return error


@pytest.mark.parametrize(
    ("code", "status", "key", "expected", "retryable"),
    [
        ("SlowDown", 503, "k", TransientError, True),
        ("InternalError", 500, "k", TransientError, True),
        ("RequestTimeout", 400, "k", TransientError, True),
        ("ThrottlingException", 400, "k", TransientError, True),
        ("SignatureDoesNotMatch", 403, "k", StoreConfigurationError, False),
        ("403", 403, "k", StoreConfigurationError, False),
        ("404", 404, "k", ObjectNotFoundError, False),
        ("404", 404, None, StoreConfigurationError, False),
        ("NoSuchBucket", 404, "k", StoreConfigurationError, False),
        ("Weird", 501, "k", ArchiverError, True),
        ("Weird", 400, "k", ArchiverError, False),
    ],
)
def test_translate_error_table(
    code: str, status: int, key: str | None, expected: type[ArchiverError], retryable: bool
) -> None:
    error = translate_error(_client_error(code, status), "bkt", key)
    assert type(error) is expected
    assert error.retryable is retryable
    if expected is StoreConfigurationError:
        assert "bkt" in str(error)


def test_translate_error_connection_errors() -> None:
    from botocore.exceptions import (
        ConnectionClosedError,
        CredentialRetrievalError,
        EndpointConnectionError,
        ParamValidationError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    assert type(translate_error(ProfileNotFound(profile="p"), "bkt")) is StoreConfigurationError
    assert type(translate_error(ParamValidationError(report="r"), "bkt", "k")) is InvalidArgumentError
    assert translate_error(CredentialRetrievalError(provider="imds", error_msg="e"), "bkt").retryable is True

    for exc in (
        EndpointConnectionError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
    ):
        assert type(translate_error(exc, "bkt", "k")) is TransientError
