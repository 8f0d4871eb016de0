#!/usr/bin/env bash
# Fuzzes the webhook core (components/webhook/core/fuzz: the Slack, Telegram and Discord
# parsers and every verifier) with cargo-fuzz (libFuzzer), each target for a bounded
# time. Needs the nightly toolchain; installs cargo-fuzz into $AGENCY_TOOLS once.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   which (default: all four)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
SECS="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-slack telegram discord verify}"
export PATH="$AGENCY_TOOLS/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  echo "[fuzz] installing cargo-fuzz into $AGENCY_TOOLS" >&2
  cargo install --locked --root "$AGENCY_TOOLS" cargo-fuzz >&2
fi
cd "$ROOT/components/webhook/core"
for t in $TARGETS; do
  echo "[fuzz] $t for ${SECS}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$SECS" -max_len=8192 2>&1 | tail -3
done
echo "fuzz: $(echo $TARGETS | wc -w) targets, ${SECS}s each, no crash"
