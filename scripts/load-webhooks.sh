#!/usr/bin/env bash
# The webhook intake under load (a benchmark, not a test): signed Slack events, each
# with its own event id, sent by wrk (an external load generator, scripts/load/slack.lua
# signs every request as Slack does) at rising concurrency against `agency serve` on
# 127.0.0.1, through verification, dedup, the rate limit (set out of the way) and the
# durable enqueue, with the consumer routing and dispatching to a fake gateway at the
# same time. After the run it checks for loss in the SQLite database: every event
# acknowledged with 200 must be queued, each exactly once.
#
#   LOAD_SECONDS      seconds per level (default 10)
#   LOAD_LEVELS       wrk connection counts, one level each (default "1 4 16 64")
#   AGENCY_LOG        the server's log filter (default warn: no line per request)
#
# Prints one line per level and `load: N accepted, M lost, K duplicated` at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER="${LOAD_SECONDS:-10}"
LEVELS="${LOAD_LEVELS:-1 4 16 64}"
if ! command -v wrk >/dev/null; then
  echo "[load] installing wrk (Debian package)" >&2
  sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
fi
cargo build --release -p agency -p agency-conformance >&2

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

CONFORMANCE="$ROOT/target/release/agency-conformance"
"$CONFORMANCE" fakes >"$WORK/fakes.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  FAKES=$(sed -n 's/^fakes: //p' "$WORK/fakes.log"); [ -n "$FAKES" ] && break; sleep 0.1
done
SECRET=load-test-signing-secret
cat >"$WORK/agency.toml" <<TOML
[webhooks]
rate_per_second = 1000000000
burst = 1000000000

[[webhooks.slack]]
id = "load"
signing_secret_env = "LOAD_SLACK_SECRET"

[gateway]
url = "$FAKES/gateway"
secret_env = "LOAD_GATEWAY_SECRET"
TOML
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOAD_SLACK_SECRET="$SECRET" LOAD_GATEWAY_SECRET="$("$CONFORMANCE" webhook-env | sed -n 's/^CONFORMANCE_GATEWAY_SECRET=//p')" \
  AGENCY_LOG="${AGENCY_LOG:-warn}" AGENCY_OPERATOR_TOKEN=op-token-0123456789abcdef \
  "$ROOT/target/release/agency" serve --example --config "$WORK/agency.toml" --data "$WORK/data" \
  --addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=($SERVER)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done

echo "[load] agency serve on 127.0.0.1:$PORT ($(nproc) cores), ${SECONDS_PER}s per level, wrk -t2"
accepted=0
for c in $LEVELS; do
  t=2; [ "$c" -lt 2 ] && t=1
  out=$(SLACK_SECRET="$SECRET" SOURCE=load RUN="c$c" wrk -t"$t" -c"$c" -d"${SECONDS_PER}s" --timeout 10s \
    -s "$ROOT/scripts/load/slack.lua" "http://127.0.0.1:$PORT" | tail -1)
  python3 - "$c" "$out" <<'PY'
import json, sys
c, r = sys.argv[1], json.loads(sys.argv[2])
ok = r["requests"] - r["non2xx"] - r["read"] - r["write"] - r["timeout"]
print(f"[load] {c:>3} connections: {ok / r['seconds']:8.0f} accepted/s  p50 {r['p50_ms']:.2f} ms  p90 {r['p90_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.1f} ms  non-2xx {r['non2xx']}  errors {r['connect'] + r['read'] + r['write'] + r['timeout']}")
PY
  accepted=$((accepted + $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["requests"] - r["non2xx"] - r["read"] - r["write"] - r["timeout"])' "$out")))
done

# Stop the server cleanly (the consumer may still be dispatching; queued is what counts).
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true
python3 - "$WORK/data/agency.db" "$accepted" <<'PY'
import sqlite3, sys
db, accepted = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
rows, distinct = db.execute(
    "SELECT COUNT(*), COUNT(DISTINCT platform_event_id) FROM webhook_events WHERE source = 'load'").fetchone()
by = dict(db.execute("SELECT status, COUNT(*) FROM webhook_events WHERE source = 'load' GROUP BY status"))
lost = max(0, accepted - distinct)
print(f"[load] stored {rows} events ({distinct} distinct); by status {by}")
print(f"load: {accepted} accepted, {lost} lost, {rows - distinct} duplicated")
sys.exit(1 if lost or rows != distinct else 0)
PY
