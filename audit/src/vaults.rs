//! Each tokenized model's vault and token as the ledger explains them, against the chain:
//! revenue in (payments, held revenue released) = vault balance + what left, by cause
//! (buybacks, their protocol fee, creator claims, anything else), and minted − burned by
//! buybacks − burned by holders = supply.
//! Used by `paywire audit` and the ledger API's `/ledger/models`.

use std::{
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use anchor_lang::AccountDeserialize;
use ledger::{FlowCause, Ledger};
use model_vault_client::{config_pda, Protocol, PROGRAM_ID};
use serde::{Serialize, Serializer};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_pubkey::Pubkey;

use crate::AuditError;

/// What the ledger says happened to one token account, by cause: the model-vault instruction
/// of each movement's transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFlows {
    /// What came in: `payment` (no model-vault instruction: a paid call's settlement),
    /// `held_released` (revenue the treasury held before tokenization), or the instruction.
    pub inflow: Vec<(String, u128)>,
    /// What left: `buyback` (USDC swapped into the pool), `protocol_fee` (the buyback's leg to
    /// the treasury), `claim` (the creator's share), another instruction, or `other` when none.
    pub outflow: Vec<(String, u128)>,
    /// Sums the ledger holds that are not amounts, as `(what, text)`: the flows do not add up.
    pub unreadable: Vec<(String, String)>,
}

/// The outflows reports show in a column of their own, in this order; any other cause is summed
/// as "other".
pub const OUTFLOW_COLUMNS: [FlowCause; 3] =
    [FlowCause::Buyback, FlowCause::ProtocolFee, FlowCause::Claim];

fn amount_of(flows: &[(String, u128)], cause: &str) -> u128 {
    flows
        .iter()
        .filter(|(k, _)| k == cause)
        .map(|(_, a)| *a)
        .sum()
}

/// `text` read as a sum of base units, or noted in `unreadable` as `what`.
fn read_sum(text: &str, what: String, unreadable: &mut Vec<(String, String)>) -> Option<u128> {
    let sum = text.parse().ok();
    if sum.is_none() {
        unreadable.push((what, text.to_string()));
    }
    sum
}

impl AccountFlows {
    /// Inflows and outflows of token account `account` by cause, as the ledger recorded them;
    /// legs to `treasury` (an owner) in a buyback are its protocol fee.
    pub async fn read(ledger: &Ledger, account: &str, treasury: &str) -> Result<Self, AuditError> {
        let sums = ledger.flow_sums(account, treasury).await?;
        let mut flows = AccountFlows::default();
        for (side, rows, into) in [
            ("in", sums.inflow, &mut flows.inflow),
            ("out", sums.outflow, &mut flows.outflow),
        ] {
            for (cause, text) in rows {
                if let Some(sum) = read_sum(&text, format!("{cause} {side}"), &mut flows.unreadable)
                {
                    into.push((cause, sum));
                }
            }
        }
        Ok(flows)
    }

    pub fn inflow_total(&self) -> u128 {
        self.inflow.iter().map(|(_, a)| *a).sum()
    }

    /// The balance the ledger implies.
    pub fn balance(&self) -> i128 {
        self.inflow_total() as i128 - self.outflow.iter().map(|(_, a)| *a as i128).sum::<i128>()
    }

    pub fn inflow_of(&self, cause: FlowCause) -> u128 {
        amount_of(&self.inflow, cause.as_ref())
    }

    pub fn outflow_of(&self, cause: FlowCause) -> u128 {
        amount_of(&self.outflow, cause.as_ref())
    }
}

/// One tokenized model, as the ledger explains it and as the chain holds it.
#[derive(Clone, Debug)]
pub struct ModelCheck {
    pub slug: String,
    pub vault: String,
    pub flows: AccountFlows,
    pub chain_balance: u64,
    pub minted: u128,
    /// Burned by buybacks ...
    pub burned: u128,
    /// ... and by holders burning tokens they hold.
    pub burned_by_holders: u128,
    /// Mint totals the ledger holds that are not amounts, as `(what, text)`.
    pub unreadable_supply: Vec<(String, String)>,
    pub chain_supply: u64,
}

impl ModelCheck {
    pub fn balance_adds_up(&self) -> bool {
        self.flows.unreadable.is_empty() && self.flows.balance() == self.chain_balance as i128
    }

    pub fn supply_adds_up(&self) -> bool {
        self.unreadable_supply.is_empty()
            && self.minted as i128 - self.burned as i128 - self.burned_by_holders as i128
                == self.chain_supply as i128
    }
}

/// `{cause: "amount"}`.
fn by_cause(flows: &[(String, u128)]) -> serde_json::Value {
    flows
        .iter()
        .map(|(k, a)| (k.clone(), serde_json::Value::String(a.to_string())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Amounts as decimal strings (they can exceed a double's precision); `unreadable` lists what
/// the ledger holds that is not an amount.
impl Serialize for ModelCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let unreadable: Vec<_> = self
            .flows
            .unreadable
            .iter()
            .chain(&self.unreadable_supply)
            .map(|(what, text)| serde_json::json!({ "what": what, "found": text }))
            .collect();
        serde_json::json!({
            "model": self.slug, "vault": self.vault,
            "revenue_in": self.flows.inflow_total().to_string(),
            "inflows": by_cause(&self.flows.inflow),
            "outflows": by_cause(&self.flows.outflow),
            "ledger_balance": self.flows.balance().to_string(), "chain_balance": self.chain_balance.to_string(),
            "balance_adds_up": self.balance_adds_up(),
            "minted": self.minted.to_string(), "burned": self.burned.to_string(),
            "burned_by_holders": self.burned_by_holders.to_string(), "chain_supply": self.chain_supply.to_string(),
            "supply_adds_up": self.supply_adds_up(),
            "unreadable": unreadable,
        })
        .serialize(s)
    }
}

fn rpc_error(rpc: &RpcClient, what: &str, e: impl std::fmt::Display) -> AuditError {
    AuditError::Chain(format!("{what} at {}: {e}", rpc.url()))
}

/// The protocol's USDC and treasury, from the program's `Config` account.
pub async fn protocol(rpc: &RpcClient) -> Result<Protocol, AuditError> {
    let account = rpc.get_account(&config_pda()).await.map_err(|e| {
        rpc_error(
            rpc,
            "reading the model-vault config (is the program deployed?)",
            e,
        )
    })?;
    let config = model_vault::Config::try_deserialize(&mut account.data.as_slice())
        .map_err(|e| rpc_error(rpc, "decoding the model-vault config", e))?;
    Ok(Protocol::new(config.usdc_mint, config.treasury))
}

/// The slug of every model the ledger saw tokenized, read from its on-chain `Model`.
pub async fn tokenized_slugs(rpc: &RpcClient, ledger: &Ledger) -> Result<Vec<String>, AuditError> {
    let mut slugs = Vec::new();
    for address in ledger.tokenized_models().await? {
        let Ok(address) = Pubkey::from_str(&address) else {
            continue;
        };
        let Ok(account) = rpc.get_account(&address).await else {
            continue;
        };
        if account.owner != PROGRAM_ID {
            continue;
        }
        if let Ok(model) = model_vault::Model::try_deserialize(&mut account.data.as_slice()) {
            slugs.push(model.slug);
        }
    }
    Ok(slugs)
}

/// How long checks that do not add up are read again while the ledger catches up, unless
/// [`VaultAudit::catching_up_for`] says otherwise.
const CATCH_UP: Duration = Duration::from_secs(20);

/// The vault and supply checks against the chain at one Solana RPC, waiting on the ledger's
/// Solana cursor of a given name (the indexer's `[solana] cursor`).
#[derive(Clone)]
pub struct VaultAudit {
    rpc: Arc<RpcClient>,
    cursor: String,
    catch_up: Duration,
}

impl VaultAudit {
    /// Reads the chain at `rpc_url` (confirmed), and waits on the ledger's cursor `cursor`.
    pub fn new(rpc_url: impl Into<String>, cursor: impl Into<String>) -> Self {
        VaultAudit {
            rpc: Arc::new(RpcClient::new_with_commitment(
                rpc_url.into(),
                solana_commitment_config::CommitmentConfig::confirmed(),
            )),
            cursor: cursor.into(),
            catch_up: CATCH_UP,
        }
    }

    /// Reads checks that do not add up again for at most `catch_up` in all (default 20 s).
    pub fn catching_up_for(self, catch_up: Duration) -> Self {
        VaultAudit { catch_up, ..self }
    }

    /// Checks every tokenized model the ledger knows (or only `only`) against the chain, each
    /// read again while the ledger catches up (see [`CatchUp`]).
    pub async fn check_models(
        &self,
        ledger: &Ledger,
        only: Option<&str>,
    ) -> Result<Vec<ModelCheck>, AuditError> {
        let rpc = &*self.rpc;
        let protocol = protocol(rpc).await?;
        let deadline = Instant::now() + self.catch_up;
        let mut checks = Vec::new();
        for slug in tokenized_slugs(rpc, ledger).await? {
            if only.is_some_and(|m| m != slug) {
                continue;
            }
            let mut catch_up = CatchUp::until(deadline);
            let check = loop {
                let (check, slot) = check_model(ledger, rpc, &protocol, &slug).await?;
                let figures = (check.chain_balance, check.chain_supply);
                let adds_up = check.balance_adds_up() && check.supply_adds_up();
                if catch_up
                    .settled(self, ledger, adds_up, figures, slot)
                    .await?
                {
                    break check;
                }
            };
            checks.push(check);
        }
        Ok(checks)
    }
}

/// A Solana treasury's USDC account on chain against what the ledger saw move in and out of
/// the treasury: rows deleted (or invented) in pairs — a charge with its transfer — show here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreasuryCheck {
    pub treasury: String,
    /// Its USDC account (the associated one) read on chain.
    pub account: String,
    /// In − out as the ledger has them (unreadable when they are not amounts, or more left
    /// than came in).
    pub ledger_balance: crate::Amount,
    pub chain_balance: u64,
}

impl TreasuryCheck {
    pub fn adds_up(&self) -> bool {
        self.ledger_balance.units() == Some(self.chain_balance)
    }
}

/// What the chain was read for: each tokenized model's vault and supply, each Solana
/// treasury's balance.
#[derive(Clone, Debug)]
pub struct ChainChecks {
    pub models: Vec<ModelCheck>,
    pub treasuries: Vec<TreasuryCheck>,
}

impl VaultAudit {
    /// The vault and supply checks of every tokenized model (or only `only`), and the
    /// treasuries' balances.
    pub async fn check(
        &self,
        ledger: &Ledger,
        only: Option<&str>,
    ) -> Result<ChainChecks, AuditError> {
        Ok(ChainChecks {
            models: self.check_models(ledger, only).await?,
            treasuries: self.check_treasuries(ledger).await?,
        })
    }

    /// Checks every Solana treasury a gateway recorded against its USDC account on chain,
    /// reading again while the ledger catches up, as [`VaultAudit::check_models`] does.
    pub async fn check_treasuries(
        &self,
        ledger: &Ledger,
    ) -> Result<Vec<TreasuryCheck>, AuditError> {
        let rpc = &*self.rpc;
        let deadline = Instant::now() + self.catch_up;
        let mut checks = Vec::new();
        for flows in ledger.treasury_flows().await? {
            if flows.chain != ledger::Chain::Solana {
                continue;
            }
            let (Ok(owner), Ok(mint)) =
                (flows.owner.parse::<Pubkey>(), flows.usdc.parse::<Pubkey>())
            else {
                continue;
            };
            let account = Protocol::new(mint, owner).treasury_usdc;
            let mut catch_up = CatchUp::until(deadline);
            let check = loop {
                let balance = rpc
                    .get_token_account_balance_with_commitment(&account, rpc.commitment())
                    .await
                    .map_err(|e| rpc_error(rpc, "reading the treasury's USDC balance", e))?;
                let chain_balance = balance
                    .value
                    .amount
                    .parse::<u64>()
                    .map_err(|e| rpc_error(rpc, "reading the treasury's USDC balance", e))?;
                let flows = ledger
                    .treasury_flows()
                    .await?
                    .into_iter()
                    .find(|f| {
                        f.chain == flows.chain && f.owner == flows.owner && f.usdc == flows.usdc
                    })
                    .unwrap_or_else(|| flows.clone());
                let check = TreasuryCheck {
                    treasury: flows.owner.clone(),
                    account: account.to_string(),
                    ledger_balance: crate::balances::held_by(&flows),
                    chain_balance,
                };
                let slot = balance.context.slot;
                if catch_up
                    .settled(self, ledger, check.adds_up(), chain_balance, slot)
                    .await?
                {
                    break check;
                }
            };
            checks.push(check);
        }
        Ok(checks)
    }
}

/// When a check read against the chain is final. The indexer follows the chain a slot or two
/// behind, so a check read right after a payment would not add up for no fault of anyone: one
/// that does not add up is read again until the ledger's cursor has reached the slot the chain
/// answered at, twice in a row with the chain's figures unchanged between the reads, or the
/// catch-up time is over.
struct CatchUp<F> {
    deadline: Instant,
    figures: Option<F>,
}

impl<F: PartialEq> CatchUp<F> {
    fn until(deadline: Instant) -> Self {
        CatchUp {
            deadline,
            figures: None,
        }
    }

    /// Whether the check just read (which `adds_up` or not, with the chain's `figures` at
    /// `slot`) is final; if not, waits a moment before the next read.
    async fn settled(
        &mut self,
        audit: &VaultAudit,
        ledger: &Ledger,
        adds_up: bool,
        figures: F,
        slot: u64,
    ) -> Result<bool, AuditError> {
        let caught_up = ledger
            .cursor(&audit.cursor)
            .await?
            .is_some_and(|c| c >= slot);
        if adds_up
            || Instant::now() >= self.deadline
            || (caught_up && self.figures.as_ref() == Some(&figures))
        {
            return Ok(true);
        }
        self.figures = caught_up.then_some(figures);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(false)
    }
}

/// One read of `slug`'s vault and supply, and the newest slot the chain answered at.
async fn check_model(
    ledger: &Ledger,
    rpc: &RpcClient,
    protocol: &Protocol,
    slug: &str,
) -> Result<(ModelCheck, u64), AuditError> {
    let keys = protocol.model(slug);
    let balance = rpc
        .get_token_account_balance_with_commitment(&keys.vault, rpc.commitment())
        .await
        .map_err(|e| rpc_error(rpc, "reading the vault balance", e))?;
    let supply = rpc
        .get_token_supply_with_commitment(&keys.mint, rpc.commitment())
        .await
        .map_err(|e| rpc_error(rpc, "reading the token supply", e))?;
    let amount = |text: &str, what| text.parse::<u64>().map_err(|e| rpc_error(rpc, what, e));
    let totals = ledger.mint_totals(&keys.mint.to_string()).await?;
    let mut unreadable_supply = Vec::new();
    let mut total = |sum: Option<String>, what: &str| match sum {
        None => 0,
        Some(text) => read_sum(&text, what.to_string(), &mut unreadable_supply).unwrap_or_default(),
    };
    let minted = total(totals.minted, "minted");
    let burned = total(totals.burned_by_program, "burned by buybacks");
    let burned_by_holders = total(totals.burned_by_others, "burned by holders");
    let check = ModelCheck {
        flows: AccountFlows::read(
            ledger,
            &keys.vault.to_string(),
            &protocol.treasury.to_string(),
        )
        .await?,
        vault: keys.vault.to_string(),
        slug: slug.to_string(),
        chain_balance: amount(&balance.value.amount, "reading the vault balance")?,
        minted,
        burned,
        burned_by_holders,
        unreadable_supply,
        chain_supply: amount(&supply.value.amount, "reading the token supply")?,
    };
    Ok((check, balance.context.slot.max(supply.context.slot)))
}
