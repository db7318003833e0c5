"""Workflows and activities of the end-to-end tests (run by an in-process, unsandboxed worker).

* :class:`CompletingWorkflow` — one activity, then completes.
* :class:`FailingWorkflow` — fails with a non-retryable ``ApplicationError``.
* :class:`SleepingWorkflow` — sleeps an hour: started with a short execution timeout it times out,
  or it is terminated.
* :class:`BigHistoryWorkflow` — ``count`` activities returning ``size`` bytes each (30 x 200 KB: a
  history over 5 MB, several ~2 MiB archive blobs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

__all__ = [
    "ALL_ACTIVITIES",
    "ALL_WORKFLOWS",
    "BigHistoryWorkflow",
    "CompletingWorkflow",
    "FailingWorkflow",
    "SleepingWorkflow",
    "make_payload",
]


@activity.defn
async def greet(name: str) -> str:
    """Return a greeting for ``name``."""
    return f"Hello, {name}!"


@activity.defn
async def make_payload(index: int, size: int) -> str:
    """Return ``size`` characters that differ per ``index`` (large activity results)."""
    block = f"{index:06d}-abcdefghijklmnopqrstuvwxyz-"
    return (block * (size // len(block) + 1))[:size]


@workflow.defn
class CompletingWorkflow:
    """Calls :func:`greet` and returns its result."""

    @workflow.run
    async def run(self, name: str) -> str:
        """Return ``"Hello, <name>!"``."""
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class FailingWorkflow:
    """Fails at once with a non-retryable application error."""

    @workflow.run
    async def run(self, reason: str) -> str:
        """Never returns."""
        raise ApplicationError(f"e2e failure: {reason}", type="E2EFailure", non_retryable=True)


@workflow.defn
class SleepingWorkflow:
    """Sleeps an hour (to be timed out by its execution timeout, or terminated)."""

    @workflow.run
    async def run(self) -> None:
        """Sleep."""
        await workflow.sleep(3600)


@workflow.defn
class BigHistoryWorkflow:
    """Runs ``count`` :func:`make_payload` activities of ``size`` bytes each, in parallel batches of 10."""

    @workflow.run
    async def run(self, count: int, size: int) -> int:
        """Return the total number of bytes received."""
        total = 0
        for start in range(0, count, 10):
            results = await asyncio.gather(
                *(
                    workflow.execute_activity(
                        make_payload, args=[i, size], start_to_close_timeout=timedelta(seconds=60)
                    )
                    for i in range(start, min(count, start + 10))
                )
            )
            total += sum(len(r) for r in results)
        return total


ALL_WORKFLOWS: list[type] = [CompletingWorkflow, FailingWorkflow, SleepingWorkflow, BigHistoryWorkflow]
ALL_ACTIVITIES: list[Callable[..., Any]] = [greet, make_payload]
