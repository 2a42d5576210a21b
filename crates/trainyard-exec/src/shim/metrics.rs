//! The shim's sampling of its own workers: every `RunSpec::sample_interval_ms` it reads each
//! running worker's usage ([`crate::metrics::probe`]) and appends one line to
//! `metrics.jsonl`. Sampling never affects the run: a sample that cannot be written is
//! dropped with a warning.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::worker::Worker;
use crate::metrics::probe::{parse_visible_devices, Sampler, Source, Target};
use crate::metrics::{self, Sample};
use crate::{run_dir, RunSpec};

/// Samples the workers of one run; does nothing when the spec asks for no sampling.
pub struct Recorder {
    inner: Option<Active>,
}

struct Active {
    path: PathBuf,
    interval: Duration,
    next: Instant,
    sampler: Sampler,
    /// The samples in the file, so a compaction needs no read.
    kept: Vec<Sample>,
    /// GPU indices of each worker, from its `CUDA_VISIBLE_DEVICES`.
    gpus: Vec<Vec<u32>>,
}

impl Recorder {
    /// The recorder of the run in `run_dir` whose spec is `spec`.
    pub fn open(run_dir: &Path, spec: &RunSpec) -> Self {
        Self {
            inner: Active::open(run_dir, spec),
        }
    }

    /// Samples the running workers if a tick is due; returns how long until the next one
    /// (the supervise loop waits at most that long).
    pub fn tick(&mut self, workers: &[Worker]) -> Duration {
        let Some(a) = &mut self.inner else {
            return Duration::MAX;
        };
        let now = Instant::now();
        if now < a.next {
            return a.next - now;
        }
        // The next tick is a whole interval after this one, however late this one was.
        a.next = now + a.interval;
        let targets: Vec<Target> = workers
            .iter()
            .filter(|w| w.running())
            .map(|w| Target {
                index: w.index,
                source: Source::Processes(w.sample_roots()),
                gpus: a.gpus.get(w.index).cloned().unwrap_or_default(),
            })
            .collect();
        if let Some(sample) = a.sampler.sample(&targets) {
            a.record(sample);
        }
        a.interval
    }
}

impl Active {
    /// Sampling as `spec` asks for it; `None` when it asks for none.
    fn open(run_dir: &Path, spec: &RunSpec) -> Option<Self> {
        let interval = Duration::from_millis(spec.sample_interval_ms?.max(100));
        let gpus: Vec<Vec<u32>> = spec
            .workers
            .iter()
            .map(|w| {
                w.env
                    .iter()
                    .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
                    .map(|(_, v)| parse_visible_devices(v))
                    .unwrap_or_default()
            })
            .collect();
        let path = run_dir.join(metrics::FILE);
        // A file left by an earlier shim of this directory (a requeued Slurm task)
        // is continued.
        let kept = std::fs::read_to_string(&path)
            .map(|t| metrics::parse(&t))
            .unwrap_or_default();
        Some(Self {
            path,
            interval,
            next: Instant::now(),
            sampler: Sampler::new(gpus.iter().any(|g| !g.is_empty())),
            kept,
            gpus,
        })
    }

    fn record(&mut self, sample: Sample) {
        self.kept.push(sample);
        let result = if self.kept.len() > metrics::MAX_LINES {
            self.kept = metrics::halve(&self.kept);
            let mut text = Vec::new();
            for s in &self.kept {
                line(&mut text, s);
            }
            run_dir::write_atomic(&self.path, &text)
        } else {
            let mut text = Vec::new();
            line(&mut text, self.kept.last().expect("just pushed"));
            // The server's alone: the shim's umask lets workers read what it fetches for them.
            std::os::unix::fs::OpenOptionsExt::mode(
                OpenOptions::new().create(true).append(true),
                0o600,
            )
            .open(&self.path)
            .and_then(|mut f| f.write_all(&text))
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write metrics.jsonl; sample dropped");
        }
    }
}

fn line(out: &mut Vec<u8>, s: &Sample) {
    if serde_json::to_writer(&mut *out, s).is_ok() {
        out.push(b'\n');
    }
}
