-- One active follower per cursor. The holder of a lease keeps a Postgres advisory lock on a
-- connection of its own (released by Postgres when that connection ends, however the process
-- ended) and bumps the lease's epoch when it takes it; each of its writes checks the epoch in
-- its transaction, so a process that lost the lease (its connection dropped while it ran on)
-- can no longer write.
CREATE TABLE ledger.leases (
    name text PRIMARY KEY,
    epoch bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
);
