-- Accounts a follower learned to watch from the chain itself (the revenue vault and pool USDC
-- accounts of each tokenized model), so that after a restart it watches them again. Kept even
-- if the block that taught them is rolled back: watching one account too many loses nothing.
CREATE TABLE ledger.tracked_accounts (
    chain          ledger.chain     NOT NULL,
    address        text             NOT NULL,
    -- the block from which the account matters
    since_block    bigint           NOT NULL,
    -- e.g. "revenue vault of <model>"
    reason         text             NOT NULL,
    tx             text             NOT NULL,
    first_seen     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, address)
);
