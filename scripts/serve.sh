#!/usr/bin/env bash
# Runs the local server with the example agency: `agency serve --example`, every API on
# http://127.0.0.1:8787, state in ./.agency. Extra arguments go to `agency serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tools.sh"
ensure_rust_targets
cd "$ROOT"
# The same build as the test suite's (see AGENCY_CARGO_TARGETS): after scripts/test.sh
# nothing is compiled again; on a fresh machine cargo shows its progress.
cargo test "${AGENCY_CARGO_TARGETS[@]}" --no-run 2>&1 | { grep -v '^  Executable ' || true; } >&2
exec "$ROOT/target/release/agency" serve --example "$@"
