//! `trainyard configs ...` (TC-01..TC-05).

use crate::cli::ConfigsCommand;
use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use std::path::Path;
use trainyard_api::training::Success;
use trainyard_api::training_config::ConfigRequest;
use trainyard_client::query::ConfigListQuery;
use trainyard_client::Client;

fn read_body(file: &Path) -> Result<ConfigRequest, CliError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Usage(format!("stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not a configuration: {e}", file.display())))
}

fn done(out: Output, resp: &Success, what: String) -> Result<(), CliError> {
    match out {
        Output::Json => output::json(resp),
        Output::Table | Output::Wide | Output::Csv => {
            output::stdout(format!("{what}\n").as_bytes())
        }
    }
}

/// Runs a `configs` command.
pub async fn run(client: &Client, out: Output, cmd: ConfigsCommand) -> Result<(), CliError> {
    match cmd {
        ConfigsCommand::List { search } => {
            let query = ConfigListQuery {
                search_content: search,
                ..Default::default()
            };
            let configs = client.list_all_configs(&query).await?;
            if out == Output::Json {
                return output::json(&trainyard_api::training_config::ConfigListResponse {
                    is_success: true,
                    config_total_count: configs.len() as i64,
                    configs,
                });
            }
            let mut t = Table::new(&["NAME", "ENGINE", "CREATED", "DESCRIPTION"])
                .keep(&["NAME"])
                .optional(&["CREATED"]);
            for c in &configs {
                t.row(vec![
                    c.config_name.clone(),
                    c.engine_name.clone().unwrap_or_default(),
                    output::time_ms(c.create_time),
                    c.config_desc.clone(),
                ]);
            }
            t.print()
        }
        ConfigsCommand::Get { name } => {
            let c = client.get_config(&name).await?;
            if out == Output::Json {
                return output::json(&c);
            }
            output::fields(&[
                ("name", c.config_name.clone()),
                ("description", c.config_desc.clone()),
                (
                    "workers",
                    c.worker_server_num
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                ),
                ("app_url", c.app_url.clone().unwrap_or_default()),
                ("boot_file_url", c.boot_file_url.clone().unwrap_or_default()),
                ("data_url", c.data_url.clone().unwrap_or_default()),
                ("train_url", c.train_url.clone().unwrap_or_default()),
                ("spec", c.spec_code.clone().unwrap_or_default()),
                ("engine", c.engine_name.clone().unwrap_or_default()),
                (
                    "parameters",
                    c.parameter
                        .iter()
                        .map(|p| format!("{}={}", p.label, p.value))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                ("created", output::time_ms(c.create_time)),
            ])
        }
        ConfigsCommand::Create { name, file } => {
            let mut body = read_body(&file)?;
            body.config_name = Some(name.clone());
            let resp = client.create_config(&body).await?;
            done(out, &resp, format!("created configuration {name}"))
        }
        ConfigsCommand::Update { name, file } => {
            let mut body = read_body(&file)?;
            body.config_name = None;
            let resp = client.update_config(&name, &body).await?;
            done(out, &resp, format!("updated configuration {name}"))
        }
        ConfigsCommand::Delete { name } => {
            let resp = client.delete_config(&name).await?;
            done(out, &resp, format!("deleted configuration {name}"))
        }
    }
}
