"""The ``archiver`` command: click group and subcommands (``get``, ``put``, ``put-visibility``,
``query``, ``validate-uri``).

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

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from google.protobuf import json_format
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import WorkflowExecutionInfo

from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.cli import exit_codes
from archivers.cli.history_json import ParsedHistory, parse_history_file
from archivers.cli.output import (
    write_executions_jsonl,
    write_executions_table,
    write_history_json,
    write_history_table,
)
from archivers.config import ArchivalConfig, load_config
from archivers.errors import (
    ArchiverError,
    HistoryMutatedError,
    InvalidArgumentError,
    InvalidHistoryError,
    NonRetryableError,
)
from archivers.history_checks import CheckedBatches
from archivers.interfaces import (
    DEFAULT_QUERY_PAGE_SIZE,
    ArchiveHistoryRequest,
    GetHistoryRequest,
    HistoryArchiver,
    QueryVisibilityRequest,
    VisibilityArchiver,
)
from archivers.registry import get_history_archiver, get_visibility_archiver
from archivers.uri import URI

F = TypeVar("F", bound=Callable[..., Any])

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


# -- shared options -----------------------------------------------------------------------------


def _uri_option(func: F) -> F:
    return click.option(
        "--uri",
        "uri",
        required=True,
        metavar="URI",
        help="Archival URI, e.g. file:///var/archive or s3://bucket/prefix.",
    )(func)


def _config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help="YAML file with Temporal's 'archival' section (provider settings per scheme).",
    )(func)


def _namespace_id_option(func: F) -> F:
    return click.option("--namespace-id", required=True, metavar="ID", help="Namespace ID (not its name).")(func)


def _execution_options(func: F) -> F:
    func = click.option("--rid", "--run-id", "-r", "run_id", required=True, metavar="RUN_ID", help="Run ID.")(func)
    return click.option(
        "--wid", "--workflow-id", "-w", "workflow_id", required=True, metavar="WORKFLOW_ID", help="Workflow ID."
    )(func)


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


def _history_archiver(uri: str, config_path: str | None) -> tuple[HistoryArchiver, URI]:
    """The history archiver for ``uri``: the store's own, or a remote one with ``--sidecar``."""
    parsed = URI.parse(uri)
    state = _state()
    channel = _sidecar_channel(state, config_path)
    archiver: HistoryArchiver
    if channel is not None:
        from archivers.remote import RemoteHistoryArchiver

        archiver = RemoteHistoryArchiver(channel, timeout=state.sidecar_timeout)
    else:
        archiver = get_history_archiver(parsed, _config(config_path).history_settings(parsed.scheme))
    archiver.check_uri(parsed)
    return archiver, parsed


def _visibility_archiver(uri: str, config_path: str | None) -> tuple[VisibilityArchiver, URI]:
    """The visibility archiver for ``uri``: the store's own, or a remote one with ``--sidecar``."""
    parsed = URI.parse(uri)
    state = _state()
    channel = _sidecar_channel(state, config_path)
    archiver: VisibilityArchiver
    if channel is not None:
        from archivers.remote import RemoteVisibilityArchiver

        archiver = RemoteVisibilityArchiver(channel, timeout=state.sidecar_timeout)
    else:
        archiver = get_visibility_archiver(parsed, _config(config_path).visibility_settings(parsed.scheme))
    archiver.check_uri(parsed)
    return archiver, parsed


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
@_uri_option
@_namespace_id_option
@_execution_options
@click.option(
    "--version",
    "close_failover_version",
    type=int,
    default=None,
    metavar="V",
    help="Close failover version to read (default: the highest archived).",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Events per underlying page (0: the archiver's default, 256).",
)
@click.option("--output", "-o", type=click.Choice(["json", "table"]), default="json", show_default=True)
@_config_option
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
    archiver, parsed = _history_archiver(uri, config_path)
    events = list(
        iter_history_events(
            archiver,
            parsed,
            GetHistoryRequest(
                namespace_id=namespace_id,
                workflow_id=workflow_id,
                run_id=run_id,
                close_failover_version=close_failover_version,
                page_size=page_size,
            ),
        )
    )
    if output == "table":
        write_history_table(events, _stdout())
    else:
        write_history_json(events, _stdout())


def iter_history_events(archiver: HistoryArchiver, uri: URI, request: GetHistoryRequest) -> Iterator[HistoryEvent]:
    """Yield every event of the archived history of ``request``, following next-page tokens.

    The close failover version of the first page is pinned for the following ones (the token
    carries it). Raises :class:`ArchiverError` if the archiver returns the same token twice in a
    row (it would loop forever).
    """
    token = request.next_page_token
    while True:
        response = archiver.get(
            uri,
            GetHistoryRequest(
                namespace_id=request.namespace_id,
                workflow_id=request.workflow_id,
                run_id=request.run_id,
                close_failover_version=request.close_failover_version,
                next_page_token=token,
                page_size=request.page_size,
            ),
        )
        for batch in response.history_batches:
            yield from batch.events
        if not response.next_page_token:
            return
        token = _advance(token, response.next_page_token)


# -- put ----------------------------------------------------------------------------------------


@cli.command("put")
@_uri_option
@_namespace_id_option
@click.option("--namespace", required=True, metavar="NAME", help="Namespace name.")
@_execution_options
@click.option(
    "--history",
    "history_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="History JSON: `temporal workflow show --output json`, a bare array of events, "
    "or Temporal's archive file (an array of History batches).",
)
@click.option(
    "--close-failover-version",
    type=int,
    default=None,
    metavar="V",
    help="Expected version of the last event (default: taken from the last event).",
)
@_config_option
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

    The whole file is read and checked first (event ids contiguous from 1, versions not above the
    close failover version, last event's version equal to it); nothing is written unless it passes.
    Events of the CLI's {"events": [...]} form are archived one per batch.
    """
    archiver, parsed = _history_archiver(uri, config_path)
    history = parse_history_file(history_path)
    request = history_request(
        history,
        source=history_path,
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        close_failover_version=close_failover_version,
    )
    archiver.archive(parsed, request, history.batches)
    click.echo(
        f"archived {history.event_count} events of workflow {workflow_id!r} run {run_id!r} "
        f"(close failover version {request.close_failover_version}) to {uri}"
    )


def history_request(
    history: ParsedHistory,
    *,
    source: str,
    namespace_id: str,
    namespace: str,
    workflow_id: str,
    run_id: str,
    close_failover_version: int | None = None,
) -> ArchiveHistoryRequest:
    """Build and fully check the archive request for ``history`` before anything is written.

    ``next_event_id`` is the last event id + 1; ``close_failover_version`` defaults to the last
    event's version. Raises :class:`InvalidHistoryError` (naming ``source``) if the events are not
    contiguous from 1 or disagree with the close failover version, and
    :class:`InvalidArgumentError` for an empty id.
    """
    last = history.last_event
    if last is None:
        raise InvalidHistoryError(f"{source}: the history holds no events")
    request = ArchiveHistoryRequest(
        namespace_id=namespace_id,
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        next_event_id=last.event_id + 1,
        close_failover_version=last.version if close_failover_version is None else close_failover_version,
    )
    request.validate()
    first = next(batch.events[0] for batch in history.batches if batch.events)
    if first.event_id != 1:
        raise InvalidHistoryError(f"{source}: the history must start at event id 1, it starts at {first.event_id}")
    try:
        for _ in CheckedBatches(request, history.batches):
            pass
    except InvalidHistoryError as exc:
        raise InvalidHistoryError(f"{source}: {exc}") from exc
    except HistoryMutatedError as exc:
        detail = str(exc).removeprefix("history was mutated: ")
        if close_failover_version is not None:
            raise InvalidHistoryError(
                f"{source}: --close-failover-version {close_failover_version} does not match the history: {detail}"
            ) from exc
        raise InvalidHistoryError(f"{source}: inconsistent event versions: {detail}") from exc
    return request


# -- put-visibility -----------------------------------------------------------------------------


@cli.command("put-visibility")
@_uri_option
@click.option(
    "--record",
    "record_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="protojson VisibilityRecord(s): one per line, or a JSON array.",
)
@_config_option
def put_visibility_command(uri: str, record_path: str, config_path: str | None) -> None:
    """Archive visibility records (all are read and checked before any is written)."""
    archiver, parsed = _visibility_archiver(uri, config_path)
    records = read_visibility_records(record_path)
    for record in records:
        archiver.archive(parsed, record)
    click.echo(f"archived {len(records)} visibility record{'s' if len(records) != 1 else ''} to {uri}")


def read_visibility_records(path: str) -> list[VisibilityRecord]:
    """Read and check the protojson ``VisibilityRecord``s of ``path`` (JSON lines, a JSON array, or one object).

    Unknown fields are rejected (as Temporal's Go reader does). Each record needs a namespace id,
    workflow id, run id and close time. Raises :class:`InvalidArgumentError` naming the file and
    the record (and line) at fault; an empty file is an error too.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidArgumentError(f"{path}: cannot read record file: {reason}") from exc
    items = list(_record_items(text, path))
    if not items:
        raise InvalidArgumentError(f"{path}: no visibility records in the file")
    records = []
    for where, item in items:
        if not isinstance(item, dict):
            raise InvalidArgumentError(f"{path}: {where} is not a JSON object")
        try:
            record = json_format.ParseDict(item, VisibilityRecord(), ignore_unknown_fields=False)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise InvalidArgumentError(
                f"{path}: {where} is not a valid VisibilityRecord: {_one_line(str(exc))}"
            ) from exc
        for field, value in (
            ("namespaceId", record.namespace_id),
            ("workflowId", record.workflow_id),
            ("runId", record.run_id),
        ):
            if not value:
                raise InvalidArgumentError(f"{path}: {where} has no {field}")
        if not record.HasField("close_time"):
            raise InvalidArgumentError(f"{path}: {where} has no closeTime")
        records.append(record)
    return records


def _record_items(text: str, path: str) -> Iterator[tuple[str, Any]]:
    stripped = text.strip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n" in stripped):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if stripped.startswith("["):
                raise InvalidArgumentError(
                    f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                ) from exc
        else:
            if isinstance(whole, list):
                for index, item in enumerate(whole):
                    yield f"record {index + 1}", item
            else:
                yield "record 1", whole
            return
    number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        number += 1
        try:
            yield f"record {number} (line {line_number})", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f"{path}: line {line_number} is not valid JSON: {exc.msg} at column {exc.colno}"
            ) from exc


# -- query --------------------------------------------------------------------------------------


def _type_names() -> Mapping[str, int]:
    names: dict[str, int] = {}
    for name, number in IndexedValueType.items():
        if number == IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED:
            continue
        names[_normalize_type(name)] = int(number)
    return names


def _normalize_type(name: str) -> str:
    key = "".join(c for c in name.lower() if c.isalnum())
    return key.removeprefix("indexedvaluetype")


SEARCH_ATTRIBUTE_TYPES: Mapping[str, int] = _type_names()
"""Normalized type name (``keyword``, ``keywordlist``, ...) -> ``IndexedValueType`` value."""


def parse_search_attribute_types(values: Sequence[str]) -> dict[str, int]:
    """Turn ``NAME=TYPE`` strings into a name -> ``IndexedValueType`` map.

    TYPE is spelled as Temporal's CLI and SDKs do (Keyword, Text, Int, Double, Bool, Datetime,
    KeywordList), case-insensitively; ``INDEXED_VALUE_TYPE_KEYWORD`` and ``keyword_list`` also work.
    Raises :class:`click.BadParameter` for a malformed pair, an unknown type, or one name given
    two different types.
    """
    types: dict[str, int] = {}
    for value in values:
        name, sep, type_name = value.partition("=")
        name, type_name = name.strip(), type_name.strip()
        if not sep or not name or not type_name:
            raise click.BadParameter(f"expected NAME=TYPE (e.g. CustomerId=Keyword), got {value!r}")
        number = SEARCH_ATTRIBUTE_TYPES.get(_normalize_type(type_name))
        if number is None:
            raise click.BadParameter(
                f"unknown search attribute type {type_name!r} for {name!r}; "
                "use one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList"
            )
        if types.get(name, number) != number:
            raise click.BadParameter(f"search attribute {name!r} is given two different types")
        types[name] = number
    return types


def _search_attribute_callback(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, int]:
    return parse_search_attribute_types(values)


@cli.command("query")
@_uri_option
@_namespace_id_option
@click.option("--query", "-q", default="", metavar="Q", help="List Filter query (empty: every execution).")
@click.option(
    "--page-size",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Executions per underlying page (0: the archiver's default, 10000).",
)
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
    help="Type of a custom search attribute (Keyword, Text, Int, Double, Bool, Datetime, KeywordList); repeatable.",
)
@click.option("--output", "-o", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True)
@_config_option
def query_command(
    uri: str,
    namespace_id: str,
    query: str,
    page_size: int,
    limit: int | None,
    page_token: str,
    search_attribute_types: dict[str, int],
    output: str,
    config_path: str | None,
) -> None:
    """List archived executions (protojson WorkflowExecutionInfo, one per line), following page tokens.

    When ``--limit`` stops the listing before its end, the token that continues it is printed on
    stderr as ``next page token: TOKEN``.
    """
    archiver, parsed = _visibility_archiver(uri, config_path)
    request = QueryVisibilityRequest(
        namespace_id=namespace_id, page_size=page_size, query=query, next_page_token=page_token.encode()
    )
    listing = Listing(archiver, parsed, request, search_attribute_types, limit=limit)
    stream = _stdout()
    if output == "table":
        write_executions_table(list(listing), stream)
    else:
        write_executions_jsonl(listing, stream)
    if listing.next_page_token:
        click.echo(f"next page token: {listing.next_page_token.decode()}", err=True)


class Listing:
    """Iterates the executions matching a request, page after page, until the end or ``limit`` of them.

    With a limit, each page asks for no more than the rows still wanted, so ``next_page_token``
    (set once iteration stops) continues exactly after the last row yielded; it is empty at the end.
    Raises :class:`ArchiverError` if the archiver returns the same token twice in a row.
    """

    def __init__(
        self,
        archiver: VisibilityArchiver,
        uri: URI,
        request: QueryVisibilityRequest,
        search_attribute_types: Mapping[str, int] | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        self._archiver, self._uri, self._request = archiver, uri, request
        self._types = search_attribute_types
        self._limit = limit
        self.next_page_token = b""

    def __iter__(self) -> Iterator[WorkflowExecutionInfo]:
        request, limit = self._request, self._limit
        token = request.next_page_token
        count = 0
        while limit is None or count < limit:
            page_size = request.page_size
            if limit is not None:
                page_size = min(page_size or DEFAULT_QUERY_PAGE_SIZE, limit - count)
            response = self._archiver.query(
                self._uri,
                QueryVisibilityRequest(request.namespace_id, page_size, token, request.query),
                self._types,
            )
            yield from response.executions
            count += len(response.executions)
            self.next_page_token = response.next_page_token
            if not response.next_page_token:
                return
            token = _advance(token, response.next_page_token)


def _advance(token: bytes, following: bytes) -> bytes:
    """The token of the next page; an archiver that hands back the token it was given would loop forever."""
    if following == token:
        raise ArchiverError("the archiver returned the same next page token twice", retryable=False)
    return following


# -- validate-uri -------------------------------------------------------------------------------


@cli.command("validate-uri")
@click.argument("uri")
@click.option(
    "--kind",
    type=click.Choice(["history", "visibility"]),
    default=None,
    help="Which archiver checks the URI (default: both).",
)
@_config_option
def validate_uri_command(uri: str, kind: str | None, config_path: str | None) -> None:
    """Check a URI as the server does when a namespace is registered with it; print "valid"."""
    kinds = [kind] if kind else ["history", "visibility"]
    for each in kinds:
        if each == "history":
            history, parsed = _history_archiver(uri, config_path)
            history.validate_uri(parsed)
        else:
            visibility, parsed = _visibility_archiver(uri, config_path)
            visibility.validate_uri(parsed)
    click.echo(f"valid {' and '.join(kinds)} archival URI: {uri}")


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
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    click.echo(f"error: {_one_line(message) or type(error).__name__}", err=True)
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
