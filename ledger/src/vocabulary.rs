//! The words of the money trail, defined once. The decoders write them, the SQL filters on
//! them (bound from here, never retyped), the audit and its page report by them, and the
//! schema checks them (`migrations/0004`–`0007`; a test holds the two lists equal).

use strum::{AsRefStr, EnumString, IntoStaticStr, VariantArray};

/// A word of the vocabulary: a value with its snake_case name both ways (`as_ref`, `into`,
/// `parse`) and the list of all of them (`VARIANTS`), which the schema test compares.
macro_rules! word {
    ($(#[$meta:meta])* pub enum $name:ident $body:tt) => {
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, AsRefStr, IntoStaticStr, EnumString, VariantArray,
        )]
        #[strum(serialize_all = "snake_case")]
        $(#[$meta])*
        pub enum $name $body
    };
}

word! {
    /// How a token moved: the token-program instruction (Solana) or log (Base) that moved it.
    pub enum TransferKind {
        Transfer,
        TransferChecked,
        MintTo,
        MintToChecked,
        Burn,
        BurnChecked,
        /// An ERC-20 `Transfer` log (Base).
        Erc20Transfer,
    }
}

impl TransferKind {
    /// Kinds that move tokens between two accounts.
    pub const TRANSFERS: [TransferKind; 3] = [
        TransferKind::Transfer,
        TransferKind::TransferChecked,
        TransferKind::Erc20Transfer,
    ];
    /// Kinds that create tokens.
    pub const MINTS: [TransferKind; 2] = [TransferKind::MintTo, TransferKind::MintToChecked];
    /// Kinds that destroy tokens.
    pub const BURNS: [TransferKind; 2] = [TransferKind::Burn, TransferKind::BurnChecked];
}

word! {
    /// A model-vault instruction, as the ledger names it.
    pub enum VaultEventKind {
        Initialize,
        UpdateConfig,
        Register,
        UpdateModel,
        Tokenize,
        Buy,
        Sell,
        Buyback,
        Claim,
        Release,
    }
}

word! {
    /// Where a follower read what it wrote.
    pub enum Ingest {
        /// Yellowstone gRPC, live.
        Grpc,
        /// JSON-RPC, catching up from the cursor.
        RpcBackfill,
        /// `eth_getLogs` on Base.
        EvmLogs,
    }
}

word! {
    /// Why USDC moved into or out of a watched account, as the vault audit sums it: the
    /// model-vault instruction that moved it, named for what it meant to the vault.
    pub enum FlowCause {
        /// A paid call's settlement (a sold charge's transaction, to its payTo).
        Payment,
        /// Into a vault with neither a charge nor a model-vault instruction behind it (a
        /// donation, say): not revenue any call earned.
        Unexplained,
        /// `release_held_revenue`: revenue the treasury held before tokenization.
        HeldReleased,
        /// `buyback_and_burn`'s USDC into the pool.
        Buyback,
        /// `buyback_and_burn`'s leg to the treasury.
        ProtocolFee,
        /// `claim_creator_revenue`: the creator's share.
        Claim,
        /// Out of a vault without any model-vault instruction.
        Other,
    }
}

/// The names of `variants`, to bind as a `text[]` parameter.
pub fn names<T: Copy + Into<&'static str>>(variants: &[T]) -> Vec<&'static str> {
    variants.iter().map(|v| (*v).into()).collect()
}

word! {
    /// Where a paid call's charge stands: `settling` → `settled` (the payment landed) →
    /// `completed` (answered, cost and credit booked); or `failed` (the payment never landed).
    #[derive(sqlx::Type)]
    #[sqlx(type_name = "text", rename_all = "snake_case")]
    pub enum ChargeStatus {
        Settling,
        Settled,
        Failed,
        Completed,
    }
}

word! {
    /// How one payment's settlement ended, across every gateway process: `claimed` while one is
    /// sending it.
    pub enum SettlementStatus {
        Claimed,
        Settled,
        /// Refused before it could land.
        Failed,
        /// Landed and failed on chain.
        Reverted,
        /// Its blockhash or authorization ran out before it landed.
        Expired,
    }
}

word! {
    /// Why a payer is credited part or all of a charge.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CreditReason {
        /// The charge was the ceiling; the call cost less.
        Surplus,
        /// No provider answered.
        UpstreamFailed,
        /// The answer broke off before its end.
        StreamInterrupted,
        /// The client left before the end of the answer.
        ClientDisconnected,
        /// The payment landed but the gateway never answered (it stopped mid-call).
        Unserved,
        /// The payment was a top-up: all of it is the payer's to spend.
        TopUp,
    }
}

/// The settled charges: what was sold.
pub const SOLD: [ChargeStatus; 2] = [ChargeStatus::Settled, ChargeStatus::Completed];

word! {
    /// Why a payer's balance changed: each entry of `ledger.balance_entries`.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EntryKind {
        /// A per-call charge was the ceiling; the call cost less.
        Surplus,
        /// A per-call charge whose call no provider answered.
        UpstreamFailed,
        /// A per-call charge whose answer broke off.
        StreamInterrupted,
        /// A per-call charge whose client left before the end.
        ClientDisconnected,
        /// A per-call charge the gateway never answered (it stopped mid-call).
        Unserved,
        /// A payment made to fund the balance.
        TopUp,
        /// A call's maximum cost reserved before it runs.
        Hold,
        /// A hold given back (all of it: the call then pays with a `charge` entry).
        Release,
        /// A call served from the balance, at its actual cost.
        Charge,
        /// Sent back on chain to the wallet.
        Withdrawal,
        /// A withdrawal that could not land, credited back.
        WithdrawalFailed,
    }
}

impl From<CreditReason> for EntryKind {
    fn from(reason: CreditReason) -> Self {
        match reason {
            CreditReason::Surplus => EntryKind::Surplus,
            CreditReason::UpstreamFailed => EntryKind::UpstreamFailed,
            CreditReason::StreamInterrupted => EntryKind::StreamInterrupted,
            CreditReason::ClientDisconnected => EntryKind::ClientDisconnected,
            CreditReason::Unserved => EntryKind::Unserved,
            CreditReason::TopUp => EntryKind::TopUp,
        }
    }
}

word! {
    /// Where a hold stands: `open` while its call runs, then closed once.
    #[derive(sqlx::Type, serde::Serialize)]
    #[sqlx(type_name = "text", rename_all = "snake_case")]
    #[serde(rename_all = "snake_case")]
    pub enum HoldStatus {
        Open,
        /// The call was answered and charged its actual cost.
        Charged,
        /// The call produced nothing: the hold went back whole.
        Released,
        /// Its gateway never came back for it: released by the sweep.
        Expired,
    }
}

word! {
    /// How often an API key's spend limit starts over.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum LimitPeriod {
        Day,
        Week,
        Month,
    }
}

word! {
    /// What a payment buys.
    #[derive(sqlx::Type, serde::Serialize)]
    #[sqlx(type_name = "text", rename_all = "snake_case")]
    #[serde(rename_all = "snake_case")]
    pub enum Purpose {
        /// A call of a model.
        Call,
        /// Funds for the payer's balance.
        TopUp,
    }
}

word! {
    /// Where a transfer out of a treasury stands (a withdrawal, a revenue release): `sending`
    /// until it is confirmed (`sent`) or can no longer land (`failed`; a withdrawal's amount is
    /// credited back).
    #[derive(sqlx::Type, serde::Serialize)]
    #[sqlx(type_name = "text", rename_all = "snake_case")]
    #[serde(rename_all = "snake_case")]
    pub enum PayoutStatus {
        Sending,
        Sent,
        Failed,
    }
}

word! {
    /// How a model earned revenue: a call paid on its own (x402), or served from a balance
    /// (a wallet sign-in or an API key).
    #[derive(sqlx::Type, serde::Serialize)]
    #[sqlx(type_name = "text", rename_all = "snake_case")]
    #[serde(rename_all = "snake_case")]
    pub enum Rail {
        PerCall,
        Balance,
    }
}
