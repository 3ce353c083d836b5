-- The words of the money trail are checked where they are stored: the same lists as the Rust
-- enums in src/vocabulary.rs and CreditReason (a test holds them equal), so a word retyped
-- wrong anywhere fails at the write instead of vanishing from a sum.
ALTER TABLE ledger.transfers ADD CONSTRAINT transfers_kind_check CHECK (kind IN
    ('transfer', 'transfer_checked', 'mint_to', 'mint_to_checked', 'burn', 'burn_checked', 'erc20_transfer'));
ALTER TABLE ledger.transfers ADD CONSTRAINT transfers_ingested_from_check CHECK (ingested_from IN
    ('grpc', 'rpc_backfill', 'evm_logs'));
ALTER TABLE ledger.vault_events ADD CONSTRAINT vault_events_kind_check CHECK (kind IN
    ('initialize', 'update_config', 'register', 'update_model', 'tokenize', 'buy', 'sell', 'buyback',
     'claim', 'release'));
ALTER TABLE ledger.vault_events ADD CONSTRAINT vault_events_ingested_from_check CHECK (ingested_from IN
    ('grpc', 'rpc_backfill', 'evm_logs'));
ALTER TABLE ledger.credits ADD CONSTRAINT credits_reason_check CHECK (reason IN
    ('surplus', 'upstream_failed', 'stream_interrupted', 'client_disconnected', 'unserved'));
