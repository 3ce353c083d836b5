-- Token balance changes the decoded movements do not explain (a program we do not decode, a
-- confidential transfer, a transfer fee). Recorded for the auditor, never dropped.
CREATE TABLE ledger.discrepancies (
    chain          ledger.chain     NOT NULL,
    tx             text             NOT NULL,
    account        text             NOT NULL,
    mint           text             NOT NULL,
    block          bigint           NOT NULL,
    -- post − pre from the transaction's token balances
    balance_change numeric(21, 0)   NOT NULL,
    -- incoming − outgoing from the decoded movements
    decoded_change numeric(21, 0)   NOT NULL,
    status         ledger.row_status NOT NULL DEFAULT 'confirmed',
    first_seen     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, tx, account)
);
