-- Revenue owed to models' vaults (issue #15). A model whose catalog entry names a creator earns
-- the actual cost of every call served for it, on every rail and chain; its vault receives
-- per-call payments made into it directly, and releases from the Solana treasury for the rest.
-- What is owed is computed from these rows alone (see docs/money.md).

-- The models a gateway sells for a creator, as its catalog names them: their revenue from
-- `since` (when a catalog first named a creator) is owed to their vault, which `vault_owner`
-- (the vault PDA, payTo once tokenized) identifies; what they earned before is the operator's.
CREATE TABLE ledger.model_creators (
    model       text        PRIMARY KEY,
    creator     text        NOT NULL,
    vault_owner text        NOT NULL,
    since       timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- A model's charges and holds are summed for every release computation.
CREATE INDEX charges_model ON ledger.charges (model, created_at);
CREATE INDEX holds_model ON ledger.holds (model, created_at);

-- Revenue the treasury released into a model's vault (`release_held_revenue`), each for the
-- amount one computation found owed: `earned` and `received` are that computation's terms.
-- Signed before it is recorded, so every row names its transaction; `sending` until the
-- transaction is confirmed (`sent`) or can no longer land (`failed`).
CREATE TABLE ledger.revenue_releases (
    id           bigserial      PRIMARY KEY,
    model        text           NOT NULL,
    amount       numeric(20, 0) NOT NULL CHECK (amount > 0),
    earned       numeric(21, 0) NOT NULL,
    received     numeric(21, 0) NOT NULL,
    CHECK (amount = earned - received),
    status       text           NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed')),
    tx           text           NOT NULL UNIQUE,
    -- The transaction's blockhash: once it is no longer valid, the transaction can no longer land.
    blockhash    text           NOT NULL,
    error        text,
    created_at   timestamptz    NOT NULL DEFAULT now(),
    completed_at timestamptz
);
-- One release in flight per model, across every keeper.
CREATE UNIQUE INDEX revenue_releases_in_flight ON ledger.revenue_releases (model) WHERE status = 'sending';
