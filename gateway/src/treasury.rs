//! Paying out of the treasury: a withdrawal's USDC back to its wallet, on the wallet's chain.
//! The transfer's id is written to the ledger once signed and before it is sent, so a
//! withdrawal whose answer is lost can still be found on chain, and one that may have been
//! broadcast is never credited back before the chain says it failed. On Base, the treasury
//! key's nonces are handed out by the ledger, so gateways sharing it send at once.

use std::{str::FromStr, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder},
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
use x402::{
    eip3009::Eip3009Token,
    sender::{Sender, Sent},
};

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
    /// Reads and receipts.
    provider: DynProvider,
    sender: Sender,
    usdc: Address,
}

impl Treasury {
    /// The treasuries whose keys the config gives.
    pub fn new(
        solana: Option<&SolanaPayments>,
        base: Option<&BasePayments>,
        ledger: Ledger,
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
                        // No fillers: the transfer is filled and signed by the sender, so its
                        // hash is known (and recorded) before it is sent.
                        let provider = ProviderBuilder::new()
                            .disable_recommended_fillers()
                            .connect_http(url)
                            .erased();
                        Some(BaseTreasury {
                            sender: Sender::new(provider.clone(), signer, b.chain_id()?, ledger),
                            provider,
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
        let transfer = Eip3009Token::new(self.usdc, &self.provider)
            .transfer(to, U256::from(amount))
            .into_transaction_request();
        let unsent = match self.sender.prepare(transfer, None).await {
            Ok(unsent) => unsent,
            // Nothing was sent: the node refused to estimate it (the treasury lacks the USDC,
            // say) or did not answer.
            Err(e) => return Payout::Failed(format!("refused: {e}")),
        };
        let signed = match self.sender.sign(&unsent).await {
            Ok(signed) => signed,
            Err(e) => return Payout::Failed(format!("the treasury key sent nothing: {e}")),
        };
        let hash = signed.hash();
        if let Err(e) = ledger
            .withdrawal_signed(withdrawal.id, &hash.to_string())
            .await
        {
            self.sender.unsent(signed).await;
            return Payout::Failed(format!("recording the transfer: {e}"));
        }
        match self.sender.send(signed).await {
            Sent::Taken(_) => {}
            Sent::Unknown(_) => {
                tracing::warn!(%hash, "withdrawal may not have been sent");
                return Payout::Pending(hash.to_string());
            }
            Sent::NonceUsed => return Payout::Failed(
                "its nonce was used by another transaction of the treasury key; nothing was sent"
                    .into(),
            ),
            Sent::Refused(e) => return Payout::Failed(format!("refused: {e}")),
        }
        let receipt = PendingTransactionBuilder::new(self.provider.root().clone(), hash)
            .with_timeout(Some(BASE_RECEIPT_WAIT))
            .get_receipt()
            .await;
        match receipt {
            Ok(receipt) if receipt.status() => Payout::Sent(hash.to_string()),
            Ok(_) => Payout::Failed(format!("transfer {hash} reverted")),
            Err(e) => {
                tracing::warn!(%hash, error = %x402::redact(&e.to_string()), "withdrawal sent, not confirmed");
                Payout::Pending(hash.to_string())
            }
        }
    }
}
