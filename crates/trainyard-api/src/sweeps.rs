//! trainyard extension: parameter sweeps (`/v1/{project_id}/sweeps`). One request creates
//! N runs from a grid or a random sample over parameters, each an ordinary training job
//! whose runs at most `concurrency` at once; the sweep reports their progress and the best
//! run by a metric each writes into `metrics.json` in its `train_url`.

use crate::lenient;
use crate::training::JobConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The collection's path below `/v1/{project_id}`.
pub const SWEEPS_PATH: &str = "/sweeps";

/// The file a run writes its metrics into, in its `train_url` (a JSON object of numbers).
pub const METRICS_FILE: &str = "metrics.json";

/// Request body of a sweep's creation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateSweepRequest {
    /// The sweep's name; its runs are the jobs `<sweep_name>-<i>` (i from 0).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sweep_name: Option<String>,
    /// Description of each run's job.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_desc: Option<String>,
    /// The base TJ-01 `config` of every run; each run's `parameter` list gets its own values
    /// (added, or replacing a parameter of the same label). Its `train_url` gets the run's
    /// index appended as a folder, so each run writes its own outputs.
    #[serde(default)]
    pub config: Option<JobConfig>,
    /// The parameter space, by name: a list of values (numbers, strings or booleans), or a
    /// range `{"min": .., "max": .., "integer": bool}` (random search only). Without
    /// `samples`: the grid of every combination of the lists; with it: `samples` draws.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
    /// Random search: how many runs to draw (1..=1000).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub samples: Option<i64>,
    /// Random search: the seed (the same seed draws the same runs; default 0).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub seed: Option<i64>,
    /// How many of its runs may run (or wait for capacity) at once (default 1).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub concurrency: Option<i64>,
    /// The metric that names the best run.
    #[serde(default)]
    pub objective: Option<Objective>,
}

/// A sweep's objective: the metric (a key of each run's `metrics.json`) and whether lower or
/// higher is better.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Objective {
    /// The metric's name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub metric: Option<String>,
    /// `min` or `max` (the default).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub goal: Option<String>,
}

/// How many of a sweep's runs stand where.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SweepProgress {
    /// Waiting to start (1, 2, 7).
    pub queued: i64,
    /// Being started, running or being stopped (4, 8, 9, 15).
    pub running: i64,
    /// Completed (10).
    pub completed: i64,
    /// Failed, lost or could not start.
    pub failed: i64,
    /// Stopped (12) or cancelled (13).
    pub stopped: i64,
}

/// One run of a sweep.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SweepRun {
    /// Its index in the sweep.
    pub index: i64,
    /// Its job.
    pub job_id: i64,
    /// Its job's name.
    pub job_name: String,
    /// Its version.
    pub version_id: i64,
    /// Its status code.
    pub status: i64,
    /// Its parameter values, by name.
    pub parameters: BTreeMap<String, String>,
    /// The objective's metric as the run reported it, once it did.
    pub metric: Option<f64>,
}

/// A sweep: its settings, progress, best run and (in `GET .../sweeps/{sweep_id}`) runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SweepInfo {
    /// Its id.
    pub sweep_id: i64,
    /// Its name.
    pub sweep_name: String,
    /// Created, ms since the epoch.
    pub create_time: i64,
    /// How many of its runs run at once at most.
    pub concurrency: i64,
    /// How many runs it has.
    pub run_count: i64,
    /// Where its runs stand.
    pub progress: SweepProgress,
    /// Its objective, if any.
    pub objective: Option<Objective>,
    /// The best run by the objective among those that reported the metric.
    pub best: Option<SweepRun>,
    /// Its runs, by index (in the answer about one sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<SweepRun>>,
}

/// Answer of a sweep's creation, read and stop.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SweepResponse {
    /// `true`.
    pub is_success: bool,
    /// The sweep.
    #[serde(flatten)]
    pub sweep: SweepInfo,
}

/// Answer of the sweep list, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SweepListResponse {
    /// `true`.
    pub is_success: bool,
    /// How many sweeps.
    pub sweep_count: i64,
    /// The sweeps, without their runs.
    pub sweeps: Vec<SweepInfo>,
}
