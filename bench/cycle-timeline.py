#!/usr/bin/env python3
"""Where one local run's cycle goes: the timeline of each run of a throughput-like burst.

Starts `trainyard serve` (the benchmark's configuration: 2 cores, `sh` engine, SQLite) with
the run path's debug traces on, submits N trivial jobs 8 at a time, waits for all to end,
then reads the server's log and each run's `shim.log` and prints, per step of a run's cycle,
the median time since the step before (and since the slot was granted):

  slot granted -> run spec ready -> run folder ready -> shim started (handed the run) -> run claimed ->
  worker started -> worker exited -> run finished (exit.json written) -> run's end seen ->
  resources given back -> end recorded

and the gap from a run's resources given back to the next slot granted.

    python3 bench/cycle-timeline.py <trainyard binary> [jobs] [--keep DIR] [--one-at-a-time]

`--one-at-a-time`: each job is submitted once the one before has ended (the start
scenario's pattern) instead of 8 creates in flight.
"""
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOKEN = "bench-token"
PROJECT = "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    req = urllib.request.Request(
        f"{base}/v1/{PROJECT}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Auth-Token": TOKEN, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z\s+\w+\s+(.*)$")


def stamp(text):
    # RFC 3339 with microseconds (tracing-subscriber's default timer).
    return datetime.datetime.fromisoformat(text[:26]).timestamp()


def events(path):
    out = []
    for line in open(path, errors="replace"):
        m = STAMP.match(line.strip())
        if m:
            out.append((stamp(m.group(1)), m.group(2)))
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = os.path.abspath(args[0])
    n = int(args[1]) if len(args) > 1 else 200
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    one_at_a_time = "--one-at-a-time" in sys.argv
    work = keep or tempfile.mkdtemp(prefix="cycle-timeline-")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o711)  # the runs of a project user pass through it
    data = os.path.join(work, "data")
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(
            f'data_dir = "{data}"\ndatabase_url = "sqlite://{data}/trainyard.db"\n'
            f'[[projects]]\nid = "{PROJECT}"\ntokens = ["{TOKEN}"]\nquotas = 1000000\n'
            "job_count_limit = 1000000\n\n[executor]\ncores = 2\nmemory_gb = 4\n"
            'stop_grace_seconds = 5\n\n[[engines]]\nid = 1\nname = "Shell"\nversion = "sh"\n'
            'type = 0\ncommand = ["sh"]\n\n[[specs]]\nspec_id = 1\nspec_code = "bench.1u"\n'
            "core = 1\ncpu = 1\nmax_num = 4\n"
        )
    os.chmod(config, 0o600)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["RUST_LOG"] = (
        "warn,trainyard_exec=debug,trainyard_server::service::executor=debug,"
        "trainyard_server::service::lifecycle=info"
    )
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--config", config],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        app = os.path.join(data, "obs", PROJECT, "true")
        os.makedirs(app, exist_ok=True)
        open(os.path.join(app, "true.sh"), "w").write("exit 0\n")
        sem = threading.Semaphore(8)

        def create(i):
            try:
                call(base, "POST", "/training-jobs", {
                    "job_name": f"tp-{i}",
                    "config": {"worker_server_num": 1, "app_url": "/true/",
                               "boot_file_url": "/true/true.sh", "data_url": "/d/",
                               "spec_id": 1, "engine_id": 1}})
            finally:
                sem.release()

        t0 = time.time()
        threads = []
        for i in range(n):
            sem.acquire()
            if one_at_a_time:
                create(i)
                while call(base, "GET", "/training-jobs?per_page=1&status=10,11")[
                        "job_total_count"] <= i:
                    time.sleep(0.002)
                continue
            t = threading.Thread(target=create, args=(i,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        while True:
            done = call(base, "GET", "/training-jobs?per_page=1&status=10,11")["job_total_count"]
            if done >= n:
                break
            time.sleep(0.01)
        took = time.time() - t0
    finally:
        server.terminate()
        server.wait()
    print(f"{n} jobs in {took:.2f} s: {n / took:.1f} jobs/s")

    # Per version: the server's steps, by version id (or run folder) in the log line.
    runs = {}
    by_dir = {}
    for t, text in events(os.path.join(work, "server.log")):
        m = re.search(r"version\.id=(\d+)", text)
        d = re.search(r"run_dir=(\S+)", text)
        for step in ("slot granted", "run spec ready", "run's end seen",
                     "run's host resources given back",
                     "run's end recorded"):
            if step in text and m:
                runs.setdefault(int(m.group(1)), {}).setdefault(step, t)
        for step in ("run folder ready", "shim started"):
            if step in text and d:
                by_dir.setdefault(os.path.realpath(d.group(1)), {}).setdefault(step, t)
    runs_dir = os.path.join(data, "runs")
    for name in os.listdir(runs_dir):
        path = os.path.realpath(os.path.join(runs_dir, name))
        try:
            vid = json.load(open(os.path.join(path, "spec.json")))["workers"][0]["env"]
        except Exception:
            continue
        vid = dict(vid).get("TRAINYARD_VERSION_ID") or dict(vid).get("VERSION_ID")
        if vid is None:
            continue
        steps = runs.setdefault(int(vid), {})
        steps.update(by_dir.get(path, {}))
        log_path = os.path.join(path, "shim.log")
        if os.path.exists(log_path):
            for t, text in events(log_path):
                for step in ("run claimed", "worker started", "worker exited", "run finished"):
                    if step in text:
                        steps.setdefault(step, t)
    order = ["slot granted", "run spec ready", "run folder ready", "shim started", "run claimed",
             "worker started", "worker exited", "run finished", "run's end seen",
             "run's host resources given back", "run's end recorded"]
    # A build without some of these traces: its steps that every run has.
    order = [k for k in order if sum(k in s for s in runs.values()) >= len(runs) * 0.9]
    complete = [s for s in runs.values() if all(k in s for k in order)]
    print(f"{len(complete)} of {len(runs)} runs with every step")
    print(f"| step | median ms since the step before | median ms since {order[0]} |")
    print("|---|---|---|")
    for a, b in zip(order, order[1:]):
        gaps = [1000 * (s[b] - s[a]) for s in complete]
        since = [1000 * (s[b] - s[order[0]]) for s in complete]
        print(f"| {b} | {statistics.median(gaps):.2f} | {statistics.median(since):.2f} |")
    # The shim's share of the start, comparable between builds with and without spares.
    pairs = [("shim started", "worker started"), ("worker exited", "run's end seen")]
    for a, b in pairs:
        gaps = [1000 * (s[b] - s[a]) for s in runs.values() if a in s and b in s]
        if gaps:
            q = statistics.quantiles(gaps, n=10)
            print(f"| {a} -> {b} | median {statistics.median(gaps):.2f}, p90 {q[-1]:.2f} | - |")
    # From a run's resources given back to the next slot granted after it.
    grants = sorted(s["slot granted"] for s in runs.values() if "slot granted" in s)
    gaps = []
    for s in complete if grants else []:
        later = [g for g in grants if g >= s["run's host resources given back"]]
        if later:
            gaps.append(1000 * (later[0] - s["run's host resources given back"]))
    if gaps:
        print(f"| next slot granted (after resources given back) | {statistics.median(gaps):.2f} | - |")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
