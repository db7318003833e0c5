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


class ObjectStoreAccess:
    """Base of the object archivers: the store serving each URI, the layout and the URI rules."""

    def __init__(self, stores: StoreProvider, layout: ObjectLayout, uri_check: URICheck) -> None:
        self._stores = stores
        self._layout = layout
        self._uri_check = uri_check

    def _open(self, uri: URI) -> tuple[ObjectStore, str]:
        """The store serving ``uri`` and the root its keys start with (:meth:`ObjectStore.key_prefix`)."""
        store = self._stores(uri)
        return store, store.key_prefix(uri)

    def check_uri(self, uri: URI) -> None:
        """The backend's URI rules (no I/O)."""
        self._uri_check(uri)

    def validate_uri(self, uri: URI | str) -> None:
        """The URI rules, then one request confirming the bucket exists and is reachable."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        self._stores(parsed).check_bucket()
