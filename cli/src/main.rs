//! `paywire`: one command for the whole system: `paywire up` runs it all on this machine;
//! `localnet`, `indexer`, `gateway` run its parts; `chat`, `balance`, `topup`, `withdraw` and
//! `keys` (agents), `model` and `crank` (creators), `audit` (auditors) use it; `config` keeps their defaults; `bench` measures it.

mod commands;
mod interrupt;
mod logs;
mod postgres;
mod release;
mod settings;
mod verify_chain;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "paywire",
    version,
    about = "Paid AI inference per call, settled on-chain (x402 on Solana and Base)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The CLI config file with defaults for chat, model, crank and audit (see `paywire
    /// config`) [default: ~/.config/paywire/cli.toml]
    #[arg(long, global = true, env = "PAYWIRE_CLI_CONFIG")]
    cli_config: Option<PathBuf>,
    /// Logs on stderr: human lines, or one JSON object a line (filtered by RUST_LOG)
    #[arg(
        long,
        global = true,
        env = "PAYWIRE_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    log_format: logs::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    Up(commands::up::UpArgs),
    Localnet(commands::localnet::LocalnetArgs),
    Indexer(commands::indexer::IndexerArgs),
    Gateway(commands::gateway::GatewayArgs),
    Audit(commands::audit::AuditArgs),
    Chat(commands::chat::ChatArgs),
    Balance(commands::balance::BalanceArgs),
    #[command(name = "topup")]
    TopUp(commands::topup::TopUpArgs),
    Withdraw(commands::withdraw::WithdrawArgs),
    /// API keys (pw_…) that spend the wallet's balance from any OpenAI client: create, list,
    /// revoke
    Keys(commands::keys::KeysArgs),
    Crank(commands::crank::CrankArgs),
    OperatorTransfer(commands::operator_transfer::OperatorTransferArgs),
    /// Creators' commands: register, update, tokenize, claim, release-held, show
    Model(commands::model::ModelArgs),
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Measure parts of paywire on this machine (ratios against baselines from the same run)
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    // First, while one thread runs: errors capture a backtrace only when it will be printed.
    logs::capture_backtraces();
    let cli = Cli::parse();
    logs::init(cli.log_format);
    let format = cli.log_format;
    // An audit that could not be made exits 2, never 1 (what it found does not reconcile).
    let failure = match cli.command {
        Command::Audit(_) => std::process::ExitCode::from(2),
        _ => std::process::ExitCode::FAILURE,
    };
    let result = (|| {
        // Before the runtime starts: setting TMPDIR is only sound while one thread runs.
        let scratch = runs_a_local_chain(&cli.command)
            .then(own_temp_dir)
            .transpose()?;
        let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
        if stops_on_ctrl_c(&cli.command) {
            let _inside = runtime.enter();
            interrupt::listen().context("listening for Ctrl-C")?;
        }
        let result = runtime.block_on(run(cli));
        drop(runtime);
        drop(scratch);
        result
    })();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            logs::fatal(&e, format);
            failure
        }
    }
}

/// The commands that run until Ctrl-C and clean up when it comes; the others keep the default
/// (the process ends at once).
fn stops_on_ctrl_c(command: &Command) -> bool {
    match command {
        Command::Up(_) | Command::Localnet(_) | Command::Indexer(_) | Command::Gateway(_) => true,
        Command::Audit(args) => args.serves(),
        _ => false,
    }
}

fn runs_a_local_chain(command: &Command) -> bool {
    matches!(
        command,
        Command::Up(_)
            | Command::Localnet(_)
            | Command::Bench(commands::bench::BenchCommand::Gateway(_))
    )
}

/// A temporary directory of this process's own, made the process's TMPDIR, and removed with
/// everything in it when dropped. solana-program-test's AccountsDb puts scratch directories
/// in the temporary directory and removes them on a background thread that the process's exit
/// can cut short; this way nothing of them outlives the command.
fn own_temp_dir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    // 0711: others cannot list it, but the postgres user of a throwaway cluster (see
    // postgres.rs) reaches the cluster's directory inside; what is secret in here (key files)
    // sits in 0700 directories of its own.
    let dir = tempfile::Builder::new()
        .prefix("paywire-")
        .permissions(std::fs::Permissions::from_mode(0o711))
        .tempdir()?;
    // SAFETY: called from `main` before any other thread exists.
    unsafe { std::env::set_var("TMPDIR", dir.path()) };
    Ok(dir)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings_path = match cli.cli_config {
        Some(path) => path,
        None => settings::default_path()?,
    };
    let settings = settings::Settings::load(&settings_path)?;
    match cli.command {
        Command::Up(args) => commands::up::run(args).await,
        Command::Localnet(args) => commands::localnet::run(args).await,
        Command::Indexer(args) => commands::indexer::run(args).await,
        Command::Gateway(args) => commands::gateway::run(args).await,
        Command::Audit(args) => commands::audit::run(args, &settings).await,
        Command::Chat(args) => commands::chat::run(args, &settings).await,
        Command::Balance(args) => commands::balance::run(args, &settings).await,
        Command::TopUp(args) => commands::topup::run(args, &settings).await,
        Command::Withdraw(args) => commands::withdraw::run(args, &settings).await,
        Command::Keys(args) => commands::keys::run(args, &settings).await,
        Command::Crank(args) => commands::crank::run(args, &settings).await,
        Command::OperatorTransfer(args) => commands::operator_transfer::run(args, &settings).await,
        Command::Model(args) => commands::model::run(args, &settings).await,
        Command::Config(command) => commands::config::run(command, &settings_path, settings),
        Command::Bench(command) => commands::bench::run(command).await,
    }
}
