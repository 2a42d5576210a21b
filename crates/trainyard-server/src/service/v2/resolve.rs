//! A v2 create document resolved into the engine's run configuration: every field lands in
//! it or is refused, naming the field.

use super::catalog::engine_id;
use super::*;

/// Annotation keys whose features this server does not serve yet: refused, never ignored.
pub(super) const REFUSED_ANNOTATIONS: [&str; 7] = [
    "fault-tolerance/pod-retry-num",
    "fault-tolerance/hccl_op_retry",
    "jupyter-lab/enable",
    "tensorboard/enable",
    "mindstudio-insight/enable",
    "performance_diagnosis_enabled",
    "record/code-dir",
];

/// The retry policy the fault-tolerance annotations ask for (spec §5.1.1):
/// `job-retry-num` (1..128) restarts after a lost worker or node; with
/// `job-unconditional-retry` also after any failure, at most 3 in a row. The unconditional one
/// alone has no budget. `hang-retry` restarts a run stopped as hung, also at most 3 in a row;
/// unlike ModelArts, such a restart counts against `job-retry-num`, which is 3 when only
/// `hang-retry` is set. `None` when none is set.
fn retry_policy(
    annotations: Option<&std::collections::BTreeMap<String, Value>>,
) -> Result<Option<trainyard_api::training::RetryPolicy>, V2Error> {
    const NUM: &str = "fault-tolerance/job-retry-num";
    const UNCONDITIONAL: &str = "fault-tolerance/job-unconditional-retry";
    const HANG: &str = "fault-tolerance/hang-retry";
    let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(text_of);
    let num = match get(NUM) {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=trainyard_sched::retry::MAX_RETRIES).contains(n))
                .ok_or_else(|| {
                    V2Error::param(
                        &format!("metadata.annotations.{NUM}"),
                        "must be an integer in 1..128",
                    )
                })?,
        ),
    };
    let is_true = |key: &str| get(key).is_some_and(|t| t.eq_ignore_ascii_case("true"));
    let unconditional = is_true(UNCONDITIONAL);
    let hang = is_true(HANG);
    if num.is_none() && !unconditional && !hang {
        return Ok(None);
    }
    Ok(Some(trainyard_api::training::RetryPolicy {
        max_retries: Some(num.unwrap_or(if hang { 3 } else { 0 })),
        on_any_failure: unconditional.then_some(true),
        on_hang: hang.then_some(true),
        max_consecutive_any: (unconditional || hang).then_some(3),
        backoff_seconds: Some(1),
        ..Default::default()
    }))
}

/// What a create request resolves to: the run's configuration and what the answer echoes.
pub(super) struct Resolved {
    pub(super) config: JobConfig,
    pub(super) engine: Value,
    pub(super) flavor: Option<SpecConfig>,
}

/// `algorithm.environments`: a map, or an array of maps merged in order; at most 100
/// variables named `[A-Za-z_][A-Za-z0-9_]*`; values are strings (numbers and booleans as text).
pub(super) fn environments(
    v: Option<&Value>,
) -> V2Result<Option<std::collections::BTreeMap<String, String>>> {
    const FIELD: &str = "algorithm.environments";
    let maps: Vec<&serde_json::Map<String, Value>> = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => vec![m],
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| {
                m.as_object().ok_or_else(|| {
                    V2Error::new(
                        400,
                        "ModelArts.2825",
                        format!("The parameter ({FIELD}) value type error."),
                    )
                })
            })
            .collect::<V2Result<_>>()?,
        Some(_) => {
            return Err(V2Error::new(
                400,
                "ModelArts.2825",
                format!("The parameter ({FIELD}) value type error."),
            ))
        }
    };
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in maps.into_iter().flatten() {
        let good = key.len() <= 8192
            && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !good {
            return Err(V2Error::param(
                &format!("{FIELD}.{key}"),
                "names start with a letter or '_' and have letters, digits and '_' only",
            ));
        }
        let text = text_of(value)
            .filter(|t| t.len() <= 4096 && !t.contains('\0'))
            .ok_or_else(|| {
                V2Error::param(
                    &format!("{FIELD}.{key}"),
                    "a string of at most 4096 characters",
                )
            })?;
        out.insert(key.clone(), text);
    }
    if out.len() > 100 {
        return Err(V2Error::new(
            400,
            "ModelArts.2816",
            format!("The parameter({FIELD}) exceeds the upper limit 100."),
        ));
    }
    Ok((!out.is_empty()).then_some(out))
}

impl Service {
    /// Translates a v2 create body into the engine's run configuration; every field either
    /// lands in it or is refused here, naming the field.
    pub(super) fn resolve_v2(&self, job: &JobV2) -> V2Result<Resolved> {
        if let Some(kind) = job.kind.as_deref().filter(|k| *k != "job") {
            return Err(V2Error::new(
                400,
                "ModelArts.2858",
                format!("Current operation not supported, (kind {kind}: only job)."),
            ));
        }
        if job.tasks.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::new(
                400,
                "ModelArts.2858",
                "Current operation not supported, (tasks: heterogeneous jobs).",
            ));
        }
        if job.endpoints.as_ref().is_some_and(|e| !is_empty(e)) {
            return Err(V2Error::param(
                "endpoints",
                "SSH access to tasks is not served by this server",
            ));
        }
        let meta = job.metadata.clone().unwrap_or_default();
        let retry = retry_policy(meta.annotations.as_ref())?;
        for (key, value) in meta.annotations.iter().flatten() {
            if key == "job_template" {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2858",
                    "Current operation not supported, (metadata.annotations.job_template).",
                ));
            }
            if REFUSED_ANNOTATIONS.contains(&key.as_str()) {
                return Err(V2Error::param(
                    &format!("metadata.annotations.{key}"),
                    "this feature (fault tolerance, tools in the job, diagnosis, code backup) \
                     is not served by this server yet",
                ));
            }
            if text_of(value).is_none() {
                return Err(V2Error::param(
                    &format!("metadata.annotations.{key}"),
                    "annotation values are strings",
                ));
            }
        }
        let alg = job.algorithm.clone().unwrap_or_default();
        if alg.subscription_id.is_some() || alg.item_version_id.is_some() {
            return Err(V2Error::new(
                400,
                "ModelArts.2755",
                "algorithm not found. (subscribed algorithms are not served: register the \
                 algorithm at /v2/{project_id}/algorithms and give its id)",
            ));
        }
        for (field, set) in [
            ("algorithm.local_code_dir", alg.local_code_dir.is_some()),
            ("algorithm.working_dir", alg.working_dir.is_some()),
        ] {
            if set {
                let code = if field.ends_with("local_code_dir") {
                    "ModelArts.2857"
                } else {
                    "ModelArts.2859"
                };
                return Err(V2Error::new(
                    400,
                    code,
                    format!("The {field} parameter verification failed for reason(the code runs from the run's own folder here; leave it unset)"),
                ));
            }
        }
        if alg.summary.as_ref().is_some_and(|s| !is_empty(s)) {
            return Err(V2Error::param(
                "algorithm.summary",
                "use a visualization job (v1 visualization-jobs) for TensorBoard",
            ));
        }
        if let Some(p) = alg.policies.as_ref() {
            let search = p.get("auto_search").filter(|a| !is_empty(a));
            if search.is_some()
                || p.as_object()
                    .is_some_and(|m| m.keys().any(|k| k != "auto_search"))
            {
                return Err(V2Error::param(
                    "algorithm.policies",
                    "hyper-parameter search is not served",
                ));
            }
        }
        let mut cfg = JobConfig {
            environments: environments(alg.environments.as_ref())?,
            retry_policy: retry,
            ..JobConfig::default()
        };
        let engine = alg.engine.clone().unwrap_or_default();
        if engine.install_sys_packages == Some(true) {
            return Err(V2Error::param(
                "algorithm.engine.install_sys_packages",
                "no platform packages to install here",
            ));
        }
        if engine.image_repo_id.is_some() {
            return Err(V2Error::param(
                "algorithm.engine.image_repo_id",
                "images are pulled by name from the registries the container runtime knows",
            ));
        }
        let echo_engine;
        let in_container;
        match &engine.image_url {
            Some(image) => {
                if engine.engine_id.is_some()
                    || engine.engine_name.is_some()
                    || engine.engine_version.is_some()
                {
                    return Err(V2Error::param(
                        "algorithm.engine.engine_id",
                        "a custom image (image_url) runs its own command; give no preset engine with it",
                    ));
                }
                let command = alg
                    .command
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| {
                        V2Error::new(
                            400,
                            "ModelArts.2806",
                            "Custom image jobs command and engine.url cannot be empty.",
                        )
                    })?;
                cfg.user_image_url = Some(image.clone());
                cfg.user_command = Some(command);
                cfg.app_url = alg.code_dir.clone();
                if alg.code_dir.is_some() {
                    cfg.boot_file_url = alg.boot_file.clone();
                } else if alg.boot_file.is_some() {
                    return Err(V2Error::param(
                        "algorithm.boot_file",
                        "a boot file needs its code_dir",
                    ));
                }
                echo_engine = json!({"image_url": image});
                in_container = true;
            }
            None => {
                if alg.command.is_some() {
                    return Err(V2Error::param(
                        "algorithm.command",
                        "a command is run in a custom image (engine.image_url); a preset engine runs the boot file",
                    ));
                }
                let code_dir = alg
                    .code_dir
                    .clone()
                    .ok_or_else(|| V2Error::param("algorithm.code_dir", "required"))?;
                let boot_file = alg
                    .boot_file
                    .clone()
                    .ok_or_else(|| V2Error::param("algorithm.boot_file", "required"))?;
                let e = self.find_engine(&engine)?;
                cfg.app_url = Some(code_dir);
                cfg.boot_file_url = Some(boot_file);
                cfg.engine_id = Some(e.id);
                in_container = e.image.is_some();
                echo_engine = json!({
                    "engine_id": engine_id(e),
                    "engine_name": e.name,
                    "engine_version": e.version,
                });
            }
        }
        let mut params = Vec::new();
        for (i, p) in alg.parameters.iter().flatten().enumerate() {
            let name = p
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    V2Error::param(&format!("algorithm.parameters[{i}].name"), "required")
                })?;
            if params.iter().any(|q: &Parameter| q.label == name) {
                return Err(V2Error::param(
                    &format!("algorithm.parameters[{i}].name"),
                    format!("{name} appears twice"),
                ));
            }
            params.push(Parameter {
                label: name,
                value: p.value.clone().unwrap_or_default(),
            });
        }
        cfg.parameter = (!params.is_empty()).then_some(params);
        for (list, field, name) in [
            (&alg.inputs, "algorithm.inputs", "data_url"),
            (&alg.outputs, "algorithm.outputs", "train_url"),
        ] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > 1 {
                return Err(V2Error::param(
                    field,
                    format!("one channel, named {name}, is served"),
                ));
            }
            let Some(ch) = list.first() else { continue };
            if ch.name.as_deref() != Some(name) {
                return Err(V2Error::param(
                    &format!("{field}[0].name"),
                    format!("the channel is named {name} here (passed as --{name}=<path>)"),
                ));
            }
            if ch.local_dir.is_some() {
                return Err(V2Error::param(
                    &format!("{field}[0].local_dir"),
                    "the data is in the run's own folder, passed as a parameter; leave it unset",
                ));
            }
            if ch
                .access_method
                .as_deref()
                .is_some_and(|m| m != "parameter")
            {
                return Err(V2Error::param(
                    &format!("{field}[0].access_method"),
                    "only parameter is served",
                ));
            }
            let remote = ch.remote.clone().unwrap_or_default();
            if remote.dataset.as_ref().is_some_and(|d| !is_empty(d)) {
                return Err(V2Error::param(
                    &format!("{field}[0].remote.dataset"),
                    "datasets are not served; give remote.obs.obs_url",
                ));
            }
            let url = remote
                .obs
                .and_then(|o| o.obs_url)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    V2Error::param(&format!("{field}[0].remote.obs.obs_url"), "required")
                })?;
            if name == "data_url" {
                cfg.data_url = Some(url);
            } else {
                cfg.train_url = Some(url);
            }
        }
        if cfg.data_url.is_none() {
            // An input is optional in v2: the job runs without one.
            cfg.enable_check = Some(false);
        }
        let spec = job.spec.clone().unwrap_or_default();
        if let Some(volumes) = spec.volumes.as_ref().filter(|v| !v.is_empty()) {
            cfg.volumes = Some(self.nfs_volumes(volumes, in_container)?);
        }
        if spec.custom_metrics.as_ref().is_some_and(|n| !is_empty(n)) {
            return Err(V2Error::param(
                "spec.custom_metrics",
                "custom metrics are not collected by this server",
            ));
        }
        if let Some(log) = &spec.log_export_path {
            if log.host_path.is_some() {
                return Err(V2Error::param(
                    "spec.log_export_path.host_path",
                    "logs are copied to object storage only (obs_url)",
                ));
            }
            cfg.log_url = log.obs_url.clone().filter(|u| !u.is_empty());
        }
        if let Some(stop) = &spec.auto_stop {
            if stop.time_unit.as_deref() != Some("HOURS") {
                return Err(V2Error::param("spec.auto_stop.time_unit", "only HOURS"));
            }
            let hours = stop
                .duration
                .filter(|d| *d >= 1)
                .ok_or_else(|| V2Error::param("spec.auto_stop.duration", "an integer >= 1"))?;
            cfg.max_runtime_seconds = Some(hours.saturating_mul(3600));
        }
        if let Some(policy) = &spec.schedule_policy {
            match policy.priority {
                // 0 means unset (V2-INC-20).
                None | Some(0) => {}
                Some(p @ 1..=3) => cfg.priority = Some(p),
                Some(p) => {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2816",
                        format!("The parameter(spec.schedule_policy.priority) exceeds the upper limit 3 ({p})."),
                    ))
                }
            }
            cfg.preemptible = policy.preemptible;
            for (field, v) in [
                (
                    "spec.schedule_policy.required_affinity",
                    &policy.required_affinity,
                ),
                (
                    "spec.schedule_policy.preferred_affinity",
                    &policy.preferred_affinity,
                ),
            ] {
                if v.as_ref().is_some_and(|v| !is_empty(v)) {
                    return Err(V2Error::param(field, "affinity is not served"));
                }
            }
        }
        let res = spec.resource.clone().unwrap_or_default();
        if res.pool_group_id.is_some() {
            return Err(V2Error::param(
                "spec.resource.pool_group_id",
                "pool federation is not served",
            ));
        }
        if res
            .main_container_customized_flavor
            .as_ref()
            .is_some_and(|v| !is_empty(v))
        {
            return Err(V2Error::param(
                "spec.resource.main_container_customized_flavor",
                "choose a flavor (flavor_id)",
            ));
        }
        let nodes = res.node_count.unwrap_or(1);
        if nodes < 1 {
            return Err(V2Error::new(
                400,
                "ModelArts.2793",
                format!("The number of flavor instances ({nodes}) must be at least 1."),
            ));
        }
        let mut flavor = None;
        match (&res.flavor_id, &res.pool_id) {
            (None, None) => {
                return Err(V2Error::param(
                    "spec.resource.flavor_id",
                    "give a flavor (flavor_id) or a pool (pool_id)",
                ))
            }
            (Some(f), _) => {
                let s = self.catalog.spec_by_code(f).ok_or_else(|| {
                    V2Error::new(400, "ModelArts.2781", format!("Flavor ({f}) not found."))
                })?;
                if nodes > s.max_num {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2793",
                        format!(
                            "The number of flavor instances ({nodes}) exceeds the maximum ({}).",
                            s.max_num
                        ),
                    ));
                }
                cfg.spec_id = Some(s.spec_id);
                flavor = Some(s.clone());
            }
            (None, Some(_)) => {}
        }
        cfg.pool_id = res.pool_id.clone();
        cfg.worker_server_num = Some(nodes);
        Ok(Resolved {
            config: cfg,
            engine: echo_engine,
            flavor,
        })
    }

    /// `spec.volumes`: each an `nfs` export of `[[nfs]]`, mounted from its host folder into
    /// the job's containers (v1's `host_path` volumes); other kinds are refused.
    fn nfs_volumes(
        &self,
        volumes: &[Value],
        in_container: bool,
    ) -> V2Result<Vec<trainyard_api::training::Volume>> {
        let mut out = Vec::new();
        for (i, v) in volumes.iter().enumerate() {
            let field = format!("spec.volumes[{i}]");
            let Some(m) = v.as_object() else {
                return Err(V2Error::param(&field, "an object with nfs"));
            };
            if let Some(other) = m.keys().find(|k| *k != "nfs" && !is_empty(&m[k.as_str()])) {
                return Err(V2Error::param(
                    &format!("{field}.{other}"),
                    "only nfs volumes (exports the server configured in [[nfs]]) are served",
                ));
            }
            let nfs = m
                .get("nfs")
                .and_then(Value::as_object)
                .ok_or_else(|| V2Error::param(&format!("{field}.nfs"), "required"))?;
            let text = |name: &str| nfs.get(name).and_then(text_of).filter(|t| !t.is_empty());
            let server = text("nfs_server_path").ok_or_else(|| {
                V2Error::param(&format!("{field}.nfs.nfs_server_path"), "required")
            })?;
            let local = text("local_path")
                .ok_or_else(|| V2Error::param(&format!("{field}.nfs.local_path"), "required"))?;
            let read_only = match nfs.get("read_only") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                Some(_) => {
                    return Err(V2Error::param(
                        &format!("{field}.nfs.read_only"),
                        "true or false",
                    ))
                }
            };
            let same =
                |a: &str, b: &str| a == b || a.trim_end_matches('/') == b.trim_end_matches('/');
            let export = self
                .run_ctx
                .nfs
                .iter()
                .find(|n| same(&n.server_path, &server))
                .ok_or_else(|| {
                    V2Error::param(
                        &format!("{field}.nfs.nfs_server_path"),
                        format!("{server} is not an export this server mounts (its [[nfs]] configuration)"),
                    )
                })?;
            if !in_container {
                return Err(V2Error::param(
                    &format!("{field}.nfs"),
                    "volumes are mounted into containers only: run the job in an image \
                     (engine.image_url, or an engine with an image)",
                ));
            }
            out.push(trainyard_api::training::Volume {
                nfs: None,
                host_path: Some(trainyard_api::training::HostPathVolume {
                    src_path: export.host_path.display().to_string(),
                    dest_path: local,
                    read_only: Some(read_only),
                }),
            });
        }
        Ok(out)
    }

    /// The catalog engine an `algorithm.engine` names: `engine_id`, or name and version.
    pub(super) fn find_engine(&self, e: &trainyard_api::v2::EngineV2) -> V2Result<&EngineConfig> {
        let engines = &self.catalog.engines;
        let found = match (&e.engine_id, &e.engine_name, &e.engine_version) {
            (Some(id), _, _) => engines.iter().find(|x| engine_id(x) == *id),
            (None, Some(n), Some(v)) => engines.iter().find(|x| x.name == *n && x.version == *v),
            (None, Some(_), None) => {
                return Err(V2Error::param(
                    "algorithm.engine.engine_version",
                    "required with engine_name",
                ))
            }
            _ => {
                return Err(V2Error::param(
                    "algorithm.engine",
                    "give engine_id (from the engine list) or engine_name and engine_version",
                ))
            }
        };
        found.ok_or_else(|| {
            let id = e
                .engine_id
                .clone()
                .or_else(|| e.engine_name.clone())
                .unwrap_or_default();
            V2Error::new(
                400,
                "ModelArts.2780",
                format!("AI engine(id:{id}) not found."),
            )
        })
    }
}
