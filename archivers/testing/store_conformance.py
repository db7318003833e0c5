"""The storage seam's conformance suite: the contract every :class:`ObjectStore` must meet, as pytest tests.

Part of the conformance suite shipped for third-party backends (see :mod:`archivers.testing`). Run it by
subclassing in a test module and providing two fixtures::

    class TestMyStore(ObjectStoreConformance):
        @pytest.fixture
        def store(self, ...) -> ObjectStore: ...          # an empty, existing bucket
        @pytest.fixture
        def missing_bucket_store(self, ...) -> ObjectStore: ...  # a bucket that does not exist
"""

from __future__ import annotations

import threading

import pytest

from archivers.errors import StoreConfigurationError
from archivers.store.base import ObjectNotFoundError, ObjectStore

KEYS_WITH_ODD_CHARACTERS = ["a b/c+d", "ünï/cödé", "p%20q/r", "x/y=z&w", "dots/../stay"]


class ObjectStoreConformance:
    """The behaviour every store must show against its real service or emulator; see the module docstring."""

    def test_put_if_absent_creates_once(self, store: ObjectStore) -> None:
        assert store.put_if_absent("p/one", b"first") is True
        assert store.put_if_absent("p/one", b"second") is False
        assert store.get("p/one") == b"first"

    def test_put_if_absent_is_exclusive_under_concurrency(self, store: ObjectStore) -> None:
        results: list[bool] = []
        lock = threading.Lock()

        def attempt(index: int) -> None:
            created = store.put_if_absent("race/key", f"writer-{index}".encode())
            with lock:
                results.append(created)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * 7 + [True]
        assert store.get("race/key").startswith(b"writer-")

    def test_put_replaces_and_get_reads(self, store: ObjectStore) -> None:
        store.put("k", b"one")
        store.put("k", b"two")
        assert store.get("k") == b"two"
        store.put("empty", b"")
        assert store.get("empty") == b""

    def test_missing_object(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFoundError):
            store.get("nope")
        assert store.stat("nope") is None
        store.delete("nope")

    def test_get_range_and_stat(self, store: ObjectStore) -> None:
        store.put("r", b"0123456789")
        assert store.get_range("r", 2, 5) == b"234"
        assert store.get_range("r", 8, 100) == b"89"
        info = store.stat("r")
        assert info is not None and info.size == 10 and info.key == "r"

    def test_delete(self, store: ObjectStore) -> None:
        store.put("d", b"x")
        store.delete("d")
        assert store.stat("d") is None

    def test_listing_pages_and_delimiter(self, store: ObjectStore) -> None:
        keys = sorted([f"list/a/{i:03d}" for i in range(25)] + ["list/b/1", "list/b/2", "list/c", "other/x"])
        for key in keys:
            store.put(key, b"v")
        listed: list[str] = []
        token = None
        pages = 0
        while True:
            page = store.list_page("list/", token=token, max_keys=7)
            pages += 1
            assert len(page.objects) <= 7
            listed += [o.key for o in page.objects]
            token = page.next_token
            if not token:
                break
        assert listed == [k for k in keys if k.startswith("list/")]
        assert pages >= 4
        rolled = [p for page in store.list_all("list/", delimiter="/") for p in page.prefixes]
        direct = [o.key for page in store.list_all("list/", delimiter="/") for o in page.objects]
        assert rolled == ["list/a/", "list/b/"]
        assert direct == ["list/c"]
        assert [o.size for page in store.list_all("list/b/") for o in page.objects] == [1, 1]

    def test_keys_with_odd_characters(self, store: ObjectStore) -> None:
        for key in KEYS_WITH_ODD_CHARACTERS:
            store.put(key, key.encode())
        for key in KEYS_WITH_ODD_CHARACTERS:
            assert store.get(key) == key.encode()
        listed = [o.key for page in store.list_all("") for o in page.objects]
        assert listed == sorted(KEYS_WITH_ODD_CHARACTERS, key=lambda k: k.encode())

    def test_missing_bucket_is_a_named_non_retryable_error(self, missing_bucket_store: ObjectStore) -> None:
        for call in (
            missing_bucket_store.check_bucket,
            lambda: missing_bucket_store.put("k", b"v"),
            lambda: missing_bucket_store.put_if_absent("k", b"v"),
            lambda: missing_bucket_store.get("k"),
            lambda: missing_bucket_store.list_page(""),
        ):
            with pytest.raises(StoreConfigurationError, match=missing_bucket_store.bucket) as info:
                call()
            assert info.value.retryable is False
