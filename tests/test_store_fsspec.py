"""The fsspec store on ``memory://`` and local files: the store contract, roots, keys, errors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from archivers.errors import (
    ArchiverError,
    InvalidArgumentError,
    InvalidURIError,
    StoreConfigurationError,
    TransientError,
)
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.store.fsspec_store import FsspecStore, fsspec_store, root_and_options, translate_error
from archivers.store.local_fs import LocalFileSystem
from archivers.testing import store_conformance
from archivers.testing.store_conformance import ObjectStoreConformance
from archivers.uri import URI

#: ``dots/../stay`` is refused on purpose (path traversal), see ``test_traversal_is_refused``.
KEYS_WITH_ODD_CHARACTERS = [k for k in store_conformance.KEYS_WITH_ODD_CHARACTERS if "/../" not in k]


def _store(uri: str, **settings: object) -> FsspecStore:
    return fsspec_store(URI.parse(uri), settings)


class _FsspecContract(ObjectStoreConformance):
    def test_keys_with_odd_characters(self, store: ObjectStore) -> None:
        # The shared test reads the module-level list; run it with the traversal key left out.
        original = store_conformance.KEYS_WITH_ODD_CHARACTERS
        store_conformance.KEYS_WITH_ODD_CHARACTERS = KEYS_WITH_ODD_CHARACTERS
        try:
            super().test_keys_with_odd_characters(store)
        finally:
            store_conformance.KEYS_WITH_ODD_CHARACTERS = original


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh ``bucket/prefix`` root in fsspec's (process-wide) memory file system."""
    bucket = f"bkt-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    fs.makedirs(f"/{bucket}/prefix", exist_ok=True)
    yield f"{bucket}/prefix"
    fs.rm(f"/{bucket}", recursive=True)


class TestMemoryStore(_FsspecContract):
    """The contract on ``fsspec+memory://bucket/prefix``."""

    @pytest.fixture
    def store(self, memory_root: str) -> ObjectStore:
        return _store(f"fsspec+memory://{memory_root}")

    @pytest.fixture
    def missing_bucket_store(self) -> ObjectStore:
        return _store(f"fsspec+memory://missing-{uuid.uuid4().hex[:8]}/prefix")


class TestLocalStore(_FsspecContract):
    """The contract on ``fsspec+file:///tmp/...``."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return _store(f"fsspec+file://{tmp_path}")

    @pytest.fixture
    def missing_bucket_store(self, tmp_path: Path) -> ObjectStore:
        return _store(f"fsspec+file://{tmp_path}/missing")


class TestOsLocalStore(_FsspecContract):
    """The contract on the store of a native ``file://`` root: :class:`FsspecStore` over the os-only file system."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return FsspecStore(LocalFileSystem(), str(tmp_path))

    @pytest.fixture
    def missing_bucket_store(self, tmp_path: Path) -> ObjectStore:
        return FsspecStore(LocalFileSystem(), f"{tmp_path}/missing")


def test_roots_follow_the_protocol(tmp_path: Path, memory_root: str) -> None:
    assert _store(f"fsspec+file://{tmp_path}/").bucket == str(tmp_path)
    assert _store(f"fsspec+file://localhost{tmp_path}").bucket == str(tmp_path)
    assert _store(f"fsspec+memory://{memory_root}").bucket == f"/{memory_root}"


def test_memory_keys_live_below_bucket_and_prefix(memory_root: str) -> None:
    _store(f"fsspec+memory://{memory_root}").put("a/b", b"x")
    assert fsspec.filesystem("memory").cat_file(f"/{memory_root}/a/b") == b"x"


def test_local_files_are_plain_files_without_leftovers(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}")
    store.put("ns/history/wf/1", b"one")
    store.put("ns/history/wf/1", b"two")
    assert store.put_if_absent("ns/history/wf/2", b"three") is True
    assert store.put_if_absent("ns/history/wf/2", b"four") is False
    assert (tmp_path / "ns/history/wf/1").read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path / "ns/history/wf")) == ["1", "2"]  # no temporary files


def test_leftover_temporary_files_are_not_listed(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}")
    store.put("d/k", b"v")
    (tmp_path / "d" / ".k.fsspec-tmp-0123456789abcdef").write_bytes(b"partial")
    assert [o.key for page in store.list_all("") for o in page.objects] == ["d/k"]
    with pytest.raises(InvalidArgumentError):
        store.get("d/.k.fsspec-tmp-0123456789abcdef")


@pytest.mark.parametrize("key", ["dots/../stay", "../escape", "a/./b", "./a", "a//b", "/abs", "a/", "", "a\0b", ".."])
def test_traversal_is_refused(tmp_path: Path, key: str) -> None:
    store = _store(f"fsspec+file://{tmp_path}/root")
    (tmp_path / "root").mkdir()
    for call in (
        lambda: store.put(key, b"v"),
        lambda: store.put_if_absent(key, b"v"),
        lambda: store.get(key),
        lambda: store.get_range(key, 0, 1),
        lambda: store.stat(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidArgumentError):
            call()
    assert list(tmp_path.iterdir()) == [tmp_path / "root"]
    assert list((tmp_path / "root").iterdir()) == []


def test_listing_prefix_cannot_escape(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}/root")
    (tmp_path / "root").mkdir()
    (tmp_path / "secret").write_text("s")
    with pytest.raises(InvalidArgumentError):
        store.list_page("../")
    assert store.list_page("..").objects == []  # a key prefix, not a path: matches keys like '..x'


def test_a_key_cannot_be_both_file_and_directory(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}")
    store.put("a/b", b"v")
    with pytest.raises(InvalidArgumentError):
        store.put("a", b"v")
    with pytest.raises(InvalidArgumentError):
        store.put_if_absent("a", b"v")
    with pytest.raises(InvalidArgumentError):
        store.put("a/b/c", b"v")
    with pytest.raises(ObjectNotFoundError):
        store.get("a")
    with pytest.raises(ObjectNotFoundError):
        store.get("a/b/c")
    assert store.stat("a") is None
    assert store.get("a/b") == b"v"


def test_empty_directories_are_not_listed(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}")
    store.put("p/a/1", b"v")
    store.put("p/b", b"v")
    store.delete("p/a/1")
    page = store.list_page("p/", delimiter="/")
    assert page.prefixes == [] and [o.key for o in page.objects] == ["p/b"]


class DenyingFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """A memory file system whose writes are refused, as a read-only share would refuse them."""

    protocol = "denying-memory"

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", path)


def test_permission_denied_names_the_root(memory_root: str) -> None:
    fsspec.register_implementation("denying-memory", DenyingFileSystem, clobber=True)
    store = _store(f"fsspec+denying-memory://{memory_root}")
    fsspec.filesystem("memory").pipe_file(f"/{memory_root}/readable", b"ok")
    assert store.get("readable") == b"ok"  # reads are allowed
    for call in (lambda: store.put("k", b"v"), lambda: store.put_if_absent("k", b"v")):
        with pytest.raises(StoreConfigurationError, match=memory_root) as info:
            call()
        assert info.value.retryable is False
        assert isinstance(info.value.__cause__, PermissionError)


def test_translate_error_table() -> None:
    import errno

    cases: list[tuple[BaseException, bool, type[ArchiverError], bool]] = [
        (FileNotFoundError(errno.ENOENT, "x"), False, ObjectNotFoundError, False),
        (IsADirectoryError(errno.EISDIR, "x"), False, ObjectNotFoundError, False),
        (IsADirectoryError(errno.EISDIR, "x"), True, InvalidArgumentError, False),
        (PermissionError(errno.EACCES, "x"), False, StoreConfigurationError, False),
        (OSError(errno.EROFS, "x"), True, StoreConfigurationError, False),
        (TimeoutError("slow"), False, TransientError, True),
        (ConnectionResetError("reset"), False, TransientError, True),
        (OSError(errno.EIO, "x"), False, ArchiverError, True),
    ]
    for exc, writing, expected, retryable in cases:
        error = translate_error(exc, "/root", "k", writing=writing)
        assert type(error) is expected, exc
        assert error.retryable is retryable
        if expected is StoreConfigurationError:
            assert "/root" in str(error)


@pytest.mark.parametrize(
    "uri",
    ["fsspec+memory://", "fsspec+file:///", "fsspec+file://otherhost/dir", "fsspec+nosuchprotocol://b/p"],
)
def test_bad_uris(uri: str) -> None:
    with pytest.raises(InvalidURIError):
        _store(uri)


def test_storage_options_are_passed_and_checked(tmp_path: Path) -> None:
    store = _store(f"fsspec+file://{tmp_path}", storageOptions={"auto_mkdir": True})
    assert store.fs.auto_mkdir is True
    with pytest.raises(InvalidArgumentError, match="storageOptions"):
        _store(f"fsspec+file://{tmp_path}", storageOptions=["auto_mkdir"])


def test_server_protocols_take_host_from_the_uri() -> None:
    uri = URI.parse("fsspec+sftp://nobody:pw@nas.example:2222/srv/archive")
    root, options = root_and_options(uri, "sftp", {"timeout": 5, "username": "given"})
    assert root == "/srv/archive"
    assert options == {"timeout": 5, "host": "nas.example", "port": 2222, "username": "given", "password": "pw"}


def test_bucket_protocols_root_at_host_and_path() -> None:
    assert root_and_options(URI.parse("fsspec+gcs://bkt/some/prefix"), "gcs", {}) == ("bkt/some/prefix", {})
