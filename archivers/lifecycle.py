"""Lifecycle of archived runs: removing one run (erasure) and the runs a retention rule selects (prune).

A :class:`Roots` names where a namespace's histories and visibility records are: one root holding
both, or two roots, or only one kind. Removing a run removes its history first (every version and
part), then its visibility record and index entries, through the archivers' ``delete``
(:meth:`archivers.interfaces.HistoryArchiver.delete`). The record goes last because it is what
finds the run again: a removal cut short is finished by running it again, and removing a run
already gone removes nothing. Every removal is reported as a :class:`RunRemoval`, which
:func:`audit_line` turns into one JSON line.

Runs are selected from visibility records (histories are stored under hashed names that tell
neither workflow id nor time): :func:`select_runs` lists the runs closed before a time and matching
a query; :func:`runs_of_workflow` the runs of one workflow id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from archivers.errors import InvalidArgumentError
from archivers.interfaces import (
    DeleteRunRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    SearchAttributeTypes,
    VisibilityArchiver,
)
from archivers.paging import Listing
from archivers.query import parse_query
from archivers.query.printer import quote_string
from archivers.redact import redact
from archivers.uri import URI


@dataclass(frozen=True)
class Roots:
    """Where one namespace's archives are: a history root and a visibility root (either may be absent, or the same)."""

    history: tuple[HistoryArchiver, URI] | None = None
    visibility: tuple[VisibilityArchiver, URI] | None = None

    def visibility_or_error(self) -> tuple[VisibilityArchiver, URI]:
        """The visibility root; :class:`InvalidArgumentError` without one (runs are selected from records)."""
        if self.visibility is None:
            raise InvalidArgumentError("selecting runs needs a visibility root: name the root holding the records")
        return self.visibility


@dataclass(frozen=True)
class Run:
    """One run of a namespace, with its close time (Unix nanos) when known."""

    namespace_id: str
    workflow_id: str
    run_id: str
    close_time: int | None = None


@dataclass(frozen=True)
class RunRemoval:
    """What removing one run removed (or, dry, would remove): stored object names per kind."""

    run: Run
    history: list[str] = field(default_factory=list)
    visibility: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether anything of the run was stored."""
        return bool(self.history or self.visibility)


def remove_run(roots: Roots, run: Run, *, dry_run: bool) -> RunRemoval:
    """Remove ``run`` from ``roots``: its history first, then its visibility record (see the module docstring)."""
    request = DeleteRunRequest(run.namespace_id, run.workflow_id, run.run_id, dry_run, run.close_time)
    history = roots.history[0].delete(roots.history[1], request).removed if roots.history else []
    visibility = roots.visibility[0].delete(roots.visibility[1], request).removed if roots.visibility else []
    return RunRemoval(run, history, visibility)


def select_runs(
    roots: Roots, namespace_id: str, closed_before: str, query: str = "", types: SearchAttributeTypes | None = None
) -> Iterator[Run]:
    """The runs whose visibility record closed before ``closed_before`` and matches ``query`` (a filter).

    ``closed_before`` is any time the query language reads (RFC 3339, a date, Unix nanos). Raises
    :class:`QueryError` for a bad time or query, :class:`InvalidArgumentError` for a query with
    ``ORDER BY`` or without a visibility root.
    """
    if query.strip() and parse_query(query).order_by:
        raise InvalidArgumentError("the query of a prune selects runs: it takes no ORDER BY")
    text = f"CloseTime < {quote_string(closed_before)}"
    if query.strip():
        text += f" AND ({query})"
    yield from _listed(roots, namespace_id, text, types)


def runs_of_workflow(roots: Roots, namespace_id: str, workflow_id: str) -> Iterator[Run]:
    """The runs of ``workflow_id`` that have a visibility record."""
    yield from _listed(roots, namespace_id, f"WorkflowId = {quote_string(workflow_id)}", None)


def _listed(roots: Roots, namespace_id: str, query: str, types: SearchAttributeTypes | None) -> Iterator[Run]:
    archiver, uri = roots.visibility_or_error()
    for info in Listing(archiver, uri, QueryVisibilityRequest(namespace_id=namespace_id, query=query), types or {}):
        close = info.close_time.ToNanoseconds() if info.HasField("close_time") else None
        yield Run(namespace_id, info.execution.workflow_id, info.execution.run_id, close)


def audit_line(action: str, removal: RunRemoval, roots: Roots) -> str:
    """One JSON line recording a removed run: when, what action, which roots, the run and the objects removed."""
    entry = {
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": action,
        "historyUri": redact(str(roots.history[1])) if roots.history else "",
        "visibilityUri": redact(str(roots.visibility[1])) if roots.visibility else "",
        "namespaceId": removal.run.namespace_id,
        "workflowId": removal.run.workflow_id,
        "runId": removal.run.run_id,
        "history": removal.history,
        "visibility": removal.visibility,
    }
    return json.dumps(entry, ensure_ascii=False)
