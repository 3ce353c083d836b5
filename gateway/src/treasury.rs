//! Paying out of the treasury: a withdrawal's USDC back to its wallet, on the wallet's chain.
//! The transfer's id is written to the ledger once signed and before it is sent, so a
//! withdrawal whose answer is lost can still be found on chain, and one that may have been
//! broadcast is never credited back before the chain says it failed. On Base, gateways sharing
//! the treasury key take turns under a lock in Postgres (nonces).

use std::{str::FromStr, sync::Arc, time::Duration};

use alloy::{
    consensus::TxEnvelope,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use ledger::{Chain, Ledger, Withdrawal};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use spl_associated_token_account_interface::{
    address::get_associated_token_address, instruction::create_associated_token_account_idempotent,
};

use crate::{
    config::{read_keypair, BasePayments, SolanaPayments},
    GatewayError,
};
use x402::eip3009::Eip3009Token;

/// USDC's decimals, on both chains.
const USDC_DECIMALS: u8 = 6;
/// How long a Base withdrawal's receipt is waited for before it is reported as still sending.
const BASE_RECEIPT_WAIT: Duration = Duration::from_secs(60);

/// How a payout ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Payout {
    /// Confirmed on chain, by this transfer.
    Sent(String),
    /// Refused before it could land: the withdrawal fails and is credited back.
    Failed(String),
    /// Sent, not confirmed yet (or not known): the withdrawal stays `sending`.
    Pending(String),
}

#[derive(Default)]
pub struct Treasury {
    solana: Option<SolanaTreasury>,
    base: Option<BaseTreasury>,
}

struct SolanaTreasury {
    rpc: RpcClient,
    owner: Arc<Keypair>,
    usdc_mint: Pubkey,
}

struct BaseTreasury {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    usdc: Address,
}

impl Treasury {
    /// The treasuries whose keys the config gives.
    pub fn new(
        solana: Option<&SolanaPayments>,
        base: Option<&BasePayments>,
    ) -> Result<Self, GatewayError> {
        let solana = match solana {
            Some(s) => match &s.treasury_keypair {
                Some(path) => {
                    let owner = read_keypair(path)?;
                    if owner.pubkey() != s.treasury {
                        return Err(GatewayError::Config(format!(
                            "[solana] treasury_keypair {} is {}, not the treasury {}",
                            path.display(),
                            owner.pubkey(),
                            s.treasury
                        )));
                    }
                    Some(SolanaTreasury {
                        rpc: RpcClient::new_with_commitment(
                            s.rpc_url.clone(),
                            CommitmentConfig::confirmed(),
                        ),
                        owner: Arc::new(owner),
                        usdc_mint: s.usdc_mint,
                    })
                }
                None => None,
            },
            None => None,
        };
        let base = match base {
            Some(b) => {
                let key = b
                    .treasury_private_key
                    .clone()
                    .or_else(|| std::env::var("PAYWIRE_BASE_TREASURY_KEY").ok());
                match key {
                    Some(key) => {
                        let signer: PrivateKeySigner = key.parse().map_err(|e| {
                            GatewayError::Config(format!("[base] treasury_private_key: {e}"))
                        })?;
                        if signer.address() != b.treasury {
                            return Err(GatewayError::Config(format!(
                                "[base] treasury_private_key is {}, not the treasury {}",
                                signer.address(),
                                b.treasury
                            )));
                        }
                        let url = b.rpc_url.parse().map_err(|e| {
                            GatewayError::Config(format!("[base] rpc_url {}: {e}", b.rpc_url))
                        })?;
                        // No fillers: the transfer is filled and signed here, so its hash is
                        // known (and recorded) before it is sent.
                        let provider = ProviderBuilder::new()
                            .disable_recommended_fillers()
                            .connect_http(url)
                            .erased();
                        Some(BaseTreasury {
                            provider,
                            wallet: EthereumWallet::from(signer),
                            address: b.treasury,
                            usdc: b.usdc,
                        })
                    }
                    None => None,
                }
            }
            None => None,
        };
        Ok(Treasury { solana, base })
    }

    /// Whether withdrawals can be sent on `chain`.
    pub fn pays_on(&self, chain: Chain) -> bool {
        match chain {
            Chain::Solana => self.solana.is_some(),
            Chain::Base => self.base.is_some(),
        }
    }

    /// Sends `withdrawal` to its payer.
    pub async fn pay(&self, ledger: &Ledger, withdrawal: &Withdrawal) -> Payout {
        let Ok(amount) = withdrawal.amount.parse::<u64>() else {
            return Payout::Failed(format!("amount {} does not read", withdrawal.amount));
        };
        match (withdrawal.chain, &self.solana, &self.base) {
            (Chain::Solana, Some(solana), _) => solana.pay(ledger, withdrawal, amount).await,
            (Chain::Base, _, Some(base)) => base.pay(ledger, withdrawal, amount).await,
            (chain, ..) => Payout::Failed(format!("no treasury key for {}", chain.as_str())),
        }
    }
}

impl Treasury {
    /// Where a withdrawal left `sending` stands on chain: `Some(true)` landed, `Some(false)`
    /// refused or can no longer land, `None` not known yet.
    pub async fn landed(&self, withdrawal: &Withdrawal) -> Result<Option<bool>, String> {
        let Some(tx) = &withdrawal.tx else {
            // Never signed (Solana), or its hash was not recorded (Base): nothing was sent
            // on Solana; on Base someone must look.
            return Ok(match withdrawal.chain {
                Chain::Solana => Some(false),
                Chain::Base => None,
            });
        };
        match (withdrawal.chain, &self.solana, &self.base) {
            (Chain::Solana, Some(solana), _) => {
                let signature =
                    solana_signature::Signature::from_str(tx).map_err(|e| e.to_string())?;
                let statuses = solana
                    .rpc
                    .get_signature_statuses_with_history(&[signature])
                    .await
                    .map_err(|e| x402::redact(&e.to_string()))?;
                Ok(match statuses.value.first().cloned().flatten() {
                    Some(status) => Some(status.err.is_none()),
                    // Its blockhash (150 slots) has long expired by the time this is asked.
                    None => Some(false),
                })
            }
            (Chain::Base, _, Some(base)) => {
                let hash = tx
                    .parse()
                    .map_err(|e: alloy::hex::FromHexError| e.to_string())?;
                let receipt = base
                    .provider
                    .get_transaction_receipt(hash)
                    .await
                    .map_err(|e| x402::redact(&e.to_string()))?;
                Ok(receipt.map(|r| r.status()))
            }
            (chain, ..) => Err(format!("no treasury key for {}", chain.as_str())),
        }
    }
}

impl SolanaTreasury {
    async fn pay(&self, ledger: &Ledger, withdrawal: &Withdrawal, amount: u64) -> Payout {
        let Ok(to) = Pubkey::from_str(&withdrawal.payer) else {
            return Payout::Failed(format!("{} is not a Solana address", withdrawal.payer));
        };
        let token = spl_token_interface::ID;
        let owner = self.owner.pubkey();
        let instructions = [
            create_associated_token_account_idempotent(&owner, &to, &self.usdc_mint, &token),
            match spl_token_interface::instruction::transfer_checked(
                &token,
                &get_associated_token_address(&owner, &self.usdc_mint),
                &self.usdc_mint,
                &get_associated_token_address(&to, &self.usdc_mint),
                &owner,
                &[],
                amount,
                USDC_DECIMALS,
            ) {
                Ok(ix) => ix,
                Err(e) => return Payout::Failed(e.to_string()),
            },
        ];
        let blockhash = match self.rpc.get_latest_blockhash().await {
            Ok(blockhash) => blockhash,
            Err(e) => {
                return Payout::Failed(format!("no blockhash: {}", x402::redact(&e.to_string())))
            }
        };
        let tx = solana_transaction::Transaction::new_signed_with_payer(
            &instructions,
            Some(&owner),
            &[&*self.owner],
            blockhash,
        );
        let signature = tx.signatures[0].to_string();
        if let Err(e) = ledger.withdrawal_signed(withdrawal.id, &signature).await {
            return Payout::Failed(format!("recording the transfer: {e}"));
        }
        match self.rpc.send_and_confirm_transaction(&tx).await {
            Ok(_) => Payout::Sent(signature),
            // The bank refused it (simulation or execution): nothing moved.
            Err(e) if e.get_transaction_error().is_some() => {
                Payout::Failed(format!("refused on chain: {e}"))
            }
            Err(e) => {
                tracing::warn!(signature, error = %x402::redact(&e.to_string()), "withdrawal sent, not confirmed");
                Payout::Pending(signature)
            }
        }
    }
}

impl BaseTreasury {
    /// Signs the transfer first and records its hash, then sends it: an error after that
    /// point leaves the withdrawal `sending` (it may have been broadcast), never refunded
    /// while it could still land.
    async fn pay(&self, ledger: &Ledger, withdrawal: &Withdrawal, amount: u64) -> Payout {
        let Ok(to) = Address::from_str(&withdrawal.payer) else {
            return Payout::Failed(format!("{} is not a Base address", withdrawal.payer));
        };
        // One send at a time per treasury key, across gateways: nonces.
        let _turn = match ledger.signer_turn(&self.address.to_string()).await {
            Ok(turn) => turn,
            Err(e) => return Payout::Failed(format!("waiting for the treasury key: {e}")),
        };
        let envelope = match self.signed_transfer(to, amount).await {
            Ok(envelope) => envelope,
            // Nothing was sent: the node refused to estimate it (the treasury lacks the USDC,
            // say) or did not answer.
            Err(e) => return Payout::Failed(format!("refused: {}", x402::redact(&e))),
        };
        let hash = envelope.tx_hash().to_string();
        if let Err(e) = ledger.withdrawal_signed(withdrawal.id, &hash).await {
            return Payout::Failed(format!("recording the transfer: {e}"));
        }
        let pending = match self.provider.send_tx_envelope(envelope).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(hash, error = %x402::redact(&e.to_string()), "withdrawal may not have been sent");
                return Payout::Pending(hash);
            }
        };
        match pending
            .with_timeout(Some(BASE_RECEIPT_WAIT))
            .get_receipt()
            .await
        {
            Ok(receipt) if receipt.status() => Payout::Sent(hash),
            Ok(_) => Payout::Failed(format!("transfer {hash} reverted")),
            Err(e) => {
                tracing::warn!(hash, error = %x402::redact(&e.to_string()), "withdrawal sent, not confirmed");
                Payout::Pending(hash)
            }
        }
    }

    /// The USDC transfer of `amount` to `to`, filled (nonce, gas, fees, chain) and signed.
    async fn signed_transfer(&self, to: Address, amount: u64) -> Result<TxEnvelope, String> {
        let text = |e: &dyn std::fmt::Display| e.to_string();
        let request = Eip3009Token::new(self.usdc, &self.provider)
            .transfer(to, U256::from(amount))
            .into_transaction_request()
            .with_from(self.address);
        let nonce = self
            .provider
            .get_transaction_count(self.address)
            .pending()
            .await
            .map_err(|e| text(&e))?;
        let gas = self
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| text(&e))?;
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| text(&e))?;
        let chain_id = self.provider.get_chain_id().await.map_err(|e| text(&e))?;
        request
            .with_nonce(nonce)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .with_chain_id(chain_id)
            .build(&self.wallet)
            .await
            .map_err(|e| text(&e))
    }
}
