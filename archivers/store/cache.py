"""One store per bucket (or root), built lazily and shared by a backend's archivers."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from archivers.store.base import ObjectStore, StoreBuilder, StoreKind
from archivers.uri import URI


class StoreCache:
    """The stores of one :class:`StoreKind` and one settings mapping, one per ``kind.shared_by(uri)``; thread-safe."""

    def __init__(self, kind: StoreKind, settings: Mapping[str, Any]) -> None:
        self._kind = kind
        self._settings = dict(settings)
        self._lock = threading.Lock()
        self._stores: dict[Hashable, ObjectStore] = {}

    def __call__(self, uri: URI) -> ObjectStore:
        """The store serving ``uri``, built on first use."""
        key = self._kind.shared_by(uri)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = self._kind.build(uri, self._settings)
            return store


def lazy_builder(module: str, attribute: str) -> StoreBuilder:
    """A builder importing its SDK-backed ``module`` only when first used, then calling ``attribute``."""

    def build(uri: URI, settings: Mapping[str, Any]) -> ObjectStore:
        builder: StoreBuilder = getattr(importlib.import_module(module), attribute)
        return builder(uri, settings)

    return build


T = TypeVar("T")


def per_settings(build: Callable[[Mapping[str, Any]], T]) -> Callable[[Mapping[str, Any]], T]:
    """``build`` run once per distinct settings mapping, its result shared by every later call; thread-safe."""
    built: dict[str, T] = {}
    lock = threading.Lock()

    def of(settings: Mapping[str, Any]) -> T:
        key = json.dumps(settings, sort_keys=True, default=repr)
        with lock:
            if key not in built:
                built[key] = build(settings)
            return built[key]

    return of
