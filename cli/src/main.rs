//! `paywire`: one command for the whole system: `paywire up` runs it all on this machine;
//! `localnet`, `indexer`, `gateway` run its parts; `chat` (agents), `model` and `crank`
//! (creators), `audit` (auditors) use it; `config` keeps their defaults; `bench` measures it.

mod bench_gateway;
mod bench_program;
mod chat;
mod crank;
mod logs;
mod model;
mod postgres;
mod settings;
mod up;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use clap::{builder::TypedValueParser, Args, Parser, Subcommand};
use localnet::{Localnet, LocalnetConfig, ProgramBuild};

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
    Up(UpArgs),
    Localnet(LocalnetArgs),
    Indexer(IndexerArgs),
    Gateway(GatewayArgs),
    Audit(AuditArgs),
    Chat(ChatArgs),
    Crank(CrankArgs),
    /// Creators' commands: register, update, tokenize, claim, release-held, show
    Model(model::ModelArgs),
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure parts of paywire on this machine (ratios against baselines from the same run)
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Show or set the defaults of chat, model, crank and audit (like `solana config`).
///
/// The file (TOML, at --cli-config / PAYWIRE_CLI_CONFIG, else ~/.config/paywire/cli.toml):
///   rpc_url = "https://api.devnet.solana.com"    Solana JSON-RPC of the cluster
///   keypair = "~/.config/solana/id.json"         signer: creator, paying agent, crank fee payer
///   gateway = "https://gateway.example.com"      the gateway's base URL
///   database_url = "postgres://…"                the ledger, for audit and crank
/// A flag or environment variable wins over the file; the file wins over built-in defaults.
#[derive(Subcommand, Debug)]
#[command(verbatim_doc_comment)]
enum ConfigCommand {
    /// Print the file's path and every setting in effect, with where it comes from
    Get,
    /// Set one or more defaults (an empty value removes one)
    Set(ConfigSetArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("setting").required(true).multiple(true))]
struct ConfigSetArgs {
    /// Solana JSON-RPC URL, or a moniker: localhost, devnet, testnet, mainnet-beta (l, d, t, m)
    #[arg(long, short = 'u', visible_alias = "rpc-url", group = "setting")]
    url: Option<String>,
    /// A Solana CLI keypair file
    #[arg(long, short = 'k', group = "setting")]
    keypair: Option<PathBuf>,
    /// The gateway's base URL
    #[arg(long, group = "setting")]
    gateway: Option<String>,
    /// Postgres holding the ledger
    #[arg(long, group = "setting")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum BenchCommand {
    Indexer(BenchIndexerArgs),
    Gateway(BenchGatewayArgs),
    Program(BenchProgramArgs),
}

/// Compute units per model-vault instruction, from the program suite run against the SBF
/// build: calls, then min, median and max over the successful calls, and the max over every
/// call (a refusal must fit the budget too). Build the .so first with ../shared/sbf/build.sh;
/// run from the workspace. The shared toolchain's figures are estimates that run high.
#[derive(Args, Debug)]
struct BenchProgramArgs {
    /// The directory holding model_vault.so
    #[arg(long, env = "SBF_OUT_DIR", default_value = "target/deploy")]
    so_dir: PathBuf,
    /// Print one JSON object: instruction → {calls, ok_calls, ok_min, ok_median, ok_max, max}
    #[arg(long)]
    json: bool,
}

/// Paid requests through the gateway against the same requests straight to its upstream.
///
/// Starts, in this process: localnet (Solana), the demo upstream, and the gateway on a
/// scratch database created on the server of --database-url (dropped afterwards). Every paid
/// request carries a fresh payment that is verified and settled; settlement (waiting for
/// `confirmed`, about one slot) is reported on its own as settle_p50_ms and taken out of the
/// paid latencies, which therefore show what the gateway adds: pricing, the x402 checks, the
/// simulation of the payment, the ledger writes and the proxying.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct BenchGatewayArgs {
    /// Postgres server to run on (needs CREATE DATABASE)
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Requests per side
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Solana slot time of the local chain, in milliseconds
    #[arg(long, default_value_t = 50)]
    slot_ms: u64,
    /// Print one JSON object (direct_rps, paid_rps, direct_p50_ms, paid_p50_ms, direct_p99_ms, paid_p99_ms, settle_p50_ms, …)
    #[arg(long)]
    json: bool,
}

/// Pay for one chat completion with x402 and print the answer and the receipt.
///
/// Asks the gateway, refuses to pay more than --max-spend, pays on --chain (Solana from a
/// keypair file, Base from a private key), streams the answer, then prints the receipt
/// (charge, actual cost, credit, transaction) on stderr. A retry after a network error sends
/// the same payment under the same payment id, so it never pays twice.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct ChatArgs {
    /// The prompt
    prompt: String,
    /// The model (see GET /v1/models)
    #[arg(long)]
    model: String,
    /// The gateway's base URL [default: the config file's gateway, else http://127.0.0.1:8402]
    #[arg(long, env = "PAYWIRE_GATEWAY")]
    gateway: Option<String>,
    /// solana or base
    #[arg(long, default_value = "solana")]
    chain: String,
    /// The most this call may cost, in USDC
    #[arg(long, default_value = "0.10")]
    max_spend: String,
    /// Ceiling on the answer's tokens (the price is computed with it)
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Solana payer: a Solana CLI keypair file [default: the config file's keypair]
    #[arg(long, env = "PAYWIRE_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// Base payer: a hex private key
    #[arg(long, env = "PAYWIRE_BASE_PRIVATE_KEY")]
    private_key: Option<String>,
    /// Solana JSON-RPC, for a recent blockhash [default: the config file's rpc_url, else
    /// http://127.0.0.1:8899]
    #[arg(long, short = 'u', visible_alias = "url", env = "PAYWIRE_SOLANA_RPC")]
    rpc_url: Option<String>,
    /// The USDC to pay with: its mint on Solana, its contract on Base. Any other asset the
    /// gateway names is refused [default: Circle's USDC on Solana and Base mainnet, devnet
    /// and Base Sepolia; other networks (localnet) need it]
    #[arg(long, env = "PAYWIRE_USDC")]
    usdc: Option<String>,
    /// Ask for the whole answer at once instead of a stream
    #[arg(long)]
    no_stream: bool,
}

/// Run buyback_and_burn for every tokenized model whose guards allow it.
///
/// The program decides (cooldown, price deviation from the reference price, price-impact
/// cap, nothing to buy back); the crank reports each refusal by name. Models come from
/// --model, or from the ledger (--database-url) where the indexer recorded tokenizations.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct CrankArgs {
    /// Solana JSON-RPC [default: the config file's rpc_url, else http://127.0.0.1:8899]
    #[arg(long, short = 'u', visible_alias = "url", env = "PAYWIRE_SOLANA_RPC")]
    rpc_url: Option<String>,
    /// Pays the transaction fees (a Solana CLI keypair file); the crank needs no other
    /// authority [default: the config file's keypair]
    #[arg(long, env = "PAYWIRE_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// A model slug to crank (repeatable)
    #[arg(long = "model")]
    models: Vec<String>,
    /// The ledger, to find every tokenized model [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// A priority fee, in microlamports per compute unit (the unit limit is always set)
    #[arg(long, env = "PAYWIRE_PRIORITY_FEE")]
    priority_fee: Option<u64>,
    /// Keep cranking, a round every this many seconds
    #[arg(long)]
    every: Option<u64>,
}

/// Audit what the gateway sold against what the chains say.
///
/// Every settled charge is matched to the on-chain transfer of its settlement (same
/// transaction, amount and destination): matched, missing, amount_mismatch,
/// wrong_destination. Every transfer into a payTo address that no charge and no model-vault
/// instruction explains is an unexplained_inflow. With --solana-rpc, each tokenized model's
/// vault must add up (revenue in, as payments and held revenue released = vault balance on
/// chain + buybacks + their protocol fees + creator claims + anything else that left, each
/// movement by the model-vault instruction that caused it) and its token supply too
/// (minted − burned = supply on chain). A check that does not add up is read again until the
/// ledger has reached the slot the chain answered at (up to 20 s): payments in flight on a live
/// system are not discrepancies.
/// Exits 1 when anything fails to reconcile.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct AuditArgs {
    /// Postgres holding the ledger [default: the config file's database_url]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Only this model's charges
    #[arg(long)]
    model: Option<String>,
    /// From this time on (RFC 3339, e.g. 2026-11-22T00:00:00Z)
    #[arg(long)]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before this time (RFC 3339)
    #[arg(long)]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// table, csv or json (the ledger API's JSON)
    #[arg(long, default_value = "table", value_parser = clap::builder::PossibleValuesParser::new(audit::Format::NAMES).map(|name| name.parse::<audit::Format>().expect("a listed format")))]
    format: audit::Format,
    /// Solana JSON-RPC: also check each tokenized model's vault balance and token supply
    #[arg(long, env = "PAYWIRE_SOLANA_RPC")]
    solana_rpc: Option<String>,
    /// The ledger's cursor of the indexer following that chain (its `[solana] cursor`): a
    /// check that does not add up waits for it to reach the slot the chain answered at
    #[arg(long, default_value = indexer::config::SOLANA_CURSOR)]
    solana_cursor: String,
    /// Instead of printing one report, serve the ledger page (charts) and its read-only JSON
    /// API here until Ctrl-C, like `paywire indexer --listen` without following the chains
    #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["model", "from", "to", "format"])]
    serve: Option<std::net::SocketAddr>,
}

/// Serve the paid-inference gateway: OpenAI-compatible, paid per call with x402.
///
/// POST /v1/chat/completions answers 402 with the ways to pay (Solana USDC to the model's
/// vault once tokenized, else the treasury; Base USDC by EIP-3009 to the Base treasury); a
/// paid retry is verified, settled, routed to the cheapest healthy provider and answered with
/// a receipt. Also: POST /v1/quote, GET /v1/models, /.well-known/x402,
/// /.well-known/agent-card.json, /openapi.json, /healthz, /metrics; and, with
/// facilitator_key set, /facilitator/{supported,verify,settle} for callers presenting it.
///
/// The config file (TOML): listen, public_url, database_url, quote_secret, quote_ttl_secs,
/// facilitator_url, facilitator_key, rate_limit_per_minute (per payer),
/// client_rate_limit_per_minute (per client IP), upstream_timeout_secs; [solana] rpc_url,
/// network, usdc_mint, treasury, fee_payer_keypair, max_compute_unit_price,
/// max_compute_units, confirm_timeout_secs (then 202: retry with the same payment);
/// [base] rpc_url, network, usdc, usdc_name, usdc_version, treasury,
/// facilitator_private_key; and [[models]] slug, creator (the on-chain creator whose vault
/// gets the revenue; else the treasury), input_per_mtok, output_per_mtok, floor, max_tokens
/// with [[models.providers]] name, base_url, api_key_env, model, input_cost_per_mtok,
/// output_cost_per_mtok. Prices are USDC decimal strings.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct GatewayArgs {
    /// The config file (TOML, above)
    #[arg(long, env = "PAYWIRE_GATEWAY_CONFIG")]
    config: PathBuf,
    /// Postgres holding the ledger (overrides the config file's database_url)
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on (overrides the config file's listen)
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

/// The ledger write path against raw COPY (its practical limit) and single-row INSERTs (the
/// naive baseline), with the primary key in place, plus the decoder's rate. Runs on a scratch
/// database created on the server of --database-url and dropped afterwards.
#[derive(Args, Debug)]
struct BenchIndexerArgs {
    /// Postgres server to run on (needs CREATE DATABASE)
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Decoded transfers written by the write path and by COPY
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows for the single-row INSERT baseline (slow; its rate is what is reported)
    #[arg(long, default_value_t = 20_000)]
    insert_rows: usize,
    /// Rows per write-path batch
    #[arg(long, default_value_t = 5_000)]
    batch_rows: usize,
    /// Transactions decoded for the decode rate
    #[arg(long, default_value_t = 200_000)]
    decode_txs: usize,
    /// Print one JSON object (write_rows_per_s, copy_rows_per_s, insert_rows_per_s, decode_tx_per_s, …)
    #[arg(long)]
    json: bool,
}

/// Run the whole system on this machine, with a demo, and stay up until Ctrl-C.
///
/// Starts Postgres (a fresh database on the DATABASE_URL server, dropped on exit; without
/// DATABASE_URL a throwaway cluster made with this machine's initdb/pg_ctl in a temporary
/// directory, removed on exit), local Solana with the
/// model-vault program and local Base (anvil), the indexer, and the gateway with a built-in
/// demo upstream. Then the demo: two models are registered and one is tokenized; an agent
/// pays for --calls calls on both chains (USDC to the tokenized model's vault, to the
/// treasury for the other); the crank runs buyback_and_burn; every charge is audited against
/// what the indexer saw on chain. Prints the URLs and stays up until Ctrl-C.
/// With --exit it stops after the audit and exits 0 only if everything reconciles.
/// However it stops (--exit, Ctrl-C, an error such as a port already taken), it leaves
/// nothing behind: no process, no database, no key file (they are written 0600 in a private
/// temporary directory, unless --data-dir keeps them).
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct UpArgs {
    /// Paid calls the demo agent makes
    #[arg(long, default_value_t = 8)]
    calls: usize,
    /// Stop after the audit; exit 0 only if everything reconciles
    #[arg(long)]
    exit: bool,
    /// Postgres to use [default: a throwaway cluster]
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The gateway's port (0 picks a free one)
    #[arg(long, default_value_t = 8402)]
    port: u16,
    /// Milliseconds per Solana slot
    #[arg(long, default_value_t = 100)]
    slot_ms: u64,
    /// Keep the key files (demo agent, creator, treasury, …) in this directory after exit
    /// [default: a private temporary directory, removed on exit]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which model-vault the local Solana runs: `auto` (this checkout's SBF build,
    /// target/deploy/model_vault.so, while it is newer than the program's sources; else
    /// native), `native`, or the path of a .so
    #[arg(long, env = "PAYWIRE_PROGRAM", default_value = "auto")]
    program: String,
}

/// Follow every USDC movement and model-vault instruction on Solana and Base into the ledger.
///
/// Solana: backfills over JSON-RPC from the stored cursor to the tip, then follows Yellowstone
/// gRPC live (resuming from the cursor after any disconnect, backfilling any gap); the program,
/// the treasury's USDC account and, as models are tokenized, their vaults and pool reserves.
/// Base: USDC Transfer logs to or from the treasury, reorg-safe.
/// Rows are written idempotently with the cursor in the same transaction: stop it any time.
///
/// The config file (TOML):
///   database_url = "postgres://…"          (or DATABASE_URL / --database-url)
///   [solana]
///   rpc_url = "http://127.0.0.1:8899"
///   grpc_url = "http://127.0.0.1:10000"
///   treasury_usdc = "<the treasury's USDC account>"
///   program_id = "…"      accounts = ["…"]      start_slot = 0      (optional)
///   [base]
///   rpc_url = "http://127.0.0.1:8545"
///   usdc = "0x…"
///   treasury = "0x…"
///   confirmations = 12    poll_interval_ms = 1000    max_block_range = 2000
///   start_block = 0       accounts = ["0x…"]                       (optional)
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct IndexerArgs {
    /// The config file (TOML, above)
    #[arg(
        long,
        env = "PAYWIRE_INDEXER_CONFIG",
        required_unless_present = "localnet"
    )]
    config: Option<PathBuf>,
    /// Follow the chains of a running `paywire localnet`, from its state file, instead
    #[arg(long, conflicts_with = "config")]
    localnet: Option<PathBuf>,
    /// Postgres holding the ledger (overrides the config file's database_url)
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Also serve the ledger here, read-only: the page with charts at /ledger/ and its JSON API
    /// (/ledger/audit, /ledger/models — vaults and supply against [solana] rpc_url —,
    /// /ledger/revenue, /ledger/buybacks, /ledger/charges, /ledger/transfers, /ledger/cursors),
    /// and the indexer's Prometheus metrics at /metrics (lag, cursors, rows written)
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

/// Run a local Solana (with the model-vault program) and a local Base, set up for paywire.
///
/// Solana: an in-process bank with model-vault, SPL Token, Token-2022 and ATA, advancing one
/// slot every --slot-ms, served as JSON-RPC (--rpc-port) and Yellowstone gRPC (--grpc-port).
/// Base: anvil (--evm-port, chain id 84532) with a USDC look-alike supporting EIP-3009.
/// Both get a USDC, the protocol config, a demo payer holding 1,000 USDC and a funded
/// facilitator key. Runs until Ctrl-C.
///
/// The state file (JSON) names everything a client needs:
///   solana.rpc_url, solana.grpc_url, solana.slot_ms   where to connect
///   solana.program_id, solana.config                   model-vault and its Config account
///   solana.usdc_mint, solana.usdc_decimals              the local USDC (SPL Token)
///   solana.admin, solana.admin_keypair                  config admin, also the USDC mint authority
///   solana.treasury, solana.treasury_keypair, solana.treasury_usdc
///                                                       protocol treasury and its USDC account
///   solana.payer, solana.payer_keypair, solana.payer_usdc
///                                                       demo agent with SOL and 1,000 USDC
///   solana.facilitator, solana.facilitator_keypair      funded fee payer for the x402 facilitator
///   base.rpc_url, base.chain_id, base.network           anvil (null with --no-evm)
///   base.usdc, base.usdc_name, base.usdc_version        USDC contract and its EIP-712 domain
///   base.treasury                                       Base treasury address
///   base.payer, base.payer_private_key                  demo agent with ETH and 1,000 USDC
///   base.facilitator, base.facilitator_private_key      funded key to submit EIP-3009 transfers
/// Keypair paths point to Solana CLI keypair files in the data directory.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct LocalnetArgs {
    /// JSON-RPC port (0 picks a free one)
    #[arg(long, env = "PAYWIRE_RPC_PORT", default_value_t = 8899)]
    rpc_port: u16,
    /// Yellowstone gRPC port (0 picks a free one)
    #[arg(long, env = "PAYWIRE_GRPC_PORT", default_value_t = 10000)]
    grpc_port: u16,
    /// anvil's JSON-RPC port (0 picks a free one)
    #[arg(long, env = "PAYWIRE_EVM_PORT", default_value_t = 8545)]
    evm_port: u16,
    /// Milliseconds per Solana slot
    #[arg(long, env = "PAYWIRE_SLOT_MS", default_value_t = 400)]
    slot_ms: u64,
    /// Do not start the local Base (anvil)
    #[arg(long)]
    no_evm: bool,
    /// Where to write the state JSON [default: <data-dir>/state.json]
    #[arg(long, env = "PAYWIRE_STATE_FILE")]
    state_file: Option<PathBuf>,
    /// Directory for keypairs and the state file [default: ~/.paywire/localnet]
    #[arg(long, env = "PAYWIRE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The anvil binary [default: ~/.paywire/tools/evm (installed there with npm if missing; PAYWIRE_HOME moves it), else PATH]
    #[arg(long, env = "PAYWIRE_ANVIL")]
    anvil: Option<PathBuf>,
    /// Which model-vault the local Solana runs: `auto` (this checkout's SBF build,
    /// target/deploy/model_vault.so, while it is newer than the program's sources; else
    /// native), `native`, or the path of a .so
    #[arg(long, env = "PAYWIRE_PROGRAM", default_value = "auto")]
    program: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logs::init(cli.log_format);
    let format = cli.log_format;
    let result = (|| {
        // Before the runtime starts: setting TMPDIR is only sound while one thread runs.
        let scratch = runs_a_local_chain(&cli.command)
            .then(own_temp_dir)
            .transpose()?;
        let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
        let result = runtime.block_on(run(cli));
        drop(runtime);
        drop(scratch);
        result
    })();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            logs::fatal(&e, format);
            std::process::ExitCode::FAILURE
        }
    }
}

fn runs_a_local_chain(command: &Command) -> bool {
    matches!(
        command,
        Command::Up(_) | Command::Localnet(_) | Command::Bench(BenchCommand::Gateway(_))
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
        Command::Up(args) => {
            let reconciled = up::run(up::UpConfig {
                calls: args.calls,
                exit: args.exit,
                database_url: args.database_url,
                port: args.port,
                slot_ms: args.slot_ms.max(1),
                data_dir: args.data_dir,
                program: program_build(&args.program)?,
            })
            .await?;
            // An error, not `process::exit`, so that the process's temporary directory goes.
            anyhow::ensure!(
                !args.exit || reconciled,
                "the audit above does not reconcile"
            );
            Ok(())
        }
        Command::Localnet(args) => localnet(args).await,
        Command::Indexer(args) => run_indexer(args).await,
        Command::Gateway(args) => run_gateway(args).await,
        Command::Chat(args) => {
            chat::run(chat::ChatConfig {
                gateway: settings.gateway(args.gateway),
                model: args.model,
                prompt: args.prompt,
                chain: args.chain,
                max_spend: args.max_spend,
                max_tokens: args.max_tokens,
                keypair: settings.keypair(args.keypair),
                private_key: args.private_key,
                rpc_url: settings.rpc_url(args.rpc_url),
                usdc: args.usdc,
                stream: !args.no_stream,
            })
            .await
        }
        Command::Model(args) => model::run(args, &settings).await,
        Command::Config(command) => config(command, &settings_path, settings),
        Command::Crank(args) => {
            crank::run(crank::CrankConfig {
                rpc_url: settings.rpc_url(args.rpc_url),
                keypair: settings.required_keypair(args.keypair)?,
                models: args.models,
                database_url: settings.database_url(args.database_url),
                every: args.every,
                priority_fee: args.priority_fee,
            })
            .await
        }
        Command::Audit(args) => run_audit(args, &settings).await,
        Command::Bench(BenchCommand::Indexer(args)) => bench_indexer(args).await,
        Command::Bench(BenchCommand::Gateway(args)) => bench_gateway(args).await,
        Command::Bench(BenchCommand::Program(args)) => bench_program(args),
    }
}

async fn run_audit(args: AuditArgs, settings: &settings::Settings) -> anyhow::Result<()> {
    let database_url = settings.database_url(args.database_url).context(
        "no ledger: pass --database-url, set DATABASE_URL, or `paywire config set --database-url <url>`",
    )?;
    let ledger = ledger::Ledger::connect(&database_url).await?;
    let vaults = args
        .solana_rpc
        .as_ref()
        .map(|url| audit::VaultAudit::new(url.clone(), args.solana_cursor.clone()));
    if let Some(address) = args.serve {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address} (is the port taken?)"))?;
        eprintln!(
            "ledger page on http://{}/ledger/ (JSON API under /ledger/; vault checks {}); Ctrl-C stops it",
            listener.local_addr()?,
            if args.solana_rpc.is_some() { "on" } else { "off: pass --solana-rpc" }
        );
        let api = audit::api::router(ledger, vaults);
        tokio::select! {
            _ = axum_serve(listener, api) => {}
            _ = tokio::signal::ctrl_c() => eprintln!("stopped"),
        }
        return Ok(());
    }
    let models = match &vaults {
        Some(vaults) => Some(vaults.check_models(&ledger, args.model.as_deref()).await?),
        None => None,
    };
    let scope = audit::AuditScope {
        model: args.model,
        from: args.from,
        to: args.to,
    };
    let report = audit::Report {
        charges: audit::audit_charges(&ledger, &scope).await?,
        models,
    };
    print!("{}", report.render(args.format));
    if !report.reconciled() {
        std::process::exit(1);
    }
    Ok(())
}

fn config(
    command: ConfigCommand,
    path: &std::path::Path,
    mut settings: settings::Settings,
) -> anyhow::Result<()> {
    if let ConfigCommand::Set(args) = command {
        // An empty value removes the setting.
        let given = |v: Option<String>, current: &mut Option<String>| {
            if let Some(v) = v {
                *current = Some(v).filter(|v| !v.is_empty());
            }
        };
        given(
            args.url.map(|u| settings::cluster_url(&u)),
            &mut settings.rpc_url,
        );
        given(args.gateway, &mut settings.gateway);
        given(args.database_url, &mut settings.database_url);
        if let Some(keypair) = args.keypair {
            settings.keypair = Some(keypair)
                .filter(|k| !k.as_os_str().is_empty())
                .map(|k| std::path::absolute(&k).unwrap_or(k));
        }
        settings.save(path)?;
    }
    let shown = |value: Option<String>, default: &str| match value {
        Some(v) => v,
        None => format!("{default} (default)"),
    };
    println!("Config File: {}", path.display());
    println!(
        "RPC URL: {}",
        shown(settings.rpc_url.clone(), settings::DEFAULT_RPC_URL)
    );
    println!(
        "Keypair Path: {}",
        shown(
            settings.keypair.as_ref().map(|k| k.display().to_string()),
            "none"
        )
    );
    println!(
        "Gateway: {}",
        shown(settings.gateway.clone(), settings::DEFAULT_GATEWAY)
    );
    println!(
        "Database URL: {}",
        shown(settings.database_url.as_deref().map(ledger::redact), "none")
    );
    Ok(())
}

async fn bench_indexer(args: BenchIndexerArgs) -> anyhow::Result<()> {
    let config = indexer::bench::BenchConfig {
        database_url: args.database_url,
        rows: args.rows,
        insert_rows: args.insert_rows,
        batch_rows: args.batch_rows.max(1),
        decode_txs: args.decode_txs,
    };
    let report = indexer::bench::run(config, |step| eprintln!("  … {step}"))
        .await
        .context("benchmark failed (is Postgres running at --database-url / DATABASE_URL?)")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "ledger write path (batches of {}):       {:>10.0} rows/s",
            report.batch_rows, report.write_rows_per_s
        );
        println!(
            "raw COPY (practical limit):          {:>10.0} rows/s",
            report.copy_rows_per_s
        );
        println!(
            "single-row INSERT (naive baseline):  {:>10.0} rows/s",
            report.insert_rows_per_s
        );
        println!(
            "decode:                              {:>10.0} tx/s",
            report.decode_tx_per_s
        );
        println!(
            "write path = {:.0}% of COPY, {:.1}× single-row INSERTs",
            100.0 * report.write_vs_copy(),
            report.write_rows_per_s / report.insert_rows_per_s
        );
    }
    Ok(())
}

async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let mut config = gateway::GatewayConfig::from_file(&args.config)?;
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let url = config.database_url.clone().context(
        "no database: set database_url in the config file, DATABASE_URL, or --database-url",
    )?;
    let ledger = ledger::Ledger::connect(&url).await?;
    let app = std::sync::Arc::new(gateway::App::new(&config, ledger).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is the port taken? use --listen)",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    eprintln!(
        "paywire gateway on http://{address} ({} models; ledger {})",
        app.catalog.models().len(),
        ledger::redact(&url)
    );
    eprintln!("  POST http://{address}/v1/chat/completions   (402 → pay → answer)");
    eprintln!("  GET  http://{address}/v1/models");
    eprintln!("Ctrl-C stops it after the requests in flight.");
    gateway::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing requests in flight …");
    })
    .await?;
    eprintln!("stopped");
    Ok(())
}

fn bench_program(args: BenchProgramArgs) -> anyhow::Result<()> {
    let units = bench_program::run(&args.so_dir)?;
    if args.json {
        println!("{}", serde_json::to_string(&units)?);
        return Ok(());
    }
    println!("compute units per call, CPIs included (SBF build, shared toolchain: estimates)");
    println!("instruction              calls     ok   ok min  ok median   ok max   max (all)");
    for (name, u) in &units {
        println!(
            "{name:<22} {:>7} {:>6} {:>8} {:>10} {:>8} {:>11}",
            u.calls, u.ok_calls, u.ok_min, u.ok_median, u.ok_max, u.max
        );
    }
    Ok(())
}

async fn bench_gateway(args: BenchGatewayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.requests > 0 && args.concurrency > 0,
        "--requests and --concurrency must be positive"
    );
    let config = bench_gateway::BenchConfig {
        database_url: args.database_url,
        requests: args.requests,
        concurrency: args.concurrency,
        slot_ms: args.slot_ms.max(1),
    };
    let r = bench_gateway::run(config, |step| eprintln!("  … {step}")).await?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} requests per side, {} in flight, {} ms slots",
            r.requests, r.concurrency, r.slot_ms
        );
        println!("                     req/s      p50 ms     p99 ms");
        println!(
            "upstream directly  {:>8.0}  {:>9.2}  {:>9.2}",
            r.direct_rps, r.direct_p50_ms, r.direct_p99_ms
        );
        println!(
            "paid via gateway   {:>8.0}  {:>9.2}  {:>9.2}   (settlement excluded)",
            r.paid_rps, r.paid_p50_ms, r.paid_p99_ms
        );
        println!(
            "payment verification p50: {:.2} ms; settlement p50: {:.2} ms",
            r.verify_p50_ms, r.settle_p50_ms
        );
        println!(
            "the gateway adds {:.2} ms at p50 ({:.1}× the direct p50); paid throughput is {:.0}% of direct",
            r.added_p50_ms,
            r.paid_p50_ms / r.direct_p50_ms,
            100.0 * r.paid_rps / r.direct_rps
        );
    }
    Ok(())
}

async fn run_indexer(args: IndexerArgs) -> anyhow::Result<()> {
    let mut config = match (&args.config, &args.localnet) {
        (Some(path), _) => indexer::IndexerConfig::from_file(path)?,
        (None, Some(state)) => indexer_config_for_localnet(state)?,
        (None, None) => anyhow::bail!("pass --config <file> or --localnet <state file>"),
    };
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    let url = config.database_url.clone().context(
        "no database: set database_url in the config file, DATABASE_URL, or --database-url",
    )?;
    let ledger = ledger::Ledger::connect(&url).await?;
    eprintln!(
        "paywire indexer: writing the ledger at {}",
        ledger::redact(&url)
    );
    let metrics = indexer::Metrics::default();
    if let Some(listen) = args.listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (is the port taken?)"))?;
        let address = listener.local_addr()?;
        eprintln!("  ledger page on http://{address}/ledger/ (JSON API under /ledger/)");
        eprintln!("  Prometheus metrics on http://{address}/metrics");
        let vaults = config
            .solana
            .as_ref()
            .map(|s| audit::VaultAudit::new(s.rpc_url.clone(), s.cursor.clone()));
        let api = audit::api::router(ledger.clone(), vaults).merge(metrics.router());
        tokio::spawn(async move { axum_serve(listener, api).await });
    }
    tokio::select! {
        result = indexer::run(&config, ledger, &metrics, |step| eprintln!("  … {step}")) => Ok(result?),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopped (the cursor is stored; the next start resumes from it)");
            Ok(())
        }
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: audit::api::Router) {
    if let Err(e) = audit::api::serve(listener, router).await {
        tracing::error!(error = %e, "ledger API stopped");
    }
}

/// The indexer config that follows everything a `paywire localnet` set up, from its state file.
fn indexer_config_for_localnet(
    state_file: &std::path::Path,
) -> anyhow::Result<indexer::IndexerConfig> {
    let state: localnet::LocalnetState =
        serde_json::from_slice(&std::fs::read(state_file).with_context(|| {
            format!(
                "reading {} (is `paywire localnet` running?)",
                state_file.display()
            )
        })?)
        .with_context(|| format!("{} is not a localnet state file", state_file.display()))?;
    Ok(indexer_config(&state))
}

/// The indexer config that follows everything a localnet set up.
fn indexer_config(state: &localnet::LocalnetState) -> indexer::IndexerConfig {
    let s = &state.solana;
    indexer::IndexerConfig {
        database_url: None,
        solana: Some(indexer::config::SolanaSection::new(
            &s.rpc_url,
            &s.grpc_url,
            &s.treasury_usdc,
        )),
        base: state.base.clone().map(|b| indexer::config::BaseSection {
            rpc_url: b.rpc_url,
            usdc: b.usdc,
            usdc_decimals: 6,
            treasury: b.treasury,
            accounts: vec![],
            start_block: Some(0),
            // anvil does not reorg by itself; one block keeps rows moving to final quickly.
            confirmations: 1,
            poll_interval_ms: 200,
            max_block_range: 2_000,
            cursor: "base".into(),
        }),
    }
}

/// Resolves `--program` against the working directory and says which build runs, and why.
fn program_build(arg: &str) -> anyhow::Result<ProgramBuild> {
    let (build, why) = ProgramBuild::choose(arg, Path::new("."))?;
    eprintln!("model-vault: {build} ({why})");
    Ok(build)
}

async fn localnet(args: LocalnetArgs) -> anyhow::Result<()> {
    if args.slot_ms == 0 {
        anyhow::bail!("--slot-ms must be at least 1");
    }
    localnet::quiet_runtime_logs();
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?)
                .join(".paywire/localnet")
        }
    };
    let state_file = args
        .state_file
        .unwrap_or_else(|| data_dir.join("state.json"));
    eprintln!(
        "paywire localnet: data in {}, state file {}",
        data_dir.display(),
        state_file.display()
    );
    let config = LocalnetConfig {
        rpc_port: args.rpc_port,
        grpc_port: args.grpc_port,
        evm_port: args.evm_port,
        slot_time: Duration::from_millis(args.slot_ms),
        evm: !args.no_evm,
        anvil: args.anvil,
        data_dir: data_dir.clone(),
        program: program_build(&args.program)?,
    };
    // Kept: the data directory is the user's; its key files are written 0600.
    let net = Localnet::start_in(localnet::DataDir::Kept(data_dir), config, |step| {
        eprintln!("  … {step}")
    })
    .await
    .context("starting localnet (is a port taken? pass 0 to pick free ones)")?;
    let state = serde_json::to_string_pretty(&net.state)?;
    // 0600 and whole: it holds Base private keys, and a reader never sees half of it.
    localnet::files::replace_private(&state_file, state.as_bytes())
        .with_context(|| format!("writing {}", state_file.display()))?;
    eprintln!("ready:");
    eprintln!("  Solana JSON-RPC   {}", net.state.solana.rpc_url);
    eprintln!("  Yellowstone gRPC  {}", net.state.solana.grpc_url);
    if let Some(base) = &net.state.base {
        eprintln!(
            "  Base (anvil)      {}  chain id {}",
            base.rpc_url, base.chain_id
        );
    }
    eprintln!("  state             {}", state_file.display());
    eprintln!("Ctrl-C stops.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping …");
    drop(net);
    eprintln!("stopped");
    Ok(())
}
