//! Resource usage of a run's workers: what the shim samples ([`probe`]), the file it keeps
//! (`metrics.jsonl`), and how the server turns that file into bounded series ([`series`]).
//!
//! The shim samples its own workers, so sampling goes on while the server is down or
//! restarting, works the same on Slurm nodes (each task's shim writes its own file) and costs
//! the server nothing between requests. The file is the store: it lives in the run directory
//! next to `exit.json`, survives restarts, and is kept bounded by the shim itself (when it
//! holds [`MAX_LINES`] samples, adjacent pairs are merged into one, halving the resolution).
//!
//! One line per sampling tick, written by one `write` of an `O_APPEND` file:
//!
//! ```json
//! {"t":1700000010000,"d":10000,"w":[{"i":0,"cpu":99.5,"mem":210000000,"rd":0,"wr":4096,
//!  "rx":12.5,"tx":40,"ns":4026531840}]}
//! ```

pub mod probe;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Name of the samples file in a run directory (a Slurm run has one per `task-<i>/`).
pub const FILE: &str = "metrics.jsonl";

/// Most samples a file holds: at the default 10 s interval, 5.7 hours at full resolution;
/// longer runs are merged pairwise, so the file never exceeds about 2048 lines.
pub const MAX_LINES: usize = 2048;

/// Most points a served series has; longer runs get a longer `interval` (doubled as needed).
pub const MAX_POINTS: usize = 720;

/// One sampling tick: the mean usage of each running worker over `[t - d, t]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// End of the sampled span, milliseconds since the Unix epoch.
    pub t: i64,
    /// Length of the span in milliseconds.
    pub d: i64,
    /// One entry per worker that ran during the span.
    pub w: Vec<WorkerSample>,
}

/// Usage of one worker over a sample's span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSample {
    /// Index of the worker in the run (its `RANK`).
    pub i: usize,
    /// CPU use in percent of one core (100 = one core busy), as `top` shows it.
    pub cpu: f64,
    /// Resident memory in bytes (sum over the worker's processes, or its cgroup's usage).
    pub mem: f64,
    /// Bytes read from storage per second.
    pub rd: f64,
    /// Bytes written to storage per second.
    pub wr: f64,
    /// Bytes received per second by the worker's network namespace (all interfaces but `lo`).
    pub rx: f64,
    /// Bytes sent per second by the worker's network namespace.
    pub tx: f64,
    /// Inode of that network namespace: workers sharing one (all local workers of a host)
    /// are counted once in a run's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<u64>,
    /// Mean utilization (percent) of the GPUs handed to the worker; absent without GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<f64>,
    /// Memory used on those GPUs, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmem: Option<f64>,
    /// Total memory of those GPUs, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtot: Option<f64>,
}

/// Merges two adjacent samples (`a` before `b`) into one covering both spans: every value is
/// the mean weighted by span, a worker missing from one of them counting as idle there.
pub fn merge(a: &Sample, b: &Sample) -> Sample {
    let total = (a.d + b.d).max(1) as f64;
    let (wa, wb) = (a.d as f64 / total, b.d as f64 / total);
    let mut indices: Vec<usize> = a.w.iter().chain(&b.w).map(|w| w.i).collect();
    indices.sort_unstable();
    indices.dedup();
    let w = indices
        .into_iter()
        .map(|i| {
            let x = a.w.iter().find(|w| w.i == i);
            let y = b.w.iter().find(|w| w.i == i);
            let mix =
                |f: fn(&WorkerSample) -> f64| round2(x.map_or(0.0, f) * wa + y.map_or(0.0, f) * wb);
            let mix_opt = |f: fn(&WorkerSample) -> Option<f64>| {
                let (p, q) = (x.and_then(f), y.and_then(f));
                match (p, q) {
                    (None, None) => None,
                    (Some(p), None) => Some(p),
                    (None, Some(q)) => Some(q),
                    (Some(p), Some(q)) => Some(round2(p * wa + q * wb)),
                }
            };
            WorkerSample {
                i,
                cpu: mix(|w| w.cpu),
                mem: mix(|w| w.mem),
                rd: mix(|w| w.rd),
                wr: mix(|w| w.wr),
                rx: mix(|w| w.rx),
                tx: mix(|w| w.tx),
                ns: y.and_then(|w| w.ns).or(x.and_then(|w| w.ns)),
                gpu: mix_opt(|w| w.gpu),
                gmem: mix_opt(|w| w.gmem),
                gtot: mix_opt(|w| w.gtot),
            }
        })
        .collect();
    Sample {
        t: b.t,
        d: a.d + b.d,
        w,
    }
}

/// Halves `samples` by merging adjacent pairs (an odd last one is kept as it is).
pub fn halve(samples: &[Sample]) -> Vec<Sample> {
    samples
        .chunks(2)
        .map(|c| match c {
            [a, b] => merge(a, b),
            [a] => a.clone(),
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// Rounds to two decimals: the file stores what the API shows, not float noise.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Parses the lines of a samples file; a torn or unreadable line (a shim killed mid-write,
/// a full disk) is skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every sample of the run in `run_dir`, oldest first: the local layout (`metrics.jsonl` of
/// the run's shim) and the Slurm layout (one `task-<i>/metrics.jsonl` per task, whose single
/// worker is worker `i` of the run), merged by time.
pub fn read_run(run_dir: &Path) -> Vec<Sample> {
    let mut samples = read_file(&run_dir.join(FILE));
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(index) = name
                .to_str()
                .and_then(|n| n.strip_prefix("task-"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            for mut s in read_file(&e.path().join(FILE)) {
                for w in &mut s.w {
                    w.i = index;
                }
                samples.push(s);
            }
        }
    }
    samples.sort_by_key(|s| s.t);
    samples
}

fn read_file(path: &PathBuf) -> Vec<Sample> {
    std::fs::read_to_string(path)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// One point of a served series: means over the point's span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// CPU, percent of one core (summed over the selected workers).
    pub cpu: f64,
    /// Resident memory, bytes.
    pub mem: f64,
    /// Storage reads, bytes/s.
    pub rd: f64,
    /// Storage writes, bytes/s.
    pub wr: f64,
    /// Network receive, bytes/s (each network namespace counted once).
    pub rx: f64,
    /// Network send, bytes/s.
    pub tx: f64,
    /// GPU utilization, percent (mean over the GPUs); `None` where no GPU was sampled.
    pub gpu: Option<f64>,
    /// GPU memory used, bytes.
    pub gmem: Option<f64>,
    /// GPU memory total, bytes.
    pub gtot: Option<f64>,
}

/// Series ready to serve: one point per `interval_minutes`, at most [`MAX_POINTS`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Minutes per point (1, 2, 4, ...): the contract's `interval`.
    pub interval_minutes: u32,
    /// Points, oldest first; a span without samples is a point of zeros.
    pub points: Vec<Point>,
    /// True when some sample had GPU data; otherwise the GPU series are served empty.
    pub has_gpu: bool,
}

/// The usage of `worker` (or of the whole run: `None`) in buckets of whole minutes, doubled
/// until there are at most `max_points`. Each sample falls in the bucket of its midpoint; a
/// bucket's value is the mean of its samples weighted by their spans, so a run shorter than
/// a minute still shows one point with its mean usage.
pub fn series(samples: &[Sample], worker: Option<usize>, max_points: usize) -> Series {
    let reduced: Vec<(i64, i64, Point)> = samples
        .iter()
        .filter_map(|s| {
            let ws: Vec<&WorkerSample> =
                s.w.iter()
                    .filter(|w| worker.is_none_or(|i| w.i == i))
                    .collect();
            if ws.is_empty() && worker.is_some() {
                return None;
            }
            Some((s.t - s.d / 2, s.d.max(1), reduce(&ws)))
        })
        .collect();
    let Some(start) = samples.iter().map(|s| s.t - s.d).min() else {
        return Series {
            interval_minutes: 1,
            ..Series::default()
        };
    };
    let end = samples.iter().map(|s| s.t).max().unwrap_or(start);
    let max_points = max_points.max(1) as i64;
    let mut minutes: i64 = 1;
    let span = (end - start).max(1);
    while (span + minutes * 60_000 - 1) / (minutes * 60_000) > max_points {
        minutes *= 2;
    }
    let width = minutes * 60_000;
    let count = ((span + width - 1) / width).max(1) as usize;
    let mut sums = vec![(0.0f64, Point::default(), 0.0f64); count];
    for (mid, d, p) in &reduced {
        let slot = (((mid - start).max(0)) / width).min(count as i64 - 1) as usize;
        let (weight, acc, gweight) = &mut sums[slot];
        let d = *d as f64;
        *weight += d;
        acc.cpu += p.cpu * d;
        acc.mem += p.mem * d;
        acc.rd += p.rd * d;
        acc.wr += p.wr * d;
        acc.rx += p.rx * d;
        acc.tx += p.tx * d;
        if let Some(g) = p.gpu {
            *gweight += d;
            acc.gpu = Some(acc.gpu.unwrap_or(0.0) + g * d);
            acc.gmem = Some(acc.gmem.unwrap_or(0.0) + p.gmem.unwrap_or(0.0) * d);
            acc.gtot = Some(acc.gtot.unwrap_or(0.0) + p.gtot.unwrap_or(0.0) * d);
        }
    }
    let has_gpu = reduced.iter().any(|(_, _, p)| p.gpu.is_some());
    let points = sums
        .into_iter()
        .map(|(weight, acc, gweight)| {
            if weight == 0.0 {
                return Point::default();
            }
            let mean = |x: f64| round2(x / weight);
            let gmean = |x: Option<f64>| x.map(|x| round2(x / gweight));
            Point {
                cpu: mean(acc.cpu),
                mem: mean(acc.mem),
                rd: mean(acc.rd),
                wr: mean(acc.wr),
                rx: mean(acc.rx),
                tx: mean(acc.tx),
                gpu: gmean(acc.gpu),
                gmem: gmean(acc.gmem),
                gtot: gmean(acc.gtot),
            }
        })
        .collect();
    Series {
        interval_minutes: minutes as u32,
        points,
        has_gpu,
    }
}

/// Sums the workers of one sample: CPU, memory and disk add up; network adds up per network
/// namespace (local workers share the host's); GPU utilization is the mean over the workers
/// that have GPUs, GPU memory adds up.
fn reduce(ws: &[&WorkerSample]) -> Point {
    let mut p = Point::default();
    let mut seen_ns: Vec<u64> = Vec::new();
    let mut gpus = 0usize;
    for w in ws {
        p.cpu += w.cpu;
        p.mem += w.mem;
        p.rd += w.rd;
        p.wr += w.wr;
        let counted = match w.ns {
            Some(ns) if seen_ns.contains(&ns) => true,
            Some(ns) => {
                seen_ns.push(ns);
                false
            }
            None => false,
        };
        if !counted {
            p.rx += w.rx;
            p.tx += w.tx;
        }
        if let Some(g) = w.gpu {
            gpus += 1;
            p.gpu = Some(p.gpu.unwrap_or(0.0) + g);
            p.gmem = Some(p.gmem.unwrap_or(0.0) + w.gmem.unwrap_or(0.0));
            p.gtot = Some(p.gtot.unwrap_or(0.0) + w.gtot.unwrap_or(0.0));
        }
    }
    if gpus > 0 {
        p.gpu = p.gpu.map(|g| g / gpus as f64);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(t: i64, d: i64, cpu: f64) -> Sample {
        Sample {
            t,
            d,
            w: vec![WorkerSample {
                i: 0,
                cpu,
                mem: 1000.0,
                rd: 0.0,
                wr: 0.0,
                rx: 0.0,
                tx: 0.0,
                ns: Some(1),
                gpu: None,
                gmem: None,
                gtot: None,
            }],
        }
    }

    #[test]
    fn a_short_run_is_one_point_with_its_mean() {
        let s: Vec<Sample> = (1..=3).map(|k| sample(k * 10_000, 10_000, 90.0)).collect();
        let series = series(&s, None, MAX_POINTS);
        assert_eq!(series.interval_minutes, 1);
        assert_eq!(series.points.len(), 1);
        assert_eq!(series.points[0].cpu, 90.0);
        assert!(!series.has_gpu);
    }

    #[test]
    fn merged_pairs_keep_the_weighted_mean() {
        let m = merge(&sample(10_000, 10_000, 100.0), &sample(40_000, 30_000, 0.0));
        assert_eq!((m.t, m.d), (40_000, 40_000));
        assert_eq!(m.w[0].cpu, 25.0);
    }

    #[test]
    fn shared_network_namespaces_count_once() {
        let mut s = sample(10_000, 10_000, 50.0);
        s.w[0].rx = 100.0;
        let mut second = s.w[0].clone();
        second.i = 1;
        s.w.push(second);
        let series = series(&[s], None, MAX_POINTS);
        assert_eq!(series.points[0].cpu, 100.0);
        assert_eq!(series.points[0].rx, 100.0);
    }

    proptest! {
        /// However long the run and however merged its file, a series stays bounded and
        /// halving never changes the mean CPU of the whole run.
        #[test]
        fn series_are_bounded(n in 1usize..3000, step in 1_000i64..600_000, max in 1usize..800) {
            let s: Vec<Sample> = (1..=n as i64).map(|k| sample(k * step, step, 50.0)).collect();
            let out = series(&s, Some(0), max);
            prop_assert!(out.points.len() <= max);
            prop_assert!(out.points.iter().all(|p| p.cpu == 50.0 || p.cpu == 0.0));
            let halved = halve(&s);
            prop_assert_eq!(halved.len(), n.div_ceil(2));
            prop_assert!(halved.iter().all(|h| h.w[0].cpu == 50.0));
        }
    }
}
