"""The ``archiver`` command: the click group and its subcommands.

The subcommands here are ``get``, ``put``, ``put-visibility``, ``query`` and ``validate-uri``.

Every subcommand builds its archiver through :mod:`archivers.registry` with the scheme's settings
from ``--config FILE`` (see :mod:`archivers.config`) or, without it, the SDKs' own environment.
With the global option ``--sidecar ADDR`` (or ``ARCHIVER_SIDECAR``) every subcommand calls a running
sidecar instead (:mod:`archivers.remote`): the sidecar's own backends and config do the work, and
the output and exit codes are the same as those of the direct path (the remote archivers raise the
library's error classes). ``--config`` together with ``--sidecar`` is a usage error: the backend
settings are the sidecar's, and a local file would be silently ignored.
Errors are reported by :func:`main` as one ``error: ...`` line on stderr and an exit code from
:mod:`archivers.cli.exit_codes`; ``--debug`` adds the traceback.

Further subcommands (such as ``serve``) live in their own module of this package and are attached
to :data:`cli` with ``cli.add_command`` in ``archivers/cli/__init__.py``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import click

from archivers.cli import exit_codes
from archivers.cli.cluster_names import read_cluster_names
from archivers.cli.history_json import HistoryFile, RunNames, check_history
from archivers.cli.options import (
    config_option,
    execution_options,
    input_file_option,
    namespace_id_option,
    output_option,
    page_size_option,
    uri_option,
)
from archivers.cli.output import (
    write_executions_jsonl,
    write_executions_table,
    write_history_json,
    write_history_table,
)
from archivers.cli.record_file import RowNamespace, read_visibility_records
from archivers.cli.search_attribute_types import (
    parse_search_attribute_aliases,
    parse_search_attribute_types,
    resolve_names,
)
from archivers.codec.cli_rows import render_rows
from archivers.config import ArchivalConfig, load_config
from archivers.errors import ArchiverError, NonRetryableError
from archivers.interfaces import (
    DEFAULT_HISTORY_PAGE_SIZE,
    DEFAULT_QUERY_PAGE_SIZE,
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    VisibilityArchiver,
)
from archivers.paging import Listing, iter_history_events
from archivers.redact import redact
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.uri import URI
from archivers.visindex.archiver import ByRootVisibilityArchiver, NativeIndexVisibilityArchiver

A = TypeVar("A", HistoryArchiver, VisibilityArchiver)

PROG_NAME = "archiver"


SIDECAR_ENV = "ARCHIVER_SIDECAR"
"""Environment variable holding the default of the global ``--sidecar`` option."""


@dataclass
class CliState:
    """Global options shared by every subcommand (click's ``ctx.obj``).

    ``sidecar`` is the ``host:port`` of a running sidecar (``None``: use the stores directly);
    ``channel`` is the gRPC channel to it, opened on first use and closed with the root context.
    """

    debug: bool = False
    sidecar: str | None = None
    sidecar_source: str = ""
    sidecar_timeout: float | None = None
    channel: Any = None


# -- archivers ---------------------------------------------------------------------------------


def _config(path: str | None) -> ArchivalConfig:
    return load_config(path) if path else ArchivalConfig()


def _state() -> CliState:
    """The global options of the running command (defaults outside a click context)."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx is not None else None
    return state if state is not None else CliState()


def _sidecar_channel(state: CliState, config_path: str | None) -> Any:
    """The channel to ``state.sidecar`` (opened once, closed when the command ends), or ``None`` without one.

    Raises :class:`click.UsageError` if ``--config`` is given too: the sidecar has its own config.
    """
    if not state.sidecar:
        return None
    if config_path:
        source = "--sidecar" if state.sidecar_source == "option" else f"{SIDECAR_ENV} (set in the environment)"
        raise click.UsageError(f"--config cannot be used with {source}: the sidecar's own config sets the backends")
    if state.channel is None:
        try:
            from archivers.remote import connect
        except ImportError as exc:
            raise NonRetryableError(
                f"--sidecar needs the {exc.name or 'grpcio'!r} package: pip install 'temporal-archivers[sidecar]'"
            ) from exc
        state.channel = connect(state.sidecar)
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.find_root().call_on_close(_closer(state))
    return state.channel


def _closer(state: CliState) -> Callable[[], None]:
    def close() -> None:
        if state.channel is not None:
            state.channel.close()
            state.channel = None

    return close


@dataclass(frozen=True)
class _Kind(Generic[A]):
    """How the CLI gets one kind of archiver.

    That is its class in :mod:`archivers.remote`, the registry lookup, and the section of the
    config file that holds its settings.
    """

    remote_class: str
    lookup: Callable[[URI, Mapping[str, Any]], A]
    settings: Callable[[ArchivalConfig, str], Mapping[str, Any]]


_HISTORY = _Kind("RemoteHistoryArchiver", get_history_archiver, ArchivalConfig.history_settings)
_VISIBILITY = _Kind("RemoteVisibilityArchiver", get_visibility_archiver, ArchivalConfig.visibility_settings)


def _archiver(kind: _Kind[A], uri: str, config_path: str | None) -> tuple[A, URI]:
    """The ``kind`` archiver for ``uri`` (its URI checked): the store's own, or a remote one with ``--sidecar``."""
    parsed = URI.parse(uri)
    state = _state()
    channel = _sidecar_channel(state, config_path)
    archiver: A
    if channel is not None:
        from archivers import remote

        archiver = getattr(remote, kind.remote_class)(channel, timeout=state.sidecar_timeout)
    else:
        archiver = kind.lookup(parsed, kind.settings(_config(config_path), parsed.scheme))
    archiver.check_uri(parsed)
    return archiver, parsed


def history_archiver(uri: str, config_path: str | None) -> tuple[HistoryArchiver, URI]:
    """The history archiver of ``uri`` as every subcommand gets it (the store's, or the sidecar's)."""
    return _archiver(_HISTORY, uri, config_path)


def visibility_archiver(uri: str, config_path: str | None) -> tuple[VisibilityArchiver, URI]:
    """The visibility archiver of ``uri`` as every subcommand gets it (the store's, or the sidecar's)."""
    return _archiver(_VISIBILITY, uri, config_path)


def _stdout() -> Any:
    return sys.stdout


# -- the group ----------------------------------------------------------------------------------


@click.group(name=PROG_NAME, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.option(
    "--sidecar",
    metavar="ADDR",
    envvar=SIDECAR_ENV,
    default=None,
    help=f"host:port of a running sidecar (`archiver serve`) to go through instead of the stores "
    f"(env {SIDECAR_ENV}); the sidecar's config sets the backends, so --config is refused.",
)
@click.option(
    "--sidecar-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Deadline of each sidecar call (default: none).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, sidecar: str | None, sidecar_timeout: float | None) -> None:
    """Read and write Temporal history and visibility archives (file://, s3://, gs://, azblob://, ...).

    Exit codes: 0 success; 2 invalid input; 3 not found; 4 transient failure (retry may succeed);
    1 anything else.
    """
    state = ctx.ensure_object(CliState)
    state.debug = state.debug or debug
    from_env = ctx.get_parameter_source("sidecar") == click.core.ParameterSource.ENVIRONMENT
    state.sidecar = sidecar.strip() if sidecar and sidecar.strip() else None
    state.sidecar_source = "env" if from_env else "option"
    state.sidecar_timeout = sidecar_timeout
    if state.sidecar and ctx.invoked_subcommand == "serve":
        if not from_env:
            raise click.UsageError("--sidecar does not apply to 'serve' (it runs the sidecar)", ctx)
        state.sidecar = None  # a client setting in the sidecar's own environment: not for serve
    if sidecar_timeout is not None and not state.sidecar:
        raise click.UsageError("--sidecar-timeout needs --sidecar", ctx)


# -- get ----------------------------------------------------------------------------------------


@cli.command("get")
@uri_option
@namespace_id_option
@execution_options
@click.option(
    "--version",
    "close_failover_version",
    type=int,
    default=None,
    metavar="V",
    help="Close failover version to read (default: the highest archived).",
)
@page_size_option("events", DEFAULT_HISTORY_PAGE_SIZE)
@output_option("json", "table")
@config_option()
def get_command(
    uri: str,
    namespace_id: str,
    workflow_id: str,
    run_id: str,
    close_failover_version: int | None,
    page_size: int,
    output: str,
    config_path: str | None,
) -> None:
    """Print an archived history, following page tokens to the end.

    JSON output is {"events": [...]} exactly as `temporal workflow show --output json` prints it.
    """
    archiver, parsed = _archiver(_HISTORY, uri, config_path)
    request = GetHistoryRequest(
        namespace_id=namespace_id,
        workflow_id=workflow_id,
        run_id=run_id,
        close_failover_version=close_failover_version,
        page_size=page_size,
    )
    events = list(iter_history_events(archiver, parsed, request))
    if output == "table":
        write_history_table(events, _stdout())
    else:
        write_history_json(events, _stdout())


# -- put ----------------------------------------------------------------------------------------


@cli.command("put")
@uri_option
@namespace_id_option
@click.option("--namespace", required=True, metavar="NAME", help="Namespace name.")
@execution_options
@input_file_option(
    "history",
    "history_path",
    "History JSON: `temporal workflow show --output json`, a bare array of events, "
    "or Temporal's archive file (an array of History batches).",
)
@click.option(
    "--close-failover-version",
    type=int,
    default=None,
    metavar="V",
    help="Expected version of the last event (default: taken from the last event).",
)
@config_option()
def put_command(
    uri: str,
    namespace_id: str,
    namespace: str,
    workflow_id: str,
    run_id: str,
    history_path: str,
    close_failover_version: int | None,
    config_path: str | None,
) -> None:
    """Archive a history JSON file.

    The file is read twice, one event or batch at a time (memory stays about constant, whatever its
    size): first to check it whole (JSON, shapes, base64, event ids contiguous from 1, versions not
    above the close failover version, last event's version equal to it), then to archive it.
    Nothing is written unless the first reading passes. Do not change the file while this runs.
    Events of the CLI's {"events": [...]} form are archived one per batch.
    """
    archiver, parsed = _archiver(_HISTORY, uri, config_path)
    history = HistoryFile(history_path)
    run = RunNames(namespace_id, namespace, workflow_id, run_id)
    version = close_failover_version
    checked = check_history(history.batches, source=history_path, run=run, close_failover_version=version)
    request = checked.request
    archiver.archive(parsed, request, history.batches())
    click.echo(
        f"archived {checked.event_count} events of workflow {workflow_id!r} run {run_id!r} "
        f"(close failover version {request.close_failover_version}) to {redact(uri)}"
    )


# -- put-visibility -----------------------------------------------------------------------------

BULK_RECORDS = 100
"""From this many records on, ``put-visibility`` writes compacted files on a native index."""


@cli.command("put-visibility")
@uri_option
@input_file_option(
    "record",
    "record_path",
    "protojson VisibilityRecord(s), or what `temporal workflow list -o json` (or -o jsonl) prints: "
    "one per line, or a JSON array.",
)
@click.option(
    "--namespace-id",
    default="",
    metavar="ID",
    help="Namespace ID of executions given as `temporal workflow list` rows (which do not name it).",
)
@click.option("--namespace", default="", metavar="NAME", help="Namespace name of such executions.")
@config_option()
def put_visibility_command(
    uri: str, record_path: str, namespace_id: str, namespace: str, config_path: str | None
) -> None:
    """Archive visibility records (all are read and checked before any is written).

    On a root whose visibility is the native index, BULK_RECORDS or more records are written
    straight into compacted files (one commit per namespace) instead of one inbox object each.
    """
    archiver, parsed = _archiver(_VISIBILITY, uri, config_path)
    records = read_visibility_records(record_path, RowNamespace(namespace_id, namespace))
    native = archiver.for_uri(parsed) if isinstance(archiver, ByRootVisibilityArchiver) else None
    if isinstance(native, NativeIndexVisibilityArchiver) and len(records) >= BULK_RECORDS:
        native.archive_many(parsed, records)
    else:
        for record in records:
            archiver.archive(parsed, record)
    click.echo(f"archived {len(records)} visibility record{'s' if len(records) != 1 else ''} to {redact(uri)}")


# -- query --------------------------------------------------------------------------------------


def _search_attribute_callback(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, int]:
    return parse_search_attribute_types(values)


def _search_attribute_alias_callback(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, str]:
    return parse_search_attribute_aliases(values)


@cli.command("query")
@uri_option
@namespace_id_option
@click.option("--query", "-q", default="", metavar="Q", help="List Filter query (empty: every execution).")
@page_size_option("executions", DEFAULT_QUERY_PAGE_SIZE)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after this many executions.")
@click.option(
    "--page-token",
    default="",
    metavar="TOKEN",
    help="Continue a listing cut short by --limit (the token it printed on stderr).",
)
@click.option(
    "--search-attribute-type",
    "search_attribute_types",
    multiple=True,
    metavar="NAME=TYPE",
    callback=_search_attribute_callback,
    help="Type of a custom search attribute (Keyword, Text, Int, Double, Bool, Datetime, KeywordList); repeatable. "
    "Temporal's own attributes (BuildIds, TemporalChangeVersion, ...) and SQL columns (Keyword07) need none.",
)
@click.option(
    "--search-attribute-alias",
    "search_attribute_aliases",
    multiple=True,
    metavar="FIELD=NAME",
    callback=_search_attribute_alias_callback,
    help="Name by which a stored search attribute field is queried and printed (Keyword07=CustomerId); repeatable.",
)
@click.option(
    "--address",
    default=None,
    metavar="HOST:PORT",
    help="Temporal frontend to read the namespace's registered search attributes (names and types) from.",
)
@output_option("jsonl", "json", "table")
@config_option()
def query_command(
    uri: str,
    namespace_id: str,
    query: str,
    page_size: int,
    limit: int | None,
    page_token: str,
    search_attribute_types: dict[str, int],
    search_attribute_aliases: dict[str, str],
    address: str | None,
    output: str,
    config_path: str | None,
) -> None:
    """List archived executions, following page tokens.

    ``jsonl``: protojson WorkflowExecutionInfo, one per line; ``json``: the rows exactly as
    `temporal workflow list --archived -o json` prints them. When ``--limit`` stops the listing
    before its end, the token that continues it is printed on stderr as ``next page token: TOKEN``.
    """
    archiver, parsed = _archiver(_VISIBILITY, uri, config_path)
    cluster = read_cluster_names(address, namespace_id) if address else None
    names = resolve_names(search_attribute_types, search_attribute_aliases, cluster)
    request = QueryVisibilityRequest(
        namespace_id=namespace_id,
        page_size=page_size,
        query=query,
        next_page_token=page_token.encode(),
        search_attribute_aliases=names.aliases,
    )
    listing = Listing(archiver, parsed, request, names.types, limit=limit)
    stream = _stdout()
    if output == "table":
        write_executions_table(list(listing), stream)
    elif output == "json":
        stream.writelines(render_rows(listing))
    else:
        write_executions_jsonl(listing, stream)
    if listing.next_page_token:
        click.echo(f"next page token: {listing.next_page_token.decode()}", err=True)


# -- validate-uri -------------------------------------------------------------------------------


@cli.command("validate-uri")
@click.argument("uri")
@click.option(
    "--kind",
    type=click.Choice(["history", "visibility"]),
    default=None,
    help="Which archiver checks the URI (default: both).",
)
@config_option()
def validate_uri_command(uri: str, kind: str | None, config_path: str | None) -> None:
    """Check a URI as the server does when a namespace is registered with it; print "valid"."""
    kinds = [kind] if kind else ["history", "visibility"]
    for each in kinds:
        if each == "history":
            history, parsed = _archiver(_HISTORY, uri, config_path)
            history.validate_uri(parsed)
        else:
            visibility, parsed = _archiver(_VISIBILITY, uri, config_path)
            visibility.validate_uri(parsed)
    click.echo(f"valid {' and '.join(kinds)} archival URI: {redact(uri)}")


# -- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``archiver`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Never raises (except ``SystemExit`` from the caller's own code): every error is printed as one
    ``error: ...`` line on stderr (after its traceback with ``--debug``) and mapped to an exit code
    by :func:`archivers.cli.exit_codes.exit_code_for`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    state = CliState(debug=os.environ.get("ARCHIVER_DEBUG", "") not in ("", "0"))
    try:
        result = cli.main(args=args, prog_name=PROG_NAME, standalone_mode=False, obj=state)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else cli.get_help(click.Context(cli)))
        return exit_codes.SUCCESS
    except click.exceptions.Abort as exc:
        return _report(exc, "interrupted", exit_codes.INTERRUPTED, state)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _report(exc, exc.format_message() + hint, exit_codes.INVALID_INPUT, state)
    except BrokenPipeError:
        _silence_stdout()
        return exit_codes.FAILURE
    except KeyboardInterrupt as exc:
        return _report(exc, "interrupted", exit_codes.INTERRUPTED, state)
    except Exception as exc:
        message = str(exc) if isinstance(exc, ArchiverError) else f"{type(exc).__name__}: {exc}"
        return _report(exc, message, exit_codes.exit_code_for(exc), state)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return exit_codes.FAILURE
    return result if isinstance(result, int) else exit_codes.SUCCESS


def _report(error: BaseException, message: str, code: int, state: CliState) -> int:
    if state.debug:
        sys.stderr.write(redact("".join(traceback.format_exception(type(error), error, error.__traceback__))))
    click.echo(f"error: {_one_line(redact(message)) or type(error).__name__}", err=True)
    return code


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _one_line(text: str) -> str:
    return " ".join(text.split())
