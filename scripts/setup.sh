#!/usr/bin/env bash
# Create .venv with the project and its test tools installed (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all]' --group dev
bash scripts/install_tools.sh
# Go modules of the shim (the Temporal server and its dependencies), and the Go toolchain its
# go.mod names, from the Go module proxy.
if command -v go >/dev/null; then
  (cd shim && GOTOOLCHAIN="${GOTOOLCHAIN_OVERRIDE:-auto}" go mod download)
fi
