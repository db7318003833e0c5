"""Run real workflows against a Temporal server and export their histories with the real ``temporal`` CLI.

The pieces:

* :func:`run_with_worker` connects a ``temporalio`` client, runs an in-process worker for the given
  workflows and activities on a fresh task queue, and awaits a caller's coroutine with both.
* :func:`export_history` runs ``temporal workflow show -w ID -r RUN --output json`` and writes its
  output, byte for byte, to a file; :class:`ExportedHistory` holds the path, the parsed JSON and the
  history as ``temporalio.api.history.v1.History``.
* :func:`run_sync` drives any of the coroutines from synchronous code (pytest fixtures).

What the CLI writes (``temporal`` 1.9.x, server 1.32): ``{"events": [...]}`` in canonical protojson,
the same as ``google.protobuf.json_format.MessageToDict`` of a ``History``: lowerCamelCase field
names, int64 fields (``eventId``, ``taskId``, ...) as strings, enums as full upper-case names
(``EVENT_TYPE_WORKFLOW_EXECUTION_STARTED``), payload ``data`` as base64 (no payload shorthand in
``workflow show``; ``--no-json-shorthand-payloads`` changes nothing), durations like ``"10s"``,
timestamps in RFC 3339 with nanoseconds; indented by two spaces, UTF-8 unescaped, one trailing
newline, i.e. ``json.dumps(MessageToDict(history), indent=2, ensure_ascii=False) + "\\n"``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from .emulators import EmulatorError, TemporalDevServer, find_temporal_cli

__all__ = [
    "ExportedHistory",
    "export_history",
    "history_from_cli_json",
    "run_sync",
    "run_with_worker",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ExportedHistory:
    """A workflow history exported by ``temporal workflow show --output json``.

    ``path`` is the file the CLI's output was written to (unchanged bytes), ``data`` its parsed JSON
    (``{"events": [...]}``), ``seconds_to_run`` how long producing the workflow took (if known) and
    ``seconds_to_export`` how long the CLI took.
    """

    workflow_id: str
    run_id: str
    namespace: str
    path: Path
    data: dict[str, Any] = field(repr=False)
    seconds_to_run: float | None = None
    seconds_to_export: float | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events as JSON objects, in the CLI's order (event id ascending)."""
        events: list[dict[str, Any]] = self.data["events"]
        return events

    @property
    def event_count(self) -> int:
        """Number of events."""
        return len(self.events)

    def workflow_history(self) -> WorkflowHistory:
        """The history through ``temporalio.client.WorkflowHistory.from_json`` (as replayers use it)."""
        return WorkflowHistory.from_json(self.workflow_id, self.data)

    def history(self) -> History:
        """The history as one ``temporalio.api.history.v1.History`` message (parsed leniently,
        accepting also the Temporal UI's JSON dialect, like ``WorkflowHistory.from_json``)."""
        return History(events=self.workflow_history().events)

    def history_strict(self) -> History:
        """The history parsed with ``json_format.ParseDict`` refusing unknown fields.

        Raises ``google.protobuf.json_format.ParseError`` when the CLI wrote a field this
        ``temporalio`` does not know (``from_json`` would silently drop it).
        """
        return json_format.ParseDict(self.data, History(), ignore_unknown_fields=False)

    def event_batches(self, size: int) -> list[History]:
        """The events split into ``History`` messages of at most ``size`` events, in order."""
        if size < 1:
            raise ValueError("size must be >= 1")
        events: Sequence[HistoryEvent] = self.history().events
        return [History(events=events[i : i + size]) for i in range(0, len(events), size)]


def history_from_cli_json(data: str | bytes | dict[str, Any] | Path, workflow_id: str = "") -> History:
    """Parse a history exported by ``temporal workflow show --output json`` (or the Temporal UI).

    ``data`` is the JSON text, its parsed dict, or a path to the file. Returns a ``History``.
    """
    if isinstance(data, Path):
        data = data.read_text(encoding="utf-8")
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return History(events=WorkflowHistory.from_json(workflow_id, data).events)


def export_history(
    server: TemporalDevServer | str,
    workflow_id: str,
    run_id: str | None = None,
    *,
    dest: Path,
    namespace: str | None = None,
    cli: Path | None = None,
    timeout: float = 600.0,
) -> ExportedHistory:
    """Export a history with ``temporal workflow show -w ID [-r RUN] --output json --address ADDR``.

    ``server`` is a :class:`TemporalDevServer` or a ``host:port`` address. ``dest`` is a file path, or
    a directory in which ``<workflow id>.json`` is written. The CLI's configuration file and
    ``TEMPORAL_*`` variables are ignored so the command is hermetic. Raises :class:`EmulatorError`
    with the CLI's stderr on failure.
    """
    if isinstance(server, TemporalDevServer):
        address = server.address
        namespace = namespace or server.namespace
        cli = cli or server.executable
    else:
        address = server
    namespace = namespace or "default"
    cli = cli or find_temporal_cli()
    path = dest / f"{_safe_name(workflow_id)}.json" if dest.is_dir() else dest
    command = [
        str(cli), "workflow", "show",
        "--workflow-id", workflow_id,
        *(["--run-id", run_id] if run_id else []),
        "--namespace", namespace,
        "--address", address,
        "--output", "json",
        "--disable-config-file", "--disable-config-env",
        "--color", "never",
    ]  # fmt: skip
    began = time.monotonic()
    with path.open("wb") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        raise EmulatorError(
            f"`{' '.join(command)}` exited with {result.returncode}: "
            f"{result.stderr.decode('utf-8', errors='replace').strip()}"
        )
    with path.open("rb") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise EmulatorError(f"unexpected output of `temporal workflow show` in {path}: not {{'events': [...]}}")
    if run_id is None and data["events"]:
        attrs = data["events"][0].get("workflowExecutionStartedEventAttributes", {})
        run_id = attrs.get("originalExecutionRunId", "")
    return ExportedHistory(
        workflow_id=workflow_id,
        run_id=run_id or "",
        namespace=namespace,
        path=path,
        data=data,
        seconds_to_export=elapsed,
    )


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "history"


async def run_with_worker(
    address: str,
    body: Callable[[Client, str], Awaitable[T]],
    *,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]] = (),
    namespace: str = "default",
    task_queue: str | None = None,
    sandboxed: bool = False,
    max_concurrent_activities: int = 100,
) -> T:
    """Connect to ``address``, run a worker for ``workflows``/``activities``, return ``await body(client, tq)``.

    The worker polls ``task_queue`` (a fresh unique name unless given) and is shut down when ``body``
    returns or raises. ``sandboxed=False`` (the default) uses ``UnsandboxedWorkflowRunner``: the test
    workflows are deterministic by construction, and the sandbox makes hot loops about 3x slower
    (50,000 memo upserts: 9 s instead of 3 s) and re-imports the workflows' modules.
    """
    client = await Client.connect(address, namespace=namespace)
    queue = task_queue or f"archivers-test-{uuid.uuid4().hex[:12]}"
    options: dict[str, Any] = {} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}
    async with Worker(
        client,
        task_queue=queue,
        workflows=list(workflows),
        activities=list(activities),
        max_concurrent_activities=max_concurrent_activities,
        **options,
    ):
        return await body(client, queue)


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]], timeout: float | None = None) -> T:
    """Run the coroutine ``factory()`` to completion from synchronous code and return its result.

    Uses ``asyncio.run`` in the calling thread, or in a helper thread when the caller already runs an
    event loop (e.g. inside an async test). ``timeout`` bounds the wait in seconds
    (``TimeoutError``); exceptions propagate unchanged.
    """
    try:
        asyncio.get_running_loop()
        loop_running = True
    except RuntimeError:
        loop_running = False
    if not loop_running:  # outside the except block: no exception context leaks into tracebacks
        if timeout is None:
            return asyncio.run(factory())
        return asyncio.run(asyncio.wait_for(factory(), timeout))

    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            coro = factory() if timeout is None else asyncio.wait_for(factory(), timeout)
            outcome.append(asyncio.run(coro))
        except BaseException as err:  # re-raised in the caller's thread
            failure.append(err)

    thread = threading.Thread(target=target, name="run_sync", daemon=True)
    thread.start()
    thread.join(None if timeout is None else timeout + 30)
    if failure:
        raise failure[0]
    if not outcome:
        raise TimeoutError(f"coroutine did not finish within {timeout}s")
    return outcome[0]
