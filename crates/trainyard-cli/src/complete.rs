//! Dynamic shell completion: job names, visualization job names, spec codes and configuration
//! names come from the server the settings point at (flags are not parsed yet at that point,
//! so the environment and the profile file decide). Any failure completes nothing.

use crate::global::{Color, Global, LogFormat, Output};
use clap_complete::engine::CompletionCandidate;
use std::time::Duration;
use trainyard_client::Client;

/// How long completion may wait for the server.
const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `f` against the configured server on a small runtime; `None` on any failure.
fn ask<T, F, Fut>(f: F) -> Vec<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = trainyard_client::Result<Vec<T>>>,
{
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let global = Global {
        server: env("TRAINYARD_SERVER"),
        project: env("TRAINYARD_PROJECT"),
        token: env("TRAINYARD_TOKEN"),
        profile: env("TRAINYARD_PROFILE"),
        output: Output::Table,
        color: Color::Never,
        utc: false,
        verbose: 0,
        log_format: LogFormat::Text,
    };
    let Ok(settings) = crate::profile::settings(&global) else {
        return Vec::new();
    };
    let Ok(client) = crate::profile::client(
        &settings.server,
        &settings.project,
        settings.token,
        settings.access_key,
    ) else {
        return Vec::new();
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    rt.block_on(async { tokio::time::timeout(DEADLINE, f(client)).await })
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Job names, newest first, with their status as help.
pub fn job_names() -> Vec<CompletionCandidate> {
    ask(|c| async move {
        let q = trainyard_client::query::JobListQuery {
            page: Some(1),
            per_page: Some(200),
            sort_by: Some("create_time".into()),
            order: Some("desc".into()),
            ..Default::default()
        };
        Ok(c.list_jobs(&q).await?.jobs)
    })
    .into_iter()
    .map(|j| {
        CompletionCandidate::new(j.job_name).help(Some(crate::output::status(j.status).into()))
    })
    .collect()
}

/// Visualization job names.
pub fn viz_names() -> Vec<CompletionCandidate> {
    ask(|c| async move { Ok(c.list_all_viz(&Default::default()).await?.jobs) })
        .into_iter()
        .map(|j| {
            CompletionCandidate::new(j.job_name).help(Some(crate::output::status(j.status).into()))
        })
        .collect()
}

/// Spec codes, with cores and memory as help.
pub fn spec_codes() -> Vec<CompletionCandidate> {
    ask(|c| async move { Ok(c.resource_specs().await?.specs) })
        .into_iter()
        .map(|s| {
            let help = format!("{} cores, {} GB, max {} workers", s.core, s.cpu, s.max_num);
            CompletionCandidate::new(s.spec_code).help(Some(help.into()))
        })
        .collect()
}

/// Stored configuration names.
pub fn config_names() -> Vec<CompletionCandidate> {
    ask(|c| async move { c.list_all_configs(&Default::default()).await })
        .into_iter()
        .map(|c| CompletionCandidate::new(c.config_name))
        .collect()
}
