//! `trainyard specs`, `engines`, `algorithms`.

use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use trainyard_client::query::AlgorithmQuery;
use trainyard_client::Client;

/// Lists the resource specifications (RS-01).
pub async fn specs(client: &Client, out: Output) -> Result<(), CliError> {
    let resp = client.resource_specs().await?;
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&[
        "ID",
        "CODE",
        "CORES",
        "MEMORY_GB",
        "GPUS",
        "MAX_WORKERS",
        "AVAILABLE",
    ])
    .keep(&[
        "ID",
        "CODE",
        "CORES",
        "MEMORY_GB",
        "MAX_WORKERS",
        "AVAILABLE",
    ]);
    for s in &resp.specs {
        t.row(vec![
            s.spec_id.to_string(),
            s.spec_code.clone(),
            s.core.clone(),
            s.cpu.clone(),
            if s.gpu_num > 0 {
                format!("{} {}", s.gpu_num, s.gpu_type)
            } else {
                "0".into()
            },
            s.max_num.to_string(),
            if s.no_resource { "no" } else { "yes" }.into(),
        ]);
    }
    t.print()
}

/// Lists the AI engines (RS-02).
pub async fn engines(client: &Client, out: Output) -> Result<(), CliError> {
    let resp = client.ai_engines().await?;
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&["ID", "NAME", "VERSION", "TYPE"]).keep(&["ID", "NAME", "VERSION"]);
    for e in &resp.engines {
        t.row(vec![
            e.engine_id.to_string(),
            e.engine_name.clone(),
            e.engine_version.clone(),
            e.engine_type.to_string(),
        ]);
    }
    t.print()
}

/// Lists the built-in algorithms (TJ-11).
pub async fn algorithms(client: &Client, out: Output) -> Result<(), CliError> {
    let resp = client
        .built_in_algorithms(&AlgorithmQuery::default())
        .await?;
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&["MODEL_ID", "NAME", "ENGINE"]).keep(&["MODEL_ID", "NAME"]);
    for m in &resp.models {
        t.row(vec![
            m.model_id.to_string(),
            m.model_name.clone(),
            format!("{} {}", m.engine_name, m.engine_version),
        ]);
    }
    t.print()
}
