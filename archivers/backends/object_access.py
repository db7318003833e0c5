"""What the history and visibility archivers over an object store share: stores, URI rules, key space."""

from __future__ import annotations

from collections.abc import Callable

from archivers.store.base import ObjectStore
from archivers.uri import URI, as_uri

StoreProvider = Callable[[URI], ObjectStore]
"""Returns the (cached) store for a URI's bucket."""


def same_uri(uri: URI) -> URI:
    """The default key space: the layout prefixes keys with the URI's own path."""
    return uri


class ObjectStoreAccess:
    """Mixin giving an archiver its store per URI, its layout's URI rules and its key space.

    ``key_space`` maps an archival URI to the URI whose path the layout puts in front of every key.
    """

    def __init__(
        self,
        stores: StoreProvider,
        uri_check: Callable[[URI], None],
        key_space: Callable[[URI], URI] = same_uri,
    ) -> None:
        self._stores = stores
        self._uri_check = uri_check
        self._key_space = key_space

    def check_uri(self, uri: URI) -> None:
        """The layout's URI rules (no I/O)."""
        self._uri_check(uri)

    def validate_uri(self, uri: URI | str) -> None:
        """The URI rules, then one request confirming the bucket exists and is reachable."""
        parsed = as_uri(uri)
        self.check_uri(parsed)
        self._stores(parsed).check_bucket()
