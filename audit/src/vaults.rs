//! Each tokenized model's vault and token as the ledger explains them, against the chain:
//! revenue in (payments, held revenue released) = vault balance + what left, by cause
//! (buybacks, their protocol fee, creator claims, anything else), and minted − burned by
//! buybacks − burned by holders = supply; each treasury's USDC on chain against the ledger's
//! flows; every model the program holds on chain against the ledger's records of it.
//! Used by `paywire audit` and the ledger API.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    eips::BlockId,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    transports::http::reqwest::Url,
};
use anchor_lang::AccountDeserialize;
use anchor_lang::Discriminator;
use ledger::{Chain, FlowCause, Ledger};
use model_vault::{Model, ModelStatus};
use model_vault_client::{config_pda, Protocol, PROGRAM_ID};
use serde::{Serialize, Serializer};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_client::{
    nonblocking::rpc_client::RpcClient,
    rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    rpc_filter::{Memcmp, RpcFilterType},
};
use solana_pubkey::Pubkey;

use crate::AuditError;

/// What the ledger says happened to one token account, by cause: the model-vault instruction
/// of each movement's transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFlows {
    /// What came in: `payment` (a charge's settlement), `held_released` (revenue the treasury
    /// held before tokenization), the instruction that moved it, or `unexplained` (a donation:
    /// reported apart, and as an unexplained inflow by the charges' audit).
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

/// Every model account of the program on chain, by address (`getProgramAccounts`, so a model
/// the ledger never saw is listed too).
pub async fn models_on_chain(rpc: &RpcClient) -> Result<Vec<(Pubkey, Model)>, AuditError> {
    let accounts = rpc
        .get_program_ui_accounts_with_config(
            &PROGRAM_ID,
            RpcProgramAccountsConfig {
                filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                    0,
                    Model::DISCRIMINATOR.to_vec(),
                ))]),
                account_config: RpcAccountInfoConfig {
                    encoding: Some(UiAccountEncoding::Base64),
                    commitment: Some(rpc.commitment()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .map_err(|e| rpc_error(rpc, "listing the model-vault's models", e))?;
    // A model account this audit cannot read would go unchecked: it cannot audit.
    let mut models = accounts
        .into_iter()
        .map(|(address, account)| {
            account
                .data
                .decode()
                .and_then(|data| Model::try_deserialize(&mut data.as_slice()).ok())
                .map(|model| (address, model))
                .ok_or_else(|| {
                    rpc_error(
                        rpc,
                        "reading the model-vault's models",
                        format!("{address} does not decode as a Model (is this paywire built for the deployed program?)"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    models.sort_by_key(|(address, _)| *address);
    Ok(models)
}

/// The slug of every model tokenized on chain.
pub async fn tokenized_slugs(rpc: &RpcClient) -> Result<Vec<String>, AuditError> {
    Ok(models_on_chain(rpc)
        .await?
        .into_iter()
        .filter(|(_, m)| m.status == ModelStatus::Tokenized)
        .map(|(_, m)| m.slug)
        .collect())
}

/// A model the chain holds that the ledger has no record of (its `register` or `tokenize`
/// missing): the indexer missed it, or its rows were deleted — either way its vault's flows
/// cannot be explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnrecordedModel {
    pub model: String,
    pub slug: String,
    /// What the ledger lacks: `registered` (no record of the model) or `tokenized`.
    pub missing: &'static str,
}

/// The models on chain the ledger has no record of, and the newest slot the chain answered at.
async fn unrecorded_models(
    rpc: &RpcClient,
    ledger: &Ledger,
) -> Result<(Vec<UnrecordedModel>, u64), AuditError> {
    let on_chain = models_on_chain(rpc).await?;
    let slot = rpc
        .get_slot()
        .await
        .map_err(|e| rpc_error(rpc, "reading the slot", e))?;
    let known: std::collections::HashMap<String, Option<i64>> = ledger
        .known_models()
        .await?
        .into_iter()
        .map(|m| (m.model, m.tokenized_at))
        .collect();
    let unrecorded = on_chain
        .into_iter()
        .filter_map(|(address, model)| {
            let missing = match known.get(&address.to_string()) {
                None => "registered",
                Some(None) if model.status == ModelStatus::Tokenized => "tokenized",
                Some(_) => return None,
            };
            Some(UnrecordedModel {
                model: address.to_string(),
                slug: model.slug,
                missing,
            })
        })
        .collect();
    Ok((unrecorded, slot))
}

/// How long checks that do not add up are read again while the ledger catches up, unless
/// [`VaultAudit::catching_up_for`] says otherwise.
const CATCH_UP: Duration = Duration::from_secs(20);

/// The checks against the chains: Solana at one RPC, waiting on the ledger's Solana cursor of a
/// given name (the indexer's `[solana] cursor`), and Base if given one.
#[derive(Clone)]
pub struct VaultAudit {
    rpc: Arc<RpcClient>,
    cursor: String,
    catch_up: Duration,
    /// Set by [`VaultAudit::check`]: its checks share one catch-up time.
    deadline: Option<Instant>,
    base: Option<BaseChain>,
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
            deadline: None,
            base: None,
        }
    }

    /// When the catch-up time of the checks being made ends.
    fn deadline(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + self.catch_up)
    }

    /// Also reads Base at `rpc_url` (the treasuries' USDC), at the block the ledger's cursor
    /// `cursor` (the indexer's `[base] cursor`) has reached.
    pub fn reading_base(self, rpc_url: Url, cursor: impl Into<String>) -> Self {
        VaultAudit {
            base: Some(BaseChain {
                provider: ProviderBuilder::new()
                    .connect_http(rpc_url.clone())
                    .erased(),
                rpc_url,
                cursor: cursor.into(),
            }),
            ..self
        }
    }

    /// Reads checks that do not add up again for at most `catch_up` in all (default 20 s).
    pub fn catching_up_for(self, catch_up: Duration) -> Self {
        VaultAudit { catch_up, ..self }
    }

    /// Checks every model tokenized on chain (or only `only`), each read again while the
    /// ledger catches up (see [`CatchUp`]).
    pub async fn check_models(
        &self,
        ledger: &Ledger,
        only: Option<&str>,
    ) -> Result<Vec<ModelCheck>, AuditError> {
        let rpc = &*self.rpc;
        let protocol = protocol(rpc).await?;
        let deadline = self.deadline();
        let mut checks = Vec::new();
        for slug in tokenized_slugs(rpc).await? {
            if only.is_some_and(|m| m != slug) {
                continue;
            }
            let mut catch_up = CatchUp::until(deadline);
            let check = loop {
                let (check, slot) = check_model(ledger, rpc, &protocol, &slug).await?;
                let figures = (check.chain_balance, check.chain_supply);
                let adds_up = check.balance_adds_up() && check.supply_adds_up();
                if catch_up
                    .settled(ledger, &self.cursor, adds_up, figures, slot)
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

/// A treasury's USDC on chain against what the ledger saw move in and out of it: rows deleted
/// (or invented) in pairs — a charge with its transfer — show here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreasuryCheck {
    pub chain: Chain,
    pub treasury: String,
    /// Where its USDC is: on Solana its associated token account, on Base the treasury itself.
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

/// With its verdict, `adds_up`; the chain's balance as a decimal string, like every amount.
impl Serialize for TreasuryCheck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "chain": self.chain, "treasury": self.treasury, "account": self.account,
            "ledger_balance": self.ledger_balance, "chain_balance": self.chain_balance.to_string(),
            "adds_up": self.adds_up(),
        })
        .serialize(s)
    }
}

/// What the chain was read for: each tokenized model's vault and supply, each treasury's
/// balance, the models on chain the ledger has no record of.
#[derive(Clone, Debug)]
pub struct ChainChecks {
    pub models: Vec<ModelCheck>,
    pub treasuries: Vec<TreasuryCheck>,
    pub unrecorded_models: Vec<UnrecordedModel>,
}

impl VaultAudit {
    /// The vault and supply checks of every tokenized model (or only `only`), the treasuries'
    /// balances and the models the ledger has no record of, within one catch-up time.
    pub async fn check(
        &self,
        ledger: &Ledger,
        only: Option<&str>,
    ) -> Result<ChainChecks, AuditError> {
        let audit = VaultAudit {
            deadline: Some(self.deadline()),
            ..self.clone()
        };
        Ok(ChainChecks {
            models: audit.check_models(ledger, only).await?,
            treasuries: audit.check_treasuries(ledger).await?,
            unrecorded_models: audit.check_recorded_models(ledger, only).await?,
        })
    }

    /// The models on chain (or only `only`) the ledger has no record of, read again while the
    /// ledger catches up.
    pub async fn check_recorded_models(
        &self,
        ledger: &Ledger,
        only: Option<&str>,
    ) -> Result<Vec<UnrecordedModel>, AuditError> {
        let mut catch_up = CatchUp::until(self.deadline());
        loop {
            let (mut unrecorded, slot) = unrecorded_models(&self.rpc, ledger).await?;
            unrecorded.retain(|m| only.is_none_or(|slug| slug == m.slug));
            let figures = unrecorded.clone();
            if catch_up
                .settled(ledger, &self.cursor, unrecorded.is_empty(), figures, slot)
                .await?
            {
                return Ok(unrecorded);
            }
        }
    }

    /// Checks every treasury a gateway recorded — on Solana, and on Base when the audit reads
    /// it — against its USDC on chain, reading again while the ledger catches up, as
    /// [`VaultAudit::check_models`] does.
    pub async fn check_treasuries(
        &self,
        ledger: &Ledger,
    ) -> Result<Vec<TreasuryCheck>, AuditError> {
        let deadline = self.deadline();
        let mut checks = Vec::new();
        for flows in ledger.treasury_flows().await? {
            let mut catch_up = CatchUp::until(deadline);
            let check = loop {
                let Some((account, chain_balance, cursor, at)) =
                    self.treasury_on_chain(ledger, &flows).await?
                else {
                    break None;
                };
                let flows = ledger
                    .treasury_flows()
                    .await?
                    .into_iter()
                    .find(|f| {
                        f.chain == flows.chain && f.owner == flows.owner && f.usdc == flows.usdc
                    })
                    .unwrap_or_else(|| flows.clone());
                let check = TreasuryCheck {
                    chain: flows.chain,
                    treasury: flows.owner.clone(),
                    account,
                    ledger_balance: crate::balances::held_by(&flows),
                    chain_balance,
                };
                if catch_up
                    .settled(ledger, cursor, check.adds_up(), chain_balance, at)
                    .await?
                {
                    break Some(check);
                }
            };
            checks.extend(check);
        }
        Ok(checks)
    }

    /// The treasury's USDC account and its balance on chain, with the ledger cursor of its
    /// chain and the slot (block) read at; `None` when this audit does not read that chain or
    /// the treasury is no address there.
    async fn treasury_on_chain(
        &self,
        ledger: &Ledger,
        flows: &ledger::TreasuryFlows,
    ) -> Result<Option<(String, u64, &str, u64)>, AuditError> {
        match flows.chain {
            Chain::Solana => {
                let rpc = &*self.rpc;
                let (Ok(owner), Ok(mint)) =
                    (flows.owner.parse::<Pubkey>(), flows.usdc.parse::<Pubkey>())
                else {
                    return Ok(None);
                };
                let account = Protocol::new(mint, owner).treasury_usdc;
                let what = "reading the treasury's USDC balance";
                let balance = rpc
                    .get_token_account_balance_with_commitment(&account, rpc.commitment())
                    .await
                    .map_err(|e| rpc_error(rpc, what, e))?;
                let amount = balance
                    .value
                    .amount
                    .parse::<u64>()
                    .map_err(|e| rpc_error(rpc, what, e))?;
                Ok(Some((
                    account.to_string(),
                    amount,
                    &self.cursor,
                    balance.context.slot,
                )))
            }
            Chain::Base => {
                let Some(base) = &self.base else {
                    return Ok(None);
                };
                let (Ok(owner), Ok(usdc)) = (
                    flows.owner.parse::<Address>(),
                    flows.usdc.parse::<Address>(),
                ) else {
                    return Ok(None);
                };
                // At the block the ledger has followed Base to, what the chain held is exactly
                // what the ledger has seen move. A node that no longer keeps that block's state
                // (not an archive node, and the indexer minutes behind) is read at its head,
                // and the ledger waited for, as on Solana.
                let what = "reading the treasury's USDC balance on Base";
                let token = Erc20::new(usdc, &base.provider);
                let balance_at = |block: u64| {
                    let token = &token;
                    async move {
                        token
                            .balanceOf(owner)
                            .block(BlockId::number(block))
                            .call()
                            .await
                    }
                };
                let at_cursor = match ledger.cursor(&base.cursor).await? {
                    Some(block) => balance_at(block).await.ok().map(|b| (b, block)),
                    None => None,
                };
                let (balance, block) = match at_cursor {
                    Some(read) => read,
                    None => {
                        let head = base
                            .provider
                            .get_block_number()
                            .await
                            .map_err(|e| base.error("reading Base's height", e))?;
                        let balance = balance_at(head).await.map_err(|e| base.error(what, e))?;
                        (balance, head)
                    }
                };
                let amount = u64::try_from(balance).map_err(|e| base.error(what, e))?;
                Ok(Some((owner.to_string(), amount, &base.cursor, block)))
            }
        }
    }
}

/// Base, as the audit reads it.
#[derive(Clone)]
struct BaseChain {
    rpc_url: Url,
    provider: DynProvider,
    /// The ledger's cursor of the indexer following Base.
    cursor: String,
}

impl BaseChain {
    fn error(&self, what: &str, e: impl std::fmt::Display) -> AuditError {
        AuditError::Chain(format!("{what} at {}: {e}", self.rpc_url))
    }
}

alloy::sol! {
    #[sol(rpc)]
    interface Erc20 {
        function balanceOf(address owner) external view returns (uint256);
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
        ledger: &Ledger,
        cursor: &str,
        adds_up: bool,
        figures: F,
        slot: u64,
    ) -> Result<bool, AuditError> {
        let caught_up = ledger.cursor(cursor).await?.is_some_and(|c| c >= slot);
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
