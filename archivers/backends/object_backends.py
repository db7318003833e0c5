"""The object-store backends: each is a store (SDK) combined with a layout, and nothing else.

| scheme      | store (SDK)                    | layout   |
| ----------- | ------------------------------ | -------- |
| ``s3``      | boto3                          | s3store  |
| ``gs``      | google-cloud-storage           | gcloud   |
| ``azblob``  | azure-storage-blob             | s3store  |
| ``fsspec+P``| fsspec protocol ``P``          | s3store  |
| ``memory``  | this process (tests, examples) | s3store  |

Stores are built lazily, once per bucket (as the store kind decides), with the scheme's settings
(the provider block of the configuration), and shared by the history and visibility archivers of
the backend.
"""

from __future__ import annotations

import json
import threading

from archivers.errors import InvalidURIError
from archivers.interfaces import Backend, BackendConfig
from archivers.layouts import gcloud, s3store
from archivers.layouts.base import ObjectLayout
from archivers.objects.access import URICheck
from archivers.objects.history_archiver import ObjectHistoryArchiver
from archivers.objects.visibility_archiver import ObjectVisibilityArchiver
from archivers.store.base import StoreKind
from archivers.store.cache import StoreCache, lazy_builder
from archivers.store.fsspec_store import FSSPEC_STORES, check_fsspec_uri
from archivers.uri import URI


def object_backend(scheme: str, stores: StoreKind, layout: ObjectLayout, uri_check: URICheck) -> Backend:
    """A :class:`Backend` of ``layout`` over the stores of ``stores``, checking URIs with ``uri_check``.

    Its history and visibility archivers share one :class:`StoreCache` per settings mapping.
    """
    caches: dict[str, StoreCache] = {}
    lock = threading.Lock()

    def cache(config: BackendConfig) -> StoreCache:
        """The one store cache of these settings, shared by the history and visibility archivers."""
        key = json.dumps(config, sort_keys=True, default=repr)
        with lock:
            found = caches.get(key)
            if found is None:
                found = caches[key] = StoreCache(stores, config)
            return found

    return Backend(
        scheme=scheme,
        history=lambda config: ObjectHistoryArchiver(cache(config), layout, uri_check),
        visibility=lambda config: ObjectVisibilityArchiver(cache(config), layout, uri_check),
    )


def _bucket_uri(scheme: str, what: str, *, path_required: bool = False) -> URICheck:
    example = f"{scheme}://{what}/prefix"

    def check(uri: URI) -> None:
        if uri.scheme != scheme:
            raise InvalidURIError(f"URI scheme {uri.scheme!r} does not match {scheme!r}")
        if not uri.host:
            raise InvalidURIError(f"URI {uri} names no {what}: expected {example}")
        if path_required and not uri.path:  # as Temporal's gcloud: "gs://bucket/" is valid
            raise InvalidURIError(f"URI {uri} needs a path after the {what}: expected {example}")

    return check


def _lazy_stores(module: str, builder: str) -> StoreKind:
    return StoreKind(lazy_builder(module, builder))


S3_BACKEND = object_backend(
    "s3", _lazy_stores("archivers.store.s3", "s3_store"), s3store.LAYOUT, _bucket_uri("s3", "bucket")
)
GCS_BACKEND = object_backend(
    "gs",
    _lazy_stores("archivers.store.gcs", "gcs_store"),
    gcloud.LAYOUT,
    _bucket_uri("gs", "bucket", path_required=True),
)
AZURE_BACKEND = object_backend(
    "azblob",
    _lazy_stores("archivers.store.azure", "azure_store"),
    s3store.LAYOUT,
    _bucket_uri("azblob", "container"),
)
MEMORY_BACKEND = object_backend(
    "memory", _lazy_stores("archivers.store.memory", "memory_store"), s3store.LAYOUT, _bucket_uri("memory", "bucket")
)


def fsspec_backend(scheme: str) -> Backend:
    """The backend of one ``fsspec+PROTOCOL`` scheme: fsspec stores (one per root) in the s3store layout."""
    return object_backend(scheme, FSSPEC_STORES, s3store.LAYOUT, check_fsspec_uri)
