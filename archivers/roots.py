"""Archive roots that describe themselves: a small descriptor object naming the root's layout.

A root (the URI a namespace archives to) may hold :data:`DESCRIPTOR_NAME` at its top, a JSON
:class:`RootDescriptor`: format name and version, history layout, visibility layout, compression,
who created it and when. It is created once with a conditional create and never rewritten.

- A root without a descriptor is read and written in its scheme's compat layout, exactly as before
  descriptors existed, so archives written by Temporal's own archivers keep working.
- :class:`RootLayouts` reads a root's descriptor once per root and process (the answer, descriptor
  or none, is kept), so every call after the first costs no extra request. A root initialised by
  another process after this one first looked at it is seen at this process's next start; the
  sidecar initialises a root at namespace registration, before anything is archived to it.
- A root that already holds archives in its compat layout is never given another layout:
  :meth:`RootLayouts.init` refuses (``strict``, the ``archiver init`` command) or records the compat
  layout instead (the sidecar at ``ValidateURI``).
- A native root created by this release keeps its visibility records in the native index
  (``visibility_layout`` ``native``, :mod:`archivers.visindex`); native roots created before keep the
  compat visibility layout their descriptor names.
- A descriptor that is not valid JSON, names another format, a version this release does not know
  or an unknown layout is :class:`CorruptArchiveError`: the root is not used in any layout.

The name starts with a dot and ends in ``.json``, so it is neither a key nor a listing prefix of any
compat layout (their keys start with a namespace id or a decimal hash and end otherwise).
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from archivers.errors import CorruptArchiveError, InvalidArgumentError, TransientError
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.uri import URI

FORMAT = "temporal-archivers"
FORMAT_VERSION = 1
DESCRIPTOR_NAME = ".temporal-archivers.json"
NATIVE = "native"
COMPAT = "compat"
"""Not a layout: "the scheme's compat layout" (what a root without a descriptor is in)."""
COMPAT_LAYOUTS = ("filestore", "s3store", "gcloud")
LAYOUTS = (NATIVE, *COMPAT_LAYOUTS)
"""Every layout a descriptor may name."""


@dataclass(frozen=True)
class RootDescriptor:
    """What a root's descriptor object says (see the module docstring); ``encode``/``decode`` are its bytes."""

    layout: str
    visibility_layout: str
    compression: str
    created_by: str
    created_at: str
    format: str = FORMAT
    version: int = FORMAT_VERSION

    @classmethod
    def new(cls, layout: str, compat: str, created_by: str) -> RootDescriptor:
        """A descriptor for a new root in ``layout``; visibility: the native index if native, else ``compat``."""
        return cls(
            layout=layout,
            visibility_layout=NATIVE if layout == NATIVE else compat,
            compression="zstd" if layout == NATIVE else "none",
            created_by=created_by,
            created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def encode(self) -> bytes:
        """The stored bytes: a small, sorted JSON object."""
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def decode(cls, data: bytes, source: str) -> RootDescriptor:
        """Parse stored bytes; :class:`CorruptArchiveError` naming ``source`` unless this release reads them."""
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptArchiveError(f"{source}: root descriptor is not JSON: {exc}") from exc
        if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
            raise CorruptArchiveError(f"{source}: not a {FORMAT} root descriptor")
        if parsed.get("version") != FORMAT_VERSION:
            raise CorruptArchiveError(
                f"{source}: root descriptor version {parsed.get('version')!r} is not supported "
                f"(this release reads version {FORMAT_VERSION})"
            )
        names = {f.name for f in fields(cls)}
        if set(parsed) != names or not all(isinstance(parsed[n], str) for n in names - {"version"}):
            raise CorruptArchiveError(f"{source}: root descriptor fields are not {sorted(names)} as strings")
        visibility = parsed["visibility_layout"]
        if parsed["layout"] not in LAYOUTS or visibility not in (*COMPAT_LAYOUTS, NATIVE):
            raise CorruptArchiveError(f"{source}: root descriptor names an unknown layout {parsed['layout']!r}")
        if visibility == NATIVE and parsed["layout"] != NATIVE:
            raise CorruptArchiveError(f"{source}: only a native root may keep its visibility in the native index")
        return cls(**parsed)


def descriptor_key(root: str) -> str:
    """The descriptor's key below ``root`` (the prefix a layout puts in front of every key)."""
    return f"{root}/{DESCRIPTOR_NAME}".lstrip("/")


def read_descriptor(store: ObjectStore, root: str) -> RootDescriptor | None:
    """The root's descriptor (one GET), or ``None`` if it has none."""
    key = descriptor_key(root)
    try:
        data = store.get(key)
    except ObjectNotFoundError:
        return None
    return RootDescriptor.decode(data, f"{store.bucket}/{key}")


def holds_objects(store: ObjectStore, root: str) -> bool:
    """Whether anything is stored below ``root`` (one listing of at most one key)."""
    page = store.list_page(f"{root}/".lstrip("/"), max_keys=1)
    return bool(page.objects or page.prefixes)


def root_id(uri: URI) -> Hashable:
    """What tells one root from another among the roots of one backend and settings."""
    return (uri.scheme, uri.host, uri.path)


class RootLayouts:
    """The layout of each root served by one backend and settings: its descriptor's, else ``compat``.

    Thread-safe; roots are told apart by :func:`root_id`.
    """

    def __init__(self, compat: str) -> None:
        self.compat = compat
        self._lock = threading.Lock()
        self._known: dict[Hashable, tuple[str, str]] = {}

    def layout_of(self, uri: URI, read: Callable[[], RootDescriptor | None]) -> str:
        """The layout name of the root of ``uri``: on first use from ``read`` (its descriptor), from memory after."""
        return self._layouts(uri, read)[0]

    def visibility_layout_of(self, uri: URI, read: Callable[[], RootDescriptor | None]) -> str:
        """The visibility layout name of the root of ``uri`` (``native``: the native index), as :meth:`layout_of`."""
        return self._layouts(uri, read)[1]

    def _layouts(self, uri: URI, read: Callable[[], RootDescriptor | None]) -> tuple[str, str]:
        with self._lock:
            known = self._known.get(root_id(uri))
        if known is None:
            descriptor = read()
            known = (descriptor.layout, descriptor.visibility_layout) if descriptor else (self.compat, self.compat)
            with self._lock:
                known = self._known.setdefault(root_id(uri), known)
        return known

    def init(
        self, uri: URI, store: ObjectStore, root: str, layout: str, created_by: str, *, strict: bool
    ) -> RootDescriptor:
        """Create the descriptor of ``uri``'s root (``root`` in ``store``) for ``layout`` unless it has one; return it.

        ``strict``: asking for another layout than an existing descriptor's, or for ``native`` on a
        root that already holds compat archives, is an :class:`InvalidArgumentError`. Otherwise an
        existing descriptor is accepted as it is and a root holding archives is given its compat layout.
        """
        if layout not in (NATIVE, self.compat):
            raise InvalidArgumentError(f"layout {layout!r} is not available here: choose {NATIVE} or {self.compat}")
        existing = read_descriptor(store, root)
        if existing is None:
            if layout != self.compat and holds_objects(store, root):
                if strict:
                    raise InvalidArgumentError(
                        f"{uri}: the root already holds archives in the {self.compat} layout and "
                        f"keeps it (initialise it with --layout {self.compat}, or use a new root for {layout})"
                    )
                layout = self.compat
            created = RootDescriptor.new(layout, self.compat, created_by)
            key = descriptor_key(root)
            existing = created if store.put_if_absent(key, created.encode()) else read_descriptor(store, root)
            if existing is None:
                raise TransientError(f"{store.bucket}/{key}: root descriptor vanished while being created; retry")
        with self._lock:
            self._known[root_id(uri)] = (existing.layout, existing.visibility_layout)
        if strict and existing.layout != layout:
            raise InvalidArgumentError(
                f"{uri}: the root is already initialised in layout {existing.layout!r}, not {layout!r}"
            )
        return existing


class RootManager(abc.ABC):
    """A backend's roots: what a root's descriptor says and how to initialise one (``Backend.roots``)."""

    @abc.abstractmethod
    def describe(self, uri: URI) -> RootDescriptor | None:
        """The descriptor of the root ``uri`` names, ``None`` if it has none (then: its scheme's compat layout)."""

    @abc.abstractmethod
    def init(self, uri: URI, layout: str, created_by: str, *, strict: bool = True) -> RootDescriptor:
        """Give the root ``uri`` names the ``layout`` (see :meth:`RootLayouts.init`); idempotent."""
