-- Payer balances (issue #14): one per payer wallet, in USDC base units, the sum of its entries.
-- A call served from a balance holds its maximum cost first, then is charged its actual cost
-- and the hold released; `available` and `held` are kept by the same statements that write the
-- entries, so a balance is read (and checked, and locked) as one row.
CREATE TABLE ledger.balances (
    payer      text           NOT NULL,
    chain      ledger.chain   NOT NULL,
    -- What the payer may spend or hold now: the sum of its entries.
    available  numeric(21, 0) NOT NULL DEFAULT 0 CHECK (available >= 0),
    -- What open holds reserve (taken out of `available` by their `hold` entries).
    held       numeric(21, 0) NOT NULL DEFAULT 0 CHECK (held >= 0),
    updated_at timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (payer, chain)
);

-- API keys: a wallet's balance spent by `Authorization: Bearer pw_…`, within the key's limits.
CREATE TABLE ledger.api_keys (
    id                  bigserial      PRIMARY KEY,
    payer               text           NOT NULL,
    chain               ledger.chain   NOT NULL,
    -- SHA-256 of the key: the key itself is shown once, when it is made.
    key_hash            bytea          NOT NULL UNIQUE,
    -- Its first characters, to tell keys apart in a list.
    prefix              text           NOT NULL,
    name                text,
    -- The most its calls may spend per period (none: the balance is the limit) ...
    spend_limit         numeric(20, 0) CHECK (spend_limit > 0),
    -- ... per day, week or month (none: over the key's life).
    limit_period        text           CHECK (limit_period IN ('day', 'week', 'month')),
    period_start        timestamptz    NOT NULL DEFAULT now(),
    -- What its calls hold or were charged since `period_start`.
    period_spent        numeric(20, 0) NOT NULL DEFAULT 0 CHECK (period_spent >= 0),
    -- The models it may call (none: all).
    models              text[],
    requests_per_minute integer        CHECK (requests_per_minute > 0),
    expires_at          timestamptz,
    revoked_at          timestamptz,
    created_at          timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_payer ON ledger.api_keys (payer, chain);

-- A call's maximum cost, reserved while it runs. A hold is closed once: charged (with its
-- usage), released (the call produced nothing), or expired (its gateway never came back).
CREATE TABLE ledger.holds (
    id                bigserial      PRIMARY KEY,
    payer             text           NOT NULL,
    chain             ledger.chain   NOT NULL,
    model             text           NOT NULL,
    amount            numeric(20, 0) NOT NULL CHECK (amount > 0),
    -- The key the call came with (none: a wallet sign-in).
    api_key           bigint         REFERENCES ledger.api_keys (id),
    status            text           NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'charged', 'released', 'expired')),
    provider          text,
    prompt_tokens     integer,
    completion_tokens integer,
    actual_cost       numeric(20, 0) CHECK (actual_cost >= 0 AND actual_cost <= amount),
    created_at        timestamptz    NOT NULL DEFAULT now(),
    expires_at        timestamptz    NOT NULL,
    closed_at         timestamptz
);
CREATE INDEX holds_open ON ledger.holds (expires_at) WHERE status = 'open';

-- Unspent balance sent back on chain to its wallet, from the treasury of the wallet's chain.
-- Asked for with an idempotency key: the same key never pays twice.
CREATE TABLE ledger.withdrawals (
    id              bigserial      PRIMARY KEY,
    payer           text           NOT NULL,
    chain           ledger.chain   NOT NULL,
    idempotency_key text           NOT NULL,
    amount          numeric(20, 0) NOT NULL CHECK (amount > 0),
    -- `sending` from the debit until the transfer is confirmed (`sent`) or can no longer land
    -- (`failed`, the amount credited back).
    status          text           NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed')),
    -- The transfer, once signed (before it is sent, so a restart can look for it).
    tx              text,
    error           text,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    UNIQUE (payer, chain, idempotency_key)
);

-- Every change to a balance, with its cause: a credit from a per-call charge (its surplus, or
-- the whole of it when the call failed), a hold, a release, a charge at actual usage.
CREATE TABLE ledger.balance_entries (
    id         bigserial      PRIMARY KEY,
    payer      text           NOT NULL,
    chain      ledger.chain   NOT NULL,
    kind       text           NOT NULL CHECK (kind IN
        ('surplus', 'upstream_failed', 'stream_interrupted', 'client_disconnected', 'unserved',
         'top_up', 'hold', 'release', 'charge', 'withdrawal', 'withdrawal_failed')),
    -- The change to `available`: negative for a hold or a charge.
    amount     numeric(21, 0) NOT NULL,
    charge_id  bigint         REFERENCES ledger.charges (id),
    hold_id    bigint         REFERENCES ledger.holds (id),
    withdrawal_id bigint      REFERENCES ledger.withdrawals (id),
    created_at timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX balance_entries_payer ON ledger.balance_entries (payer, chain, id);
-- A charge credits its payer once.
CREATE UNIQUE INDEX balance_entries_charge ON ledger.balance_entries (charge_id) WHERE charge_id IS NOT NULL;

-- The credits filed so far become entries (nothing ever spent them), their sums balances.
INSERT INTO ledger.balance_entries (payer, chain, kind, amount, charge_id, created_at)
    SELECT payer, chain, reason, amount, charge_id, created_at FROM ledger.credits ORDER BY id;
INSERT INTO ledger.balances (payer, chain, available)
    SELECT payer, chain, sum(amount) FROM ledger.credits GROUP BY payer, chain;
DROP TABLE ledger.credits;

-- Sign-in nonces spent (x402 sign-in-with-x): a nonce signs in once, on any gateway; kept
-- until the proof it was issued for could no longer be accepted anyway.
CREATE TABLE ledger.sign_in_nonces (
    nonce      text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- A payment buys a call of a model, or a top-up of the payer's balance (no model: shown under
-- its purpose where a model is read).
ALTER TABLE ledger.charges
    ADD COLUMN purpose text NOT NULL DEFAULT 'call' CHECK (purpose IN ('call', 'top_up')),
    ALTER COLUMN model DROP NOT NULL,
    ADD CONSTRAINT charges_model_of_a_call CHECK ((purpose = 'call') = (model IS NOT NULL));
