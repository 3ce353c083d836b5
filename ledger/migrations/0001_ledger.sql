-- paywire's ledger. Chain observations (written by the indexer) and sales (written by the
-- gateway) live side by side so an auditor can join them; no part writes another's tables.
-- Amounts are base units in numeric(20,0) (a u64 always fits); addresses, signatures and
-- hashes are in their canonical text form (base58 on Solana, 0x-hex on Base).

CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TYPE ledger.chain AS ENUM ('solana', 'base');
-- Rows are ingested at confirmed, promoted to finalized, and rolled back (kept, never
-- deleted) when their slot dies or their block is reorged away.
CREATE TYPE ledger.row_status AS ENUM ('confirmed', 'finalized', 'rolled_back');

-- One row per token movement leg (transfer, mint, burn), both chains.
CREATE TABLE ledger.transfers (
    chain          ledger.chain     NOT NULL,
    -- Solana: transaction signature; Base: transaction hash.
    tx             text             NOT NULL,
    -- Solana: instruction path ("2", "2.0", "2.0#3" inside a Batch); Base: log index.
    leg            text             NOT NULL,
    -- Solana: slot; Base: block number.
    block          bigint           NOT NULL,
    block_hash     text,
    block_time     timestamptz,
    tx_index       integer          NOT NULL,
    -- Token program (Solana) or token contract (Base).
    program        text             NOT NULL,
    -- transfer, transfer_checked, mint_to, mint_to_checked, burn, burn_checked, erc20_transfer
    kind           text             NOT NULL,
    mint           text             NOT NULL,
    source         text,
    source_owner   text,
    destination    text,
    destination_owner text,
    authority      text,
    amount         numeric(20, 0)   NOT NULL CHECK (amount >= 0),
    decimals       smallint,
    success        boolean          NOT NULL,
    status         ledger.row_status NOT NULL DEFAULT 'confirmed',
    -- grpc, rpc_backfill, evm_logs
    ingested_from  text             NOT NULL,
    first_seen     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, tx, leg)
);
CREATE INDEX transfers_block ON ledger.transfers (chain, block);
CREATE INDEX transfers_destination_owner ON ledger.transfers (destination_owner);
CREATE INDEX transfers_source_owner ON ledger.transfers (source_owner);

-- model-vault instructions, decoded through the committed IDL.
CREATE TABLE ledger.vault_events (
    signature      text             NOT NULL,
    ix_path        text             NOT NULL,
    slot           bigint           NOT NULL,
    block_time     timestamptz,
    tx_index       integer          NOT NULL,
    -- initialize, update_config, register, update_model, tokenize, buy, sell, buyback, claim, release
    kind           text             NOT NULL,
    model          text,
    actor          text,
    usdc_amount    numeric(20, 0),
    token_amount   numeric(20, 0),
    success        boolean          NOT NULL,
    status         ledger.row_status NOT NULL DEFAULT 'confirmed',
    ingested_from  text             NOT NULL,
    first_seen     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (signature, ix_path)
);
CREATE INDEX vault_events_model ON ledger.vault_events (model, slot);

-- Solana slots and Base blocks as the indexer saw them, for gap and reorg checks.
CREATE TABLE ledger.blocks (
    chain          ledger.chain     NOT NULL,
    number         bigint           NOT NULL,
    hash           text             NOT NULL,
    parent_hash    text,
    block_time     timestamptz,
    status         ledger.row_status NOT NULL DEFAULT 'confirmed',
    PRIMARY KEY (chain, number)
);

-- Where each follower has durably ingested up to; written in the same transaction as rows.
CREATE TABLE ledger.cursors (
    name           text             PRIMARY KEY,
    chain          ledger.chain     NOT NULL,
    position       bigint           NOT NULL,
    updated_at     timestamptz      NOT NULL DEFAULT now()
);

-- What the gateway sold: one row per paid call.
CREATE TABLE ledger.charges (
    id             bigserial        PRIMARY KEY,
    quote_id       text             NOT NULL UNIQUE,
    model          text             NOT NULL,
    payer          text             NOT NULL,
    chain          ledger.chain     NOT NULL,
    pay_to         text             NOT NULL,
    amount         numeric(20, 0)   NOT NULL CHECK (amount >= 0),
    -- Solana signature / Base tx hash of the settlement; the EIP-3009 nonce on Base.
    settlement_tx  text,
    eip3009_nonce  text,
    -- x402 payment-identifier: a retry with the same id returns the first result.
    payment_id     text,
    provider       text,
    prompt_tokens  integer,
    completion_tokens integer,
    actual_cost    numeric(20, 0),
    credit         numeric(20, 0)   NOT NULL DEFAULT 0,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    completed_at   timestamptz
);
-- Never pay twice: a settlement or an authorization nonce is accepted once, across processes.
CREATE UNIQUE INDEX charges_settlement ON ledger.charges (chain, settlement_tx) WHERE settlement_tx IS NOT NULL;
CREATE UNIQUE INDEX charges_nonce ON ledger.charges (chain, payer, eip3009_nonce) WHERE eip3009_nonce IS NOT NULL;
CREATE UNIQUE INDEX charges_payment_id ON ledger.charges (payer, payment_id) WHERE payment_id IS NOT NULL;

-- Credits owed to payers (surplus of a charge over its actual cost, or a whole charge whose
-- call failed after settlement); spending a credit is a negative row.
CREATE TABLE ledger.credits (
    id             bigserial        PRIMARY KEY,
    payer          text             NOT NULL,
    chain          ledger.chain     NOT NULL,
    amount         numeric(21, 0)   NOT NULL,
    charge_id      bigint           REFERENCES ledger.charges (id),
    reason         text             NOT NULL,
    created_at     timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX credits_payer ON ledger.credits (payer, chain);
