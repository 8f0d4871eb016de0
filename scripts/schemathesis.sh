#!/usr/bin/env bash
# Fuzzes the HTTP API against its OpenAPI document (services/kit/openapi.json) with
# schemathesis: starts `agency serve --example` on a free local port with a fresh data
# directory and fixed test tokens, runs every check (`--checks all`) on every operation
# with a fixed seed, stops the server and exits non-zero on any failure.
#
#   AGENCY_BIN                 the server binary (default: target/release/agency; build it
#                              with `cargo build --release -p agency`)
#   SCHEMATHESIS_SEED          default 7
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase, default 150
#   SCHEMATHESIS_ARGS          more arguments for `schemathesis run` (e.g. "--phases coverage")
#
# The last line is `schemathesis: N passed, M failed`, counted in API operations: an
# operation passes when every test case schemathesis ran on it passed every check.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
ensure_schemathesis

BIN="${AGENCY_BIN:-$ROOT/target/release/agency}"
SEED="${SCHEMATHESIS_SEED:-7}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-150}"
DOC="$ROOT/services/kit/openapi.json"
OPERATOR_TOKEN=op-token-0123456789abcdef
if ! [ -x "$BIN" ]; then
  echo "schemathesis.sh: no server binary at $BIN (cargo build --release -p agency, or set AGENCY_BIN)" >&2
  exit 2
fi

WORK="$(mktemp -d)"
SERVER_PID=""
stop() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap stop EXIT
trap 'exit 130' INT TERM

PY="$AGENCY_TOOLS/venv/bin/python"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

AGENCY_OPERATOR_TOKEN="$OPERATOR_TOKEN" \
  AGENCY_GATEWAY_TOKEN=gw-token-0123456789abcdef \
  AGENCY_VIEWER_TOKEN=vw-token-0123456789abcdef \
  AGENCY_LOG="${AGENCY_LOG:-warn}" \
  "$BIN" serve --example --addr "127.0.0.1:$PORT" --data "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "$BASE/health" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis.sh: the server exited:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/health" || {
  echo "schemathesis.sh: $BASE/health did not answer within 20 s" >&2
  cat "$WORK/server.log" >&2
  exit 1
}
# The binary serves the document it was built with; the repository's is the one tested.
curl -fsS -o "$WORK/served.json" "$BASE/openapi.json"
if ! cmp -s "$WORK/served.json" "$DOC"; then
  echo "schemathesis.sh: warning: $BIN serves another openapi.json than $DOC (rebuild it); testing the repository's" >&2
fi

status=0
# shellcheck disable=SC2086 # SCHEMATHESIS_ARGS is a list of words
"$SCHEMATHESIS" --config-file "$ROOT/scripts/schemathesis.toml" run "$DOC" \
  --url "$BASE" \
  --checks all \
  --seed "$SEED" \
  --max-examples "$MAX_EXAMPLES" \
  -H "Authorization: Bearer $OPERATOR_TOKEN" \
  --report json --report-json-path "$WORK/report.json" \
  ${SCHEMATHESIS_ARGS:-} || status=$?

if [ -s "$WORK/server.log" ]; then
  echo "--- server log ---"
  tail -n 40 "$WORK/server.log"
fi

summary="$("$PY" - "$WORK/report.json" <<'EOF'
import json, sys

try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print("0 0")
    sys.exit()
ops = report.get("operations") or {}
tested = ops.get("tested", 0)
# Operations with a failing check, plus those whose tests errored (the report counts
# those without naming them).
failed = len({op for f in report.get("failures", []) for op in f.get("operations", [])})
failed = min(failed + ops.get("errored", 0), tested)
print(tested - failed, failed)
EOF
)"
read -r passed failed <<<"$summary"
if [ "$status" -eq 0 ] && [ "$failed" -gt 0 ]; then
  status=1
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # schemathesis itself failed (schema error, no report)
fi
echo "schemathesis: $passed passed, $failed failed"
exit "$status"
