//! `trainyard-bench`: trainyard side by side with pueue and Slurm, measured in the same run.
//! Run through `bench/run.sh` (which builds in release mode and installs the peers).

mod disk;
mod objects;
mod peers;
mod sampling;
mod sandbox;
mod scenarios;
mod sched;
mod server;
mod stats;
mod streams;
mod webhooks;

use anyhow::{Context, Result};
use clap::Parser;
use scenarios::Peers;
use server::{rss_mb, Server};
use stats::Row;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The API scenario's floor rows: the cheapest authenticated request (answered from memory,
/// no database) and `/health` (no credentials, one database ping).
const FLOOR_AUTHENTICATED: &str = "floor: GET ai-engines (authenticated, no database)";
const FLOOR_HEALTH: &str = "floor: GET /health (no credentials, one database ping)";
/// The API scenario's latency row: list page 1 over one connection (wrk -t1 -c1).
const LIST_ONE_CONNECTION: &str =
    "GET list page 1, sorted by create_time, one connection (wrk -t1 -c1)";

/// trainyard benchmarks.
#[derive(Parser)]
struct Args {
    /// The trainyard binary to measure.
    #[arg(long)]
    trainyard: PathBuf,
    /// Folder holding `pueue` and `pueued`; without it pueue is not measured.
    #[arg(long)]
    pueue_bin: Option<PathBuf>,
    /// Measure Slurm (the dev cluster) when it answers.
    #[arg(long)]
    slurm: bool,
    /// Reduced sizes: seconds, for CI.
    #[arg(long)]
    smoke: bool,
    /// Scenarios to run (comma-separated): start, throughput, stop, sandbox, webhooks, logs,
    /// api, memory, sampling, objects, streams, sched.
    #[arg(
        long,
        default_value = "start,throughput,stop,sandbox,webhooks,logs,api,memory,sampling,objects,streams,sched",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    /// The trainyard binary is a build from before `[logs]` (a baseline to compare with):
    /// the streams scenario then writes no `[logs] max_streams_per_project` into its config.
    #[arg(long)]
    old_server: bool,
    /// The S3 server of the objects scenario (default ~/.cargo/bin/s3s-fs).
    #[arg(long)]
    s3s_fs: Option<PathBuf>,
    /// awscli's `aws`, the objects scenario's peer; without it only trainyard is measured.
    #[arg(long)]
    aws_bin: Option<PathBuf>,
    /// A PostgreSQL database (`postgres://...`, empty or a trainyard one) on which the API and
    /// log-paging scenarios run again, beside SQLite; without it only SQLite is measured.
    #[arg(long)]
    postgres: Option<String>,
    /// Where to write the Markdown results (also printed).
    #[arg(long, default_value = "bench/results.md")]
    out: PathBuf,
    /// Keep the servers' folders here (default: a temporary folder, removed at the end), so a
    /// kept server can be started again by hand from its `config.toml` on its seeded jobs: to
    /// profile it, or to compare two builds on the same data. It must be empty or missing (a
    /// second run would add to the jobs seeded there).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

struct Sizes {
    start_jobs: usize,
    slurm_start_jobs: usize,
    throughput_jobs: usize,
    slurm_throughput_jobs: usize,
    stop_jobs: usize,
    /// Sandbox: starts measured each way.
    sandbox_jobs: usize,
    /// Webhooks: starts measured each way.
    webhook_jobs: usize,
    store_sizes: [usize; 2],
    wrk_seconds: u64,
    log_bytes: u64,
    log_queries: usize,
    running_jobs: usize,
    /// Sampling: running versions, windows per mode, window length, interval (s).
    sampled_jobs: usize,
    sampling_windows: usize,
    sampling_window: Duration,
    sampling_interval: f64,
    /// Object storage: bytes moved each way, in how many files, how many times.
    object_bytes: u64,
    object_files: usize,
    object_reps: usize,
    /// Log following: followers, CPU windows and their length, lines timed.
    streams: streams::Sizes,
}

impl Sizes {
    fn new(smoke: bool) -> Self {
        if smoke {
            Self {
                start_jobs: 5,
                slurm_start_jobs: 3,
                throughput_jobs: 20,
                slurm_throughput_jobs: 10,
                stop_jobs: 3,
                sandbox_jobs: 3,
                webhook_jobs: 3,
                store_sizes: [200, 1000],
                wrk_seconds: 1,
                log_bytes: 8 << 20,
                log_queries: 5,
                running_jobs: 5,
                sampled_jobs: 5,
                sampling_windows: 2,
                sampling_window: Duration::from_secs(2),
                sampling_interval: 1.0,
                object_bytes: 32 << 20,
                object_files: 4,
                object_reps: 1,
                streams: streams::Sizes {
                    followers: 50,
                    windows: 1,
                    window: Duration::from_secs(1),
                    lines: 5,
                },
            }
        } else {
            Self {
                start_jobs: 200,
                // Slurm schedules a job every ~1-3 s here: fewer samples keep the run short.
                slurm_start_jobs: 30,
                throughput_jobs: 1000,
                slurm_throughput_jobs: 200,
                stop_jobs: 50,
                sandbox_jobs: 30,
                webhook_jobs: 50,
                store_sizes: [10_000, 100_000],
                wrk_seconds: 10,
                log_bytes: 1 << 30,
                log_queries: 50,
                running_jobs: 200,
                sampled_jobs: 100,
                sampling_windows: 5,
                sampling_window: Duration::from_secs(30),
                sampling_interval: 10.0,
                object_bytes: 1 << 30,
                object_files: 4,
                object_reps: 3,
                streams: streams::Sizes {
                    followers: 500,
                    windows: 3,
                    window: Duration::from_secs(10),
                    lines: 50,
                },
            }
        }
    }
}

/// One wrk run of the API scenario: engine, jobs stored, endpoint, (requests/s, p50 ms,
/// p99 ms).
type Measured<'a> = (&'a str, usize, &'a str, (f64, f64, f64));

fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let want = |name: &str| args.scenarios.iter().any(|s| s == name);
    let sizes = Sizes::new(args.smoke);
    let temp = tempfile::tempdir()?;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            if std::fs::read_dir(dir)?.next().is_some() {
                anyhow::bail!("--work-dir {} is not empty", dir.display());
            }
            std::path::absolute(dir)?
        }
        None => temp.path().to_owned(),
    };
    // The server (as root) runs jobs as other users, who must pass through to their runs.
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    let parallel = cores();
    let inode_us = disk::inode_cost_us(&work, 200)?;
    let mut report = String::new();
    writeln!(report, "# trainyard benchmarks\n")?;
    writeln!(
        report,
        "Machine: {} cores, {} MB memory. Mode: {}. Peers: {}{}.\n",
        parallel,
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| t
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok()))
            .map_or(0, |kb| kb / 1024),
        if args.smoke {
            "smoke (reduced sizes)"
        } else {
            "full"
        },
        if args.pueue_bin.is_some() {
            "pueue"
        } else {
            "no pueue"
        },
        if args.slurm && peers::slurm_available() {
            ", slurm"
        } else {
            ", no slurm"
        },
    )?;
    writeln!(
        report,
        "Creating a file or folder on the disk of the run's folder took {inode_us:.0} µs at the start (median of 200 folders with a file each; each job creates about ten, and on ext4 without a journal this grows for minutes after large deletions: compare runs at similar values).\n"
    )?;

    let peers = Peers {
        pueue: match &args.pueue_bin {
            Some(dir) => Some(peers::Pueue::start(dir, work.as_path(), parallel).context("pueue")?),
            None => None,
        },
        slurm: args.slurm && peers::slurm_available(),
    };

    // Scenarios 1-3 on a server whose capacity is the host's cores.
    let mut rows: Vec<Row> = Vec::new();
    let mut srv = Server::start(&args.trainyard, &work.join("s1"), parallel).await?;
    let idle_rss = rss_mb(srv.pid());
    if want("start") {
        eprintln!("start latency...");
        rows.push(
            scenarios::start_latency(
                &srv,
                &peers,
                work.as_path(),
                sizes.start_jobs,
                sizes.slurm_start_jobs,
            )
            .await?,
        );
    }
    if want("throughput") {
        eprintln!("throughput...");
        rows.push(
            scenarios::throughput(
                &srv,
                &peers,
                sizes.throughput_jobs,
                sizes.slurm_throughput_jobs,
                Some(parallel),
                None,
            )
            .await?,
        );
        if let Some(url) = &args.postgres {
            eprintln!("throughput on PostgreSQL...");
            let dir = work.join("s1-throughput-PostgreSQL");
            let mut pg = Server::start_on(&args.trainyard, &dir, parallel, "", Some(url)).await?;
            let none = Peers {
                pueue: None,
                slurm: false,
            };
            let row = scenarios::throughput(
                &pg,
                &none,
                sizes.throughput_jobs,
                0,
                None,
                Some("PostgreSQL"),
            )
            .await;
            pg.stop();
            rows.push(row?);
        }
    }
    if want("stop") {
        eprintln!("stop latency...");
        rows.push(scenarios::stop_latency(&srv, &peers, work.as_path(), sizes.stop_jobs).await?);
    }
    if want("sandbox") {
        eprintln!("sandbox cost at start...");
        rows.extend(sandbox::rows(&args.trainyard, work.as_path(), sizes.sandbox_jobs).await?);
    }
    if want("webhooks") {
        eprintln!("start with a dead webhook...");
        rows.push(webhooks::row(&args.trainyard, work.as_path(), sizes.webhook_jobs).await?);
    }
    // Scenario 5: log paging (and again on PostgreSQL, whose only part in it is finding the
    // version).
    let mut log_note = String::new();
    let mut pg_logs = String::new();
    if want("logs") {
        eprintln!("log paging...");
        let (log_rows, first_query_ms, rss_growth) =
            scenarios::log_paging(&srv, sizes.log_bytes, sizes.log_queries).await?;
        log_note = format!(
            "aom-log: the first query on the {} MB log (builds the line index) took {first_query_ms:.0} ms; \
             server RSS grew by {rss_growth:.1} MB during all log queries.\n",
            sizes.log_bytes >> 20
        );
        if let Some(url) = &args.postgres {
            eprintln!("log paging on PostgreSQL...");
            let dir = work.join("s1-PostgreSQL");
            let mut pg = Server::start_on(&args.trainyard, &dir, parallel, "", Some(url)).await?;
            let (pg_rows, pg_first_ms, _) =
                scenarios::log_paging(&pg, sizes.log_bytes, sizes.log_queries).await?;
            pg.stop();
            pg_logs = String::from(
                "| query | SQLite p50 ms | PostgreSQL p50 ms | PostgreSQL p99 ms |\n|---|---|---|---|\n",
            );
            for (sq, pq) in log_rows.iter().zip(&pg_rows) {
                writeln!(
                    pg_logs,
                    "| {} | {:.2} | {:.2} | {:.2} |",
                    sq.name,
                    sq.ours.p50(),
                    pq.ours.p50(),
                    pq.ours.pct(99.0)
                )?;
            }
            writeln!(
                pg_logs,
                "\nThe first query (building the line index) took {first_query_ms:.0} ms on SQLite and {pg_first_ms:.0} ms on PostgreSQL."
            )?;
        }
        rows.extend(log_rows);
    }
    // Scenario 11: one scheduling decision with a long queue across many projects.
    if want("sched") {
        eprintln!("scheduling decisions...");
        let (queued, decisions) = if args.smoke {
            (10_000, 1_000)
        } else {
            (100_000, 10_000)
        };
        rows.push(sched::decisions(queued, 50, decisions));
    }

    srv.stop();
    drop(srv);
    if !rows.is_empty() {
        writeln!(
            report,
            "## Latency and throughput\n\n{}\n{log_note}",
            stats::table(&rows)
        )?;
    }

    if !pg_logs.is_empty() {
        writeln!(
            report,
            "## Log paging on PostgreSQL beside SQLite (same run, same server build)\n\n{pg_logs}"
        )?;
    }

    // Scenario 4 and 6: API under load with many stored jobs, and memory.
    let mut memory = vec![("idle, empty store".to_owned(), idle_rss)];
    if want("api") {
        let mut engines = vec![("SQLite", None)];
        if let Some(url) = &args.postgres {
            engines.push(("PostgreSQL", Some(url.as_str())));
        }
        let mut measured: Vec<Measured> = Vec::new();
        for (engine, url) in &engines {
            eprintln!("API under load on {engine}...");
            let dir = work.join(format!("s2-{engine}"));
            let mut srv = Server::start_on(&args.trainyard, &dir, parallel, "", *url).await?;
            let app = srv.storage().join("true");
            std::fs::create_dir_all(&app)?;
            std::fs::write(app.join("true.sh"), "exit 0\n")?;
            let (job, ver) = srv.create("probe", "true", "true.sh", &[]).await?;
            srv.wait_status(job, ver, &[10], Duration::from_secs(30))
                .await?;
            for total in sizes.store_sizes {
                srv.stop();
                scenarios::seed(&srv.database_url, &srv.data, total).await?;
                srv.restart().await?;
                let deep = total / 10 / 2;
                for (name, path) in [
                    (
                        "GET version details",
                        format!("/training-jobs/{job}/versions/{ver}"),
                    ),
                    (
                        "GET list page 1, sorted by create_time",
                        "/training-jobs?per_page=10&page=1&sortBy=create_time&order=desc"
                            .to_owned(),
                    ),
                    (
                        "GET list deep page, sorted by job_name",
                        format!("/training-jobs?per_page=10&page={deep}&sortBy=job_name&order=asc"),
                    ),
                ] {
                    let got = scenarios::wrk(&srv.url(&path), sizes.wrk_seconds)?;
                    measured.push((engine, total, name, got));
                }
                // The same first page one request at a time: its p50 is a request's latency,
                // where the rows above, 16 at once on 2 cores, mostly measure queueing.
                let got = scenarios::wrk_with(
                    &srv.url("/training-jobs?per_page=10&page=1&sortBy=create_time&order=desc"),
                    sizes.wrk_seconds,
                    1,
                )?;
                measured.push((engine, total, LIST_ONE_CONNECTION, got));
                // The floor: what the HTTP stack serves on this machine, with wrk beside it.
                if Some(&total) == sizes.store_sizes.last() {
                    for (name, url) in [
                        (FLOOR_AUTHENTICATED, srv.url("/job/ai-engines")),
                        (FLOOR_HEALTH, format!("{}/health", srv.base)),
                    ] {
                        let got = scenarios::wrk(&url, sizes.wrk_seconds)?;
                        measured.push((engine, total, name, got));
                    }
                }
                if url.is_none() {
                    memory.push((
                        format!("{total} jobs stored, after the load runs"),
                        rss_mb(srv.pid()),
                    ));
                }
            }
            srv.stop();
        }
        let mut api = String::from(
            "| jobs stored | endpoint | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|\n",
        );
        for (engine, total, name, (rps, p50, p99)) in &measured {
            if *engine == "SQLite" {
                writeln!(api, "| {total} | {name} | {rps:.0} | {p50:.2} | {p99:.2} |")?;
            }
        }
        writeln!(
            report,
            "## API under load (wrk, 2 threads, 16 connections, {} s each)\n\n{api}\n\
             wrk runs on this machine beside the server: on {parallel} cores its own threads \
             take about one of them. The last two rows are the floor: an authenticated request \
             answered from memory, and `/health` (no credentials, one database ping).\n",
            sizes.wrk_seconds
        )?;
        if args.postgres.is_some() {
            let mut both = String::from(
                "| jobs stored | endpoint | SQLite req/s | SQLite p50 ms | PostgreSQL req/s | PostgreSQL p50 ms | PostgreSQL p99 ms | PostgreSQL / SQLite req/s |\n|---|---|---|---|---|---|---|---|\n",
            );
            for (engine, total, name, (pg_rps, pg_p50, pg_p99)) in &measured {
                if *engine != "PostgreSQL" {
                    continue;
                }
                let Some((_, _, _, (sq_rps, sq_p50, _))) = measured
                    .iter()
                    .find(|m| m.0 == "SQLite" && m.1 == *total && m.2 == *name)
                else {
                    continue;
                };
                writeln!(
                    both,
                    "| {total} | {name} | {sq_rps:.0} | {sq_p50:.2} | {pg_rps:.0} | {pg_p50:.2} | {pg_p99:.2} | {:.2} |",
                    pg_rps / sq_rps
                )?;
            }
            writeln!(
                report,
                "## API under load on PostgreSQL beside SQLite (same run, same server build, PostgreSQL 15 on this host over loopback)\n\n{both}"
            )?;
        }
    }

    // Scenario 6: memory with many jobs running.
    let mut shim_note = String::new();
    if want("memory") {
        eprintln!("memory with running jobs...");
        let n = sizes.running_jobs;
        let srv = Server::start(&args.trainyard, &work.join("s3"), n as u32).await?;
        let marks = work.join("run-marks");
        crate::server::shared_dir(&marks)?;
        let app = srv.storage().join("app");
        std::fs::create_dir_all(&app)?;
        std::fs::write(app.join("sleep.sh"), scenarios::SLEEP_SH)?;
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(
                srv.create(
                    &format!("run-{i}"),
                    "app",
                    "sleep.sh",
                    &[("out", marks.join(i.to_string()).display().to_string())],
                )
                .await?,
            );
        }
        for (job, ver) in &ids {
            srv.wait_status(*job, *ver, &[8], Duration::from_secs(120))
                .await?;
        }
        memory.push((format!("{n} jobs running"), rss_mb(srv.pid())));
        let shims: Vec<f64> = std::fs::read_dir(srv.data.join("runs"))?
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("shim.json")).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter_map(|v| v["pid"].as_u64())
            .map(|pid| rss_mb(pid as u32))
            .filter(|x| !x.is_nan())
            .collect();
        let shim_avg = shims.iter().sum::<f64>() / shims.len().max(1) as f64;
        for (job, ver) in &ids {
            srv.post(
                &format!("/training-jobs/{job}/versions/{ver}/stop"),
                serde_json::json!({}),
            )
            .await?;
        }
        for (job, ver) in &ids {
            srv.wait_status(*job, *ver, &[12], Duration::from_secs(60))
                .await?;
        }
        drop(srv);
        shim_note = format!(
        "Each running job also has one `trainyard shim` process: {shim_avg:.1} MB RSS on average ({} measured).\n",
        shims.len()
    );
    }

    // Scenario 7: what sampling the runs' resource usage costs.
    let mut sampling_note = String::new();
    if want("sampling") {
        eprintln!("sampling cost...");
        let n = sizes.sampled_jobs;
        let (w, k) = (sizes.sampling_window, sizes.sampling_windows);
        let interval = sizes.sampling_interval;
        let on = sampling::measure(&args.trainyard, &work.join("s4"), n, interval, k, w).await?;
        let off = sampling::measure(&args.trainyard, &work.join("s5"), n, 3600.0, k, w).await?;
        let med = sampling::median;
        let samples: Vec<f64> = on.samples.iter().map(|&s| s as f64).collect();
        let measured = med(&on.shims) - med(&off.shims);
        let per_sample_us = med(&on.per_sample_us);
        // n versions, one sample each per interval.
        let timed = per_sample_us * n as f64 / interval / 1e6 * 100.0;
        sampling_note = format!(
            "## Resource sampling ({n} running versions, one sample every {interval} s)\n\n\
             Median of {k} windows of {} s; % of one core from the CPU time in /proc/<pid>/stat \
             (10 ms ticks, so small values read as 0).\n\n\
             | | server process | all {n} shims | samples written per window |\n|---|---|---|---|\n\
             | sampling every {interval} s | {:.3} % | {:.3} % | {:.0} |\n\
             | sampling off (every 3600 s) | {:.3} % | {:.3} % | {:.0} |\n\n\
             One sample of one version (its `sh` + `sleep` tree, network and counters), timed \
             directly with the shim's sampler over the same {n} live workers: median {per_sample_us:.0} µs \
             (20 rounds, wall time). At one sample per version every {interval} s that is \
             {timed:.3} % of one core for all {n} versions; the difference of the medians above \
             is {measured:.3} %. The server itself does no sampling: it reads a version's \
             samples file only when the version is asked for.\n",
            w.as_secs(),
            med(&on.server),
            med(&on.shims),
            med(&samples),
            med(&off.server),
            med(&off.shims),
            off.samples.iter().sum::<usize>() as f64 / k as f64,
        );
    }

    // Scenario 8: moving a job's data and output to and from an S3 server.
    let mut objects_note = String::new();
    if want("objects") {
        eprintln!("object storage...");
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let s3s_fs = args
            .s3s_fs
            .clone()
            .unwrap_or_else(|| home.join(".cargo/bin/s3s-fs"));
        objects_note = objects::measure(
            &s3s_fs,
            args.aws_bin.as_deref(),
            &work.join("objects"),
            sizes.object_bytes,
            sizes.object_files,
            sizes.object_reps,
        )
        .await?;
    }

    // Scenario 9: following one log with many clients.
    let mut streams_note = String::new();
    if want("streams") {
        eprintln!("log streams...");
        let s = &sizes.streams;
        // Room for every follower (the default cap is 64 per project).
        let extra = if args.old_server {
            String::new()
        } else {
            format!("[logs]\nmax_streams_per_project = {}\n", s.followers + 10)
        };
        let table = streams::measure(&args.trainyard, &work.join("streams"), s, &extra).await?;
        streams_note = format!(
            "## Log streams ({} followers of one running job's log)\n\n{table}",
            s.followers
        );
    }

    let mut mem = String::from("| server state | trainyard RSS MB | peer |\n|---|---|---|\n");
    let pueue_idle = peers.pueue.as_ref().map(|p| rss_mb(p.daemon_pid));
    for (i, (state, mb)) in memory.iter().enumerate() {
        let peer = match (i, pueue_idle) {
            (0, Some(p)) => format!("pueued {p:.1} MB ({:.1}x)", p / mb),
            _ => "-".into(),
        };
        writeln!(mem, "| {state} | {mb:.1} | {peer} |")?;
    }
    writeln!(report, "## Memory\n\n{mem}\n{shim_note}")?;
    if !sampling_note.is_empty() {
        writeln!(report, "{sampling_note}")?;
    }
    if !objects_note.is_empty() {
        writeln!(report, "{objects_note}")?;
    }
    if !streams_note.is_empty() {
        writeln!(report, "{streams_note}")?;
    }
    writeln!(
        report,
        "Reproduce: `bash bench/run.sh` (full) or `bash bench/run.sh --smoke`."
    )?;

    println!("{report}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &report)?;
    eprintln!("results written to {}", args.out.display());
    drop(peers);
    Ok(())
}
