"""A small thread-safe least-recently-used map, for caches of immutable stored things."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """Maps keys to values of total weight at most ``capacity`` (the least recently used go first).

    A value weighs ``weight(value)`` (default 1: ``capacity`` counts values); a value heavier than
    the capacity is not held.
    """

    def __init__(self, capacity: int, weight: Callable[[V], int] | None = None) -> None:
        self._capacity = capacity
        self._weight = weight or (lambda value: 1)
        self._total = 0
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key``, or ``None`` if not held."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Hold ``value`` under ``key``."""
        with self._lock:
            replaced = self._entries.pop(key, None)
            if replaced is not None:
                self._total -= self._weight(replaced)
            self._entries[key] = value
            self._total += self._weight(value)
            while self._total > self._capacity:
                _, dropped = self._entries.popitem(last=False)
                self._total -= self._weight(dropped)

    def discard(self, key: K) -> None:
        """Forget ``key`` (nothing happens if it is not held)."""
        with self._lock:
            dropped = self._entries.pop(key, None)
            if dropped is not None:
                self._total -= self._weight(dropped)
