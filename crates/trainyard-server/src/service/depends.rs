//! Dependencies between runs (`config.depends_on`, a trainyard extension of TJ-01/TJ-06):
//! checked and resolved when a version is created, read back for the scheduler core, which
//! keeps a dependent out of the pick until its parents ended (`trainyard_sched::dep`).

use crate::error::{ApiError, ApiResult};
use trainyard_api::training::{Dependency, JobConfig};
use trainyard_sched::dep::{Dep, Kind};
use trainyard_store::Store;

/// The most parents one version may name.
pub const MAX_PARENTS: usize = 64;

/// Checks `cfg.depends_on` of a new version of project `project` and resolves each parent
/// to a version id (a job named without a version: its latest). `own_job`: the job the
/// version is added to (TJ-06), whose latest version is about to be the new one itself.
/// Refuses, naming the field: a missing or unknown job or version (other projects' ids are
/// unknown here), an unknown type, and a cycle.
pub async fn resolve(
    store: &dyn Store,
    project: &str,
    own_job: Option<i64>,
    cfg: &mut JobConfig,
) -> ApiResult<()> {
    let Some(deps) = cfg.depends_on.as_mut() else {
        return Ok(());
    };
    if deps.len() > MAX_PARENTS {
        return Err(ApiError::param(format!(
            "config.depends_on: at most {MAX_PARENTS} parents, not {}",
            deps.len()
        )));
    }
    for (i, dep) in deps.iter_mut().enumerate() {
        let field = format!("config.depends_on[{i}]");
        let kind = dep.kind.as_deref().unwrap_or("after_ok");
        let Some(kind) = Kind::parse(kind) else {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            return Err(ApiError::param(format!(
                "{field}.type:{kind} must be one of {}",
                names.join(", ")
            )));
        };
        let job_id = dep
            .job_id
            .ok_or_else(|| ApiError::required(&format!("{field}.job_id")))?;
        let version_id = match dep.version_id {
            Some(v) => {
                if store.get_version(project, job_id, v).await?.is_none() {
                    return Err(ApiError::param(format!(
                        "{field}: job {job_id} version {v} does not exist in this project"
                    )));
                }
                v
            }
            None if own_job == Some(job_id) => {
                return Err(ApiError::param(format!(
                    "{field}: job {job_id}'s latest version is the version being created, \
                     which cannot wait for itself (a dependency cycle)"
                )));
            }
            None => {
                let job = store.get_job(project, job_id).await?.ok_or_else(|| {
                    ApiError::param(format!(
                        "{field}: job {job_id} does not exist in this project"
                    ))
                })?;
                job.latest_version_id.ok_or_else(|| {
                    ApiError::param(format!("{field}: job {job_id} has no version to wait for"))
                })?
            }
        };
        *dep = Dependency {
            job_id: Some(job_id),
            version_id: Some(version_id),
            kind: Some(kind.name().to_owned()),
        };
    }
    // The parents exist already and the new version does not, so the only cycle a new
    // version can close is through itself (refused above); the graph check keeps that true
    // should dependencies ever change after creation.
    Ok(())
}

/// The dependencies stored with a version (resolved at its creation) as the core takes
/// them; an entry it cannot read (written by a later server) is left out.
pub fn stored(cfg: &JobConfig) -> Vec<Dep> {
    cfg.depends_on
        .iter()
        .flatten()
        .filter_map(|d| {
            Some(Dep {
                job: d.job_id?,
                run: d.version_id?,
                kind: Kind::parse(d.kind.as_deref().unwrap_or("after_ok"))?,
            })
        })
        .collect()
}
