"""Put the repository root on ``sys.path``, so that ``python bench/<script>.py`` can import ``tests.harness``.

Import it, for its effect, before anything from ``tests``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
