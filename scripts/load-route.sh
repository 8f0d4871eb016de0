#!/usr/bin/env bash
# The route endpoint under load against the same server's /health (a benchmark, not a
# test): wrk at 16 connections on `agency serve --example` on 127.0.0.1, in turns
# (health, route, route in conversations, health, route, route in conversations), so
# the ratios compare figures taken minutes apart at most on the same machine.
#
#   LOAD_SECONDS      seconds per run (default 10)
#   LOAD_CONNECTIONS  wrk connections (default 16)
#   AGENCY_LOG        the server's log filter (default warn: no line per request)
#
# Prints one line per run, then each kind's best run against /health's best, and
# checks that every decision answered is stored once the server stopped cleanly.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER="${LOAD_SECONDS:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-16}"
if ! command -v wrk >/dev/null; then
  echo "[load] installing wrk (Debian package)" >&2
  sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
fi
cargo build --release -p agency >&2

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=op-token-0123456789abcdef
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AGENCY_LOG="${AGENCY_LOG:-warn}" AGENCY_OPERATOR_TOKEN=$TOKEN \
  "$ROOT/target/release/agency" serve --example --data "$WORK/data" \
  --addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done

echo "[load] agency serve on 127.0.0.1:$PORT ($(nproc) cores), ${SECONDS_PER}s per run, wrk -t2 -c$CONNECTIONS"
RESULTS="$WORK/results"
run() { # kind method path conversations
  local out
  out=$(TOKEN=$TOKEN METHOD="$2" LOAD_PATH="$3" CONVERSATIONS="$4" wrk -t2 -c"$CONNECTIONS" \
    -d"${SECONDS_PER}s" --timeout 10s -s "$ROOT/scripts/load/route.lua" "http://127.0.0.1:$PORT" | tail -1)
  echo "$1 $out" >>"$RESULTS"
  python3 - "$1" "$out" <<'PY'
import json, sys
kind, r = sys.argv[1], json.loads(sys.argv[2])
print(f"[load] {kind:<13} {r['requests'] / r['seconds']:8.0f} requests/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  non-2xx {r['non2xx']}  errors {r['errors']}")
PY
}
for _ in 1 2; do
  run health GET /health 0
  run route POST /api/route 0
  run conversation POST /api/route 1
done

# A clean stop stores every decision answered.
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true
SERVER=""
python3 - "$RESULTS" "$WORK/data/agency.db" <<'PY'
import json, sqlite3, sys
best, answered = {}, 0
for line in open(sys.argv[1]):
    kind, r = line.split(" ", 1)
    r = json.loads(r)
    rate = r["requests"] / r["seconds"]
    if kind != "health":
        answered += r["requests"] - r["non2xx"] - r["errors"]
    if rate > best.get(kind, (0, 0))[0]:
        best[kind] = (rate, r["p99_ms"])
h = best["health"]
for kind in ("route", "conversation"):
    rate, p99 = best[kind]
    print(f"[load] {kind}: {rate / h[0]:.2f}x /health's throughput ({rate:.0f} against {h[0]:.0f} requests/s), p99 {p99:.2f} ms against {h[1]:.2f} ms")
stored = sqlite3.connect(sys.argv[2]).execute("SELECT count(*) FROM decisions").fetchone()[0]
# wrk counts a request cut off at the end of a run as not answered; the server may
# still have answered and stored it.
print(f"[load] decisions: {answered} answered, {stored} stored")
sys.exit(0 if stored >= answered else 1)
PY
