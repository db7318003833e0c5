"""Backends by URI scheme.

Lookup order: explicit :func:`register_backend` calls, then the ``archivers.backends`` entry-point
group (name = scheme, value = a :class:`Backend` or a zero-argument callable returning one), then
the built-in backends, which are imported lazily so a missing optional dependency only matters
when its scheme is used. :class:`Backend` and :data:`BackendConfig` are defined in
:mod:`archivers.interfaces` and re-exported here.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points

from archivers.errors import InvalidArgumentError, MissingDependencyError, UnknownSchemeError
from archivers.interfaces import Backend, BackendConfig, HistoryArchiver, VisibilityArchiver
from archivers.roots import RootManager
from archivers.uri import URI

__all__ = [
    "ENTRY_POINT_GROUP",
    "FSSPEC_PREFIX",
    "Backend",
    "BackendConfig",
    "DuplicateBackendError",
    "get_backend",
    "get_history_archiver",
    "get_root_manager",
    "get_visibility_archiver",
    "known_schemes",
    "register_backend",
    "unregister_backend",
]

ENTRY_POINT_GROUP = "archivers.backends"


@dataclass(frozen=True)
class _BuiltIn:
    module: str
    attribute: str
    extra: str
    requires: str


_OBJECTS = "archivers.backends.object_backends"
_BUILT_INS: dict[str, _BuiltIn] = {
    "file": _BuiltIn("archivers.backends.filestore", "BACKEND", "", ""),
    "s3": _BuiltIn(_OBJECTS, "S3_BACKEND", "s3", "boto3"),
    "gs": _BuiltIn(_OBJECTS, "GCS_BACKEND", "gcs", "google.cloud.storage"),
    "azblob": _BuiltIn(_OBJECTS, "AZURE_BACKEND", "azure", "azure.storage.blob"),
    "memory": _BuiltIn(_OBJECTS, "MEMORY_BACKEND", "", ""),
}
FSSPEC_PREFIX = "fsspec+"
"""``fsspec+PROTOCOL://...`` selects the fsspec backend with that fsspec protocol."""
_FSSPEC = _BuiltIn(_OBJECTS, "fsspec_backend", "fsspec", "fsspec")

_lock = threading.Lock()
_registered: dict[str, Backend] = {}


class DuplicateBackendError(InvalidArgumentError):
    """A backend is already registered for the scheme."""


def register_backend(backend: Backend) -> None:
    """Register ``backend`` for its scheme, ahead of entry points and built-ins.

    Raises :class:`DuplicateBackendError` if a backend was already registered for the scheme.
    """
    scheme = backend.scheme.lower()
    with _lock:
        if scheme in _registered:
            raise DuplicateBackendError(f"a backend is already registered for scheme {scheme!r}")
        _registered[scheme] = backend


def unregister_backend(scheme: str) -> None:
    """Remove an explicitly registered backend (no error if there is none)."""
    with _lock:
        _registered.pop(scheme.lower(), None)


def known_schemes() -> list[str]:
    """Every scheme with a backend: registered, entry points and built-ins (``fsspec+PROTOCOL`` for fsspec)."""
    names = set(_registered) | set(_BUILT_INS) | {FSSPEC_PREFIX + "PROTOCOL"}
    names.update(ep.name.lower() for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get_backend(scheme_or_uri: str | URI) -> Backend:
    """Return the backend for a scheme (``"s3"``) or for a URI's scheme.

    Raises :class:`UnknownSchemeError` if none is known and :class:`MissingDependencyError`
    (naming the extra to install) if the backend's optional dependency is missing.
    """
    scheme = _scheme_of(scheme_or_uri)
    with _lock:
        registered = _registered.get(scheme)
    if registered is not None:
        return registered
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.lower() == scheme:
            loaded = ep.load()
            backend = loaded if isinstance(loaded, Backend) else loaded()
            if not isinstance(backend, Backend):
                raise InvalidArgumentError(f"entry point {ep.value!r} did not provide a Backend")
            return backend
    if scheme.startswith(FSSPEC_PREFIX) and len(scheme) > len(FSSPEC_PREFIX):
        return _load_built_in(scheme, _FSSPEC)
    built_in = _BUILT_INS.get(scheme)
    if built_in is None:
        raise UnknownSchemeError(
            f"no archiver backend for scheme {scheme!r}; known schemes: {', '.join(known_schemes())}"
        )
    return _load_built_in(scheme, built_in)


def get_history_archiver(scheme_or_uri: str | URI, config: BackendConfig | None = None) -> HistoryArchiver:
    """Build the history archiver for a scheme or URI with the scheme's ``config``."""
    return get_backend(scheme_or_uri).history(config or {})


def get_visibility_archiver(scheme_or_uri: str | URI, config: BackendConfig | None = None) -> VisibilityArchiver:
    """Build the visibility archiver for a scheme or URI with the scheme's ``config``."""
    return get_backend(scheme_or_uri).visibility(config or {})


def get_root_manager(scheme_or_uri: str | URI, config: BackendConfig | None = None) -> RootManager:
    """The root manager (:mod:`archivers.roots`) of a scheme or URI with the scheme's ``config``.

    Raises :class:`InvalidArgumentError` if the scheme's backend has no descriptors (one layout only).
    """
    backend = get_backend(scheme_or_uri)
    if backend.roots is None:
        raise InvalidArgumentError(
            f"the {backend.scheme!r} backend has one layout only: its roots cannot be initialised"
        )
    return backend.roots(config or {})


def _scheme_of(scheme_or_uri: str | URI) -> str:
    if isinstance(scheme_or_uri, URI):
        return scheme_or_uri.scheme
    if ":" in scheme_or_uri:
        return URI.parse(scheme_or_uri).scheme
    return scheme_or_uri.lower()


def _load_built_in(scheme: str, built_in: _BuiltIn) -> Backend:
    if built_in.requires:
        try:
            importlib.import_module(built_in.requires)
        except ImportError as exc:
            raise MissingDependencyError.for_backend(scheme, extra=built_in.extra, module=built_in.requires) from exc
    backend = getattr(importlib.import_module(built_in.module), built_in.attribute)
    if not isinstance(backend, Backend):
        backend = backend(scheme)  # a factory of per-scheme backends (fsspec+PROTOCOL)
    assert isinstance(backend, Backend)
    return backend
