"""The storage seam over any fsspec file system (``fsspec+<protocol>://...`` URIs).

The part of the scheme after ``fsspec+`` is the fsspec protocol; ``settings["storageOptions"]``
(a mapping) is passed to ``fsspec.filesystem(protocol, **options)``.

**The root** (what the store calls its bucket) is where keys live:

- ``file``/``local``: the URI path (the host must be empty or ``localhost``):
  ``fsspec+file:///var/archive`` → ``/var/archive``;
- ``sftp``/``ssh``/``ftp``/``smb``: the URI path; the host, port, user and password of the URI
  become the ``host``, ``port``, ``username``, ``password`` options unless the settings give them:
  ``fsspec+sftp://user@nas/srv/archive`` → ``/srv/archive`` on ``nas``;
- every other protocol (``memory``, ``s3``, ``gcs``, ``abfs``...): ``<host><path>``, the host being
  the bucket: ``fsspec+memory://bucket/prefix`` → ``bucket/prefix``.

The root must exist: a root that is not a directory is the "missing bucket" and any call raises
:class:`StoreConfigurationError` naming it. It is checked once per store before the first write
(and on the miss path of reads); writes create the directories below it.

The store is rooted at the archival URI's own location: one store per root (:data:`FSSPEC_STORES`
shares a store only among the URIs of one root), and keys carry no prefix of the URI's path
(:meth:`FsspecStore.key_prefix` is ``""``).

**Keys** are ``/``-separated paths below the root. Empty, ``.`` and ``..`` segments, a NUL
character and names of the store's own temporary files are refused with
:class:`InvalidArgumentError` (they would alias or escape on a real file system). A file system
cannot hold both ``a`` and ``a/b``: writing one when the other exists is an :class:`InvalidArgumentError`.

**Writes.** ``put`` is atomic: on file-like protocols it writes a hidden temporary file in the
same directory and renames it over the key (``os.replace`` for local files, else ``fs.mv``);
protocols that publish whole objects (``memory`` and object stores) write the key in one
``pipe_file``. ``put_if_absent`` is exclusive across processes on local files (a temporary file,
flushed to disk, hard-linked to the key: ``link`` fails if the key exists; the directory is
flushed after); on every other protocol it is an exists-check and a write under a lock, exclusive
among the stores of this process (complete for ``memory``, best-effort across processes elsewhere).

Listings walk the file system (``fs.find`` below the prefix's directory), so directories left empty
by ``delete`` never show up, and return keys in UTF-8 byte order; the page token is the last key or
prefix returned. Every exception goes through :func:`translate_error`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from archivers.errors import (
    ArchiverError,
    InvalidArgumentError,
    InvalidURIError,
    StoreConfigurationError,
    TransientError,
)
from archivers.groupcommit import fsync_dir
from archivers.localfiles import check_os_path
from archivers.store.base import ListPage, ObjectInfo, ObjectNotFoundError, ObjectStore, StoreKind
from archivers.uri import URI

__all__ = [
    "FSSPEC_STORES",
    "SCHEME_PREFIX",
    "FsspecStore",
    "check_fsspec_uri",
    "check_key",
    "fsspec_store",
    "root_and_options",
    "translate_error",
]

T = TypeVar("T")

SCHEME_PREFIX = "fsspec+"
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
_SERVER_PROTOCOLS = frozenset({"sftp", "ssh", "ftp", "smb"})
_WHOLE_OBJECT_PROTOCOLS = frozenset({"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
_TEMP_NAME = re.compile(r"^\..*\.fsspec-tmp-[0-9a-f]{16}$")
_NOT_A_KEY_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EEXIST})

_locks_guard = threading.Lock()
_locks: dict[tuple[str, str], threading.Lock] = {}


def _lock_for(protocol: str, root: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((protocol, root), threading.Lock())


def translate_error(exc: BaseException, bucket: str, key: str | None = None, *, writing: bool = False) -> ArchiverError:
    """Map a file system exception to the project's error; the caller raises it ``from exc``.

    - an :class:`ArchiverError` is returned as it is;
    - ``FileNotFoundError`` (and, when reading, a directory or file in the way) →
      :class:`ObjectNotFoundError`; callers that may face a missing root check it first;
    - ``PermissionError``, a read-only file system → :class:`StoreConfigurationError` naming the root;
    - when writing, a directory or file in the way of the key, a name too long →
      :class:`InvalidArgumentError`; ``ValueError``/``TypeError`` from fsspec → the same;
    - ``TimeoutError``, ``ConnectionError`` → :class:`TransientError`;
    - any other exception → :class:`ArchiverError` (retryable).
    """
    if isinstance(exc, ArchiverError):
        return exc
    where = f"{bucket}/{key}" if key is not None else bucket
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, FileNotFoundError) or (not writing and isinstance(exc, (IsADirectoryError, NotADirectoryError))):
        return ObjectNotFoundError(f"object not found: {where}")
    if isinstance(exc, PermissionError) or code == errno.EROFS:
        return StoreConfigurationError(f"store root {bucket!r} cannot be used: {exc}")
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(f"file system unavailable at {where}: {exc}")
    if isinstance(exc, (ValueError, TypeError)) or code in _NOT_A_KEY_ERRNOS:
        return InvalidArgumentError(f"cannot store {where}: {exc}")
    return ArchiverError(f"file system call failed at {where}: {exc}")


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid key, else raise :class:`InvalidArgumentError` (see the module docstring)."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"invalid key {key!r}: keys are non-empty strings")
    _check_segments(key, key.split("/"))
    return key


def _check_segments(text: str, segments: list[str]) -> None:
    for segment in segments:
        if segment in ("", ".", "..") or "\0" in segment or _TEMP_NAME.match(segment):
            raise InvalidArgumentError(
                f"invalid key {text!r}: empty, '.' and '..' segments and NUL are not allowed in fsspec keys"
            )


class FsspecStore(ObjectStore):
    """The keys below ``root`` of one fsspec file system (see the module docstring)."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.root = fs._strip_protocol(root).rstrip("/")  # the form fsspec returns in listings
        if not self.root:
            raise InvalidURIError("an fsspec store needs a root directory, e.g. fsspec+memory://bucket")
        self.bucket = self.root
        self._root_checked = False
        self._lock = _lock_for(self.protocol, self.root)

    def key_prefix(self, uri: URI) -> str:
        """``""``: the store is rooted at the URI's location already, so keys carry no further prefix."""
        return ""

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def _call(self, key: str | None, operation: Callable[[], T], *, writing: bool = False) -> T:
        """Run ``operation``; a missing path checks the root so that a missing root is named as such."""
        try:
            return operation()
        except (FileNotFoundError, NotADirectoryError) as exc:
            self._check_root_after(exc)
            raise translate_error(exc, self.root, key, writing=writing) from exc
        except Exception as exc:
            raise translate_error(exc, self.root, key, writing=writing) from exc

    def _check_root_after(self, exc: BaseException) -> None:
        self._root_checked = False
        try:
            self.check_bucket()
        except StoreConfigurationError as err:
            raise err from exc

    def _before_write(self) -> None:
        if not self._root_checked:
            self.check_bucket()

    def check_bucket(self) -> None:
        """:class:`StoreConfigurationError` naming the root unless it is an existing directory."""
        try:
            exists = self.fs.isdir(self.root)
        except Exception as exc:
            raise translate_error(exc, self.root) from exc
        if not exists:
            raise StoreConfigurationError(f"store root {self.root!r} does not exist (fsspec protocol {self.protocol})")
        self._root_checked = True

    def _write_whole(self, path: str, data: bytes) -> None:
        """Write ``path`` so that readers see the old or the new content, never a part."""
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if self.protocol in _WHOLE_OBJECT_PROTOCOLS:
            self.fs.pipe_file(path, data)
            return
        temp = self._temp_path(path)
        try:
            self.fs.pipe_file(temp, data)
            if self.protocol in _LOCAL_PROTOCOLS:
                os.replace(temp, path)  # fs.mv would move the file into a directory named like the key
            else:
                self.fs.mv(temp, path)
        finally:
            self._discard(temp)

    def _temp_path(self, path: str) -> str:
        parent, name = path.rsplit("/", 1)
        return f"{parent}/.{name}.fsspec-tmp-{secrets.token_hex(8)}"

    def _discard(self, path: str) -> None:
        with contextlib.suppress(Exception):  # absent once renamed; a leftover is skipped by listings
            self.fs.rm_file(path)

    def put(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` atomically (see the module docstring)."""
        path = self._path(key)
        self._before_write()
        self._call(key, lambda: self._write_whole(path, data), writing=True)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` unless it exists: a hard link on local files, else a locked exists-check and write."""
        path = self._path(key)
        self._before_write()
        if self.protocol in _LOCAL_PROTOCOLS:
            return self._call(key, lambda: self._link_if_absent(path, data), writing=True)
        with self._lock:
            if self._call(key, lambda: self.fs.exists(path)):
                return False
            self._call(key, lambda: self._write_whole(path, data), writing=True)
            return True

    def _link_if_absent(self, path: str, data: bytes) -> bool:
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = self._temp_path(path)
        try:
            with open(temp, "xb") as handle:  # local files: flushed to disk before they get their name
                handle.write(data)
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                if os.path.isdir(path):
                    raise IsADirectoryError(errno.EISDIR, "a directory has the key's name", path) from None
                return False
            fsync_dir(parent)
            return True
        finally:
            self._discard(temp)

    def get(self, key: str) -> bytes:
        """The whole content of ``key``; :class:`ObjectNotFoundError` if it does not exist."""
        path = self._path(key)
        data: bytes = self._call(key, lambda: self.fs.cat_file(path))
        return data

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """See :meth:`ObjectStore.get_range`."""
        path = self._path(key)
        data: bytes = self._call(key, lambda: self.fs.cat_file(path, start=start, end=end))
        return data

    def stat(self, key: str) -> ObjectInfo | None:
        """Size of ``key``, or ``None`` if it does not exist (a directory is not an object)."""
        path = self._path(key)
        try:
            info = self._call(key, lambda: self.fs.info(path))
        except ObjectNotFoundError:
            return None
        return ObjectInfo(key=key, size=int(info["size"])) if info.get("type") == "file" else None

    def delete(self, key: str) -> None:
        """Delete ``key`` (missing: no error); the directories above it stay."""
        path = self._path(key)
        with contextlib.suppress(ObjectNotFoundError):
            self._call(key, lambda: self.fs.rm_file(path))

    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One page of the keys under ``prefix`` (UTF-8 order), resuming after ``token``."""
        if max_keys < 1:
            raise InvalidArgumentError(f"max_keys must be at least 1, not {max_keys}")
        base, _, _ = prefix.rpartition("/")
        if base:
            _check_segments(prefix, base.split("/"))
        top = f"{self.root}/{base}" if base else self.root
        found: dict[str, Any] = self._call(None, lambda: self.fs.find(top, withdirs=False, detail=True))
        if not found:
            self.check_bucket()
        entries: set[str] = set()
        listed: dict[str, ObjectInfo] = {}
        for path, info in found.items():
            key = path[len(self.root) + 1 :]
            if not key.startswith(prefix) or _TEMP_NAME.match(key.rsplit("/", 1)[-1]):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                entries.add(key[: cut + len(delimiter or "")])
            else:
                entries.add(key)
                listed[key] = ObjectInfo(key, int(info.get("size") or 0), _etag(info))
        ordered = sorted((e for e in entries if token is None or e.encode() > token.encode()), key=str.encode)
        page, more = ordered[:max_keys], len(ordered) > max_keys
        return ListPage(
            objects=[listed[e] for e in page if e in listed],
            prefixes=[e for e in page if e not in listed],
            next_token=page[-1] if more else None,
        )

    def __repr__(self) -> str:
        return f"<FsspecStore {self.protocol}://{self.root}>"


def root_and_options(uri: URI, protocol: str, storage_options: Any) -> tuple[str, dict[str, Any]]:
    """The store root and the ``fsspec.filesystem`` options for ``uri`` (the rule of the module docstring)."""
    if not isinstance(storage_options, Mapping):
        raise InvalidArgumentError(f"fsspec setting storageOptions must be a mapping, not {storage_options!r}")
    options = dict(storage_options)
    if protocol in _LOCAL_PROTOCOLS:
        if uri.host not in ("", "localhost"):
            raise InvalidURIError(f"invalid URI {uri}: a local file URI has no host (fsspec+file:///abs/dir)")
        check_os_path(uri, uri.path)
        root = uri.path
    elif protocol in _SERVER_PROTOCOLS:
        given = {"host": uri.host, "port": int(uri.port) if uri.port else None}
        given |= {"username": uri.username, "password": uri.password}
        for name, value in given.items():
            if value:
                options.setdefault(name, value)
        root = uri.path
    else:
        root = uri.host + uri.path
    if not root.strip("/"):
        raise InvalidURIError(f"invalid URI {uri}: the fsspec store needs a root directory")
    return root, options


def fsspec_store(uri: URI, settings: Mapping[str, Any]) -> FsspecStore:
    """Build an :class:`FsspecStore` for ``fsspec+<protocol>://...`` (see the module docstring).

    Raises :class:`InvalidURIError` for a URI that names no protocol or root,
    :class:`InvalidArgumentError` for bad ``storageOptions``, :class:`StoreConfigurationError` when
    the protocol's package is not installed. Sends no request.
    """
    import fsspec

    if not uri.scheme.startswith(SCHEME_PREFIX) or len(uri.scheme) == len(SCHEME_PREFIX):
        raise InvalidURIError(f"invalid fsspec URI {uri}: expected fsspec+<protocol>://..., e.g. fsspec+memory://b")
    protocol = uri.scheme[len(SCHEME_PREFIX) :]
    root, options = root_and_options(uri, protocol, settings.get("storageOptions") or {})
    try:
        fs = fsspec.filesystem(protocol, **options)
    except ImportError as exc:
        raise StoreConfigurationError(f"fsspec protocol {protocol!r} of {uri} needs a package: {exc}") from exc
    except ValueError as exc:
        raise InvalidURIError(f"invalid URI {uri}: {exc}") from exc
    except Exception as exc:
        raise translate_error(exc, root) from exc
    return FsspecStore(fs, root)


def check_fsspec_uri(uri: URI) -> None:
    """The URI rules of ``fsspec+PROTOCOL://location`` (no I/O): a protocol and a location."""
    if not uri.scheme.startswith(SCHEME_PREFIX) or len(uri.scheme) == len(SCHEME_PREFIX):
        raise InvalidURIError(f"URI {uri} is not an fsspec URI: expected fsspec+PROTOCOL://location")
    if not uri.host and not uri.path:
        raise InvalidURIError(f"URI {uri} names no location")


def _same_root(uri: URI) -> Hashable:
    return (uri.scheme, uri.host, uri.path)


FSSPEC_STORES = StoreKind(fsspec_store, shared_by=_same_root)
"""The fsspec stores: one per root (scheme, host and path), since each is rooted at its URI."""


def _etag(info: Mapping[str, Any]) -> str | None:
    """The content tag a filesystem's listing gives (s3fs, gcsfs, adlfs), else ``None`` (local, memory)."""
    for name in ("ETag", "etag", "md5Hash"):
        value = info.get(name)
        if value:
            return str(value)
    return None
