-- Where each chain was last verified. `ledger verify` re-hashes only what
-- was appended since (a full verify, --full, re-derives everything), and a
-- verify that finds nothing wrong moves the checkpoints to the heads it
-- checked. A checkpoint is a record of a past verification, not a proof:
-- whoever can rewrite journal rows behind the triggers can rewrite this
-- table too, which is why the full verify stays.
CREATE TABLE ledger_checkpoints (
    chain_no    integer PRIMARY KEY REFERENCES ledger_chains (chain_no),
    last_id     bigint NOT NULL,
    last_hash   bytea NOT NULL,
    verified_at timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE ledger_checkpoints;
