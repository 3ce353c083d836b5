//! `paywire config`: the defaults of chat, model, crank and audit, like `solana config`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::settings::{self, Settings};

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
pub enum ConfigCommand {
    /// Print the file's path and every setting in effect, with where it comes from
    Get,
    /// Set one or more defaults (an empty value removes one)
    Set(ConfigSetArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("setting").required(true).multiple(true))]
pub struct ConfigSetArgs {
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

pub fn run(
    command: ConfigCommand,
    path: &std::path::Path,
    mut settings: Settings,
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
