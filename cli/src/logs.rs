//! Operators' logs: one `tracing` subscriber for the whole process, installed before anything
//! runs, writing to stderr (stdout stays the commands' output). `RUST_LOG` filters (default:
//! info for paywire's crates, warn for dependencies, whose `log` records it also takes in);
//! human-readable lines by default, one JSON object a line with `--log-format json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Without `RUST_LOG`: our crates at info, everything else (the Solana runtime, hyper, sqlx)
/// at warn, but tarpc (program-test's in-process banks client and server), which warns on
/// every call that no OpenTelemetry is installed and of every stream ending at shutdown.
const DEFAULT_FILTER: &str =
    "warn,tarpc=error,paywire=info,indexer=info,gateway=info,ledger=info,localnet=info";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level of each object, where log pipelines look for them.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// Reports the error that ends the command: as anyhow prints it for people (the chain of
/// causes; a backtrace only if RUST_BACKTRACE or RUST_LIB_BACKTRACE asks), or as one JSON log
/// event.
pub fn fatal(error: &anyhow::Error, format: LogFormat) {
    match format {
        LogFormat::Human => eprintln!("Error: {error:?}"),
        LogFormat::Json => tracing::error!(error = format!("{error:#}"), "paywire failed"),
    }
}
