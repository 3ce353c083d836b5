-- A settlement that passed verification and then failed on chain spent our fee: it is
-- 'reverted', counted per payer so payers who do it repeatedly are refused. 'expired' means
-- it never landed (its blockhash or validBefore passed): nothing was taken, nothing spent.
ALTER TABLE ledger.settlements DROP CONSTRAINT settlements_status_check;
ALTER TABLE ledger.settlements ADD CONSTRAINT settlements_status_check
    CHECK (status IN ('claimed', 'settled', 'failed', 'reverted', 'expired'));
CREATE INDEX settlements_reverted ON ledger.settlements (payer, created_at) WHERE status = 'reverted';
