//! `paywire localnet`: a local Solana with model-vault and a local Base, set up for paywire.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use clap::Args;
use localnet::{Localnet, LocalnetConfig, ProgramBuild};

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
pub struct LocalnetArgs {
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

pub async fn run(args: LocalnetArgs) -> anyhow::Result<()> {
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
        evm_block_time: None,
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
    crate::interrupt::ctrl_c().await;
    eprintln!("stopping …");
    drop(net);
    eprintln!("stopped");
    Ok(())
}

/// Resolves `--program` against the working directory and says which build runs, and why.
pub(super) fn program_build(arg: &str) -> anyhow::Result<ProgramBuild> {
    let (build, why) = ProgramBuild::choose(arg, Path::new("."))?;
    eprintln!("model-vault: {build} ({why})");
    Ok(build)
}
