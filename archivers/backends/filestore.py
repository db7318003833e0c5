"""The ``file://`` backend: local files in Temporal's filestore layout, or native history parts.

A directory without a descriptor (:mod:`archivers.roots`) is in Temporal's filestore layout
(:mod:`archivers.localfs`), as is one whose descriptor says ``filestore``. A directory whose
descriptor says ``native`` keeps its histories in native parts (:mod:`archivers.layouts.native`),
written and read by the object history archiver over the fsspec store's logic on local files
(:mod:`archivers.store.local_fs`: no fsspec needed; parts are flushed to disk, then linked to their
name); its visibility records are in the native index (:mod:`archivers.visindex`) over the same
store, or in the filestore layout for native directories initialised before the index existed.
Reading which layout a directory is in costs one ``open`` per directory and process.

Settings (Temporal's ``filestore`` provider keys): ``fileMode`` and ``dirMode`` as octal strings
such as ``"0666"`` and ``"0766"`` (filestore files; native parts get the process's default modes);
and this project's ``durability``, ``durable`` (the default) or ``upstream`` (no fsync, as
Temporal's filestore; see :class:`archivers.localfiles.Durability`; filestore files only).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from temporalio.api.history.v1 import History

from archivers.batches import EncodedBatches
from archivers.errors import InvalidArgumentError
from archivers.interfaces import (
    ArchiveHistoryRequest,
    Backend,
    BackendConfig,
    DeleteRunRequest,
    DeleteRunResponse,
    EncodedHistoryPage,
    GetHistoryRequest,
    GetHistoryResponse,
    HistoryArchiver,
)
from archivers.layouts.native import LAYOUT as NATIVE_LAYOUT
from archivers.localfiles import Durability, FileModes, ensure_dir, validate_dir_uri
from archivers.localfs.history_archiver import FilestoreHistoryArchiver
from archivers.localfs.visibility_archiver import FilestoreVisibilityArchiver
from archivers.objects.access import fixed_layout
from archivers.objects.history_archiver import ObjectHistoryArchiver
from archivers.objects.root_manager import StoreRoots
from archivers.progress import ArchiveProgress, ProgressRecorder
from archivers.roots import DESCRIPTOR_NAME, NATIVE, RootDescriptor, RootLayouts
from archivers.store.base import ObjectStore, StoreKind
from archivers.store.cache import StoreCache, per_settings
from archivers.store.fsspec_store import FsspecStore
from archivers.store.local_fs import LocalFileSystem
from archivers.uri import URI
from archivers.visindex.archiver import ByRootVisibilityArchiver, NativeIndexVisibilityArchiver


def modes_from_config(config: BackendConfig) -> FileModes:
    """Read ``fileMode``/``dirMode`` (octal strings or ints) from a filestore provider block."""
    defaults = FileModes()
    return FileModes(
        file_mode=_mode(config.get("fileMode"), defaults.file_mode, "fileMode"),
        dir_mode=_mode(config.get("dirMode"), defaults.dir_mode, "dirMode"),
    )


def durability_from_config(config: BackendConfig) -> Durability:
    """Read ``durability`` (``durable``, the default, or ``upstream``) from a filestore provider block."""
    value = config.get("durability")
    if value is None or value == "":
        return Durability.DURABLE
    try:
        return Durability(value)
    except ValueError:
        choices = ", ".join(repr(d.value) for d in Durability)
        raise InvalidArgumentError(f"filestore durability must be one of {choices}, got {value!r}") from None


def _mode(value: Any, default: int, key: str) -> int:
    if value is None or value == "":
        return default
    try:
        mode = value if isinstance(value, int) else int(str(value), 8)
    except ValueError:
        raise InvalidArgumentError(f"filestore {key} must be an octal string like '0666', got {value!r}") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidArgumentError(f"filestore {key} {value!r} is out of range")
    return mode


def _local_store(uri: URI, settings: Mapping[str, Any]) -> ObjectStore:
    """The store of local files rooted at the URI's directory (for native roots; no fsspec import)."""
    return FsspecStore(LocalFileSystem(), uri.path)


def _read_descriptor(directory: str) -> RootDescriptor | None:
    """The directory's descriptor, ``None`` if it has none (or the directory does not exist yet)."""
    path = os.path.join(directory, DESCRIPTOR_NAME)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return RootDescriptor.decode(data, path)


class FileHistoryArchiver(HistoryArchiver):
    """``file://`` histories: the filestore archiver, or the native one for directories initialised as native."""

    def __init__(self, filestore: HistoryArchiver, native: HistoryArchiver, roots: RootLayouts) -> None:
        self._filestore = filestore
        self._native = native
        self._roots = roots

    def check_uri(self, uri: URI) -> None:
        """See :func:`archivers.localfiles.validate_dir_uri`."""
        validate_dir_uri(uri)

    def _for(self, uri: URI) -> HistoryArchiver:
        layout = self._roots.layout_of(uri, lambda: _read_descriptor(uri.path))
        return self._native if layout == NATIVE else self._filestore

    def _archive(
        self, uri: URI, request: ArchiveHistoryRequest, batches: Iterable[History], progress: ProgressRecorder | None
    ) -> None:
        self._for(uri)._archive(uri, request, batches, progress)

    def _get(self, uri: URI, request: GetHistoryRequest) -> GetHistoryResponse:
        return self._for(uri)._get(uri, request)

    def _archive_encoded(
        self, uri: URI, request: ArchiveHistoryRequest, batches: EncodedBatches, progress: ProgressRecorder | None
    ) -> None:
        self._for(uri)._archive_encoded(uri, request, batches, progress)

    def _get_encoded(self, uri: URI, request: GetHistoryRequest, accepted: Collection[str]) -> EncodedHistoryPage:
        return self._for(uri)._get_encoded(uri, request, accepted)

    def _stored_encoding(self, uri: URI) -> str:
        return self._for(uri)._stored_encoding(uri)

    def _progress(self, uri: URI, request: ArchiveHistoryRequest) -> ArchiveProgress:
        return self._for(uri)._progress(uri, request)

    def _delete(self, uri: URI, request: DeleteRunRequest) -> DeleteRunResponse:
        return self._for(uri)._delete(uri, request)


_LOCAL_STORES = StoreKind(_local_store, shared_by=lambda uri: uri.path)
_shared = per_settings(lambda config: (StoreCache(_LOCAL_STORES, config), RootLayouts("filestore")))


def _history(config: BackendConfig) -> FileHistoryArchiver:
    stores, roots = _shared(config)
    native = ObjectHistoryArchiver(stores, fixed_layout(NATIVE_LAYOUT), validate_dir_uri)
    filestore = FilestoreHistoryArchiver(modes_from_config(config), durability=durability_from_config(config))
    return FileHistoryArchiver(filestore, native, roots)


def _roots(config: BackendConfig) -> StoreRoots:
    modes = modes_from_config(config)
    return StoreRoots(*_shared(config), validate_dir_uri, prepare=lambda uri: ensure_dir(uri.path, modes.dir_mode))


def _visibility(config: BackendConfig) -> ByRootVisibilityArchiver:
    stores, roots = _shared(config)
    filestore = FilestoreVisibilityArchiver(modes_from_config(config), durability=durability_from_config(config))
    native = NativeIndexVisibilityArchiver(stores, validate_dir_uri)
    return ByRootVisibilityArchiver(filestore, native, roots, lambda uri: lambda: _read_descriptor(uri.path))


BACKEND = Backend(scheme="file", history=_history, visibility=_visibility, roots=_roots)
