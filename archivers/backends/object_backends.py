"""The object-store backends: each is a store (SDK) combined with a layout, and nothing else.

| scheme      | store (SDK)                    | compat layout |
| ----------- | ------------------------------ | ------------- |
| ``s3``      | boto3                          | s3store       |
| ``gs``      | google-cloud-storage           | gcloud        |
| ``azblob``  | azure-storage-blob             | s3store       |
| ``fsspec+P``| fsspec protocol ``P``          | s3store       |
| ``memory``  | this process (tests, examples) | s3store       |

Each root is in the layout its descriptor names (:mod:`archivers.roots`): ``native`` (history in
:mod:`archivers.layouts.native`, visibility in the native index of :mod:`archivers.visindex`, or in
the compat layout for native roots created before it) or the compat layout, which is also the
layout of a root without a descriptor.

Stores are built lazily, once per bucket (as the store kind decides), with the scheme's settings
(the provider block of the configuration), and shared by the history and visibility archivers and
the root manager of the backend, as is the memory of each root's layout.
"""

from __future__ import annotations

from archivers.errors import InvalidURIError
from archivers.interfaces import Backend, BackendConfig
from archivers.layouts import gcloud, s3store
from archivers.layouts.base import ObjectLayout
from archivers.layouts.native import NativeLayout
from archivers.objects.access import URICheck
from archivers.objects.history_archiver import ObjectHistoryArchiver
from archivers.objects.root_manager import StoreRoots, layout_of_roots
from archivers.objects.visibility_archiver import ObjectVisibilityArchiver
from archivers.roots import RootLayouts, read_descriptor
from archivers.store.base import StoreKind
from archivers.store.cache import StoreCache, lazy_builder, per_settings
from archivers.store.fsspec_store import FSSPEC_STORES, check_fsspec_uri
from archivers.uri import URI
from archivers.visindex.archiver import ByRootVisibilityArchiver, NativeIndexVisibilityArchiver


def object_backend(
    scheme: str, stores: StoreKind, compat: ObjectLayout, uri_check: URICheck
) -> Backend:
    """A :class:`Backend` over ``stores``, each root native or in ``compat``, checking URIs with ``uri_check``.

    Its history and visibility archivers and root manager share one :class:`StoreCache` and one
    :class:`RootLayouts` per settings mapping.
    """
    native = NativeLayout(compat)
    of = per_settings(lambda config: (StoreCache(stores, config), RootLayouts(compat.name)))

    def history(config: BackendConfig) -> ObjectHistoryArchiver:
        cache, roots = of(config)
        return ObjectHistoryArchiver(cache, layout_of_roots(roots, compat, native), uri_check)

    def visibility(config: BackendConfig) -> ByRootVisibilityArchiver:
        cache, roots = of(config)
        return ByRootVisibilityArchiver(
            ObjectVisibilityArchiver(cache, layout_of_roots(roots, compat, native), uri_check),
            NativeIndexVisibilityArchiver(cache, uri_check),
            roots,
            lambda uri: lambda: read_descriptor(cache(uri), cache(uri).key_prefix(uri)),
        )

    def root_manager(config: BackendConfig) -> StoreRoots:
        return StoreRoots(*of(config), uri_check)

    return Backend(scheme=scheme, history=history, visibility=visibility, roots=root_manager)


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
    "memory",
    _lazy_stores("archivers.store.memory", "memory_store"),
    s3store.LAYOUT,
    _bucket_uri("memory", "bucket"),
)


def fsspec_backend(scheme: str) -> Backend:
    """The backend of one ``fsspec+PROTOCOL`` scheme: fsspec stores (one per root) in the s3store layout."""
    return object_backend(scheme, FSSPEC_STORES, s3store.LAYOUT, check_fsspec_uri)
