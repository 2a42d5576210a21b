//! Log set-up shared by the `trainyard` binary and the run supervisor's own, `trainyard-shim`.

/// The run supervisor's log: its stderr, which is `shim.log` in the run folder (`slurm.out`
/// for a Slurm task), at the server's level (`info`, or the server's `RUST_LOG`, which the
/// server hands the shim), plain text.
pub fn init_supervisor() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::INFO.into())
        .from_env_lossy();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(no_secrets()))
        .init();
}

/// Drops every event of dependencies that log credentials, whatever `RUST_LOG` asks for:
/// `s3s` logs whole requests (signatures, security tokens) and the signature it expected of a
/// failed request, with which that request can be replayed. The S3 endpoint logs each request
/// itself (one access line, warnings for storage errors).
pub fn no_secrets() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool>
{
    tracing_subscriber::filter::filter_fn(|meta| {
        let target = meta.target();
        !(target == "s3s" || target.starts_with("s3s::"))
    })
}
