-- What an account held when a follower started following it after its first transfer (Base
-- from the chain's head, or a later start_block): the flows before are not in the ledger, so
-- the audit starts from this balance, read at the block before the follower's first.
CREATE TABLE ledger.opening_balances (
    chain ledger.chain NOT NULL,
    owner text NOT NULL,
    mint text NOT NULL,
    block bigint NOT NULL,
    amount numeric(20, 0) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (chain, owner, mint)
);
