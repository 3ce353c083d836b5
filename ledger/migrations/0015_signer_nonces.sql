-- Nonces of a sending key (the Base facilitator's), handed out by Postgres so every gateway
-- process sends at once without two transactions sharing one: `next` is the lowest never
-- handed out; `nonce_gaps` holds nonces handed out whose transaction the node refused (and
-- nothing filled), taken again first so later transactions are not stuck behind them.
CREATE TABLE ledger.signer_nonces (
    chain ledger.chain NOT NULL,
    signer text NOT NULL,
    next bigint NOT NULL CHECK (next >= 0),
    PRIMARY KEY (chain, signer)
);

CREATE TABLE ledger.nonce_gaps (
    chain ledger.chain NOT NULL,
    signer text NOT NULL,
    nonce bigint NOT NULL CHECK (nonce >= 0),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, signer, nonce)
);
