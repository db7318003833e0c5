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

# The fast suite runs on pytest-xdist workers (PYTEST_WORKERS, default 3: the tests wait on emulators
# more than they compute, so one more worker than a 2-core machine has cores is the fastest). Each
# worker starts its own emulators; tests of one xdist_group (see tests/conftest.py) share a worker.
fast_tests() {
  python -m pytest -m "not e2e" -q -n "${PYTEST_WORKERS:-3}" --dist loadgroup "$@"
}

suite="${1:-fast}"
shift || true
case "$suite" in
  fast) fast_tests "$@"; go_tests ;;
  go) go_tests ;;
  e2e) bash scripts/build_server.sh; python -m pytest -m e2e -q "$@" ;;
  all) fast_tests "$@"; go_tests; bash scripts/build_server.sh; python -m pytest -m e2e -q "$@" ;;
  *) echo "usage: scripts/test.sh [fast|go|e2e|all] [pytest args...]" >&2; exit 2 ;;
esac
