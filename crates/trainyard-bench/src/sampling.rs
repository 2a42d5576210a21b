//! What resource sampling costs: N versions run (`sh` + `sleep`) with the default 10 s
//! sampling interval, and again with sampling effectively off (one sample an hour); over
//! equal windows the CPU time of the server process and of all the runs' shims (which do
//! the sampling) is read from `/proc/<pid>/stat`. The cost of sampling is the difference.

use crate::server::Server;
use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// CPU seconds (user + system, all threads) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are f[11] and f[12] after the name.
    let ticks: f64 = f
        .get(11..13)
        .map(|v| v.iter().filter_map(|x| x.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / clock_ticks()
}

/// `/proc` reports CPU times in USER_HZ, which Linux fixes at 100 for user space.
fn clock_ticks() -> f64 {
    100.0
}

fn shim_pids(data: &Path) -> Vec<u32> {
    std::fs::read_dir(data.join("runs"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("shim.json")).ok())
                .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .filter_map(|v| v["pid"].as_u64().map(|p| p as u32))
                .collect()
        })
        .unwrap_or_default()
}

fn sample_lines(data: &Path) -> usize {
    std::fs::read_dir(data.join("runs"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("metrics.jsonl")).ok())
                .map(|t| t.lines().count())
                .sum()
        })
        .unwrap_or(0)
}

/// One mode's measurement: per window, (server % of one core, shims % of one core,
/// samples written).
pub struct Windows {
    /// CPU of the server process per window, % of one core.
    pub server: Vec<f64>,
    /// CPU of all shims together per window, % of one core.
    pub shims: Vec<f64>,
    /// Lines added to the runs' `metrics.jsonl` files per window.
    pub samples: Vec<usize>,
    /// Wall time of one sample of one version, µs, timed directly (the shim's own sampler,
    /// run here over the same live workers): per round of all versions, divided by their
    /// number.
    pub per_sample_us: Vec<f64>,
}

/// Times the shim's sampler (`trainyard_exec::metrics::probe`) over the live workers of
/// every run below `data`: `rounds` rounds, each reading every worker once.
fn time_sampler(data: &Path, rounds: usize) -> Vec<f64> {
    use trainyard_exec::metrics::probe::{Sampler, Source, Target};
    let targets: Vec<Target> = std::fs::read_dir(data.join("runs"))
        .map(|rd| {
            rd.flatten()
                .flat_map(|e| trainyard_exec::run_dir::read_workers(&e.path()))
                .map(|w| Target {
                    index: w.index,
                    source: Source::Processes(vec![w.pid]),
                    gpus: vec![],
                })
                .collect()
        })
        .unwrap_or_default();
    let mut sampler = Sampler::new(false);
    sampler.sample(&targets);
    (0..rounds)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            let s = sampler.sample(&targets);
            let us = t.elapsed().as_secs_f64() * 1e6;
            us / s.map_or(1, |s| s.w.len().max(1)) as f64
        })
        .collect()
}

/// Runs `n` versions with `interval_s` sampling and measures `windows` windows of
/// `window` each.
pub async fn measure(
    bin: &Path,
    dir: &Path,
    n: usize,
    interval_s: f64,
    windows: usize,
    window: Duration,
) -> Result<Windows> {
    let extra = format!("[metrics]\nsample_interval_seconds = {interval_s}\n");
    let srv = Server::start_with(bin, dir, n as u32, &extra).await?;
    let app = srv.storage().join("app");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("sleep.sh"), crate::scenarios::SLEEP_SH)?;
    let marks = dir.join("marks");
    crate::server::shared_dir(&marks)?;
    let mut ids = Vec::new();
    for i in 0..n {
        let out = marks.join(i.to_string()).display().to_string();
        ids.push(
            srv.create(&format!("s-{i}"), "app", "sleep.sh", &[("out", out)])
                .await?,
        );
    }
    for (job, ver) in &ids {
        srv.wait_status(*job, *ver, &[8], Duration::from_secs(120))
            .await?;
    }
    // Let every shim take its first (baseline) sample.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shims = shim_pids(&srv.data);
    let mut out = Windows {
        server: Vec::new(),
        shims: Vec::new(),
        samples: Vec::new(),
        per_sample_us: Vec::new(),
    };
    for _ in 0..windows {
        let t0 = Instant::now();
        let s0 = cpu_seconds(srv.pid());
        let h0: f64 = shims.iter().map(|&p| cpu_seconds(p)).sum();
        let l0 = sample_lines(&srv.data);
        tokio::time::sleep(window).await;
        let secs = t0.elapsed().as_secs_f64();
        let s1 = cpu_seconds(srv.pid());
        let h1: f64 = shims.iter().map(|&p| cpu_seconds(p)).sum();
        out.server.push((s1 - s0) / secs * 100.0);
        out.shims.push((h1 - h0) / secs * 100.0);
        out.samples.push(sample_lines(&srv.data) - l0);
    }
    out.per_sample_us = time_sampler(&srv.data, 20);
    for (job, ver) in &ids {
        srv.post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            serde_json::json!({"grace_period_seconds": 0}),
        )
        .await?;
    }
    for (job, ver) in &ids {
        srv.wait_status(*job, *ver, &[12], Duration::from_secs(60))
            .await?;
    }
    Ok(out)
}

/// Median of `v`.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}
