//! `paywire model`: a creator's commands against any cluster — register, update, tokenize,
//! claim, release-held (the treasury's), show. Each prints the transaction and the model's
//! resulting on-chain state.

use std::path::PathBuf;

use anchor_lang::AccountDeserialize;
use anyhow::Context;
use clap::Subcommand;
use ledger::format_usdc;
use model_vault_client::{ModelKeys, Protocol};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::release::{Keeper, Released};

#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
    /// Solana JSON-RPC of the cluster, or localhost, devnet, testnet, mainnet-beta
    /// [default: the config file's rpc_url, else http://127.0.0.1:8899]
    #[arg(
        long,
        short = 'u',
        visible_alias = "url",
        global = true,
        env = "PAYWIRE_SOLANA_RPC"
    )]
    pub rpc_url: Option<String>,
    /// The signer and fee payer: the creator (the treasury owner for release-held)
    /// [default: the config file's keypair]
    #[arg(long, short = 'k', global = true, env = "PAYWIRE_KEYPAIR")]
    pub keypair: Option<PathBuf>,
    /// A priority fee, in microlamports per compute unit (the unit limit is always set, from
    /// the program's measured budgets)
    #[arg(long, global = true, env = "PAYWIRE_PRIORITY_FEE")]
    pub priority_fee: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Register a model under its catalog slug, with the creator's share of revenue
    Register {
        #[arg(long)]
        slug: String,
        /// The creator's share of swept revenue, in basis points
        #[arg(long)]
        share_bps: u16,
    },
    /// Change the creator's share
    Update {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        share_bps: u16,
    },
    /// Tokenize: a Token-2022 mint with fixed supply in a new pool, and the revenue vault
    Tokenize {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        symbol: String,
        /// Token metadata JSON
        #[arg(long)]
        uri: String,
    },
    /// Claim the creator's accrued share into the creator's USDC account
    Claim {
        #[arg(long)]
        slug: String,
    },
    /// (Treasury) release into the model's vault the revenue the ledger computes it is owed
    /// (calls served before it was tokenized, from balances or on Base); `paywire crank` does
    /// it for every model
    ReleaseHeld {
        #[arg(long)]
        slug: String,
        /// The ledger the amount is computed from [default: the config file's database_url]
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Print the model's on-chain state
    Show {
        #[arg(long)]
        slug: String,
    },
}

pub async fn run(args: ModelArgs, settings: &crate::settings::Settings) -> anyhow::Result<()> {
    let rpc = RpcClient::new_with_commitment(
        settings.rpc_url(args.rpc_url.clone()),
        CommitmentConfig::confirmed(),
    );
    let protocol = audit::vaults::protocol(&rpc).await?;
    let signer = || -> anyhow::Result<Keypair> {
        let path = settings.required_keypair(args.keypair.clone())?;
        Ok(localnet::read_keypair(&path)?)
    };
    let (slug, instructions) = match &args.command {
        ModelCommand::Show { slug } => return show(&rpc, &protocol, &protocol.model(slug)).await,
        ModelCommand::Register { slug, share_bps } => {
            let keys = protocol.model(slug);
            (
                slug,
                vec![protocol.register(&signer()?.pubkey(), &keys, *share_bps)],
            )
        }
        ModelCommand::Update { slug, share_bps } => {
            let update = model_vault::ModelUpdate {
                creator: None,
                creator_share_bps: Some(*share_bps),
            };
            (
                slug,
                vec![protocol.update_model(&signer()?.pubkey(), &protocol.model(slug), update)],
            )
        }
        ModelCommand::Tokenize {
            slug,
            name,
            symbol,
            uri,
        } => (
            slug,
            vec![protocol.tokenize(
                &signer()?.pubkey(),
                &protocol.model(slug),
                name,
                symbol,
                uri,
            )],
        ),
        ModelCommand::Claim { slug } => {
            let creator = signer()?.pubkey();
            let destination = protocol.usdc_account(&creator);
            // A creator may never have held USDC: the claim opens their account first.
            (
                slug,
                vec![
                    protocol.create_usdc_account(&creator, &creator),
                    protocol.claim_creator_revenue(&protocol.model(slug), &creator, &destination),
                ],
            )
        }
        ModelCommand::ReleaseHeld { slug, database_url } => {
            let url = settings.database_url(database_url.clone()).context(
                "the amount comes from the ledger: pass --database-url (or set it with paywire config set)",
            )?;
            return release_held(&rpc, &protocol, &signer()?, &url, slug, args.priority_fee).await;
        }
    };
    let signer = signer()?;
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &model_vault_client::with_compute_budget(&instructions, args.priority_fee),
        Some(&signer.pubkey()),
        &[&signer],
        rpc.get_latest_blockhash().await?,
    );
    match rpc.send_and_confirm_transaction(&tx).await {
        Ok(signature) => println!("transaction {signature}"),
        Err(e) => {
            let reason = super::crank::program_error(&e).unwrap_or_else(|| e.to_string());
            anyhow::bail!("the program refused: {reason}");
        }
    }
    show(&rpc, &protocol, &protocol.model(slug)).await
}

/// Releases what the ledger computes owed to `slug`, signed (and paid for) by the treasury.
async fn release_held(
    rpc: &RpcClient,
    protocol: &Protocol,
    treasury: &Keypair,
    database_url: &str,
    slug: &str,
    priority_fee: Option<u64>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        treasury.pubkey() == protocol.treasury,
        "only the treasury releases held revenue: --keypair is {}, the program's treasury is {}",
        treasury.pubkey(),
        protocol.treasury
    );
    let ledger = ledger::Ledger::connect(database_url).await?;
    let keeper = Keeper {
        rpc,
        ledger: &ledger,
        protocol,
        treasury,
        fee_payer: treasury,
        priority_fee,
        minimum: 1,
    };
    keeper.settle_in_flight().await?;
    let totals = ledger
        .revenue_totals(Some(slug))
        .await?
        .into_iter()
        .next()
        .with_context(|| {
            format!("{slug} is sold for no creator in this ledger's catalog: nothing is owed to it")
        })?;
    let released = keeper.release(&totals).await?;
    let said = released.said(slug, 1);
    match released {
        Released::Held(_) | Released::Pending(_) => {
            anyhow::bail!("not released: {}", said.unwrap_or_default())
        }
        Released::Sent(_, signature) => println!("transaction {signature}"),
        Released::Nothing(_) => print!("nothing owed: "),
    }
    println!(
        "{}",
        said.unwrap_or_else(|| format!("{slug} has received what it earned"))
    );
    show(rpc, protocol, &protocol.model(slug)).await
}

async fn show(rpc: &RpcClient, protocol: &Protocol, keys: &ModelKeys) -> anyhow::Result<()> {
    let account = rpc
        .get_account(&keys.model)
        .await
        .with_context(|| format!("model {} is not registered ({})", keys.slug, keys.model))?;
    let model = model_vault::Model::try_deserialize(&mut account.data.as_slice())
        .context("decoding the model account")?;
    println!("model {} ({})", model.slug, keys.model);
    println!(
        "  status: {}",
        if model.is_tokenized() {
            "Tokenized"
        } else {
            "Registered"
        }
    );
    // A share changed after tokenization applies once the next crank has split the revenue
    // paid under the old one.
    let pending = model
        .pending_creator_share_bps
        .map(|share| format!(", share {share} bps from the next crank"))
        .unwrap_or_default();
    println!(
        "  creator: {} (share {} bps{pending})",
        model.creator, model.creator_share_bps
    );
    if model.is_tokenized() {
        let vault = rpc
            .get_token_account_balance(&keys.vault)
            .await
            .map(|b| b.amount)
            .unwrap_or_default();
        let supply = rpc
            .get_token_supply(&keys.mint)
            .await
            .map(|s| s.amount)
            .unwrap_or_default();
        println!("  mint: {} (supply {supply})", keys.mint);
        println!(
            "  vault: {} (payTo {}) holds {} USDC",
            keys.vault,
            keys.vault_authority,
            format_usdc(vault.parse().unwrap_or(0))
        );
    } else {
        println!(
            "  payments go to the treasury ({}) until tokenized",
            protocol.treasury
        );
    }
    let t = &model.totals;
    println!(
        "  totals: revenue swept {}, protocol fees {}, creator accrued {} / claimed {}, buybacks {} / spent {}, burned {} tokens, held released {}",
        format_usdc(t.revenue_swept),
        format_usdc(t.protocol_fees),
        format_usdc(t.creator_accrued),
        format_usdc(t.creator_claimed),
        format_usdc(t.buyback_accrued),
        format_usdc(t.buyback_spent),
        t.tokens_burned,
        format_usdc(t.held_released),
    );
    Ok(())
}
