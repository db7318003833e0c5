"""Group commit of atomic file renames: concurrent writers share the directory fsyncs.

A writer that has written and fsynced its temporary file calls :meth:`GroupCommit.commit` with
the rename it needs. Writers that arrive while a commit is running join the next group; when the
running commit ends, one of them leads that group: it renames every file of the group, then
fsyncs each affected directory once, and every writer of the group returns (or raises) only after
that. A rename is therefore acknowledged only once it is durable, and N concurrent writers to one
directory cost N file fsyncs (made in parallel by the writers) plus one directory fsync per group
instead of N.

If a rename or a directory fsync fails, every writer of the group gets that ``OSError`` (the
renamed files are complete but may not be durable: the writers must report failure so that the
caller retries its idempotent write). Temporary files whose rename did not happen are removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rename:
    """One writer's pending commit: move ``source`` (a complete, fsynced file) to ``target``."""

    source: str
    target: str


@dataclass
class _Group:
    renames: list[Rename] = field(default_factory=list)
    done: bool = False
    error: OSError | None = None


class GroupCommit:
    """Commits renames in groups, fsyncing each directory once per group (see the module docstring).

    Thread-safe; one instance is meant to be shared by every writer of a process.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: _Group | None = None
        self._busy = False

    def commit(self, rename: Rename) -> None:
        """Rename ``rename.source`` to ``rename.target`` and make it durable, sharing the work with concurrent callers.

        Returns once the rename and its directory entry are on disk; raises the group's
        ``OSError`` otherwise (the source file no longer exists either way).
        """
        with self._cond:
            group = self._pending
            if group is None:
                group = self._pending = _Group()
            group.renames.append(rename)
            while self._busy and not group.done:
                self._cond.wait()
            if not group.done:  # nobody is committing and our group is still pending: lead it
                self._busy = True
                self._pending = None
                leader = True
            else:
                leader = False
        if leader:
            group.error = OSError(errno.EINTR, "the group commit was interrupted")  # if _flush never returns
            try:
                group.error = _flush(group.renames)
            finally:
                with self._cond:
                    group.done = True
                    self._busy = False
                    self._cond.notify_all()
        if group.error is not None:
            raise group.error


def _flush(renames: list[Rename]) -> OSError | None:
    """Rename every file, then fsync each target directory once; the first error, or ``None``."""
    directories: dict[str, None] = {}
    try:
        for rename in renames:
            os.replace(rename.source, rename.target)
            directories[os.path.dirname(rename.target)] = None
        for directory in directories:
            fsync_dir(directory)
    except OSError as exc:
        for rename in renames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(rename.source)
        return exc
    return None


def fsync_dir(path: str) -> None:
    """Flush a directory entry change (create, rename, unlink) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


GROUP_COMMIT = GroupCommit()
"""The process-wide group commit shared by every ``file://`` archiver."""
