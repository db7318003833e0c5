#!/usr/bin/env bash
# Run the test suites.
#   scripts/test.sh        the fast suite: Python tests (all but the end-to-end ones) and the Go shim's tests
#   scripts/test.sh e2e    the end-to-end tests: a Temporal server built with the shim, the sidecar, the CLI
#   scripts/test.sh all    both
# Extra arguments go to pytest (e.g. scripts/test.sh fast -k sidecar).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export GOTOOLCHAIN="${GOTOOLCHAIN_OVERRIDE:-auto}"  # shim/go.mod names the Go toolchain it needs

go_tests() {
  (cd shim && go test -count=1 ./...)
}

# The fast suite runs on pytest-xdist workers (PYTEST_WORKERS, default 2: one per core of the 2-core
# machines this project runs on; the suite is CPU-bound).
# Each worker starts its own emulators; tests of one xdist_group (see tests/conftest.py) share a
# worker. The Go tests (mostly waiting on timers and a sidecar) run alongside; their output follows
# pytest's, and the suite fails if either fails.
fast_tests() {
  local go_log go_pid go_status=0 py_status=0
  go_log=$(mktemp)
  go_tests >"$go_log" 2>&1 &
  go_pid=$!
  python -m pytest -m "not e2e" -q -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@" || py_status=$?
  wait "$go_pid" || go_status=$?
  cat "$go_log"
  rm -f "$go_log"
  [ "$py_status" -eq 0 ] && [ "$go_status" -eq 0 ]
}

suite="${1:-fast}"
shift || true
case "$suite" in
  fast) fast_tests "$@" ;;
  go) go_tests ;;
  e2e) bash scripts/build_server.sh; python -m pytest -m e2e -q "$@" ;;
  all) fast_tests "$@"; bash scripts/build_server.sh; python -m pytest -m e2e -q "$@" ;;
  *) echo "usage: scripts/test.sh [fast|go|e2e|all] [pytest args...]" >&2; exit 2 ;;
esac
