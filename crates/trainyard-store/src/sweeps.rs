//! Sweeps: a sweep's row and its runs (a job and version each, with the run's parameter
//! values). The runs themselves are ordinary versions.

/// A sweep to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSweep {
    /// Its project.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// How many of its runs run at once at most.
    pub concurrency: i64,
    /// Its objective (JSON), if any.
    pub objective: Option<String>,
    /// Created, ms.
    pub create_time: i64,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepRunRow {
    /// Its index in the sweep.
    pub index: i64,
    /// Its job.
    pub job_id: i64,
    /// Its version.
    pub version_id: i64,
    /// Its parameter values (JSON object of strings).
    pub parameters: String,
}

/// A stored sweep with its runs, by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: String,
    /// Its name.
    pub name: String,
    /// How many of its runs run at once at most.
    pub concurrency: i64,
    /// Its objective (JSON), if any.
    pub objective: Option<String>,
    /// Created, ms.
    pub create_time: i64,
    /// Its runs, by index.
    pub runs: Vec<SweepRunRow>,
}
