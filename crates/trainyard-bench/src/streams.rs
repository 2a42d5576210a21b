//! What following logs costs: N clients follow one running job's log (`.../log/stream`).
//! Over equal windows the server's CPU time (`/proc/<pid>/stat`) is read with no follower and
//! with N idle ones (the job prints nothing meanwhile); then the job prints lines, each with
//! the time it was written (`date +%s%N`, taken just before the write), and every follower
//! records how long each line took to reach it.

use crate::sampling::{cpu_seconds, median};
use crate::server::{Server, TOKEN};
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The job: says `ready`, waits for the file `--go`, then prints `--lines` lines 100 ms apart,
/// each with its write time in ns.
const STREAM_SH: &str = "for a in \"$@\"; do case \"$a\" in --go=*) go=\"${a#--go=}\";; --lines=*) n=\"${a#--lines=}\";; esac; done\n\
echo ready\n\
while [ ! -e \"$go\" ]; do sleep 0.2; done\n\
i=0\n\
while [ $i -lt $n ]; do i=$((i+1)); echo \"line $i $(date +%s%N)\"; sleep 0.1; done\n";

/// Sizes of one run of the scenario.
pub struct Sizes {
    /// Followers of the one log.
    pub followers: usize,
    /// CPU windows per mode.
    pub windows: usize,
    /// Length of one window.
    pub window: Duration,
    /// Lines the job prints for the latency part.
    pub lines: usize,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// % of one core the process `pid` used over `window`, once per window.
async fn cpu_windows(pid: u32, windows: usize, window: Duration) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..windows {
        let t0 = Instant::now();
        let c0 = cpu_seconds(pid);
        tokio::time::sleep(window).await;
        let c1 = cpu_seconds(pid);
        out.push((c1 - c0) / t0.elapsed().as_secs_f64() * 100.0);
    }
    out
}

/// Runs the scenario; `extra` is appended to the server's config (the stream cap, which a
/// build older than it does not know). Returns the Markdown section.
pub async fn measure(bin: &Path, dir: &Path, sizes: &Sizes, extra: &str) -> Result<String> {
    let srv = Server::start_with(bin, dir, 2, extra).await?;
    let app = srv.storage().join("streams");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("stream.sh"), STREAM_SH)?;
    let go = dir.join("go");
    let (job, ver) = srv
        .create(
            "streams",
            "streams",
            "stream.sh",
            &[
                ("go", go.display().to_string()),
                ("lines", sizes.lines.to_string()),
            ],
        )
        .await?;
    srv.wait_status(job, ver, &[8], Duration::from_secs(60))
        .await?;
    let url = srv.url(&format!(
        "/training-jobs/{job}/versions/{ver}/log/stream?log_file=streams.0"
    ));

    // The server with the job running and nobody following.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alone = cpu_windows(srv.pid(), sizes.windows, sizes.window).await;

    let ready = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let first_follower = Arc::new(Mutex::new(Vec::<f64>::new()));
    let client = reqwest::Client::builder().build()?;
    let mut tasks = Vec::new();
    for i in 0..sizes.followers {
        let (client, url) = (client.clone(), url.clone());
        let (ready, latencies, first) = (ready.clone(), latencies.clone(), first_follower.clone());
        tasks.push(tokio::spawn(async move {
            let mut resp = client
                .get(&url)
                .header("X-Auth-Token", TOKEN)
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("follower {i}: HTTP {}", resp.status());
            }
            let mut pending = String::new();
            let mut said_ready = false;
            while let Some(chunk) = resp.chunk().await? {
                let at = now_ns();
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    if line == "ready\n" && !said_ready {
                        said_ready = true;
                        ready.fetch_add(1, Ordering::SeqCst);
                    }
                    let Some(ts) = line
                        .strip_prefix("line ")
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|t| t.parse::<u128>().ok())
                    else {
                        continue;
                    };
                    let ms = at.saturating_sub(ts) as f64 / 1e6;
                    latencies.lock().unwrap().push(ms);
                    if i == 0 {
                        first.lock().unwrap().push(ms);
                    }
                }
            }
            Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.load(Ordering::SeqCst) < sizes.followers {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} followers got the log",
                ready.load(Ordering::SeqCst),
                sizes.followers
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = cpu_windows(srv.pid(), sizes.windows, sizes.window).await;

    // The job prints; every follower times every line.
    std::fs::write(&go, "")?;
    srv.wait_status(job, ver, &[10], Duration::from_secs(120))
        .await?;
    let ended = Instant::now();
    for t in tasks {
        t.await??;
    }
    let end_ms = ended.elapsed().as_secs_f64() * 1e3;
    let all = latencies.lock().unwrap().clone();
    let one = first_follower.lock().unwrap().clone();
    let want = sizes.followers * sizes.lines;
    if all.len() != want {
        bail!("{} of {want} lines reached the followers", all.len());
    }
    let pct = |v: &[f64], p: f64| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[((s.len() - 1) as f64 * p).round() as usize]
    };
    let n = sizes.followers;
    let mut out = String::new();
    writeln!(
        out,
        "| | server CPU, % of one core (median of {} windows of {} s) |\n|---|---|\n\
         | job running, no follower | {:.2} |\n| job running, {n} idle followers | {:.2} |\n",
        sizes.windows,
        sizes.window.as_secs_f64(),
        median(&alone),
        median(&idle),
    )?;
    writeln!(
        out,
        "| line written -> received ({} lines x {n} followers) | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|\n\
         | every follower | {:.1} | {:.1} | {:.1} | {:.1} |\n| one follower | {:.1} | {:.1} | {:.1} | {:.1} |\n",
        sizes.lines,
        pct(&all, 0.5),
        pct(&all, 0.9),
        pct(&all, 0.99),
        pct(&all, 1.0),
        pct(&one, 0.5),
        pct(&one, 0.9),
        pct(&one, 0.99),
        pct(&one, 1.0),
    )?;
    writeln!(
        out,
        "After the job ended, all {n} streams had ended {end_ms:.0} ms after the bench saw status 10.\n"
    )?;
    Ok(out)
}
