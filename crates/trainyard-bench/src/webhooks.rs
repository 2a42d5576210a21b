//! Scenario `webhooks`: what a dead webhook costs a job's start. Two servers in one run: one
//! with a webhook that gets every event of every job (queued, started, ...) at a receiver that
//! accepts connections and never answers, one with none; starts interleaved so both see the
//! same machine. The lifecycle only appends deliveries to the outbox, so the two should match.

use crate::sandbox::start_once;
use crate::server::{shared_dir, Options, Server, PROJECT};
use crate::stats::{Row, Samples};
use anyhow::Result;
use std::path::Path;

/// The scenario's row: start p50 with the dead webhook beside without.
pub async fn row(bin: &Path, work: &Path, n: usize) -> Result<Row> {
    // The black hole: connections accepted (by the kernel's backlog and this task), never
    // answered.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", hole.local_addr()?);
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            held.push(conn);
        }
    });
    let extra = format!(
        "[notifications]\ntimeout_seconds = 600\n\n[[webhooks]]\nname = \"dead\"\nproject = \"{PROJECT}\"\nurl = \"{url}\"\nsecret = \"bench\"\nevents = [\"created\", \"queued\", \"started\", \"worker_exited\", \"ended\"]\n"
    );
    let marks = work.join("webhook-marks");
    shared_dir(&marks)?;
    let dead = Server::start_with_options(
        bin,
        &work.join("webhook-dead"),
        2,
        &Options {
            extra: &extra,
            ..Options::default()
        },
    )
    .await?;
    let plain = Server::start(bin, &work.join("webhook-none"), 2).await?;
    let (mut ours, mut theirs) = (Samples::default(), Samples::default());
    for i in 0..n {
        ours.push(start_once(&dead, &marks, &format!("dead-{i}"), false).await?);
        theirs.push(start_once(&plain, &marks, &format!("none-{i}"), false).await?);
    }
    drop((dead, plain));
    holder.abort();
    Ok(Row {
        name: "webhooks: start with a dead webhook on every event".into(),
        unit: "ms",
        ours,
        peers: vec![("no webhook", theirs)],
        higher_is_better: false,
    })
}
