"""Click options shared by several ``archiver`` subcommands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ARCHIVAL_CONFIG_HELP = "YAML file with Temporal's 'archival' section (provider settings per scheme)."


def config_option(help_text: str = ARCHIVAL_CONFIG_HELP) -> Callable[[F], F]:
    """``--config FILE`` (optional; the parameter is ``config_path``), described by ``help_text``."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help=help_text,
    )


def uri_option(func: F) -> F:
    """``--uri URI`` (required)."""
    return click.option(
        "--uri",
        "uri",
        required=True,
        metavar="URI",
        help="Archival URI, e.g. file:///var/archive or s3://bucket/prefix.",
    )(func)


def namespace_id_option(func: F) -> F:
    """``--namespace-id ID`` (required)."""
    return click.option("--namespace-id", required=True, metavar="ID", help="Namespace ID (not its name).")(func)


def execution_options(func: F) -> F:
    """``--wid``/``--workflow-id``/``-w`` and ``--rid``/``--run-id``/``-r`` (both required)."""
    func = click.option("--rid", "--run-id", "-r", "run_id", required=True, metavar="RUN_ID", help="Run ID.")(func)
    return click.option(
        "--wid", "--workflow-id", "-w", "workflow_id", required=True, metavar="WORKFLOW_ID", help="Workflow ID."
    )(func)
