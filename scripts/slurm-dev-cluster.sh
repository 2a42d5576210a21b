#!/usr/bin/env bash
# A single-node Slurm (Debian's slurm-wlm) for development and CI, without systemd, as root.
#   bash scripts/slurm-dev-cluster.sh start   install if missing, configure, start, wait until idle
#   bash scripts/slurm-dev-cluster.sh stop    stop the daemons started here (by PID file)
#   bash scripts/slurm-dev-cluster.sh status  exit 0 when the node answers
# The node line comes from `slurmd -C`; the partition is `debug`. Jobs run as the submitting user.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN=/run/trainyard-slurm
cmd="${1:-start}"

alive() { [[ -s $RUN/$1.pid ]] && kill -0 "$(cat $RUN/$1.pid)" 2>/dev/null; }
die() { echo "slurm-dev-cluster: $*" >&2; exit 1; }
node_up() { timeout 3 sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client slurm-wlm-basic-plugins
}

start() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  if alive slurmctld && alive slurmd && node_up; then return 0; fi
  # The daemons outlive this script: they must not inherit its open files, such as the lock
  # of `flock /tmp/shared-services.lock cargo test ...`, which they would hold for ever.
  local fd
  for fd in /proc/$$/fd/*; do
    fd="${fd##*/}"
    if (( fd > 2 && fd < 255 )); then eval "exec ${fd}>&-"; fi
  done
  install
  local node hw
  node="$(hostname -s)"
  hw="$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*//")"
  mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm \
           /run/munge /var/log/munge /var/lib/munge $RUN
  chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  sed -e "s/@NODE@/${node}/g" -e "s/@HW@/${hw}/" -e "s|@PROCTRACK@|proctrack/linuxproc|" \
      -e "s|@TASK@|task/none|" -e "s|@ACCTGATHER@|jobacct_gather/linux|" \
      "$HERE/slurm/slurm.conf.in" > /etc/slurm/slurm.conf
  cp "$HERE/slurm/cgroup.conf" /etc/slurm/cgroup.conf
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || \
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  fi
  if ! alive munged; then
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
      >>/var/log/munge/munged.out 2>&1 < /dev/null &
    echo $! > $RUN/munged.pid
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n >/dev/null 2>&1 || die "munged not answering (see /var/log/munge/)"
  fi
  if ! alive slurmctld; then
    setsid /usr/sbin/slurmctld -D -i >>/var/log/slurm/slurmctld.out 2>&1 < /dev/null &
    echo $! > $RUN/slurmctld.pid
  fi
  for _ in $(seq 100); do
    alive slurmctld || die "slurmctld exited: $(tail -3 /var/log/slurm/slurmctld.log)"
    timeout 2 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1
  done
  if ! alive slurmd; then
    setsid /usr/sbin/slurmd -D >>/var/log/slurm/slurmd.out 2>&1 < /dev/null &
    echo $! > $RUN/slurmd.pid
  fi
  for _ in $(seq 100); do
    alive slurmd || die "slurmd exited: $(tail -3 /var/log/slurm/slurmd.log)"
    timeout 2 sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc|down|drain)' && break
    sleep 0.1
  done
  if sinfo -h -N -o '%t' | grep -qE 'down|drain'; then
    scontrol update nodename="$node" state=resume || true
  fi
  node_up || die "node not idle: $(sinfo -N)"
}

stop() {
  local name pf pid
  for name in slurmd slurmctld munged; do
    pf=$RUN/$name.pid
    [[ -s $pf ]] || continue
    pid=$(cat "$pf")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pf"
  done
}

case "$cmd" in
  start) start; sinfo ;;
  stop) stop ;;
  status) alive slurmctld && alive slurmd && node_up ;;
  *) die "usage: $0 start|stop|status" ;;
esac
