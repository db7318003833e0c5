"""The manifest: which compacted files of a namespace are live, and which inbox objects they hold.

Generation ``n`` is the object :func:`archivers.visindex.keys.manifest_key` ``(n)``, created once
with a conditional create and never rewritten, so at most one writer commits each generation (the
commit protocol of Delta Lake and Iceberg, scaled down). The live state is the highest generation;
none means an empty index (generation 0). A manifest read is kept (up to :data:`CACHE_SIZE`) under
its key and etag. Old generations beyond :data:`KEEP` are deleted after a
commit; a reader that finds its generation gone lists again.

A manifest is JSON: ``format``, ``version``, ``generation``, ``files`` (per live file its path below
the namespace's partition, close date, row count, size, the range of its close and start times in
Unix microseconds, and a Bloom filter of its ids, base64) and ``compacted`` (inbox names whose
records a live file holds, while the inbox object may still exist), plus ``checksum``: BLAKE2b of
the rest. Anything else is :class:`CorruptArchiveError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from archivers.errors import CorruptArchiveError, TransientError
from archivers.lru import LruCache
from archivers.store.base import ObjectNotFoundError, ObjectStore
from archivers.visindex.keys import manifest_key, manifest_prefix, parse_generation

FORMAT = "temporal-archivers-visibility-manifest"
FORMAT_VERSION = 1
KEEP = 8
"""Generations kept below the newest (for readers that listed before a commit)."""
READ_ATTEMPTS = 5
CACHE_SIZE = 64


@dataclass(frozen=True)
class LiveFile:
    """One live compacted file (see the module docstring); times are Unix microseconds, ``None`` if no row has one."""

    path: str
    close_date: str
    rows: int
    size: int
    close_min: int
    close_max: int
    start_min: int | None
    start_max: int | None
    ids: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """The file's entry in a manifest."""
        return {
            "path": self.path, "close_date": self.close_date, "rows": self.rows, "size": self.size,
            "close_min": self.close_min, "close_max": self.close_max,
            "start_min": self.start_min, "start_max": self.start_max,
            "ids": base64.b64encode(self.ids).decode(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, entry: Any) -> LiveFile:
        """Parse a manifest entry; ``ValueError``/``KeyError``/``TypeError`` if it is not one."""
        ints = ("rows", "size", "close_min", "close_max")
        if not all(type(entry[k]) is int for k in ints) or not isinstance(entry["path"], str):
            raise ValueError("bad file entry")
        return cls(
            entry["path"], str(entry["close_date"]), entry["rows"], entry["size"], entry["close_min"],
            entry["close_max"], _optional_int(entry["start_min"]), _optional_int(entry["start_max"]),
            base64.b64decode(entry["ids"], validate=True),
        )  # fmt: skip


def _optional_int(value: Any) -> int | None:
    if value is not None and type(value) is not int:
        raise ValueError("bad time")
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Manifest:
    """One generation: the live files and the compacted inbox names."""

    generation: int = 0
    files: tuple[LiveFile, ...] = ()
    compacted: frozenset[str] = frozenset()

    def encode(self) -> bytes:
        """The stored bytes (see the module docstring)."""
        body = {
            "format": FORMAT, "version": FORMAT_VERSION, "generation": self.generation,
            "files": [f.to_json() for f in self.files], "compacted": sorted(self.compacted),
        }  # fmt: skip
        return json.dumps({**body, "checksum": _checksum(body)}, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes, source: str) -> Manifest:
        """Parse stored bytes; :class:`CorruptArchiveError` naming ``source`` unless this release reads them."""
        try:
            parsed = json.loads(data)
            checksum = parsed.pop("checksum")
            if parsed.get("format") != FORMAT or parsed.get("version") != FORMAT_VERSION:
                raise CorruptArchiveError(f"{source}: not a {FORMAT} version {FORMAT_VERSION}")
            if checksum != _checksum(parsed):
                raise CorruptArchiveError(f"{source}: visibility manifest fails its checksum")
            compacted = parsed["compacted"]
            if type(parsed["generation"]) is not int or not all(isinstance(c, str) for c in compacted):
                raise ValueError("bad generation or compacted names")
            files = tuple(LiveFile.from_json(entry) for entry in parsed["files"])
        except CorruptArchiveError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptArchiveError(f"{source}: not a readable visibility manifest: {exc}") from exc
        return cls(parsed["generation"], files, frozenset(compacted))


def _checksum(body: dict[str, Any]) -> str:
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_MANIFESTS: LruCache[tuple[str, str, str], Manifest] = LruCache(CACHE_SIZE)


def _generations(store: ObjectStore, prefix: str) -> list[tuple[int, str | None]]:
    """Every stored generation and its etag, oldest first."""
    found = []
    for page in store.list_all(prefix):
        for info in page.objects:
            generation = parse_generation(info.key, prefix)
            if generation is not None:
                found.append((generation, info.etag))
    return sorted(found)


def _read(store: ObjectStore, key: str, generation: int, etag: str | None) -> Manifest:
    cache_key = None if etag is None else (store.bucket, key, etag)
    manifest = None if cache_key is None else _MANIFESTS.get(cache_key)
    if manifest is None:
        manifest = Manifest.decode(store.get(key), f"{store.bucket}/{key}")
        if manifest.generation != generation:
            raise CorruptArchiveError(f"{store.bucket}/{key}: manifest says generation {manifest.generation}")
        if cache_key is not None:
            _MANIFESTS.put(cache_key, manifest)
    return manifest


def read_latest(store: ObjectStore, root: str, namespace_id: str) -> Manifest:
    """The newest manifest of the namespace (a LIST and a GET), or the empty generation 0."""
    prefix = manifest_prefix(root, namespace_id)
    for _ in range(READ_ATTEMPTS):
        generations = _generations(store, prefix)
        if not generations:
            return Manifest()
        generation, etag = generations[-1]
        try:
            return _read(store, manifest_key(root, namespace_id, generation), generation, etag)
        except ObjectNotFoundError:
            continue  # pruned after a newer commit: list again
    raise TransientError(f"{store.bucket}/{prefix}: visibility manifests keep changing while read; retry")


def commit(store: ObjectStore, root: str, namespace_id: str, manifest: Manifest) -> bool:
    """Create ``manifest`` as its generation (conditional); ``False`` if another writer committed it first.

    After a commit, generations older than :data:`KEEP` below it are deleted (best effort).
    """
    if not store.put_if_absent(manifest_key(root, namespace_id, manifest.generation), manifest.encode()):
        return False
    for generation, _ in _generations(store, manifest_prefix(root, namespace_id)):
        if generation < manifest.generation - KEEP:
            store.delete(manifest_key(root, namespace_id, generation))
    return True
