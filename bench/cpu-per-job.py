#!/usr/bin/env python3
"""CPU per trivial job, by process, over the benchmark's throughput scenario (issue #32).

Runs `trainyard-bench --scenarios throughput` (1,000 trivial jobs, 8 creates in flight, on
SQLite) and samples /proc every 20 ms while it runs. Over the throughput run alone (from the
bench's "throughput..." line to the moment its `xargs` floor starts) it prints, in ms of CPU
(utime + stime) per job:

  - the server's threads, by name (`/proc/<server>/task/*/stat`; threads that ended in the
    window are counted as "(threads that ended)", from the process's own total);
  - the server's children: the shims and, below them, the jobs' `sh` (the server's
    cutime + cstime: what it reaped); the `sh` share is measured after the run, from the
    same `sh true.sh` started 1,000 times by `xargs -P2` (xargs itself included);
  - the bench process itself (the HTTP client: creates and polling);
  - everything else on the machine (other processes), and the idle time of all cores.

    python3 bench/cpu-per-job.py <target dir with release/trainyard{,-bench}> [--label L]

Figures are per job: divide by nothing else. CLK_TCK is 100, so each figure is good to
~10 ms / 1,000 jobs = 0.01 ms.
"""
import collections
import os
import subprocess
import sys
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")


def stat_fields(path):
    with open(path) as f:
        text = f.read()
    # comm may hold spaces and parentheses: split at the last ')'.
    head, _, rest = text.rpartition(")")
    comm = head.split("(", 1)[1]
    return comm, rest.split()


def proc_cpu(pid):
    """(utime+stime, cutime+cstime) in ticks of a process."""
    _, f = stat_fields(f"/proc/{pid}/stat")
    # rest starts at field 3 (state): utime is field 14 -> index 11.
    return int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def threads(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm, f = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        out[int(tid)] = (comm, int(f[11]) + int(f[12]))
    return out


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def comm_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def cpu_totals():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    total = sum(vals[:8])  # user nice system idle iowait irq softirq steal
    idle = vals[3] + vals[4]
    return total, idle


def snapshot(bench, server):
    s = {"t": time.time(), "stat": cpu_totals(), "bench": proc_cpu(bench)}
    if server:
        try:
            s["server"] = proc_cpu(server)
            s["threads"] = threads(server)
        except FileNotFoundError:
            pass
    return s


def main():
    tgt = sys.argv[1]
    label = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else tgt
    jobs = 1000
    cmd = [
        f"{tgt}/release/trainyard-bench",
        "--trainyard",
        f"{tgt}/release/trainyard",
        "--out",
        "/dev/null",
        "--scenarios",
        "throughput",
    ]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started = threading.Event()
    log = []

    def read_err():
        for line in p.stderr:
            log.append(line)
            if line.startswith("throughput"):
                started.set()

    threading.Thread(target=read_err, daemon=True).start()
    server = None
    first = None
    last = None
    peak = {}  # tid -> (comm, ticks) at its last sighting
    while p.poll() is None:
        if server is None:
            for c in children(p.pid):
                if comm_of(c) == "trainyard":
                    server = c
        kids = [comm_of(c) for c in children(p.pid)]
        if "xargs" in kids:
            break
        if started.is_set() and server:
            s = snapshot(p.pid, server)
            if first is None:
                first = s
            if "threads" in s:
                for tid, v in s["threads"].items():
                    peak[tid] = v
                last = s
        time.sleep(0.02)
    out, _ = p.communicate()
    # The jobs' own `sh`: the same `sh true.sh` per job, from xargs, as the bench's floor.
    script = "/tmp/cpu-per-job-true.sh"
    with open(script, "w") as f:
        f.write("exit 0\n")
    t0 = os.times()
    subprocess.run(["xargs", "-P", "2", "-n", "1", "sh"], input=(script + "\n") * jobs, text=True, check=True)
    t1 = os.times()
    sh_ms = ((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)) * 1000.0 / jobs
    if first is None or last is None:
        print("no samples", "".join(log))
        sys.exit(1)
    ms = lambda ticks: ticks * 1000.0 / HZ / jobs
    wall = last["t"] - first["t"]
    total = last["stat"][0] - first["stat"][0]
    idle = last["stat"][1] - first["stat"][1]
    srv_self = last["server"][0] - first["server"][0]
    srv_kids = last["server"][1] - first["server"][1]
    bench_self = last["bench"][0] - first["bench"][0]
    by_name = collections.Counter()
    seen = 0
    for tid, (comm, ticks) in peak.items():
        before = first["threads"].get(tid, (comm, 0))[1]
        by_name[comm] += ticks - before
        seen += ticks - before
    print(f"== {label}: {jobs} jobs, window {wall:.2f} s ({jobs / wall:.0f} jobs/s in the window), load {os.getloadavg()[0]:.2f}")
    print(f"  cores busy {100 * (total - idle) / total:.0f} % ({ms(total - idle):.2f} ms per job of {ms(total):.2f} available), idle {ms(idle):.2f} ms per job")
    print(f"  {'server, all threads':40} {ms(srv_self):6.2f} ms/job")
    for comm, ticks in by_name.most_common():
        print(f"    {comm:38} {ms(ticks):6.2f}")
    if srv_self - seen:
        print(f"    {'(threads that ended)':38} {ms(srv_self - seen):6.2f}")
    print(f"  {'server children (shims + sh)':40} {ms(srv_kids):6.2f} ms/job")
    print(f"    {'of which sh (xargs + sh true.sh alone)':38} {sh_ms:6.2f}")
    print(f"  {'bench client':40} {ms(bench_self):6.2f} ms/job")
    others = (total - idle) - srv_self - srv_kids - bench_self
    print(f"  {'everything else on the machine':40} {ms(others):6.2f} ms/job")
    print("".join(l for l in out.splitlines(keepends=True) if "throughput" in l.lower())[:2000])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
