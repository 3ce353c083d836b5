-- Transfers the operator makes to or from its own treasuries (working capital paid in, USDC
-- moved between chains, margin taken out), recorded with why: the audit's cause for a treasury
-- inflow or outflow that no charge, release or withdrawal explains.
CREATE TABLE ledger.operator_transfers (
    chain       ledger.chain NOT NULL,
    tx          text         NOT NULL,
    note        text         NOT NULL CHECK (note <> ''),
    recorded_at timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, tx)
);
