"""The :class:`~archivers.roots.RootManager` of a backend whose roots live in an object store."""

from __future__ import annotations

from collections.abc import Callable

from archivers.layouts.base import ObjectLayout
from archivers.objects.access import LayoutOf, StoreProvider, URICheck
from archivers.roots import NATIVE, RootDescriptor, RootLayouts, RootManager, read_descriptor
from archivers.store.base import ObjectStore
from archivers.uri import URI


def layout_of_roots(roots: RootLayouts, compat: ObjectLayout, native: ObjectLayout) -> LayoutOf:
    """A :data:`LayoutOf` answering ``native`` for roots whose descriptor says so, else ``compat``."""

    def layout_of(uri: URI, store: ObjectStore, root: str) -> ObjectLayout:
        return native if roots.layout_of(uri, lambda: read_descriptor(store, root)) == NATIVE else compat

    return layout_of


class StoreRoots(RootManager):
    """Descriptors read and created in the store serving each URI, with the URI rules ``uri_check``.

    ``prepare``, if given, runs before a root is initialised (the file backend creates the directory).
    """

    def __init__(
        self,
        stores: StoreProvider,
        roots: RootLayouts,
        uri_check: URICheck,
        prepare: Callable[[URI], None] | None = None,
    ) -> None:
        self._stores = stores
        self._roots = roots
        self._uri_check = uri_check
        self._prepare = prepare

    def describe(self, uri: URI) -> RootDescriptor | None:
        """See :class:`RootManager`: one GET."""
        self._uri_check(uri)
        store = self._stores(uri)
        return read_descriptor(store, store.key_prefix(uri))

    def init(self, uri: URI, layout: str, created_by: str, *, strict: bool = True) -> RootDescriptor:
        """See :class:`RootManager`: a GET, a one-key LIST and a conditional create when the root is new."""
        self._uri_check(uri)
        if self._prepare is not None:
            self._prepare(uri)
        store = self._stores(uri)
        store.check_bucket()
        return self._roots.init(uri, store, store.key_prefix(uri), layout, created_by, strict=strict)
