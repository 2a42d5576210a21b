//! Stored rows to wire objects.

use crate::catalog::Catalog;
use trainyard_api::training::{JobSummary, VersionInfo};
use trainyard_api::training_config::{ConfigDetail, ConfigSummary};
use trainyard_store::{duration_ms, job_duration, Job, StoredConfig, Version};

/// `system_metric_list` (resource usage of a version): all nine keys, series of decimal strings,
/// `interval` in minutes per point. Usage comes from the samples the run's shim wrote
/// (`trainyard_exec::metrics`); `worker` narrows it to one worker (the per-pod API). `cpuUsage` is
/// percent of one core summed over the workers (100 = one core, as `top`), `memUsage` percent of
/// the memory the spec gives the selected workers, `gpuUtil` the mean utilization of their GPUs,
/// `gpuMemUsage` percent of their GPUs' memory, rates in bytes/s. Without GPU samples the two GPU
/// series are empty.
pub fn system_metrics(catalog: &Catalog, v: &Version, worker: Option<usize>) -> serde_json::Value {
    let samples = trainyard_exec::metrics::read_run(std::path::Path::new(&v.run_dir));
    let series =
        trainyard_exec::metrics::series(&samples, worker, trainyard_exec::metrics::MAX_POINTS);
    let workers = match worker {
        Some(_) => 1,
        None => v.config.worker_server_num.unwrap_or(1).max(1) as u64,
    };
    let spec_gb = v
        .config
        .spec_id
        .and_then(|id| catalog.spec(id))
        .map_or(0, |s| u64::from(s.cpu));
    let limit = if spec_gb > 0 {
        spec_gb * (1 << 30) * workers
    } else {
        trainyard_exec::metrics::probe::host_memory_bytes().max(1)
    } as f64;
    let pts = &series.points;
    let col = |f: &dyn Fn(&trainyard_exec::metrics::Point) -> f64| -> Vec<String> {
        pts.iter().map(|p| decimal(f(p))).collect()
    };
    let gpu_col = |f: &dyn Fn(&trainyard_exec::metrics::Point) -> f64| -> Vec<String> {
        if series.has_gpu {
            col(f)
        } else {
            Vec::new()
        }
    };
    serde_json::json!({
        "cpuUsage": col(&|p| p.cpu),
        "memUsage": col(&|p| p.mem / limit * 100.0),
        "gpuUtil": gpu_col(&|p| p.gpu.unwrap_or(0.0)),
        "gpuMemUsage": gpu_col(&|p| match (p.gmem, p.gtot) {
            (Some(used), Some(total)) if total > 0.0 => used / total * 100.0,
            _ => 0.0,
        }),
        "diskReadRate": col(&|p| p.rd),
        "diskWriteRate": col(&|p| p.wr),
        "recvBytesRate": col(&|p| p.rx),
        "sendBytesRate": col(&|p| p.tx),
        "interval": series.interval_minutes,
    })
}

/// A series value as the contract writes them: `"0"`, else two decimals (`"3.10"`).
fn decimal(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        "0".to_owned()
    } else {
        format!("{x:.2}")
    }
}

/// One entry of the training job list (TJ-02).
pub fn job_summary(job: &Job, now: i64) -> JobSummary {
    JobSummary {
        job_id: job.id,
        job_name: job.name.clone(),
        version_id: job.latest_version_id,
        status: job.latest_status,
        create_time: job.create_time,
        duration: job_duration(job, now),
        job_desc: job.description.clone(),
        version_count: job.version_count,
        queue_reason: None,
    }
}

/// A version as its details show it (TJ-03; `detail` true: with job fields and metrics as an
/// object) or as a version list item (TJ-05).
pub fn version_info(
    catalog: &Catalog,
    job: &Job,
    v: &Version,
    now: i64,
    detail: bool,
) -> VersionInfo {
    let c = &v.config;
    let builtin = c.model_id.and_then(|id| catalog.builtin(id));
    let engine_id = match builtin {
        Some(b) => Some(b.info.engine_id),
        None if c.user_image_url.is_some() && c.engine_id.is_none() => None,
        None => c.engine_id,
    };
    let engine = engine_id.and_then(|id| catalog.engine(id));
    let spec = c.spec_id.and_then(|id| catalog.spec(id));
    let nfs = c.volumes.iter().flatten().find_map(|v| v.nfs.as_ref());
    let metrics = system_metrics(catalog, v, None);
    let model_metrics = read_model_metrics(v);
    VersionInfo {
        is_success: detail.then_some(true),
        job_id: detail.then_some(job.id),
        job_name: detail.then(|| job.name.clone()),
        job_desc: detail.then(|| job.description.clone()),
        version_id: v.id,
        version_name: v.name.clone(),
        pre_version_id: v.pre_version_id,
        engine_type: engine.map(|e| e.engine_type),
        engine_name: engine.map(|e| e.name.clone()),
        engine_id,
        engine_version: engine.map(|e| e.version.clone()),
        status: v.status.code(),
        app_url: c.app_url.clone(),
        boot_file_url: c.boot_file_url.clone(),
        create_time: v.create_time,
        parameter: c.parameter.clone().unwrap_or_default(),
        duration: duration_ms(v.start_time, v.end_time, now),
        spec_id: c.spec_id,
        core: spec.map(|s| s.core.to_string()),
        cpu: spec.map(|s| s.cpu.to_string()),
        gpu: Some(spec.is_some_and(|s| s.gpu_num > 0)),
        gpu_num: spec.map(|s| i64::from(s.gpu_num)),
        gpu_type: spec.map(|s| s.gpu_type.clone()),
        worker_server_num: c.worker_server_num.unwrap_or(1),
        data_url: c.data_url.clone().or_else(|| {
            c.data_source
                .iter()
                .flatten()
                .find_map(|d| d.data_url.clone())
        }),
        train_url: c.train_url.clone(),
        log_url: c.log_url.clone(),
        dataset_version_id: c.dataset_version_id.clone(),
        dataset_id: c.dataset_id.clone(),
        data_source: c.data_source.clone(),
        model_id: c.model_id,
        model_metric_list: model_metrics,
        system_metric_list: if detail {
            metrics
        } else {
            serde_json::Value::String(metrics.to_string())
        },
        user_image_url: c.user_image_url.clone(),
        user_command: c.user_command.clone(),
        resource_id: Some(v.resource_id.clone()),
        dataset_name: None,
        spec_code: spec.map(|s| s.spec_code.clone()),
        start_time: v.start_time,
        volumes: c.volumes.clone(),
        dataset_version_name: None,
        pool_name: c.pool_id.clone().or_else(|| Some("local".to_owned())),
        pool_id: c.pool_id.clone(),
        nas_mount_path: nfs.map(|n| n.dest_path.clone()),
        nas_share_addr: nfs.map(|n| n.src_path.clone()),
        nas_type: nfs.map(|_| "nfs".to_owned()),
        flavor_code: spec.map(|s| s.spec_code.clone()),
        max_num: spec.map(|s| s.max_num),
        storage: spec.map(|s| s.storage.clone()),
        no_resource: Some(false),
        job_type: 1,
        pool_type: if c.pool_id.is_some() {
            "USER_DEFINED"
        } else {
            "SYSTEM_DEFINED"
        }
        .to_owned(),
        pod_version: None,
        task_summary: serde_json::json!({}),
        model_outputs: Vec::new(),
        error_result: v
            .failure_reason
            .as_ref()
            .map(|r| serde_json::json!({"error_message": r})),
        user_frame_image: None,
        is_zombie: None,
        outputs: None,
        inputs: None,
        algorithm_id: None,
        autosearch_config: None,
        retrain_model_id: None,
        npu_info: None,
        attempt: (c.retry_policy.is_some() || v.attempt > 1).then_some(v.attempt),
        next_attempt_time: v
            .retry_at
            .filter(|_| v.status == trainyard_api::JobStatus::RUNNING),
        priority: c.priority,
        // Filled in from the executor's queue (`Service::add_queue_waits`).
        queue_position: None,
        queue_reason: None,
    }
}

/// `model_metric_list`: the run directory's `model_metric_list.json`, if valid JSON.
fn read_model_metrics(v: &Version) -> String {
    let path = std::path::Path::new(&v.run_dir).join("model_metric_list.json");
    std::fs::read_to_string(path)
        .ok()
        .filter(|t| serde_json::from_str::<serde_json::Value>(t).is_ok())
        .unwrap_or_else(|| "{}".to_owned())
}

/// One entry of the configuration list (TC-02).
pub fn config_summary(catalog: &Catalog, c: &StoredConfig) -> ConfigSummary {
    let engine = c.config.engine_id.and_then(|id| catalog.engine(id));
    ConfigSummary {
        config_name: c.name.clone(),
        config_desc: c.description.clone(),
        create_time: c.create_time,
        engine_type: engine.map(|e| e.engine_type),
        engine_name: engine.map(|e| e.name.clone()),
        engine_id: c.config.engine_id,
        engine_version: engine.map(|e| e.version.clone()),
        user_image_url: c.config.user_image_url.clone(),
        user_command: c.config.user_command.clone(),
    }
}

/// The wire form of one stored configuration, as its details show it (TC-05).
pub fn config_detail(catalog: &Catalog, c: &StoredConfig) -> ConfigDetail {
    let cfg = &c.config;
    let engine = cfg.engine_id.and_then(|id| catalog.engine(id));
    let spec = cfg.spec_id.and_then(|id| catalog.spec(id));
    let nfs = cfg.volumes.iter().flatten().find_map(|v| v.nfs.as_ref());
    ConfigDetail {
        is_success: true,
        config_name: c.name.clone(),
        config_desc: c.description.clone(),
        worker_server_num: cfg.worker_server_num,
        app_url: cfg.app_url.clone(),
        boot_file_url: cfg.boot_file_url.clone(),
        model_id: cfg.model_id,
        parameter: cfg.parameter.clone().unwrap_or_default(),
        spec_id: cfg.spec_id,
        data_url: cfg.data_url.clone(),
        dataset_id: cfg.dataset_id.clone(),
        dataset_version_id: cfg.dataset_version_id.clone(),
        data_source: cfg.data_source.clone(),
        engine_type: engine.map(|e| e.engine_type),
        engine_name: engine.map(|e| e.name.clone()),
        engine_id: cfg.engine_id,
        engine_version: engine.map(|e| e.version.clone()),
        train_url: cfg.train_url.clone(),
        log_url: cfg.log_url.clone(),
        user_image_url: cfg.user_image_url.clone(),
        user_command: cfg.user_command.clone(),
        spec_code: spec.map(|s| s.spec_code.clone()),
        gpu_type: spec.map(|s| s.gpu_type.clone()),
        create_time: c.create_time,
        cpu: spec.map(|s| s.cpu.to_string()),
        gpu_num: spec.map(|s| i64::from(s.gpu_num)),
        core: spec.map(|s| s.core.to_string()),
        dataset_name: None,
        dataset_version_name: None,
        pool_id: cfg.pool_id.clone(),
        pool_name: cfg.pool_id.clone(),
        volumes: cfg.volumes.clone(),
        nas_mount_path: nfs.map(|n| n.dest_path.clone()),
        nas_share_addr: nfs.map(|n| n.src_path.clone()),
        nas_type: nfs.map(|_| "nfs".to_owned()),
    }
}
