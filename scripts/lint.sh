#!/usr/bin/env bash
# Static checks: generated code is up to date, ruff and mypy are clean, the Go shim is gofmt'ed and vetted.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export GOTOOLCHAIN="${GOTOOLCHAIN_OVERRIDE:-auto}"
python scripts/gen_proto.py
if [ -n "$(git status --porcelain -- archivers/_proto shim/gen)" ]; then
  echo "generated code under archivers/_proto or shim/gen is stale: run python scripts/gen_proto.py" >&2
  git status --porcelain -- archivers/_proto shim/gen >&2
  exit 1
fi
ruff check .
mypy archivers sidecar
unformatted=$(cd shim && gofmt -l archiver cmd)
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
(cd shim && go vet ./...)
