"""The object-store backends: each is a store (SDK) combined with a layout.

| scheme      | store (SDK)                    | layout   |
| ----------- | ------------------------------ | -------- |
| ``s3``      | boto3                          | s3store  |
| ``gs``      | google-cloud-storage           | gcloud   |
| ``azblob``  | azure-storage-blob             | s3store  |
| ``fsspec+P``| fsspec protocol ``P``          | s3store  |
| ``memory``  | this process (tests, examples) | s3store  |

Stores are built lazily, once per bucket, with the scheme's settings (the provider block of the
configuration), and shared by the history and visibility archivers of the backend.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from archivers.backends.history_objects import GcloudParts, HistoryObjects, S3Blobs
from archivers.backends.object_history import ObjectHistoryArchiver
from archivers.backends.object_visibility import GcloudIndex, ObjectVisibilityArchiver, S3Index, VisibilityIndex
from archivers.errors import InvalidURIError
from archivers.interfaces import Backend, BackendConfig
from archivers.store.base import ObjectStore
from archivers.uri import URI

StoreFactory = Callable[[URI, Mapping[str, Any]], ObjectStore]


class StoreCache:
    """One store per bucket (URI host; for fsspec, per root) for one scheme's settings; thread-safe."""

    def __init__(self, factory: StoreFactory, settings: Mapping[str, Any]) -> None:
        self._factory = factory
        self._settings = dict(settings)
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str, str], ObjectStore] = {}

    def __call__(self, uri: URI) -> ObjectStore:
        key = (uri.scheme, uri.host, uri.path if uri.scheme.startswith("fsspec+") else "")
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = self._factory(uri, self._settings)
            return store


def _lazy(module: str, attribute: str) -> StoreFactory:
    """A factory importing its SDK-backed module only when first used."""

    def build(uri: URI, settings: Mapping[str, Any]) -> ObjectStore:
        factory: StoreFactory = getattr(importlib.import_module(module), attribute)
        return factory(uri, settings)

    return build


def _bucket_uri(scheme: str, what: str, *, path_required: bool = False) -> Callable[[URI], None]:
    example = f"{scheme}://{what}/prefix"

    def check(uri: URI) -> None:
        if uri.scheme != scheme:
            raise InvalidURIError(f"URI scheme {uri.scheme!r} does not match {scheme!r}")
        if not uri.host:
            raise InvalidURIError(f"URI {uri} names no {what}: expected {example}")
        if path_required and not uri.path:  # as Temporal's gcloud: "gs://bucket/" is valid
            raise InvalidURIError(f"URI {uri} needs a path after the {what}: expected {example}")

    return check


def _fsspec_uri(uri: URI) -> None:
    if not uri.scheme.startswith("fsspec+") or len(uri.scheme) == len("fsspec+"):
        raise InvalidURIError(f"URI {uri} is not an fsspec URI: expected fsspec+PROTOCOL://location")
    if not uri.host and not uri.path:
        raise InvalidURIError(f"URI {uri} names no location")


def object_backend(
    scheme: str,
    factory: StoreFactory,
    history: HistoryObjects,
    visibility: VisibilityIndex,
    uri_check: Callable[[URI], None],
    key_space: Callable[[URI], URI] = lambda uri: uri,
) -> Backend:
    """A :class:`Backend` whose archivers share one :class:`StoreCache` per settings mapping.

    ``key_space`` gives the URI whose path the layout puts in front of every key (by default the
    URI itself: ``s3://bucket/prefix`` keys start with ``prefix/``).
    """

    caches: dict[str, StoreCache] = {}
    lock = threading.Lock()

    def stores(config: BackendConfig) -> StoreCache:
        """The one store cache of these settings, shared by the history and visibility archivers."""
        key = json.dumps(config, sort_keys=True, default=repr)
        with lock:
            cache = caches.get(key)
            if cache is None:
                cache = caches[key] = StoreCache(factory, config)
            return cache

    return Backend(
        scheme=scheme,
        history=lambda config: ObjectHistoryArchiver(stores(config), history, uri_check, key_space=key_space),
        visibility=lambda config: ObjectVisibilityArchiver(stores(config), visibility, uri_check, key_space=key_space),
    )


S3_BACKEND = object_backend(
    "s3", _lazy("archivers.store.s3", "s3_store"), S3Blobs(), S3Index(), _bucket_uri("s3", "bucket")
)
GCS_BACKEND = object_backend(
    "gs",
    _lazy("archivers.store.gcs", "gcs_store"),
    GcloudParts(),
    GcloudIndex(),
    _bucket_uri("gs", "bucket", path_required=True),
)
AZURE_BACKEND = object_backend(
    "azblob", _lazy("archivers.store.azure", "azure_store"), S3Blobs(), S3Index(), _bucket_uri("azblob", "container")
)
MEMORY_BACKEND = object_backend(
    "memory", _lazy("archivers.store.memory", "memory_store"), S3Blobs(), S3Index(), _bucket_uri("memory", "bucket")
)


def fsspec_backend(scheme: str) -> Backend:
    """The backend of one ``fsspec+PROTOCOL`` scheme.

    The fsspec store is rooted at the URI's location already, so keys carry no further prefix.
    """
    return object_backend(
        scheme,
        _lazy("archivers.store.fsspec_store", "fsspec_store"),
        S3Blobs(),
        S3Index(),
        _fsspec_uri,
        key_space=lambda uri: dataclasses.replace(uri, path=""),
    )
