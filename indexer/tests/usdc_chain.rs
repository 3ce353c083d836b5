//! A localnet with a USDC mint, an agent holding 50 USDC and a vault-like account to pay.

use std::time::Duration;

use localnet::solana::{SolanaConfig, SolanaNode};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use spl_associated_token_account_interface::{
    address::get_associated_token_address, instruction::create_associated_token_account_idempotent,
};

pub struct Usdc {
    pub agent: Keypair,
    pub usdc: Keypair,
    pub vault_owner: Pubkey,
    pub agent_ata: Pubkey,
    pub vault: Pubkey,
}

pub async fn send(
    client: &RpcClient,
    ixs: &[solana_instruction::Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> solana_signature::Signature {
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(
        ixs,
        Some(&payer.pubkey()),
        &all,
        client.get_latest_blockhash().await.unwrap(),
    );
    client
        .send_and_confirm_transaction(&tx)
        .await
        .expect("send")
}

pub async fn start() -> (SolanaNode, RpcClient, Usdc) {
    localnet::quiet_runtime_logs();
    let node = SolanaNode::start(SolanaConfig {
        rpc_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        slot_time: Duration::from_millis(50),
        program: Default::default(),
    })
    .await
    .unwrap();
    let client = RpcClient::new_with_commitment(
        node.rpc_url(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let agent = Keypair::new();
    node.chain
        .airdrop(&agent.pubkey(), 10_000_000_000)
        .await
        .unwrap();
    let usdc = Keypair::new();
    let vault_owner = Keypair::new().pubkey();
    let token = spl_token_interface::ID;
    let len = <spl_token_interface::state::Mint as solana_program_pack::Pack>::LEN;
    let rent = client
        .get_minimum_balance_for_rent_exemption(len)
        .await
        .unwrap();
    let agent_ata = get_associated_token_address(&agent.pubkey(), &usdc.pubkey());
    let vault = get_associated_token_address(&vault_owner, &usdc.pubkey());
    send(
        &client,
        &[
            solana_system_interface::instruction::create_account(
                &agent.pubkey(),
                &usdc.pubkey(),
                rent,
                len as u64,
                &token,
            ),
            spl_token_interface::instruction::initialize_mint2(
                &token,
                &usdc.pubkey(),
                &agent.pubkey(),
                None,
                6,
            )
            .unwrap(),
            create_associated_token_account_idempotent(
                &agent.pubkey(),
                &agent.pubkey(),
                &usdc.pubkey(),
                &token,
            ),
            create_associated_token_account_idempotent(
                &agent.pubkey(),
                &vault_owner,
                &usdc.pubkey(),
                &token,
            ),
            spl_token_interface::instruction::mint_to(
                &token,
                &usdc.pubkey(),
                &agent_ata,
                &agent.pubkey(),
                &[],
                50_000_000,
            )
            .unwrap(),
        ],
        &agent,
        &[&usdc],
    )
    .await;
    (
        node,
        client,
        Usdc {
            agent,
            usdc,
            vault_owner,
            agent_ata,
            vault,
        },
    )
}

/// A USDC payment from the agent to `to`.
pub async fn pay(
    client: &RpcClient,
    agent: &Keypair,
    from: &Pubkey,
    usdc: &Keypair,
    to: &Pubkey,
    amount: u64,
) -> solana_signature::Signature {
    let ix = spl_token_interface::instruction::transfer_checked(
        &spl_token_interface::ID,
        from,
        &usdc.pubkey(),
        to,
        &agent.pubkey(),
        &[],
        amount,
        6,
    )
    .unwrap();
    send(client, &[ix], agent, &[]).await
}
