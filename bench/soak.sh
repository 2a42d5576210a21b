#!/usr/bin/env bash
# Soak: the fault-injection suite (crates/trainyard-cli/tests/it/faults.rs) with FACTOR times its
# kill rounds (default 10: 100 kills during creation bursts, 50 during stop/delete traffic),
# in release mode. Prints each test's summary line; TRAINYARD_FAULT_SEED=N replays a run.
#   bash bench/soak.sh [FACTOR]
set -euo pipefail
cd "$(dirname "$0")/.."
factor=${1:-10}
start=$(date +%s)
log=target/soak.log
mkdir -p target
set +e
TRAINYARD_FAULT_ROUNDS=$factor cargo test --release -p trainyard-cli --test it -- \
  --nocapture --test-threads 1 faults::kill_9 >"$log" 2>&1
status=$?
set -e
grep -E '^(fault injection seed|creation bursts|stop/delete traffic|test |test result)|panicked|assert' "$log" || true
echo "soak: factor $factor, $(( $(date +%s) - start )) s, exit $status (full output: $log)"
exit $status
