"""``archiver delete`` and ``archiver prune``: removing archived runs (the work is :mod:`archivers.lifecycle`'s).

Both list what they would remove and change nothing unless given ``--yes``; then each run removed
gives one audit line (JSON) on stdout, appended to ``--audit-log FILE`` too (flushed and synced per
run). Running either again is safe: what is gone is not found again, what a cut-short run left is
removed.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import Progress

from archivers.cli.commands import history_archiver, visibility_archiver
from archivers.cli.options import config_option, namespace_id_option
from archivers.cli.search_attribute_types import parse_search_attribute_types
from archivers.errors import InvalidArgumentError
from archivers.lifecycle import Roots, Run, RunRemoval, audit_line, remove_run, runs_of_workflow, select_runs
from archivers.redact import redact


@dataclass(frozen=True)
class _Target:
    """Where a removal acts and how: the roots named, ``--yes`` and ``--audit-log``."""

    uri: str | None
    history_uri: str | None
    visibility_uri: str | None
    yes: bool
    audit_log: str | None


def _target_options(func: Callable[..., None]) -> Callable[..., None]:
    """The root and removal options, handed to ``func`` as one ``target`` (a :class:`_Target`)."""

    @functools.wraps(func)
    def command(
        *, uri: str | None, history_uri: str | None, visibility_uri: str | None, yes: bool, audit_log: str | None,
        **rest: Any,
    ) -> None:  # fmt: skip
        func(target=_Target(uri, history_uri, visibility_uri, yes, audit_log), **rest)

    for option in reversed(
        [
            click.option("--uri", default=None, metavar="URI",
                         help="A root holding histories, visibility records or both: acts on what it holds."),
            click.option("--history-uri", default=None, metavar="URI", help="A separate root of histories."),
            click.option("--visibility-uri", default=None, metavar="URI", help="A separate root of records."),
            click.option("--yes", is_flag=True, help="Remove (without it: only list what would be removed)."),
            click.option("--audit-log", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                         help="Also append each audit line to FILE."),
        ]
    ):  # fmt: skip
        command = option(command)
    return command


def _roots(target: _Target, config_path: str | None) -> Roots:
    """The roots named by ``--uri`` (both kinds) or ``--history-uri`` / ``--visibility-uri``."""
    uri, history_uri, visibility_uri = target.uri, target.history_uri, target.visibility_uri
    if uri and (history_uri or visibility_uri):
        raise click.UsageError("give --uri, or --history-uri and/or --visibility-uri, not both")
    history_uri, visibility_uri = (uri, uri) if uri else (history_uri, visibility_uri)
    if not history_uri and not visibility_uri:
        raise click.UsageError("name a root: --uri, --history-uri or --visibility-uri")
    return Roots(
        history=history_archiver(history_uri, config_path) if history_uri else None,
        visibility=visibility_archiver(visibility_uri, config_path) if visibility_uri else None,
    )


@click.command("delete")
@_target_options
@namespace_id_option
@click.option("--wid", "--workflow-id", "-w", "workflow_id", required=True, metavar="WORKFLOW_ID",
              help="Workflow ID.")  # fmt: skip
@click.option("--rid", "--run-id", "-r", "run_id", default=None, metavar="RUN_ID",
              help="Run ID (default: every run of the workflow that has a visibility record).")  # fmt: skip
@config_option()
def delete(target: _Target, namespace_id: str, workflow_id: str, run_id: str | None, config_path: str | None) -> None:
    """Remove a run's archived history (every version and part) and its visibility record and index entries."""
    roots = _roots(target, config_path)
    if run_id:
        runs = [Run(namespace_id, workflow_id, run_id)]
    else:
        if roots.visibility is None:
            raise click.UsageError("without --rid the runs come from visibility records: name their root")
        runs = list(runs_of_workflow(roots, namespace_id, workflow_id))
    _remove(roots, runs, "delete", target)


@click.command("prune")
@_target_options
@namespace_id_option
@click.option("--closed-before", required=True, metavar="TIME",
              help="Remove runs closed before TIME (RFC 3339 like 2024-05-01T00:00:00Z, a date, or Unix nanos).")
@click.option("--query", "-q", default="", metavar="Q",
              help="Remove only the runs this List Filter query also matches (e.g. by type or status).")
@click.option("--search-attribute-type", "search_attribute_types", multiple=True, metavar="NAME=TYPE",
              help="Type of a custom search attribute the query names; repeatable.")  # fmt: skip
@config_option()
def prune(
    target: _Target,
    namespace_id: str,
    closed_before: str,
    query: str,
    search_attribute_types: Sequence[str],
    config_path: str | None,
) -> None:
    """Remove the archived runs closed before a time (and matching a query): retention on the archive itself.

    Runs are selected from the visibility records, so a visibility root must be named.
    """
    roots = _roots(target, config_path)
    types = parse_search_attribute_types(search_attribute_types)
    runs = list(select_runs(roots, namespace_id, closed_before, query, types))
    _remove(roots, runs, "prune", target)


def _remove(roots: Roots, runs: list[Run], action: str, target: _Target) -> None:
    """Dry: list what each run would lose. With ``--yes``: remove, one audit line per run removed."""
    if not target.yes:
        planned = [removal for removal in (remove_run(roots, run, dry_run=True) for run in runs) if removal.found]
        for removal in planned:
            _describe(removal)
        objects = sum(len(r.history) + len(r.visibility) for r in planned)
        click.echo(f"dry run: would remove {_count(len(planned), 'run')} ({_count(objects, 'object')}); "
                   "run again with --yes to remove")  # fmt: skip
        return
    log = _open_log(target.audit_log)
    removed = objects = 0
    try:
        for removal in _with_progress(runs, action, lambda run: remove_run(roots, run, dry_run=False)):
            if not removal.found:
                continue
            line = audit_line(action, removal, roots)
            click.echo(line)
            if log is not None:
                log.write(line + "\n")
                log.flush()
                os.fsync(log.fileno())
            removed += 1
            objects += len(removal.history) + len(removal.visibility)
    finally:
        if log is not None:
            log.close()
    click.echo(f"removed {_count(removed, 'run')} ({_count(objects, 'object')})", err=True)


def _describe(removal: RunRemoval) -> None:
    run = removal.run
    click.echo(f"would remove workflow {run.workflow_id!r} run {run.run_id!r}:")
    for name in [*removal.history, *removal.visibility]:
        click.echo(f"  {redact(name)}")


def _with_progress(runs: list[Run], action: str, work: Callable[[Run], RunRemoval]) -> Iterable[RunRemoval]:
    """``work`` on each run, with a progress bar on stderr when it is a terminal and there is much to do."""
    console = Console(file=sys.stderr)
    with Progress(console=console, transient=True, disable=not console.is_terminal or len(runs) < 2) as progress:
        task = progress.add_task(f"{action}: removing runs", total=len(runs))
        for run in runs:
            yield work(run)
            progress.advance(task)


def _open_log(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot open the audit log {path}: {exc.strerror or exc}") from exc


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
