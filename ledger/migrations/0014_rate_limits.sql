-- Per-client request limits shared by every gateway process: one row per (scope, key), its
-- theoretical arrival time (GCRA). UNLOGGED: a limit's state is not worth a WAL write; after
-- a crash the limits start afresh.
CREATE UNLOGGED TABLE ledger.rate_limits (
    scope text NOT NULL,
    key text NOT NULL,
    tat timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
