#!/usr/bin/env bash
# Interleaved A/B of `trainyard serve` builds on one seeded SQLite store: version details of the
# probe (an ended version, answered from its kept body) and the authenticated floor
# (`GET ai-engines`), wrk -t2 -c16 beside the server, with the server's CPU per request
# ((utime + stime) / requests, from /proc), wrk's own CPU per request and the server's context
# switches per request, which move far less with the machine's load than requests/s do.
#
#   bash bench/ab-http.sh WORK_DIR ROUNDS SECONDS BIN_A [BIN_B ...]
#
# WORK_DIR is a `trainyard-bench --scenarios api --work-dir WORK_DIR` folder: its SQLite server
# (`s2-SQLite/config.toml`) is restarted here with each build in turn, builds alternated every
# round. Extra environment for the servers: SERVER_ENV="K=V ..." (e.g. TOKIO_WORKER_THREADS=1).
set -euo pipefail
work=$1 rounds=$2 secs=$3
shift 3
cfg="$work/s2-SQLite/config.toml"
db="$work/s2-SQLite/data/trainyard.db"
[[ -f $cfg ]] || { echo "no $cfg" >&2; exit 1; }
read -r job ver < <(sqlite3 -separator ' ' "$db" \
  "SELECT v.job_id, v.id FROM versions v JOIN jobs j ON j.id = v.job_id WHERE j.name = 'probe'")
token=bench-token
tick=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(non)?voluntary_ctxt_switches/ {n += $2} END {print n + 0}'
}

measure() { # pid url label bin
  local pid=$1 url=$2 label=$3 bin=$4 c0 c1 x0 x1 out reqs rps p50 wrk_cpu
  c0=$(cpu_ticks "$pid") x0=$(ctx_switches "$pid")
  out=$(/usr/bin/time -f 'wrk-cpu %U %S' wrk -t2 -c16 -d"${secs}s" --latency \
    -H "X-Auth-Token: $token" "$url" 2>&1)
  c1=$(cpu_ticks "$pid") x1=$(ctx_switches "$pid")
  wrk_cpu=$(awk '$1 == "wrk-cpu" {print $2 + $3}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  awk -v b="$bin" -v l="$label" -v r="$rps" -v p="$p50" -v n="$reqs" -v c=$((c1 - c0)) \
    -v x=$((x1 - x0)) -v t="$tick" -v w="$wrk_cpu" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%-8s %-8s %6.0f req/s  p50 %-8s server %5.1f us/req  wrk %5.1f us/req  ctxsw %4.2f/req  load %s\n",
             b, l, r, p, c * 1e6 / t / n, w * 1e6 / n, x / n, load }'
}

for ((r = 1; r <= rounds; r++)); do
  for bin in "$@"; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2086
    env RUST_LOG=warn ${SERVER_ENV:-} "$bin" serve --listen "127.0.0.1:$port" --config "$cfg" \
      >>"$work/ab-server.log" 2>&1 &
    pid=$!
    base="http://127.0.0.1:$port"
    for _ in $(seq 300); do
      curl -fs "$base/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    details="$base/v1/bench/training-jobs/$job/versions/$ver"
    for _ in 1 2 3; do curl -fs -H "X-Auth-Token: $token" "$details" >/dev/null; done
    name=$(basename "$(dirname "$bin")")
    measure "$pid" "$details" details "$name"
    measure "$pid" "$base/v1/bench/job/ai-engines" floor "$name"
    kill -TERM "$pid"
    wait "$pid" || true
  done
done
