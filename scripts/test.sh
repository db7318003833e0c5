#!/usr/bin/env bash
# Run the test suites. `scripts/test.sh` runs the fast suite (everything but the end-to-end
# tests against a Temporal server built with the shim); `scripts/test.sh e2e` runs those.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
case "${1:-fast}" in
  fast) shift || true; exec python -m pytest -m "not e2e" -q "$@" ;;
  e2e) shift; exec python -m pytest -m e2e -q "$@" ;;
  *) exec python -m pytest -q "$@" ;;
esac
