-- The treasuries a gateway is paid into (and pays withdrawals from), as its config names them:
-- the audit weighs what each holds, by the indexed transfers of its USDC, against what it owes.
CREATE TABLE ledger.treasuries (
    chain      ledger.chain NOT NULL,
    -- The owner of the treasury's USDC (Solana) or its address (Base).
    owner      text         NOT NULL,
    -- The USDC it holds: the mint (Solana) or the token contract (Base).
    usdc       text         NOT NULL,
    first_seen timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, owner, usdc)
);
