"""``archiver compact --uri URI --namespace-id NS [--config FILE]``: compact a native visibility index.

Moves every record in the namespace's inbox into compacted Parquet files and commits them
(:mod:`archivers.visindex.compaction`), then prints what it did. Safe to run at any time, also
twice at once or after a crashed run. It works on the store directly. Exit 2 (invalid input) for a
root whose visibility is not the native index.
"""

from __future__ import annotations

import click

from archivers.cli.options import config_option, namespace_id_option, uri_option
from archivers.config import ArchivalConfig, load_config
from archivers.redact import redact
from archivers.registry import get_visibility_archiver
from archivers.uri import URI
from archivers.visindex.archiver import native_index


@click.command("compact")
@uri_option
@namespace_id_option
@config_option()
def compact(uri: str, namespace_id: str, config_path: str | None) -> None:
    """Move a namespace's visibility inbox into compacted files (native roots)."""
    parsed = URI.parse(uri)
    config = load_config(config_path) if config_path else ArchivalConfig()
    archiver = get_visibility_archiver(parsed, config.visibility_settings(parsed.scheme))
    archiver.check_uri(parsed)
    result = native_index(archiver, parsed).compact(parsed, namespace_id)
    click.echo(
        f"compacted {result.records} record{'s' if result.records != 1 else ''} into {result.files} "
        f"file{'s' if result.files != 1 else ''} at {redact(uri)} (manifest generation {result.generation})"
    )
