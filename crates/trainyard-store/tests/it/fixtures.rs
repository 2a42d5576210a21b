//! What the suites create over and over: a job of a project and a fresh version of it.

use trainyard_api::training::JobConfig;
use trainyard_api::JobStatus;
use trainyard_store::{NewJob, NewVersion};

/// A job named `name` of project `project`.
pub fn job_in(project: &str, name: &str) -> NewJob {
    NewJob {
        project_id: project.into(),
        name: name.into(),
        description: String::new(),
        workspace_id: "0".into(),
        create_time: 1,
        quota: None,
    }
}

/// A job named `name` of project `p`.
pub fn job(name: &str) -> NewJob {
    job_in("p", name)
}

/// A new version (1, default configuration) created by `alice`.
pub fn version() -> NewVersion {
    NewVersion {
        description: String::new(),
        pre_version_id: None,
        status: JobStatus::INIT,
        config: JobConfig::default(),
        resource_id: "jobdeadbeef".into(),
        run_dir_template: "/runs/{id}".into(),
        create_time: 2,
        created_by: "alice".into(),
        quota: Default::default(),
    }
}
