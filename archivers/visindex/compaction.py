"""Compaction: the inbox of a namespace moved into compacted files, safe under crashes and concurrency.

One round: read the newest manifest; list the inbox; read the objects the manifest has not
compacted; write them as files (:func:`archivers.visindex.files.write_files`); commit the next
generation naming the files and the compacted inbox names; then delete those inbox objects.

- A crash before the commit leaves unreferenced files and the inbox as it was: nothing changed.
- A crash after it leaves inbox objects the manifest names as compacted: queries skip them, the next
  round deletes them, and drops a name from ``compacted`` once its object is gone.
- Two compactors: at most one commits a generation; the other starts its round again from the new
  manifest, where the records it read are compacted already, so each record is live once.
"""

from __future__ import annotations

from dataclasses import dataclass

from archivers.errors import TransientError
from archivers.store.base import ObjectStore
from archivers.visindex import inbox
from archivers.visindex.files import COMMIT_ATTEMPTS, Step, no_step, write_files
from archivers.visindex.manifest import Manifest, commit, read_latest


@dataclass(frozen=True)
class CompactionResult:
    """What one compaction did: inbox records moved, files written, and the generation now live."""

    records: int
    files: int
    generation: int


def compact(store: ObjectStore, root: str, namespace_id: str, step: Step = no_step) -> CompactionResult:
    """Move every record in the namespace's inbox into compacted files (see the module docstring)."""
    for _ in range(COMMIT_ATTEMPTS):
        manifest = read_latest(store, root, namespace_id)
        step("read-manifest")
        listed = inbox.listing(store, root, namespace_id)
        leftover = manifest.compacted.intersection(item.name for item in listed)
        pending = [item for item in listed if item.name not in manifest.compacted]
        records = []
        taken = []
        for item, record in zip(pending, inbox.read_many(store, root, namespace_id, pending), strict=True):
            if record is not None:  # else compacted by another compactor meanwhile: our commit will lose, retry
                records.append(record)
                taken.append(item.name)
        step("read-inbox")
        written = write_files(store, root, namespace_id, manifest, records)
        step("wrote-files")
        compacted = leftover.union(taken)
        following = Manifest(manifest.generation + 1, manifest.files + tuple(written), compacted)
        if compacted != manifest.compacted or written:
            if not commit(store, root, namespace_id, following):
                step("lost-commit")
                continue
            step("committed")
        else:
            following = manifest
        names = sorted(compacted)
        inbox.delete_many(store, root, namespace_id, names[:1])
        step("deleted-one")
        inbox.delete_many(store, root, namespace_id, names[1:])
        step("deleted-all")
        return CompactionResult(len(taken), len(written), following.generation)
    raise TransientError(f"{store.bucket}: visibility manifest of {namespace_id!r} is contended; retry")
