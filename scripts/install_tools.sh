#!/usr/bin/env bash
# Install the non-Python tools the test-suite needs into the project-local, git-ignored folder .tools/.
#
#   .tools/node_modules/.bin/azurite-blob   Azurite (Azure Blob Storage emulator), npm azurite@3.35.0
#
# Idempotent: a tool already installed at the wanted version is left alone.  Needs node >= 18 and npm.
# Usage: scripts/install_tools.sh            (from anywhere; paths are relative to the repository root)
#        AZURITE_VERSION=3.35.0 scripts/install_tools.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TOOLS_DIR:-$ROOT/.tools}"
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"

log() { printf 'install_tools: %s\n' "$*" >&2; }

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        log "error: '$1' not found on PATH; install Node.js 20 and npm (e.g. apt-get install nodejs npm)"
        exit 1
    fi
}

installed_azurite_version() {
    local pkg="$TOOLS/node_modules/azurite/package.json"
    [[ -f "$pkg" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg" 2>/dev/null || true
}

install_azurite() {
    local have
    have="$(installed_azurite_version)"
    if [[ "$have" == "$AZURITE_VERSION" && -x "$TOOLS/node_modules/.bin/azurite-blob" ]]; then
        log "azurite $AZURITE_VERSION already installed in $TOOLS"
        return 0
    fi
    log "installing azurite@$AZURITE_VERSION into $TOOLS ${have:+(found $have)}"
    mkdir -p "$TOOLS"
    # A package.json of our own keeps npm from walking up to a parent project.
    [[ -f "$TOOLS/package.json" ]] || printf '{"name":"temporal-archivers-tools","private":true}\n' >"$TOOLS/package.json"
    npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error --save-exact \
        "azurite@$AZURITE_VERSION" >/dev/null
    [[ -x "$TOOLS/node_modules/.bin/azurite-blob" ]] || { log "error: azurite-blob missing after install"; exit 1; }
    log "azurite $(installed_azurite_version) installed"
}

need node
need npm
install_azurite
