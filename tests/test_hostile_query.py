"""Hostile queries: planning time linear in the query's length, and the maximum query size enforced
by the library (QueryError), the CLI (exit 2) and the sidecar (INVALID_ARGUMENT, not retryable)."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable

import grpc
import pytest

from archivers._proto.temporal_archivers.v1 import service_pb2 as pb
from archivers._proto.temporal_archivers.v1 import service_pb2_grpc
from archivers._proto.temporal_archivers.v1.archival_pb2 import VisibilityRecord
from archivers.errors import QueryError
from archivers.query import (
    MAX_QUERY_BYTES,
    Query,
    compile_query,
    derive_constraints,
    evaluate,
    parse_query,
    to_query_string,
)
from archivers.query.lexer import tokenize
from tests.test_cli_errors import assert_error, run_cli
from tests.test_sidecar import _error_info


def or_chain(terms: int) -> str:
    return " OR ".join(f"WorkflowId = 'wf-{i:06d}'" for i in range(terms))


def _seconds(action: Callable[[], object], runs: int = 3) -> float:
    """The fastest of ``runs`` runs (the least disturbed by other processes), the garbage collector paused."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            action()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def _ratio(phase: Callable[[str], object], small: str, large: str) -> float:
    """Time of ``phase(large)`` over time of ``phase(small)``, each repeated to last long enough to time."""

    def repeated(text: str, times: int) -> Callable[[], object]:
        return lambda: [phase(text) for _ in range(times)]

    times = 1
    while _seconds(repeated(small, times), runs=1) < 0.05:
        times *= 2
    return _seconds(repeated(large, times)) / _seconds(repeated(small, times))


def test_planning_time_grows_linearly_with_the_query() -> None:
    # Phases on chains of 2k and 16k terms (the larger is over MAX_QUERY_BYTES, so the limit is raised).
    small, large = or_chain(2_000), or_chain(16_000)
    parsed = {text: parse_query(text, max_bytes=len(text)).where for text in (small, large)}
    record = VisibilityRecord(workflow_id="not-listed", run_id="r")
    phases: dict[str, Callable[[str], object]] = {
        "tokenize": tokenize,
        "parse": lambda text: parse_query(text, max_bytes=len(text)),
        "derive": lambda text: derive_constraints(parsed[text]),
        "print": lambda text: to_query_string(Query(parsed[text])),
        "evaluate": lambda text: evaluate(parsed[text], record),  # type: ignore[arg-type]
    }
    for name, phase in phases.items():
        ratio = _ratio(phase, small, large)
        # 8x the terms: 8 when linear (up to ~16 as the larger data outgrows the CPU caches), 64 when
        # quadratic; 32 leaves room for a loaded machine either way
        assert ratio < 32, f"{name}: 8x the terms took {ratio:.1f}x the time"
    ratio = _ratio(compile_query, or_chain(1_000), or_chain(8_000))  # all phases, within the limit
    assert ratio < 32, f"compile_query: 8x the terms took {ratio:.1f}x the time"


def test_constraints_of_a_long_or_chain_are_exact() -> None:
    where = compile_query(or_chain(5_000)).constraints
    assert where.workflow_ids == frozenset(f"wf-{i:06d}" for i in range(5_000))
    both = compile_query("(WorkflowId = 'a' OR WorkflowId = 'b') AND WorkflowId IN ('b', 'c')").constraints
    assert both.workflow_ids == frozenset({"b"})


def _at_most(size: int) -> str:
    """A valid query of exactly ``size`` UTF-8 bytes (a two-byte character in the literal)."""
    head = "WorkflowId = 'é'"
    return head + " " * (size - len(head.encode()))


def test_query_of_the_maximum_size_is_accepted_one_byte_more_refused() -> None:
    assert compile_query(_at_most(MAX_QUERY_BYTES)).constraints.workflow_ids == frozenset({"é"})
    with pytest.raises(QueryError, match=f"maximum of {MAX_QUERY_BYTES} bytes") as caught:
        compile_query(_at_most(MAX_QUERY_BYTES + 1))
    assert caught.value.retryable is False
    started = time.perf_counter()
    with pytest.raises(QueryError):
        compile_query(or_chain(1_000_000))  # 28 MB: refused before any parsing
    assert time.perf_counter() - started < 5


def test_cli_refuses_an_oversized_query_with_exit_2() -> None:
    # A command-line argument is limited to 128 KiB on Linux: the script builds the query itself.
    script = (
        "import sys\nfrom archivers.cli import main\n"
        f"sys.argv = ['archiver', 'query', '--uri', 'file:///nonexistent-root', '--namespace-id', 'ns', "
        f"'--query', \"WorkflowId = 'x'\" + ' ' * {MAX_QUERY_BYTES}]\n"
        "raise SystemExit(main())\n"
    )
    assert_error(run_cli(script=script), 2, "query is longer than the maximum")


def test_sidecar_refuses_an_oversized_query_as_invalid_argument(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.ArchiverServiceStub(channel)
    uri = f"memory://b-{uuid.uuid4().hex}/v"
    ok = stub.QueryVisibility(pb.QueryVisibilityRequest(uri=uri, namespace_id="ns", query=_at_most(MAX_QUERY_BYTES)),
                              timeout=30)
    assert list(ok.executions) == []
    with pytest.raises(grpc.RpcError) as caught:
        stub.QueryVisibility(
            pb.QueryVisibilityRequest(uri=uri, namespace_id="ns", query=or_chain(100_000)), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "maximum" in str(caught.value.details())  # type: ignore[attr-defined]
    assert _error_info(caught.value).metadata["retryable"] == "false"
