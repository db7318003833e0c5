#!/usr/bin/env bash
# Static checks: generated code is up to date, ruff and mypy are clean.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
python scripts/gen_proto.py
if [ -n "$(git status --porcelain -- archivers/_proto)" ]; then
  echo "generated code under archivers/_proto is stale: run python scripts/gen_proto.py" >&2
  git status --porcelain -- archivers/_proto >&2
  exit 1
fi
ruff check .
mypy archivers sidecar
