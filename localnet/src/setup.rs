//! A fresh localnet as clients find it: the USDC mint, the protocol config, a funded demo
//! payer and a facilitator key on both chains, and the state file that names them all.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, DisplayFromStr};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use spl_associated_token_account_interface::{
    address::get_associated_token_address, instruction::create_associated_token_account_idempotent,
};

use crate::{
    evm::{EvmConfig, EvmNode, CHAIN_ID},
    solana::{SolanaConfig, SolanaNode},
    LocalnetError, ProgramBuild,
};

/// USDC every demo payer starts with (base units: 1,000 USDC).
pub const DEMO_USDC: u64 = 1_000_000_000;
/// The Solana treasury's working capital (10 USDC): it releases revenue earned on Base, whose
/// USDC stays in the Base treasury until the operator moves it (docs/money.md), and advances
/// the per-call surpluses that vaults received until they are netted.
pub const TREASURY_FLOAT: u64 = 10_000_000;
const DEMO_LAMPORTS: u64 = 100_000_000_000;

#[derive(Clone, Debug)]
pub struct LocalnetConfig {
    pub rpc_port: u16,
    pub grpc_port: u16,
    pub evm_port: u16,
    pub slot_time: Duration,
    /// Which model-vault the bank runs.
    pub program: ProgramBuild,
    /// Start anvil too.
    pub evm: bool,
    /// anvil's block time (`None`: a block per transaction).
    pub evm_block_time: Option<Duration>,
    pub anvil: Option<PathBuf>,
    /// Where keypair files are written.
    pub data_dir: PathBuf,
}

/// Everything a client needs to talk to this localnet, written as JSON to the state file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalnetState {
    pub solana: SolanaState,
    /// Absent with `--no-evm`.
    pub base: Option<BaseState>,
}

/// Keys are written in base58 (Solana) and 0x-hex (Base) and parsed back into keys.
#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SolanaState {
    pub rpc_url: String,
    pub grpc_url: String,
    pub slot_ms: u64,
    #[serde_as(as = "DisplayFromStr")]
    pub program_id: Pubkey,
    #[serde_as(as = "DisplayFromStr")]
    pub usdc_mint: Pubkey,
    pub usdc_decimals: u8,
    /// The model-vault `Config` account.
    #[serde_as(as = "DisplayFromStr")]
    pub config: Pubkey,
    #[serde_as(as = "DisplayFromStr")]
    pub admin: Pubkey,
    pub admin_keypair: PathBuf,
    /// Owner of the treasury's USDC account (receives protocol fees and pre-listing revenue).
    #[serde_as(as = "DisplayFromStr")]
    pub treasury: Pubkey,
    pub treasury_keypair: PathBuf,
    #[serde_as(as = "DisplayFromStr")]
    pub treasury_usdc: Pubkey,
    /// A demo agent holding SOL and 1,000 USDC.
    #[serde_as(as = "DisplayFromStr")]
    pub payer: Pubkey,
    pub payer_keypair: PathBuf,
    #[serde_as(as = "DisplayFromStr")]
    pub payer_usdc: Pubkey,
    /// A funded key for the gateway's facilitator to pay transaction fees with.
    #[serde_as(as = "DisplayFromStr")]
    pub facilitator: Pubkey,
    pub facilitator_keypair: PathBuf,
    /// The transaction that minted the treasury its working capital: an operator's transfer,
    /// which the audit must be told about (none in a state file written before it existed).
    #[serde(default)]
    pub treasury_funding: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaseState {
    pub rpc_url: String,
    pub chain_id: u64,
    /// CAIP-2 name of the chain, as x402 spells it.
    pub network: String,
    pub usdc: Address,
    /// EIP-712 domain of the USDC contract.
    pub usdc_name: String,
    pub usdc_version: String,
    pub treasury: Address,
    /// The treasury's key (it holds ETH for gas): withdrawals are sent with it.
    pub treasury_private_key: String,
    /// A demo agent holding ETH and 1,000 USDC.
    pub payer: Address,
    pub payer_private_key: String,
    pub facilitator: Address,
    pub facilitator_private_key: String,
}

/// The running chains and what was set up on them. Dropping it stops everything.
pub struct Localnet {
    pub solana: SolanaNode,
    pub evm: Option<EvmNode>,
    pub state: LocalnetState,
}

impl Localnet {
    /// Starts the chains and sets them up, reporting each step to `progress`.
    pub async fn start(
        config: LocalnetConfig,
        progress: impl Fn(&str),
    ) -> Result<Self, LocalnetError> {
        std::fs::create_dir_all(&config.data_dir)?;
        progress(&format!(
            "starting Solana (program-test bank with model-vault, {})",
            config.program
        ));
        let any = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let solana = SolanaNode::start(SolanaConfig {
            rpc_addr: any(config.rpc_port),
            grpc_addr: any(config.grpc_port),
            slot_time: config.slot_time,
            program: config.program.clone(),
        })
        .await?;
        progress("creating USDC, the protocol config and funded demo keys on Solana");
        let solana_state = set_up_solana(&solana, &config).await?;
        let (evm, base) = if config.evm {
            progress("starting anvil and deploying USDC (EIP-3009) on the local Base");
            let evm = EvmNode::start(EvmConfig {
                port: config.evm_port,
                anvil: config.anvil.clone(),
                block_time: config.evm_block_time,
            })
            .await?;
            let base = set_up_base(&evm).await?;
            (Some(evm), Some(base))
        } else {
            (None, None)
        };
        Ok(Localnet {
            solana,
            evm,
            state: LocalnetState {
                solana: solana_state,
                base,
            },
        })
    }
}

async fn set_up_solana(
    node: &SolanaNode,
    config: &LocalnetConfig,
) -> Result<SolanaState, LocalnetError> {
    let chain = &node.chain;
    let keys = KeyFiles(&config.data_dir);
    let (admin, admin_path) = keys.create("admin")?;
    let (treasury, treasury_path) = keys.create("treasury")?;
    let (payer, payer_path) = keys.create("payer")?;
    let (facilitator, facilitator_path) = keys.create("facilitator")?;
    let usdc = Keypair::new();
    for k in [&admin, &treasury, &payer, &facilitator] {
        chain.airdrop(&k.pubkey(), DEMO_LAMPORTS).await?;
    }

    let token = spl_token_interface::ID;
    let mint_len = <spl_token_interface::state::Mint as solana_program_pack::Pack>::LEN;
    let rent = chain.rent_exempt_minimum(mint_len).await?;
    let treasury_usdc = get_associated_token_address(&treasury.pubkey(), &usdc.pubkey());
    let payer_usdc = get_associated_token_address(&payer.pubkey(), &usdc.pubkey());
    let mint_ixs = [
        solana_system_interface::instruction::create_account(
            &admin.pubkey(),
            &usdc.pubkey(),
            rent,
            mint_len as u64,
            &token,
        ),
        spl_token_interface::instruction::initialize_mint2(
            &token,
            &usdc.pubkey(),
            &admin.pubkey(),
            None,
            6,
        )
        .map_err(|e| LocalnetError::Invalid(e.to_string()))?,
        create_associated_token_account_idempotent(
            &admin.pubkey(),
            &treasury.pubkey(),
            &usdc.pubkey(),
            &token,
        ),
        create_associated_token_account_idempotent(
            &admin.pubkey(),
            &payer.pubkey(),
            &usdc.pubkey(),
            &token,
        ),
        spl_token_interface::instruction::mint_to(
            &token,
            &usdc.pubkey(),
            &payer_usdc,
            &admin.pubkey(),
            &[],
            DEMO_USDC,
        )
        .map_err(|e| LocalnetError::Invalid(e.to_string()))?,
        spl_token_interface::instruction::mint_to(
            &token,
            &usdc.pubkey(),
            &treasury_usdc,
            &admin.pubkey(),
            &[],
            TREASURY_FLOAT,
        )
        .map_err(|e| LocalnetError::Invalid(e.to_string()))?,
    ];
    let funding = chain.submit(&mint_ixs, &[&admin, &usdc]).await?;

    // The admin deployed the program: it is the upgrade authority `initialize` requires.
    chain.set_program_upgrade_authority(&admin.pubkey()).await;
    let protocol = model_vault_client::Protocol::new(usdc.pubkey(), treasury.pubkey());
    let initialize = protocol.initialize(&admin.pubkey(), model_vault_client::default_params());
    let initialize = model_vault_client::with_compute_budget(&[initialize], None);
    chain.submit(&initialize, &[&admin]).await?;

    Ok(SolanaState {
        rpc_url: node.rpc_url(),
        grpc_url: node.grpc_url(),
        slot_ms: config.slot_time.as_millis() as u64,
        program_id: model_vault::ID,
        usdc_mint: usdc.pubkey(),
        usdc_decimals: 6,
        config: model_vault_client::config_pda(),
        admin: admin.pubkey(),
        admin_keypair: admin_path,
        treasury: treasury.pubkey(),
        treasury_keypair: treasury_path,
        treasury_usdc,
        payer: payer.pubkey(),
        payer_keypair: payer_path,
        payer_usdc,
        facilitator: facilitator.pubkey(),
        facilitator_keypair: facilitator_path,
        treasury_funding: Some(funding.signature().to_string()),
    })
}

async fn set_up_base(evm: &EvmNode) -> Result<BaseState, LocalnetError> {
    let payer = PrivateKeySigner::random();
    let facilitator = PrivateKeySigner::random();
    let treasury = PrivateKeySigner::random();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(evm.deployer.clone()))
        .connect_http(evm.rpc_url.parse().expect("valid url"));
    for to in [payer.address(), facilitator.address(), treasury.address()] {
        send_eth(&provider, to).await?;
    }
    evm.mint_usdc(payer.address(), DEMO_USDC).await?;
    Ok(BaseState {
        rpc_url: evm.rpc_url.clone(),
        chain_id: CHAIN_ID,
        network: format!("eip155:{CHAIN_ID}"),
        usdc: evm.usdc,
        usdc_name: "USD Coin".into(),
        usdc_version: "2".into(),
        treasury: treasury.address(),
        treasury_private_key: format!("0x{}", alloy::hex::encode(treasury.to_bytes())),
        payer: payer.address(),
        payer_private_key: format!("0x{}", alloy::hex::encode(payer.to_bytes())),
        facilitator: facilitator.address(),
        facilitator_private_key: format!("0x{}", alloy::hex::encode(facilitator.to_bytes())),
    })
}

async fn send_eth(provider: &impl Provider, to: Address) -> Result<(), LocalnetError> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_value(U256::from(10u64).pow(U256::from(20u64)));
    provider
        .send_transaction(tx)
        .await
        .map_err(|e| LocalnetError::Evm(format!("funding {to}: {e}")))?
        .get_receipt()
        .await
        .map_err(|e| LocalnetError::Evm(format!("funding {to}: {e}")))?;
    Ok(())
}

impl SolanaState {
    /// Instruction builders for this localnet's USDC and treasury.
    pub fn protocol(&self) -> model_vault_client::Protocol {
        model_vault_client::Protocol::new(self.usdc_mint, self.treasury)
    }
}

/// Reads a keypair file in the Solana CLI's format.
pub fn read_keypair(path: &Path) -> Result<Keypair, LocalnetError> {
    solana_keypair::read_keypair_file(path).map_err(|e| {
        LocalnetError::Invalid(format!(
            "cannot read the keypair file {}: {e}",
            path.display()
        ))
    })
}

/// New keypair files in a directory.
struct KeyFiles<'a>(&'a Path);

impl KeyFiles<'_> {
    fn create(&self, name: &str) -> Result<(Keypair, PathBuf), LocalnetError> {
        let keypair = Keypair::new();
        let path = self.0.join(format!("{name}.json"));
        crate::files::write_keypair(&path, &keypair)?;
        Ok((keypair, path))
    }
}
