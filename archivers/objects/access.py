"""What the history and visibility archivers over an object store share: stores, layout, URI rules."""

from __future__ import annotations

from collections.abc import Callable

from archivers.layouts.base import ObjectLayout
from archivers.store.base import ObjectStore
from archivers.uri import URI, as_uri

StoreProvider = Callable[[URI], ObjectStore]
"""Returns the (cached) store serving a URI."""

URICheck = Callable[[URI], None]
"""A backend's URI rules: raises :class:`archivers.errors.InvalidURIError`, sends no request."""

LayoutOf = Callable[[URI, ObjectStore, str], ObjectLayout]
"""The layout of the root of a URI, served by this store under this key prefix (see :mod:`archivers.roots`)."""


def fixed_layout(layout: ObjectLayout) -> LayoutOf:
    """A :data:`LayoutOf` answering ``layout`` for every root."""
    return lambda uri, store, root: layout


class StoreURIs:
    """The store serving each URI and the backend's URI rules: what every archiver over a store shares."""

    def __init__(self, stores: StoreProvider, uri_check: URICheck) -> None:
        self._stores = stores
        self._uri_check = uri_check

    def check_uri(self, uri: URI) -> None:
        """The backend's URI rules (no I/O)."""
        self._uri_check(uri)

    def validate_uri(self, uri: URI | str) -> None:
        """The URI rules, then one request confirming the bucket exists and is reachable."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        self._stores(parsed).check_bucket()


class ObjectStoreAccess(StoreURIs):
    """Base of the object archivers: the store serving each URI, the layout of its root and the URI rules."""

    def __init__(self, stores: StoreProvider, layouts: LayoutOf, uri_check: URICheck) -> None:
        super().__init__(stores, uri_check)
        self._layouts = layouts

    def _open(self, uri: URI) -> tuple[ObjectStore, str, ObjectLayout]:
        """The store serving ``uri``, the root its keys start with (:meth:`ObjectStore.key_prefix`) and its layout."""
        store = self._stores(uri)
        root = store.key_prefix(uri)
        return store, root, self._layouts(uri, store, root)
