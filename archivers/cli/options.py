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


def page_size_option(items: str, default_size: int) -> Callable[[F], F]:
    """``--page-size N`` (0, the default: the archiver's default of ``default_size`` ``items`` per page)."""
    return click.option(
        "--page-size",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help=f"{items.capitalize()} per underlying page (0: the archiver's default, {default_size}).",
    )


def output_option(*formats: str) -> Callable[[F], F]:
    """``--output``/``-o`` choosing one of ``formats`` (the first is the default)."""
    return click.option("--output", "-o", type=click.Choice(formats), default=formats[0], show_default=True)


def input_file_option(name: str, param: str, help_text: str) -> Callable[[F], F]:
    """``--NAME FILE``: a required, existing file (the parameter is ``param``), described by ``help_text``."""
    return click.option(
        f"--{name}", param, required=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE", help=help_text
    )
