"""``python -m archivers.cli``: the same as the ``archiver`` console script."""

from __future__ import annotations

from archivers.cli import main

raise SystemExit(main())
