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

/// Reports the error that ends the command: for people, the error and the chain of its
/// causes — the backtrace only with `PAYWIRE_BACKTRACE=1` (`RUST_BACKTRACE` is often set for
/// every program in a shell, and a user of the CLI did not ask for ours); or as one JSON log
/// event.
pub fn fatal(error: &anyhow::Error, format: LogFormat) {
    match format {
        LogFormat::Human => eprintln!("{}", for_people(error, backtrace_asked())),
        LogFormat::Json => tracing::error!(error = format!("{error:#}"), "paywire failed"),
    }
}

fn backtrace_asked() -> bool {
    std::env::var("PAYWIRE_BACKTRACE").is_ok_and(|v| v == "1")
}

/// Errors capture a backtrace (anyhow reads `RUST_LIB_BACKTRACE`) exactly when
/// `PAYWIRE_BACKTRACE=1` asks for one: never otherwise, not even on the gateway's error paths.
/// Only sound while one thread runs: call it first.
pub fn capture_backtraces() {
    let capture = if backtrace_asked() { "1" } else { "0" };
    std::env::set_var("RUST_LIB_BACKTRACE", capture);
}

/// `Error: …`, then each cause, then (if `backtrace`) where it happened.
fn for_people(error: &anyhow::Error, backtrace: bool) -> String {
    let mut text = format!("Error: {error}");
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for cause in causes {
            text.push_str(&format!("\n    {cause}"));
        }
    }
    if backtrace {
        text.push_str(&format!("\n\nBacktrace:\n{}", error.backtrace()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::for_people;

    #[test]
    fn an_error_is_printed_with_its_causes_and_a_backtrace_only_when_asked() {
        // Whether or not RUST_BACKTRACE made anyhow capture one.
        let error = anyhow::Error::msg("no connection").context("cannot reach Postgres");
        let text = for_people(&error, false);
        assert_eq!(
            text,
            "Error: cannot reach Postgres\n\nCaused by:\n    no connection"
        );
        assert!(for_people(&error, true).contains("Backtrace:"));
    }
}
