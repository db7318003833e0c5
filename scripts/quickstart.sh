#!/usr/bin/env bash
# Set up the project and run it on its embedded default, the local file:// store:
# archive a history and visibility records, then read them back.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/archiver ] || bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
store="$PWD/.quickstart-archive"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m archivers.testing.sample --history "$work/history.json" --records "$work/records.jsonl" \
  --namespace-id quickstart-ns --wid order-42 --rid 5f1c1e2a-run --events 1000
uri="file://$store"
archiver validate-uri "$uri"
archiver put --uri "$uri" --namespace-id quickstart-ns --namespace quickstart \
  --wid order-42 --rid 5f1c1e2a-run --history "$work/history.json"
archiver put-visibility --uri "$uri" --record "$work/records.jsonl"
echo "--- archived history (first events):"
archiver get --uri "$uri" --namespace-id quickstart-ns --wid order-42 --rid 5f1c1e2a-run --output table | head -n 12
echo "--- failed ShipFlow runs:"
archiver query --uri "$uri" --namespace-id quickstart-ns \
  --query "WorkflowType = 'ShipFlow' AND ExecutionStatus = 'Failed'" --output table
echo "archive written to $store"
