"""The storage seam over Google Cloud Storage (``google-cloud-storage``).

Settings (Temporal's ``gstorage`` block plus ours), all optional:

``credentialsPath``
    a service-account JSON key file. Without it the client uses Application Default
    Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, the metadata server); when
    ``STORAGE_EMULATOR_HOST`` is set the library itself talks to the emulator anonymously.
``project``
    the project of the client (default: the credentials' or ``GOOGLE_CLOUD_PROJECT``).
``timeout``
    seconds every HTTP request may take (default 60).
``retryDeadline``
    seconds google-api-core keeps retrying a retryable failure (default 120, the library's).
``maxAttempts``
    ``1`` turns retries off. google-api-core bounds retries by deadline, not by count, so any
    larger value leaves retries on, bounded by ``retryDeadline``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY, ConditionalRetryPolicy, is_generation_specified

from archivers.errors import ArchiverError, InvalidArgumentError, StoreConfigurationError, TransientError
from archivers.store.base import ListPage, ObjectInfo, ObjectNotFoundError, ObjectStore
from archivers.store.settings import positive_setting
from archivers.uri import URI

__all__ = ["GcsStore", "gcs_store", "translate_error"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRY_DEADLINE = 120.0

_TRANSIENT_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
    DataCorruption,  # a checksum mismatch of a download: reading again may succeed
)


def translate_error(
    exc: BaseException, bucket: str, key: str | None = None, *, bucket_exists: bool = True
) -> ArchiverError:
    """The project's error for an exception raised by google-cloud-storage (its ``__cause__`` is set).

    ``key`` is the object the call was about (``None`` for bucket-level calls such as listing).
    A 404 on an object call means a missing object only if ``bucket_exists``: GCS emulators answer
    a missing bucket and a missing object with the same 404, so callers find out separately.
    """
    where = f"gs://{bucket}/{key}" if key is not None else f"gs://{bucket}"
    error: ArchiverError
    if isinstance(exc, gexc.NotFound):
        if key is None or not bucket_exists:
            error = StoreConfigurationError(f"GCS bucket {bucket!r} does not exist")
        else:
            error = ObjectNotFoundError(f"object {where} does not exist")
    elif isinstance(exc, (gexc.Forbidden, gexc.Unauthorized)):
        error = StoreConfigurationError(f"access to GCS bucket {bucket!r} denied: {exc.message}")
    elif isinstance(exc, auth_exc.DefaultCredentialsError):
        error = StoreConfigurationError(f"no Google credentials for GCS bucket {bucket!r}: {exc}")
    elif isinstance(exc, auth_exc.TransportError) or (
        isinstance(exc, auth_exc.RefreshError) and getattr(exc, "retryable", False)
    ):
        error = TransientError(f"fetching Google credentials for GCS bucket {bucket!r} failed: {exc}")
    elif isinstance(exc, auth_exc.GoogleAuthError):
        error = StoreConfigurationError(f"Google credentials rejected for GCS bucket {bucket!r}: {exc}")
    elif isinstance(exc, (gexc.RetryError, *_TRANSIENT_TRANSPORT_ERRORS)) or _transient_status(exc):
        error = TransientError(f"GCS request for {where} failed temporarily: {_describe(exc)}")
    elif isinstance(exc, gexc.BadRequest):
        error = InvalidArgumentError(f"GCS rejected the request for {where}: {exc.message}")
    else:
        error = ArchiverError(f"GCS request for {where} failed: {_describe(exc)}", retryable=False)
    error.__cause__ = exc
    return error


def _transient_status(exc: BaseException) -> bool:
    """Whether ``exc`` is an HTTP 408, 429 or 5xx answer (timeout, throttling, server trouble)."""
    code = exc.code if isinstance(exc, gexc.GoogleAPICallError) else None
    return isinstance(code, int) and (code in (408, 429) or code >= 500)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        return f"{exc.message} (last error: {exc.cause!r})"
    return str(exc) or type(exc).__name__


class GcsStore(ObjectStore):
    """One GCS bucket through a ``google.cloud.storage.Client``; see :mod:`archivers.store.base`.

    ``retry`` is a google-api-core :class:`Retry` (``None``: no retries) used for every call;
    ``timeout`` (seconds) bounds every HTTP request. Conditional creates are retried only because
    ``ifGenerationMatch=0`` makes them idempotent (the library's ``ConditionalRetryPolicy``).
    """

    def __init__(
        self, client: Any, bucket: str, *, timeout: float = DEFAULT_TIMEOUT, retry: Retry | None = DEFAULT_RETRY
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._bucket = client.bucket(bucket)
        self._timeout = timeout
        self._retry = retry
        self._create_retry = (
            None if retry is None else ConditionalRetryPolicy(retry, is_generation_specified, ["query_params"])
        )

    @contextlib.contextmanager
    def _errors(self, key: str | None, *, on_404: str = "probe") -> Iterator[None]:
        """Translate SDK errors of a call about ``key``.

        A 404 of a write can only mean a missing bucket (``on_404="bucket"``); for a read the bucket
        is checked (``"probe"``: one extra request, on that path only).
        """
        try:
            yield
        except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, *_TRANSIENT_TRANSPORT_ERRORS) as exc:
            exists = True
            if isinstance(exc, gexc.NotFound):
                exists = on_404 != "bucket" and self._bucket_exists()
            raise translate_error(exc, self.bucket, key, bucket_exists=exists) from exc

    def _bucket_exists(self) -> bool:
        """Whether the bucket exists; assumes it does if that cannot be found out."""
        try:
            return bool(self._bucket.exists(timeout=self._timeout, retry=self._retry))
        except Exception:  # the original error is the one to report
            return True

    def _raise_missing(self, key: str, exc: gexc.NotFound) -> NoReturn:
        raise translate_error(exc, self.bucket, key, bucket_exists=self._bucket_exists()) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """One upload with ``ifGenerationMatch=0``; a 412 means the object existed (``False``)."""
        with self._errors(key, on_404="bucket"):
            try:
                self._bucket.blob(key).upload_from_string(
                    data, if_generation_match=0, timeout=self._timeout, retry=self._create_retry
                )
            except gexc.PreconditionFailed:
                return False
        return True

    def put(self, key: str, data: bytes) -> None:
        """One upload replacing ``key`` (retried: rewriting the same bytes is idempotent)."""
        with self._errors(key, on_404="bucket"):
            self._bucket.blob(key).upload_from_string(data, timeout=self._timeout, retry=self._retry)

    def get(self, key: str) -> bytes:
        """The object's bytes; :class:`ObjectNotFoundError` if it is missing."""
        with self._errors(key):
            data: bytes = self._bucket.blob(key).download_as_bytes(timeout=self._timeout, retry=self._retry)
        return data

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (GCS ranges are inclusive, hence ``end - 1``); a range past the end is empty."""
        with self._errors(key):
            try:
                data: bytes = self._bucket.blob(key).download_as_bytes(
                    start=start, end=end - 1, timeout=self._timeout, retry=self._retry
                )
            except gexc.RequestRangeNotSatisfiable:
                return b""
        return data

    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One ``objects.list`` request of at most ``max_keys`` entries."""
        with self._errors(None):
            iterator = self._client.list_blobs(
                self.bucket,
                prefix=prefix or None,
                delimiter=delimiter,
                page_size=max_keys,
                page_token=token or None,
                timeout=self._timeout,
                retry=self._retry,
            )
            page = next(iterator.pages, None)
            objects = [_info(blob) for blob in page] if page is not None else []
            prefixes = sorted(page.prefixes) if page is not None else []
        return ListPage(objects=objects, prefixes=prefixes, next_token=iterator.next_page_token or None)

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing object is fine, a missing bucket is not."""
        with self._errors(key):
            try:
                self._bucket.blob(key).delete(timeout=self._timeout, retry=self._retry)
            except gexc.NotFound as exc:
                if not self._bucket_exists():
                    self._raise_missing(key, exc)

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size from its metadata, or ``None`` if it is missing."""
        blob = self._bucket.blob(key)
        with self._errors(key):
            try:
                blob.reload(timeout=self._timeout, retry=self._retry)
            except gexc.NotFound as exc:
                if not self._bucket_exists():
                    self._raise_missing(key, exc)
                return None
        return ObjectInfo(key, int(blob.size or 0))

    def check_bucket(self) -> None:
        """Fetch the bucket's metadata; :class:`StoreConfigurationError` if missing or denied."""
        with self._errors(None):
            self._bucket.reload(timeout=self._timeout, retry=self._retry)

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()


def gcs_store(uri: URI, settings: Mapping[str, Any]) -> GcsStore:
    """A :class:`GcsStore` for bucket ``uri.host`` configured from ``settings`` (see the module docstring).

    Raises :class:`InvalidArgumentError` for malformed settings and :class:`StoreConfigurationError`
    naming the bucket when no credentials can be found or the key file cannot be read.
    """
    bucket = uri.host
    if not bucket:
        raise InvalidArgumentError(f"GCS URI {uri} has no bucket (expected gs://bucket/path)")
    timeout = positive_setting(settings, "timeout", DEFAULT_TIMEOUT, store="GCS")
    deadline = positive_setting(settings, "retryDeadline", DEFAULT_RETRY_DEADLINE, store="GCS")
    attempts = positive_setting(
        settings, "maxAttempts", float("inf"), store="GCS"
    )  # unbounded count: only the deadline counts
    retry = None if attempts <= 1 else DEFAULT_RETRY.with_deadline(deadline)
    project = settings.get("project")
    credentials_path = settings.get("credentialsPath")
    try:
        if credentials_path and not os.environ.get("STORAGE_EMULATOR_HOST"):
            client = storage.Client.from_service_account_json(str(credentials_path), project=project)
        else:
            client = storage.Client(project=project) if project else storage.Client()
    except (auth_exc.GoogleAuthError, OSError, ValueError) as exc:
        detail = f" (credentialsPath {credentials_path})" if credentials_path else ""
        raise StoreConfigurationError(f"cannot create a GCS client for bucket {bucket!r}{detail}: {exc}") from exc
    return GcsStore(client, bucket, timeout=timeout, retry=retry)


def _info(blob: Any) -> ObjectInfo:
    """A listed blob; its generation (new on every write) is the etag."""
    generation = blob.generation
    return ObjectInfo(blob.name, int(blob.size or 0), None if generation is None else str(generation))
