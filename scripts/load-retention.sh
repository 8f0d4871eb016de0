#!/usr/bin/env bash
# What retention costs the server (a benchmark, not a test): `agency serve --example`
# routes messages under wrk (16 connections) once with nothing to prune, then again
# right after a restart on a database holding RETENTION_ROWS decisions past their
# 90 days, which the server archives and deletes at start while it routes. Prints how
# long the pruning took, and both runs' throughput and route latency (p50, p99).
#
#   RETENTION_ROWS  old decisions to prune (default 1000000)
#   LOAD_SECONDS    seconds per run (default 30)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS="${RETENTION_ROWS:-1000000}"
SECONDS_PER="${LOAD_SECONDS:-30}"
if ! command -v wrk >/dev/null; then
  echo "[retention-load] installing wrk (Debian package)" >&2
  sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
fi
cargo build --release -p agency >&2
AGENCY="$ROOT/target/release/agency"

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=op-token-0123456789abcdef
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start() {
  AGENCY_LOG=warn AGENCY_OPERATOR_TOKEN=$TOKEN "$AGENCY" serve --example --data "$WORK/data" \
    --addr "127.0.0.1:$PORT" >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && return; sleep 0.1; done
  echo "[retention-load] the server did not start"; tail -20 "$WORK/server.log"; exit 1
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""; }
load() {
  TOKEN=$TOKEN METHOD=POST LOAD_PATH=/api/route CONVERSATIONS=0 wrk -t2 -c16 -d"${SECONDS_PER}s" \
    --timeout 10s -s "$ROOT/scripts/load/route.lua" "http://127.0.0.1:$PORT" | tail -1
}
old_left() {
  python3 - "$WORK/data/agency.db" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
cut = int(time.time() * 1000) - 90 * 86_400_000
print(c.execute("SELECT COUNT(*) FROM decisions WHERE created_ms < ?", (cut,)).fetchone()[0])
PY
}

start
alone=$(load)
stop
echo "[retention-load] seeding $ROWS decisions 200 days old (a tenth with feedback)"
python3 - "$WORK/data/agency.db" "$ROWS" <<'PY'
import sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
old = int(time.time() * 1000) - 200 * 86_400_000
c.executemany(
    "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) "
    "VALUES (?, ?, 'please deploy the hotfix to production', 'slack', 'devops', 'keyword', 'g', '{\"agent\":\"devops\"}')",
    ((f"dec_old_{i:08}", old + i) for i in range(n)))
c.executemany("INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?, 'devops', ?)",
    ((f"dec_old_{i:08}", old + i) for i in range(0, n, 10)))
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
began=$(date +%s.%N)
start
load >"$WORK/during" &
WRK=$!
while [ "$(old_left)" != "0" ]; do sleep 0.5; done
ended=$(date +%s.%N)
wait "$WRK"
during=$(cat "$WORK/during")
files=$(find "$WORK/data/archive" -name '*.ndjson.gz' | wc -l)
bytes=$(du -sb "$WORK/data/archive" | cut -f1)
stop
python3 - "$alone" "$during" "$began" "$ended" "$ROWS" "$files" "$bytes" <<'PY'
import json, sys
a, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
took, rows, files, size = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
print(f"[retention-load] {rows} decisions archived and deleted in {took:.1f} s (from the server's start; {rows / took:.0f} rows/s), {files} files, {size / 1e6:.1f} MB")
for name, r in (("alone", a), ("while pruning", d)):
    print(f"[retention-load] route {name:<14} {r['requests'] / r['seconds']:8.0f} requests/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  non-2xx {r['non2xx']}  errors {r['errors']}")
print(f"[retention-load] while pruning: throughput {d['requests'] / d['seconds'] / (a['requests'] / a['seconds']):.2f}x, p99 {d['p99_ms'] / a['p99_ms']:.2f}x of the run alone")
PY
