"""The storage seam: the few object-store operations every object-store backend needs.

History and visibility archiving over object stores is written once against :class:`ObjectStore`;
S3, GCS, Azure Blob and fsspec differ only in their implementation of it (``archivers.store.s3``,
``.gcs``, ``.azure``, ``.fsspec``) and in the layout of keys (``archivers.layouts``).

Contract of every implementation:

- one store object serves one bucket (container); keys are ``/``-separated strings, never
  starting with ``/``;
- every call has a timeout; transient failures are retried by the SDK's own retry machinery
  (configured, not re-implemented) before surfacing as :class:`TransientError`;
- SDK errors are translated in exactly one function per SDK into the project's errors, keeping
  the original as ``__cause__``: a missing bucket or denied permission is
  :class:`StoreConfigurationError` naming the bucket, a missing object :class:`ObjectNotFoundError`;
- implementations are safe to share between threads;
- a store knows where the keys of an archival URI start (:meth:`ObjectStore.key_prefix`), and its
  :class:`StoreKind` knows which URIs one store serves (``shared_by``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archivers.errors import ArchiveNotFoundError, InvalidArgumentError
from archivers.uri import URI


class ObjectNotFoundError(ArchiveNotFoundError):
    """The object does not exist (the bucket does)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a stat says about one object.

    ``etag`` is an opaque tag that changes whenever the object's content does (S3's and Azure's
    ETag, GCS's generation, a digest for the in-process store); ``None`` when the store gives none.
    """

    key: str
    size: int
    etag: str | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects, common prefixes (with a delimiter), and the next page's token."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None


class ObjectStore(abc.ABC):
    """One bucket or container of an object store; see the module docstring for the contract."""

    bucket: str

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` in one conditional request unless it exists.

        Returns ``True`` if this call created it, ``False`` if the object already existed
        (its content is left untouched).
        """

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` atomically with ``data``."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The whole content of ``key``; :class:`ObjectNotFoundError` if it does not exist."""

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` up to ``end`` (exclusive) of ``key``; fewer if the object is shorter.

        A negative or reversed range is an :class:`InvalidArgumentError`; an empty one is ``b""``
        without a request.
        """
        if start < 0 or end < start:
            raise InvalidArgumentError(f"invalid byte range [{start}, {end}) of {self.bucket}/{key}")
        return self._get_range(key, start, end) if end > start else b""

    @abc.abstractmethod
    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """:meth:`get_range` of a checked, non-empty range."""

    @abc.abstractmethod
    def list_page(
        self, prefix: str, *, delimiter: str | None = None, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        """One page of the keys under ``prefix`` in lexicographic order, resuming after ``token``.

        With ``delimiter``, keys with the delimiter after the prefix are rolled up into ``prefixes``.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing object is not an error."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size of ``key``, or ``None`` if it does not exist."""

    @abc.abstractmethod
    def check_bucket(self) -> None:
        """Raise :class:`StoreConfigurationError` naming the bucket unless it exists and is reachable."""

    def key_prefix(self, uri: URI) -> str:
        """The path the layout puts in front of every key of ``uri``.

        A store serves one bucket, so keys start with the URI's path (``s3://bucket/prefix``: ``prefix/...``).
        A store rooted at the URI's own location returns ``""``.
        """
        return uri.path

    def list_all(self, prefix: str, *, delimiter: str | None = None) -> Iterator[ListPage]:
        """Every page of a listing, following tokens to the end."""
        token: str | None = None
        while True:
            page = self.list_page(prefix, delimiter=delimiter, token=token)
            yield page
            if not page.next_token:
                return
            token = page.next_token

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources (default: nothing to release)."""


StoreBuilder = Callable[[URI, Mapping[str, Any]], ObjectStore]
"""Builds the store of a URI from the scheme's settings (sends no request)."""


def same_bucket(uri: URI) -> Hashable:
    """The usual sharing rule: the URIs of one scheme and bucket (host) share one store."""
    return (uri.scheme, uri.host)


@dataclass(frozen=True)
class StoreKind:
    """The stores of one scheme: ``build`` makes one, ``shared_by`` says which URIs one store serves."""

    build: StoreBuilder
    shared_by: Callable[[URI], Hashable] = same_bucket
