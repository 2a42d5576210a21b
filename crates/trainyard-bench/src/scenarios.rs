//! The scenarios: each measures trainyard and, where it makes sense, the peers in the same run.

use crate::peers::{self, Pueue};
use crate::server::{rss_mb, Server};
use crate::stats::{Row, Samples};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trainyard_api::training::JobConfig;
use trainyard_api::JobStatus;
use trainyard_store::{NewJob, NewVersion};

/// Writes its start time (ns since the epoch) to the file given as `--out=`.
pub const START_SH: &str =
    "for a in \"$@\"; do case \"$a\" in --out=*) out=\"${a#--out=}\";; esac; done\n\
date +%s%N > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n";
/// Writes its pid to `--out=` and sleeps.
pub const SLEEP_SH: &str =
    "for a in \"$@\"; do case \"$a\" in --out=*) out=\"${a#--out=}\";; esac; done\n\
echo $$ > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\nexec sleep 300\n";

pub(crate) fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub(crate) async fn wait_file(path: &Path, within: Duration) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            if !t.trim().is_empty() {
                return Ok(t);
            }
        }
        if Instant::now() > deadline {
            bail!("{} never appeared", path.display());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_gone(pid: i32, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    while alive(pid) {
        if Instant::now() > deadline {
            bail!("pid {pid} still alive");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

fn scripts(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let start = dir.join("start.sh");
    let sleep = dir.join("sleep.sh");
    std::fs::write(&start, START_SH)?;
    std::fs::write(&sleep, SLEEP_SH)?;
    Ok((start, sleep))
}

/// Peers in use for this run.
pub struct Peers {
    pub pueue: Option<Pueue>,
    pub slurm: bool,
}

/// Scenario 1: submit -> the job's first instruction runs, one job at a time.
pub async fn start_latency(
    srv: &Server,
    peers: &Peers,
    work: &Path,
    n: usize,
    slurm_n: usize,
) -> Result<Row> {
    let (start_sh, _) = scripts(&srv.storage().join("app"))?;
    let marks = work.join("start-marks");
    crate::server::shared_dir(&marks)?;
    let mut ours = Samples::default();
    for i in 0..n {
        let out = marks.join(format!("ty-{i}"));
        let t0 = now_ns();
        srv.create(
            &format!("start-{i}"),
            "app",
            "start.sh",
            &[("out", out.display().to_string())],
        )
        .await?;
        let t1: u128 = wait_file(&out, Duration::from_secs(30))
            .await?
            .trim()
            .parse()?;
        ours.push(Duration::from_nanos(t1.saturating_sub(t0) as u64));
    }
    let mut row = Row {
        name: "start: submit -> job running".into(),
        unit: "ms",
        ours,
        peers: vec![],
        higher_is_better: false,
    };
    if let Some(p) = &peers.pueue {
        let mut s = Samples::default();
        for i in 0..n {
            let out = marks.join(format!("pueue-{i}"));
            let t0 = now_ns();
            p.add(&format!(
                "sh {} --out={}",
                start_sh.display(),
                out.display()
            ))?;
            let t1: u128 = wait_file(&out, Duration::from_secs(30))
                .await?
                .trim()
                .parse()?;
            s.push(Duration::from_nanos(t1.saturating_sub(t0) as u64));
        }
        p.clean()?;
        row.peers.push(("pueue", s));
    }
    if peers.slurm {
        let mut s = Samples::default();
        for i in 0..slurm_n {
            let out = marks.join(format!("slurm-{i}"));
            let t0 = now_ns();
            peers::sbatch_wrap(
                &format!("sh {} --out={}", start_sh.display(), out.display()),
                "ty-bench-start",
            )?;
            let t1: u128 = wait_file(&out, Duration::from_secs(120))
                .await?
                .trim()
                .parse()?;
            s.push(Duration::from_nanos(t1.saturating_sub(t0) as u64));
        }
        row.peers.push(("slurm", s));
    }
    Ok(row)
}

/// The machine's limit for `n` trivial jobs: the same `true.sh` started straight from
/// `xargs -P<parallel>` (one `sh` per job, no service around it), in jobs/s.
fn xargs_floor(script: &Path, n: usize, parallel: u32) -> Result<Samples> {
    use std::io::Write as _;
    let t0 = Instant::now();
    let mut child = std::process::Command::new("xargs")
        .args(["-P", &parallel.to_string(), "-n", "1", "sh"])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("xargs stdin")?;
    for _ in 0..n {
        writeln!(stdin, "{}", script.display())?;
    }
    drop(stdin);
    if !child.wait()?.success() {
        bail!("xargs floor: a job failed");
    }
    Ok(Samples(vec![n as f64 / t0.elapsed().as_secs_f64()]))
}

/// Scenario 2: `n` trivial jobs submitted as fast as the client can, 8 requests at a time;
/// `floor`: also time the same jobs from `xargs -P<floor>` (the machine's limit). `engine`
/// names the database in the row when it is not the default SQLite.
pub async fn throughput(
    srv: &Server,
    peers: &Peers,
    n: usize,
    slurm_n: usize,
    floor: Option<u32>,
    engine: Option<&str>,
) -> Result<Row> {
    let app = srv.storage().join("true");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("true.sh"), "exit 0\n")?;
    let finished = || async {
        let r = srv.get("/training-jobs?per_page=1&status=10,11").await?;
        anyhow::Ok(r["job_total_count"].as_u64().unwrap_or(0))
    };
    let before = finished().await?;
    let t0 = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let http = srv.http.clone();
        let url = srv.url("/training-jobs");
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"job_name": format!("tp-{i}"), "config": {"worker_server_num": 1,
                "app_url": "/true/", "boot_file_url": "/true/true.sh", "data_url": "/d/", "spec_id": 1, "engine_id": 1}});
            let r = http.post(url).header("X-Auth-Token", crate::server::TOKEN).json(&body).send().await;
            drop(permit);
            r.map(|r| r.status().is_success())
        }));
    }
    for t in tasks {
        if !t.await?? {
            bail!("a create failed");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if finished().await? >= before + n as u64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("throughput run did not finish");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rate = |count: usize, took: Duration| Samples(vec![count as f64 / took.as_secs_f64()]);
    let ours = rate(n, t0.elapsed());
    let mut row = Row {
        name: match engine {
            None => format!(
                "throughput: {n} trivial jobs submitted at once until all done (slurm: {slurm_n})"
            ),
            Some(engine) => format!("throughput on {engine}: {n} trivial jobs (as above)"),
        },
        unit: "jobs/s",
        ours,
        peers: vec![],
        higher_is_better: true,
    };
    if let Some(parallel) = floor {
        row.peers.push((
            "floor (xargs -P<cores>)",
            xargs_floor(&app.join("true.sh"), n, parallel)?,
        ));
    }
    if let Some(p) = &peers.pueue {
        let t0 = Instant::now();
        for _ in 0..n {
            p.add("true")?;
        }
        let deadline = Instant::now() + Duration::from_secs(1200);
        while p.statuses()?.iter().any(|s| s != "Done") {
            if Instant::now() > deadline {
                bail!("pueue throughput run did not finish");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let s = rate(n, t0.elapsed());
        p.clean()?;
        row.peers.push(("pueue", s));
    }
    if peers.slurm {
        let t0 = Instant::now();
        for _ in 0..slurm_n {
            peers::sbatch_wrap("true", "ty-bench-tp")?;
        }
        let deadline = Instant::now() + Duration::from_secs(1800);
        while peers::slurm_active("ty-bench-tp")? > 0 {
            if Instant::now() > deadline {
                bail!("slurm throughput run did not finish");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        row.peers.push(("slurm", rate(slurm_n, t0.elapsed())));
    }
    Ok(row)
}

/// Scenario 3: a running `sleep` job -> stop -> stopped and its process gone.
pub async fn stop_latency(srv: &Server, peers: &Peers, work: &Path, n: usize) -> Result<Row> {
    let (_, sleep_sh) = scripts(&srv.storage().join("app"))?;
    let marks = work.join("stop-marks");
    crate::server::shared_dir(&marks)?;
    let mut ours = Samples::default();
    for i in 0..n {
        let out = marks.join(format!("ty-{i}"));
        let (job, ver) = srv
            .create(
                &format!("stop-{i}"),
                "app",
                "sleep.sh",
                &[("out", out.display().to_string())],
            )
            .await?;
        let pid: i32 = wait_file(&out, Duration::from_secs(30))
            .await?
            .trim()
            .parse()?;
        srv.wait_status(job, ver, &[8], Duration::from_secs(30))
            .await?;
        let t0 = Instant::now();
        srv.post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            serde_json::json!({}),
        )
        .await?;
        srv.wait_status(job, ver, &[12], Duration::from_secs(30))
            .await?;
        wait_gone(pid, Duration::from_secs(30)).await?;
        ours.push(t0.elapsed());
    }
    let mut row = Row {
        name: "stop: running sleep -> stopped, process gone".into(),
        unit: "ms",
        ours,
        peers: vec![],
        higher_is_better: false,
    };
    if let Some(p) = &peers.pueue {
        let mut s = Samples::default();
        for i in 0..n {
            let out = marks.join(format!("pueue-{i}"));
            let id = p.add(&format!(
                "sh {} --out={}",
                sleep_sh.display(),
                out.display()
            ))?;
            let pid: i32 = wait_file(&out, Duration::from_secs(30))
                .await?
                .trim()
                .parse()?;
            let t0 = Instant::now();
            p.client(&["kill", &id.to_string()])?;
            wait_gone(pid, Duration::from_secs(30)).await?;
            s.push(t0.elapsed());
        }
        p.clean()?;
        row.peers.push(("pueue", s));
    }
    if peers.slurm {
        let mut s = Samples::default();
        for i in 0..n {
            let out = marks.join(format!("slurm-{i}"));
            let id = peers::sbatch_wrap(
                &format!("sh {} --out={}", sleep_sh.display(), out.display()),
                "ty-bench-stop",
            )?;
            let pid: i32 = wait_file(&out, Duration::from_secs(120))
                .await?
                .trim()
                .parse()?;
            let t0 = Instant::now();
            peers::scancel(id)?;
            wait_gone(pid, Duration::from_secs(60)).await?;
            s.push(t0.elapsed());
        }
        row.peers.push(("slurm", s));
    }
    Ok(row)
}

/// Adds completed jobs directly to the store at `database_url` (the server must be stopped)
/// up to `total`; run directories go below `data`.
pub async fn seed(database_url: &str, data: &Path, total: usize) -> Result<()> {
    let store = trainyard_store::open(database_url, &Default::default()).await?;
    let have = store.count_jobs(crate::server::PROJECT).await? as usize;
    for i in have..total {
        let job = NewJob {
            project_id: crate::server::PROJECT.into(),
            name: format!("seed-{i:07}"),
            description: format!("seeded job {i}"),
            workspace_id: "0".into(),
            create_time: 1_700_000_000_000 + i as i64,
            quota: None,
        };
        let v = NewVersion {
            description: String::new(),
            pre_version_id: None,
            status: JobStatus::COMPLETED,
            config: JobConfig {
                worker_server_num: Some(1),
                spec_id: Some(1),
                engine_id: Some(1),
                ..Default::default()
            },
            resource_id: format!("job{i:08x}"),
            run_dir_template: data.join("runs/{id}").display().to_string(),
            create_time: 1_700_000_000_000 + i as i64,
            created_by: "token".into(),
            quota: Default::default(),
        };
        store.create_job(&job, Some(&v)).await?;
    }
    if database_url.starts_with("postgres") {
        // A server meets a table grown over time, which autovacuum keeps (its statistics,
        // and the visibility map that lets index-only scans skip the table); one bulk-loaded
        // a moment ago has neither yet, and the bench would measure that instead.
        let out = std::process::Command::new("psql")
            .args([database_url, "-qc", "VACUUM ANALYZE"])
            .output()?;
        if !out.status.success() {
            bail!(
                "psql VACUUM ANALYZE: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// One wrk run, 2 threads and 16 connections: (requests/s, p50 ms, p99 ms).
pub fn wrk(url: &str, seconds: u64) -> Result<(f64, f64, f64)> {
    wrk_with(url, seconds, 16)
}

/// One wrk run over `connections` connections (as many threads, at most 2): with one, each
/// request waits for none other, so its p50 is the request's own latency; with 16 on 2
/// cores it is mostly queueing (about 16 / requests per second).
pub fn wrk_with(url: &str, seconds: u64, connections: u32) -> Result<(f64, f64, f64)> {
    let out = std::process::Command::new("wrk")
        .args([
            &format!("-t{}", connections.min(2)),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("X-Auth-Token: {}", crate::server::TOKEN),
            url,
        ])
        .output()?;
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        bail!("wrk saw errors:\n{text}");
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let pct = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .map(|v| parse_wrk_time(v.trim()))
            .unwrap_or(f64::NAN)
    };
    Ok((rps, pct("50%"), pct("99%")))
}

/// wrk prints `123.45us`, `1.20ms`, `2.00s`: milliseconds.
pub fn parse_wrk_time(v: &str) -> f64 {
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(x) = v.strip_suffix("us") {
        num(x) / 1000.0
    } else if let Some(x) = v.strip_suffix("ms") {
        num(x)
    } else if let Some(x) = v.strip_suffix('m') {
        num(x) * 60_000.0
    } else if let Some(x) = v.strip_suffix('s') {
        num(x) * 1000.0
    } else {
        f64::NAN
    }
}

/// Samples the RSS of `pid` every few ms until stopped; returns the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak.max(rss_mb(pid))
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(f64::NAN)
    }
}

/// Scenario 5: aom-log at the first, middle and last positions of a log of `bytes` bytes.
/// Returns rows and (first-query ms, RSS growth MB).
pub async fn log_paging(srv: &Server, bytes: u64, queries: usize) -> Result<(Vec<Row>, f64, f64)> {
    let app = srv.storage().join("true");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("true.sh"), "echo started\n")?;
    let (job, ver) = srv.create("bigLog", "true", "true.sh", &[]).await?;
    srv.wait_status(job, ver, &[10], Duration::from_secs(30))
        .await?;
    let log = srv.data.join(format!("runs/{ver}/logs/bigLog.0"));
    let lines = {
        use std::io::Write;
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::OpenOptions::new().append(true).open(&log)?,
        );
        let mut written = std::fs::metadata(&log)?.len();
        let mut n: u64 = 2;
        while written < bytes {
            let line = format!("step {n:>10} loss=0.{n:012} lr=0.001 throughput=1234.5 samples/s grad_norm=0.5 epoch=7\n");
            f.write_all(line.as_bytes())?;
            written += line.len() as u64;
            n += 1;
        }
        f.flush()?;
        n
    };
    let base = format!("/training-jobs/{job}/versions/{ver}/aom-log?log_file=bigLog.0&lines=50");
    let rss_before = rss_mb(srv.pid());
    let sampler = RssSampler::start(srv.pid());
    let t0 = Instant::now();
    srv.get(&format!("{base}&base_line=0&order=desc")).await?;
    let first = t0.elapsed().as_secs_f64() * 1000.0;
    let mid = lines / 2;
    let mut rows = Vec::new();
    for (name, q) in [
        ("first", format!("{base}&base_line=0&order=desc")),
        ("middle", format!("{base}&base_line={mid}&order=asc")),
        ("last", base.clone()),
    ] {
        let mut s = Samples::default();
        for _ in 0..queries {
            let t = Instant::now();
            let r = srv.get(&q).await?;
            s.push(t.elapsed());
            if r["lines"].as_i64() != Some(50) {
                bail!("aom-log {name} returned {}", r["lines"]);
            }
        }
        rows.push(Row {
            name: format!("aom-log {name} 50 lines, {} MB log", bytes >> 20),
            unit: "ms",
            ours: s,
            peers: vec![],
            higher_is_better: false,
        });
    }
    let peak = sampler.finish();
    Ok((rows, first, peak - rss_before))
}
