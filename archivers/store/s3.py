"""The storage seam over Amazon S3 and S3-compatible services, with boto3.

Settings (the ``s3store`` provider block of Temporal's config, plus a few of ours); every key is
optional and anything not set comes from boto3's own conventions (``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_PROFILE``, web identity/IRSA, assume-role profiles,
``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``...):

- ``region``: the AWS region (``region_name``);
- ``endpoint``: endpoint URL, e.g. ``http://127.0.0.1:9000``; without a scheme ``https://`` is
  assumed (as Temporal's Go SDK does);
- ``s3ForcePathStyle``: ``true`` for path-style addressing (``http://host/bucket/key``); otherwise
  botocore's ``auto`` (virtual hosts on AWS, path style on custom endpoints);
- ``maxAttempts``: total attempts per call including the first (botocore ``total_max_attempts``;
  botocore's own ``max_attempts`` counts retries only); unset: ``AWS_MAX_ATTEMPTS`` or the
  profile's ``max_attempts``, else the retry mode's default (3 for ``standard``);
- ``retryMode``: botocore retry mode, ``standard``, ``adaptive`` or ``legacy``; unset: the
  ``AWS_RETRY_MODE`` variable, else ``standard`` (a profile's ``retry_mode`` is not consulted);
- ``connectTimeout``, ``readTimeout``: seconds to open a connection, to wait for data on it.

Retries are botocore's (configured, not re-implemented). Every SDK error goes through
:func:`translate_error`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import boto3.session
from botocore import exceptions as botocore_errors
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ParamValidationError,
)

from archivers.errors import ArchiverError, InvalidArgumentError, StoreConfigurationError, TransientError
from archivers.store.base import ListPage, ObjectInfo, ObjectNotFoundError, ObjectStore
from archivers.store.settings import positive_setting
from archivers.uri import URI

__all__ = ["S3Store", "client_config", "s3_store", "translate_error"]

T = TypeVar("T")

RETRY_MODES = ("standard", "adaptive", "legacy")

_CONFIGURATION_CODES = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidBucketName",
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
        "AccountProblem",
        "403",
        "Forbidden",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ConditionalRequestConflict",
        "OperationAborted",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFIGURATION_ERRORS: tuple[type[Exception], ...] = (
    botocore_errors.NoCredentialsError,
    botocore_errors.PartialCredentialsError,
    botocore_errors.ProfileNotFound,
    botocore_errors.NoRegionError,
    botocore_errors.InvalidRegionError,
    botocore_errors.UnknownEndpointError,
    botocore_errors.InvalidConfigError,
    botocore_errors.InvalidEndpointConfigurationError,
    botocore_errors.UnknownCredentialError,
)

#: How often a conditional PUT answered 409 ConditionalRequestConflict is sent again.
CONFLICT_RETRIES = 5


def translate_error(exc: Exception, bucket: str, key: str | None = None) -> ArchiverError:
    """Map a botocore exception to the project's error; the caller raises it ``from exc``.

    - ``NoSuchBucket``, access denied (403, ``AccessDenied``, ``InvalidAccessKeyId``,
      ``SignatureDoesNotMatch``, expired tokens...) → :class:`StoreConfigurationError` naming
      ``bucket`` (non-retryable);
    - ``NoSuchKey``, or a bare 404 of a call on ``key`` (HEAD has no body) →
      :class:`ObjectNotFoundError`; a bare 404 of a bucket-level call (``key`` is ``None``) →
      :class:`StoreConfigurationError` (the bucket is missing);
    - throttling, ``SlowDown``, ``RequestTimeout``, 500/503, connection errors and timeouts →
      :class:`TransientError`;
    - missing credentials, profile or region → :class:`StoreConfigurationError`; a request that
      fails botocore's parameter validation → :class:`InvalidArgumentError`;
    - anything else → :class:`ArchiverError`, retryable when the HTTP status is ≥ 500 (other botocore
      errors, e.g. a credential provider that failed to answer, are retryable).
    """
    where = f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _CONFIGURATION_CODES or status == 403:
            return StoreConfigurationError(f"S3 bucket {bucket!r} cannot be used ({code}: {message}) at {where}")
        if code in _NOT_FOUND_CODES or status == 404:
            if key is None:
                return StoreConfigurationError(f"S3 bucket {bucket!r} does not exist ({code}: {message})")
            return ObjectNotFoundError(f"object not found: {where}")
        if code in _TRANSIENT_CODES or status in (429, 500, 502, 503, 504):
            return TransientError(f"S3 is temporarily unavailable at {where} ({code}: {message})")
        return ArchiverError(f"S3 call failed at {where} ({code}, HTTP {status}: {message})", retryable=status >= 500)
    if isinstance(exc, (ConnectionError, HTTPClientError, IncompleteReadError)):  # timeouts, resets too
        return TransientError(f"cannot reach S3 for {where}: {exc}")
    if isinstance(exc, ParamValidationError):
        return InvalidArgumentError(f"invalid S3 request for {where}: {exc}")
    if isinstance(exc, _CONFIGURATION_ERRORS):  # no credentials, profile or region: no retry fixes them
        return StoreConfigurationError(f"S3 bucket {bucket!r} cannot be used: {exc}")
    return ArchiverError(f"S3 call failed at {where}: {exc}")  # e.g. a credential provider failing: retryable


def client_config(settings: Mapping[str, Any]) -> tuple[Config, dict[str, Any]]:
    """The botocore ``Config`` and the ``client()`` keyword arguments that ``settings`` ask for.

    Raises :class:`InvalidArgumentError` naming a setting whose value is not valid.
    """
    retries: dict[str, Any] = {"mode": settings.get("retryMode") or os.environ.get("AWS_RETRY_MODE") or "standard"}
    if retries["mode"] not in RETRY_MODES:
        raise InvalidArgumentError(f"s3 setting retryMode must be one of {RETRY_MODES}, not {retries['mode']!r}")
    options: dict[str, Any] = {"retries": retries}
    if settings.get("maxAttempts") is not None:
        retries["total_max_attempts"] = int(positive_setting(settings, "maxAttempts", 1, store="s3", integer=True))
    for name, option in (("connectTimeout", "connect_timeout"), ("readTimeout", "read_timeout")):
        if settings.get(name) is not None:
            options[option] = positive_setting(settings, name, None, store="s3")
    if settings.get("s3ForcePathStyle"):
        options["s3"] = {"addressing_style": "path"}
    kwargs: dict[str, Any] = {}
    if settings.get("region"):
        kwargs["region_name"] = str(settings["region"])
    endpoint = settings.get("endpoint")
    if endpoint:
        endpoint = str(endpoint)
        kwargs["endpoint_url"] = endpoint if "://" in endpoint else f"https://{endpoint}"
    return Config(**options), kwargs


class S3Store(ObjectStore):
    """One S3 bucket over a boto3 client (thread-safe; built once, shared by every call)."""

    def __init__(self, client: Any, bucket: str) -> None:
        if not bucket:
            raise InvalidArgumentError("an s3 store needs a bucket name (s3://BUCKET/prefix)")
        self.client = client
        self.bucket = bucket

    def _call(self, key: str | None, operation: Callable[..., T], **params: Any) -> T:
        try:
            return operation(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, self.bucket, key) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """One conditional ``PutObject`` with ``If-None-Match: *``: 412 → ``False``.

        S3 answers 409 ``ConditionalRequestConflict`` when a conflicting write or delete of the
        same key is in flight; the outcome is then unknown (a racing delete may have won), so the
        same conditional PUT is sent again, up to :data:`CONFLICT_RETRIES` times with a short
        backoff; the condition is re-evaluated each time, so no write is ever duplicated.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
                return True
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed":
                    return False
                if code != "ConditionalRequestConflict" or attempt == CONFLICT_RETRIES:
                    raise translate_error(exc, self.bucket, key) from exc
            except BotoCoreError as exc:
                raise translate_error(exc, self.bucket, key) from exc
            time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def put(self, key: str, data: bytes) -> None:
        """One ``PutObject`` (S3 replaces objects atomically)."""
        self._call(key, self.client.put_object, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        """One ``GetObject``; :class:`ObjectNotFoundError` if the key does not exist."""
        response = self._call(key, self.client.get_object, Key=key)
        return self._read(key, response)

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """One ``GetObject`` with ``Range: bytes=start-(end-1)``; empty past the end of the object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # the object exists and is shorter than start
            raise translate_error(exc, self.bucket, key) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, self.bucket, key) from exc
        return self._read(key, response)

    def _read(self, key: str, response: Mapping[str, Any]) -> bytes:
        body = response["Body"]
        try:
            with body:
                data: bytes = body.read()
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, self.bucket, key) from exc
        return data

    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One ``ListObjectsV2`` call; ``token`` is S3's continuation token."""
        if max_keys < 1:
            raise InvalidArgumentError(f"max_keys must be at least 1, not {max_keys}")
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            params["Delimiter"] = delimiter
        if token:
            params["ContinuationToken"] = token
        response = self._call(None, self.client.list_objects_v2, **params)
        return ListPage(
            objects=[ObjectInfo(o["Key"], int(o["Size"]), o.get("ETag")) for o in response.get("Contents", [])],
            prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
            next_token=response.get("NextContinuationToken") if response.get("IsTruncated") else None,
        )

    def delete(self, key: str) -> None:
        """One ``DeleteObject`` (S3 answers 204 for a missing key too)."""
        self._call(key, self.client.delete_object, Key=key)

    def stat(self, key: str) -> ObjectInfo | None:
        """One ``HeadObject``; on 404 a ``HeadBucket`` tells a missing key (``None``) from a missing bucket."""
        try:
            response = self._call(key, self.client.head_object, Key=key)
        except ObjectNotFoundError:
            self.check_bucket()
            return None
        return ObjectInfo(key=key, size=int(response["ContentLength"]))

    def check_bucket(self) -> None:
        """One ``HeadBucket``; :class:`StoreConfigurationError` if missing or forbidden."""
        self._call(None, self.client.head_bucket)

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()

    def __repr__(self) -> str:
        return f"<S3Store s3://{self.bucket} at {self.client.meta.endpoint_url}>"


def s3_store(uri: URI, settings: Mapping[str, Any]) -> S3Store:
    """Build an :class:`S3Store` for the bucket ``uri.host`` from ``settings`` (see the module docstring).

    The boto3 session resolves credentials, region and endpoint from the environment for anything
    the settings leave out. Builds the client once; no request is sent.
    """
    if not uri.host:
        raise InvalidArgumentError(f"S3 URI {uri} has no bucket: expected s3://BUCKET/prefix")
    config, kwargs = client_config(settings)
    try:
        client = boto3.session.Session().client("s3", config=config, **kwargs)
    except BotoCoreError as exc:
        raise translate_error(exc, uri.host) from exc
    return S3Store(client, uri.host)
