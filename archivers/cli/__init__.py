"""The ``archiver`` command line tool (console script ``archiver = archivers.cli:main``).

Subcommands are defined in :mod:`archivers.cli.commands` on the click group :data:`cli`; a new
subcommand (such as ``serve``) goes in its own module here and is attached below with
``cli.add_command(...)``.
"""

from __future__ import annotations

from archivers.cli.commands import cli, main
from archivers.cli.compact import compact
from archivers.cli.init import init
from archivers.cli.lifecycle import delete, prune
from archivers.cli.serve import serve

cli.add_command(compact)
cli.add_command(init)
cli.add_command(serve)
cli.add_command(delete)
cli.add_command(prune)

__all__ = ["cli", "main"]
