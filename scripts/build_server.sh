#!/usr/bin/env bash
# Build the Temporal server with the temporal-archivers shim into .tools/bin/temporal-archivers-server.
# Go modules come from the Go module proxy; the toolchain go.mod asks for is fetched the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN_OVERRIDE:-auto}"
mkdir -p .tools/bin
(cd shim && go build -trimpath -o ../.tools/bin/temporal-archivers-server ./cmd/temporal-server)
echo "built .tools/bin/temporal-archivers-server"
