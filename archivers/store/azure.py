r"""The storage seam over Azure Blob Storage (``azure-storage-blob``).

URIs are ``azblob://<container>/<prefix>``. Settings, all optional, explicit settings first:

``connectionString``
    an account connection string (else ``AZURE_STORAGE_CONNECTION_STRING``).
``accountUrl`` (also ``accountURL``)
    ``https://<account>.blob.core.windows.net`` (else ``AZURE_STORAGE_ACCOUNT_URL``), authenticated
    with ``DefaultAzureCredential`` from ``azure-identity`` (environment, workload or managed
    identity, Azure CLI, ...).
``apiVersion``
    the storage service version to speak (default: the SDK's newest).
``maxAttempts``
    attempts per request, first one included (default 4: the SDK's ``ExponentialRetry`` with its
    default 3 retries).
``retryBackoff``
    whole seconds before the first retry, growing exponentially after it (default 15, the SDK's).
``connectionTimeout`` / ``readTimeout``
    seconds to connect and to wait for data on every request (defaults 20 and 60).

Keys are stored under escaped blob names, because Azure (and Azurite) resolve dot segments in
blob URLs, reject path segments ending in ``.`` and turn ``\`` into ``/``: ``%`` is doubled,
``\`` becomes ``%5C`` and a ``%`` marker follows every path segment that ends in ``.``
(``a/../b`` is stored as ``a/..%/b``). Keys without these characters are stored verbatim, and
listing order is the keys' byte order except next to the escaped characters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.paging import ItemPaged
from azure.storage.blob import BlobPrefix, BlobServiceClient, ContainerClient, ExponentialRetry

from archivers.errors import (
    ArchiverError,
    InvalidArgumentError,
    MissingDependencyError,
    StoreConfigurationError,
    TransientError,
)
from archivers.store.base import ListPage, ObjectInfo, ObjectNotFoundError, ObjectStore
from archivers.store.settings import positive_setting
from archivers.uri import URI

__all__ = ["AzureBlobStore", "azure_store", "decode_key", "encode_key", "translate_error"]

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_URL_ENV = "AZURE_STORAGE_ACCOUNT_URL"
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_RETRY_BACKOFF = 15
DEFAULT_CONNECTION_TIMEOUT = 20.0
DEFAULT_READ_TIMEOUT = 60.0


def translate_error(exc: BaseException, container: str, key: str | None = None) -> ArchiverError:
    """The project's error for an exception raised by azure-storage-blob (its ``__cause__`` is set).

    ``key`` is the blob the call was about (``None`` for container-level calls such as listing).
    """
    where = f"azblob://{container}/{key}" if key is not None else f"azblob://{container}"
    code = getattr(exc, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    error: ArchiverError
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        if key is None or code == "ContainerNotFound":
            error = StoreConfigurationError(f"Azure container {container!r} does not exist")
        else:
            error = ObjectNotFoundError(f"blob {where} does not exist")
    elif isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        error = StoreConfigurationError(f"access to Azure container {container!r} denied ({code or status}): {detail}")
    elif isinstance(exc, (ServiceRequestError, ServiceResponseError)) or (
        status is not None and (status in (408, 429) or status >= 500)
    ):
        error = TransientError(f"Azure request for {where} failed temporarily: {detail}")
    elif status == 400:
        error = InvalidArgumentError(f"Azure rejected the request for {where} ({code}): {detail}")
    else:
        error = ArchiverError(f"Azure request for {where} failed ({code or status}): {detail}", retryable=False)
    error.__cause__ = exc
    return error


def encode_key(key: str, *, is_prefix: bool = False) -> str:
    """The blob name of ``key`` (see the module docstring); a prefix gets no end-of-segment marker at its end."""
    name = key.replace("%", "%%").replace("\\", "%5C")
    if "." not in name:
        return name
    segments = name.split("/")
    last = len(segments) - 1
    return "/".join(
        seg + "%" if seg.endswith(".") and not (is_prefix and i == last) else seg for i, seg in enumerate(segments)
    )


def decode_key(name: str) -> str:
    """The key stored under blob ``name``: the inverse of :func:`encode_key` (unknown escapes are kept)."""
    if "%" not in name:
        return name
    out: list[str] = []
    i = 0
    while i < len(name):
        char = name[i]
        if char != "%":
            out.append(char)
        elif name.startswith("%%", i):
            out.append("%")
            i += 1
        elif name.startswith("%5C", i):
            out.append("\\")
            i += 2
        elif not (i + 1 == len(name) or name[i + 1] == "/") or not (i > 0 and name[i - 1] == "."):
            out.append(char)  # not written by encode_key: keep it
        i += 1
    return "".join(out)


class AzureBlobStore(ObjectStore):
    """One blob container through an ``azure.storage.blob.ContainerClient``; see :mod:`archivers.store.base`.

    Retries and timeouts are those the client was built with (see :func:`azure_store`).
    ``closeables`` are closed with the store (e.g. the credential the client uses).
    """

    def __init__(self, client: ContainerClient, *, closeables: tuple[Any, ...] = ()) -> None:
        self._client = client
        self.bucket = str(client.container_name)
        self._closeables = closeables

    @contextlib.contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """Translate SDK errors of a call about ``key`` (``None``: the container)."""
        try:
            yield
        except AzureError as exc:
            raise translate_error(exc, self.bucket, key) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """One ``Put Blob`` with ``If-None-Match: *``; an existing blob gives ``False``."""
        with self._errors(key):
            try:
                self._client.upload_blob(encode_key(key), data, overwrite=False)
            except (ResourceExistsError, ResourceModifiedError):
                return False
        return True

    def put(self, key: str, data: bytes) -> None:
        """One ``Put Blob`` replacing ``key``."""
        with self._errors(key):
            self._client.upload_blob(encode_key(key), data, overwrite=True)

    def get(self, key: str) -> bytes:
        """The blob's bytes; :class:`ObjectNotFoundError` if it is missing."""
        with self._errors(key):
            data: bytes = self._client.download_blob(encode_key(key)).readall()
        return data

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``; a range past the end of the blob is empty."""
        with self._errors(key):
            try:
                data: bytes = self._client.download_blob(encode_key(key), offset=start, length=end - start).readall()
            except HttpResponseError as exc:
                if exc.status_code != 416:  # InvalidRange: start is at or past the end
                    raise
                return b""
        return data

    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One ``List Blobs`` request of at most ``max_keys`` entries (``walk_blobs`` with a delimiter)."""
        start = encode_key(prefix, is_prefix=True) or None
        pager: ItemPaged[Any]
        with self._errors(None):
            if delimiter:
                pager = self._client.walk_blobs(name_starts_with=start, delimiter=delimiter, results_per_page=max_keys)
            else:
                pager = self._client.list_blobs(name_starts_with=start, results_per_page=max_keys)
            pages: Any = pager.by_page(continuation_token=token or None)
            objects: list[ObjectInfo] = []
            prefixes: list[str] = []
            for item in next(pages, []):
                if isinstance(item, BlobPrefix):
                    prefixes.append(decode_key(str(item.name)))
                else:
                    objects.append(ObjectInfo(decode_key(str(item.name)), int(item.size or 0), item.etag or None))
        return ListPage(objects=objects, prefixes=prefixes, next_token=pages.continuation_token or None)

    def delete(self, key: str) -> None:
        """Delete ``key`` (and any snapshots); a missing blob is fine, a missing container is not."""
        with self._errors(key):
            try:
                self._client.delete_blob(encode_key(key), delete_snapshots="include")
            except ResourceNotFoundError as exc:
                if not isinstance(translate_error(exc, self.bucket, key), ObjectNotFoundError):
                    raise
                return

    def stat(self, key: str) -> ObjectInfo | None:
        """The blob's size from its properties, or ``None`` if it is missing."""
        with self._errors(key):
            try:
                props = self._client.get_blob_client(encode_key(key)).get_blob_properties()
            except ResourceNotFoundError as exc:
                if not isinstance(translate_error(exc, self.bucket, key), ObjectNotFoundError):
                    raise
                return None
        return ObjectInfo(key, int(props.size or 0))

    def check_bucket(self) -> None:
        """Fetch the container's properties; :class:`StoreConfigurationError` if missing or denied."""
        with self._errors(None):
            self._client.get_container_properties()

    def close(self) -> None:
        """Close the client's transport and the credential."""
        self._client.close()
        for closeable in self._closeables:
            closeable.close()


def azure_store(uri: URI, settings: Mapping[str, Any]) -> AzureBlobStore:
    """An :class:`AzureBlobStore` for container ``uri.host`` configured from ``settings`` (see the module docstring).

    Raises :class:`InvalidArgumentError` for malformed settings, :class:`StoreConfigurationError`
    naming the container when no account is configured or the connection string is unusable, and
    :class:`MissingDependencyError` when an account URL is given but ``azure-identity`` is missing.
    """
    container = uri.host
    if not container:
        raise InvalidArgumentError(f"Azure URI {uri} has no container (expected azblob://container/prefix)")
    attempts = int(positive_setting(settings, "maxAttempts", DEFAULT_MAX_ATTEMPTS, store="Azure", integer=True))
    options: dict[str, Any] = {
        "retry_policy": ExponentialRetry(
            initial_backoff=int(
                positive_setting(settings, "retryBackoff", DEFAULT_RETRY_BACKOFF, store="Azure", integer=True)
            ),
            retry_total=attempts - 1,
        ),
        "connection_timeout": positive_setting(
            settings, "connectionTimeout", DEFAULT_CONNECTION_TIMEOUT, store="Azure"
        ),
        "read_timeout": positive_setting(settings, "readTimeout", DEFAULT_READ_TIMEOUT, store="Azure"),
    }
    if settings.get("apiVersion"):
        options["api_version"] = str(settings["apiVersion"])
    connection_string = settings.get("connectionString")
    account_url = settings.get("accountUrl") or settings.get("accountURL")
    if not connection_string and not account_url:
        connection_string = os.environ.get(CONNECTION_STRING_ENV)
        account_url = None if connection_string else os.environ.get(ACCOUNT_URL_ENV)
    if connection_string:
        try:
            service = BlobServiceClient.from_connection_string(str(connection_string), **options)
        except ValueError as exc:
            raise StoreConfigurationError(
                f"unusable Azure connection string for container {container!r}: {exc}"
            ) from exc
        return AzureBlobStore(service.get_container_client(container))
    if account_url:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise MissingDependencyError.for_backend("azblob", extra="azure", module="azure-identity") from exc
        credential = DefaultAzureCredential()
        try:
            service = BlobServiceClient(str(account_url), credential=credential, **options)
        except ValueError as exc:
            credential.close()
            raise StoreConfigurationError(f"unusable Azure account URL for container {container!r}: {exc}") from exc
        return AzureBlobStore(service.get_container_client(container), closeables=(credential,))
    raise StoreConfigurationError(
        f"no Azure account configured for container {container!r}: set the connectionString or accountUrl "
        f"setting, or {CONNECTION_STRING_ENV} or {ACCOUNT_URL_ENV}"
    )
