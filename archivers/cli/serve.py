"""``archiver serve [--config FILE] [--listen ADDR]``: run the gRPC sidecar in the foreground.

Serves until SIGTERM or SIGINT, then reports ``NOT_SERVING`` on the health service and lets
in-flight calls finish within the configured grace period before exiting 0. Needs the
``sidecar`` extra.
"""

from __future__ import annotations

import click

from archivers.cli.options import config_option
from archivers.errors import MissingDependencyError


@click.command("serve")
@config_option("Sidecar YAML: an 'archival' section like Temporal's and an optional 'sidecar' section.")
@click.option(
    "--listen",
    default=None,
    metavar="ADDR",
    help="host:port to listen on (default: the config's sidecar.listen, else 127.0.0.1:7299).",
)
def serve(config_path: str | None, listen: str | None) -> None:
    """Run the archiver sidecar (gRPC ArchiverService, health, reflection) until SIGTERM/SIGINT."""
    try:
        from sidecar.config import load_sidecar_config
        from sidecar.logs import configure_logging
        from sidecar.server import SidecarServer
    except ImportError as exc:
        raise MissingDependencyError.for_backend("sidecar", extra="sidecar", module=exc.name or "grpcio") from exc
    config = load_sidecar_config(config_path)
    configure_logging(config.logs)
    SidecarServer.from_config(config, listen=listen).serve_until_signalled()
