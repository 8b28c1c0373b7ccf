//! Log output: `tracing` lines on stderr, as text for people (coloured on a terminal) or as
//! one JSON object per line for log pipelines.

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is a level or `tracing` directives, already
/// checked by the config's validation.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("log filter `{filter}`: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}

/// The filter for commands other than `serve`: RUST_LOG, else warnings only (their output is
/// for the user; logs would get in the way).
pub fn init_for_tools() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let filter = if tracing_subscriber::EnvFilter::try_new(&filter).is_ok() {
        filter
    } else {
        "warn".into()
    };
    // Nothing else installs a subscriber, so this cannot fail; if it did, logs are lost, not
    // the command's output.
    let _ = init(&filter, LogFormat::Text);
}
