-- The facilitator's record of payments it has sent: one row per Solana transaction or
-- EIP-3009 authorization, claimed before sending, so no two processes settle one payment.
CREATE TABLE ledger.settlements (
    chain          ledger.chain     NOT NULL,
    -- Solana: the transaction signature; Base: "<payer>:<nonce>".
    payment        text             NOT NULL,
    payer          text             NOT NULL,
    amount         numeric(20, 0)   NOT NULL,
    -- the settlement transaction once sent (Base: its hash)
    tx             text,
    status         text             NOT NULL DEFAULT 'claimed'
        CHECK (status IN ('claimed', 'settled', 'failed')),
    error          text,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, payment)
);
