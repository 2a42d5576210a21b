#!/usr/bin/env bash
# trainyard benchmarks, side by side with pueue and Slurm, in one run on this machine.
#   bash bench/run.sh            full sizes (takes a while), results in bench/results.md
#   bash bench/run.sh --smoke    reduced sizes, seconds; no peers installed (CI)
#   bash bench/run.sh --scenarios sampling   only those scenarios (full sizes), results in
#                                target/bench-partial.md (bench/results.md is left as it is)
# Builds trainyard in release mode, installs the peers it needs (pueue from crates.io into
# .tools/, awscli from PyPI into .tools/aws, wrk from Debian, the Slurm dev cluster when this
# machine can run it) and s3s-fs (the S3 server of the object-storage scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[[ "${1:-}" == --smoke ]] && { smoke=1; shift; }

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi

bash scripts/install-s3s-fs.sh

# PostgreSQL for the API scenario's second engine: a throwaway cluster (scripts/pg-dev.sh) with a
# fresh database; without one (not root, no postgresql) only SQLite is measured.
pg_args=()
if pg=$(bash scripts/pg-dev.sh start 2>/dev/null); then
  psql "$pg" -qc 'DROP DATABASE IF EXISTS trainyard_bench WITH (FORCE)' -c 'CREATE DATABASE trainyard_bench'
  pg_args=(--postgres "${pg%/*}/trainyard_bench")
else
  echo "bench: no PostgreSQL (scripts/pg-dev.sh start failed); measuring SQLite only" >&2
fi

# Binaries land in $CARGO_TARGET_DIR when set (as cargo puts them), else target/.
tgt="${CARGO_TARGET_DIR:-target}"
args=()
if [[ $smoke == 1 ]]; then
  profile=debug
  # --all-targets: the features of `cargo test --workspace` (dev-dependencies unified), so after
  # the tests (as in .ci/run) this links the bench binary and rebuilds nothing else.
  cargo build -q --locked -p trainyard-cli -p trainyard-bench --all-targets
  out=target/bench-smoke.md
else
  profile=release
  cargo build -q --release -p trainyard-cli -p trainyard-bench
  out=bench/results.md
  [[ $# -gt 0 ]] && out=target/bench-partial.md
  if [[ $# -eq 0 ]]; then
    if [[ ! -x .tools/bin/pueued ]]; then
      cargo install -q pueue --locked --version 4.0.4 --root .tools
    fi
    args+=(--pueue-bin .tools/bin)
    # awscli (PyPI): the object-storage scenario's peer.
    if [[ ! -x .tools/aws/bin/aws ]]; then
      python3 -m venv .tools/aws && .tools/aws/bin/pip install -q awscli
    fi
    args+=(--aws-bin .tools/aws/bin/aws)
    if [[ $(id -u) == 0 ]] && bash scripts/slurm-dev-cluster.sh start >/dev/null; then
      args+=(--slurm)
    fi
  fi
fi
smoke_flag=()
[[ $smoke == 1 ]] && smoke_flag=(--smoke)
"$tgt/$profile/trainyard-bench" --trainyard "$tgt/$profile/trainyard" --out "$out" "${smoke_flag[@]}" "${pg_args[@]}" "${args[@]}" "$@"
