-- A charge is claimed before its payment is sent (so two gateways cannot both accept one
-- payment), then settled or failed, then completed with the upstream's usage.
ALTER TABLE ledger.charges
    ADD COLUMN status   text  NOT NULL DEFAULT 'settling'
        CHECK (status IN ('settling', 'settled', 'failed', 'completed')),
    ADD COLUMN error    text,
    -- What the client was answered, so a retry with the same payment id gets it again.
    ADD COLUMN response jsonb;
