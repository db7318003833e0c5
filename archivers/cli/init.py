"""``archiver init --uri URI --layout LAYOUT [--config FILE]``: give an archive root its layout.

Creates the root's descriptor (:mod:`archivers.roots`) with one conditional create and prints it.
Idempotent: initialising a root again with the same layout prints its descriptor and exits 0.
Exit 2 (invalid input) for a layout the scheme cannot use, a root already initialised in another
layout, or ``native`` on a root that already holds archives in its compat layout. It works on the
store directly (the sidecar initialises roots itself, at ``ValidateURI``).
"""

from __future__ import annotations

import sys

import click

from archivers.cli.options import config_option, uri_option
from archivers.config import ArchivalConfig, load_config
from archivers.registry import get_root_manager
from archivers.roots import LAYOUTS
from archivers.uri import URI

CREATED_BY = "archiver init"


@click.command("init")
@uri_option
@click.option("--layout", required=True, type=click.Choice(LAYOUTS), help="The root's layout.")
@config_option()
def init(uri: str, layout: str, config_path: str | None) -> None:
    """Create the descriptor of an archive root naming its LAYOUT (native, or the scheme's compat layout)."""
    parsed = URI.parse(uri)
    config = load_config(config_path) if config_path else ArchivalConfig()
    roots = get_root_manager(parsed, config.history_settings(parsed.scheme))
    descriptor = roots.init(parsed, layout, CREATED_BY)
    sys.stdout.write(descriptor.encode().decode())
