-- One hash chain per programme, so that no lock is shared by every ledger
-- write. Until now one row, ledger_chain_head, was locked by every batch of
-- every programme: two programmes paying at once waited for each other.
--
-- A transaction belongs to the chain of its programme (its accounts are
-- all prg:<programme>:…); one that names no programme's account, or two
-- programmes', belongs to chain 0, which holds every row written before
-- this migration. Each chain has its own head row, locked only by its own
-- writers, and its own block of ids: chain n's transactions are numbered
-- from n·2³⁶ + 1 upwards without gaps, so an id still tells its place in
-- its chain, ids stay unique without a shared sequence, and the hash
-- chain's links and the verifier's gap check work per chain as before
-- (ledger/verify.go). 2³⁶ is 68 billion transactions per programme, and
-- ids stay below 2⁵³ (exact in JSON numbers) for 131,072 chains.
CREATE TABLE ledger_chains (
    chain_no  integer PRIMARY KEY CHECK (chain_no BETWEEN 0 AND 131071),
    name      text NOT NULL UNIQUE,
    last_id   bigint NOT NULL,
    last_hash bytea NOT NULL,
    -- Bumped by every account closing (see ledger/batch.go: headCache).
    changes   bigint NOT NULL DEFAULT 0,
    CHECK (last_id >= chain_no::bigint << 36 AND last_id < (chain_no::bigint + 1) << 36)
);
INSERT INTO ledger_chains (chain_no, name, last_id, last_hash, changes)
    SELECT 0, '', last_id, last_hash, changes FROM ledger_chain_head;
DROP TABLE ledger_chain_head;

---- create above / drop below ----

CREATE TABLE ledger_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id   bigint NOT NULL,
    last_hash bytea NOT NULL,
    changes   bigint NOT NULL DEFAULT 0
);
INSERT INTO ledger_chain_head (last_id, last_hash, changes)
    SELECT last_id, last_hash, changes FROM ledger_chains WHERE chain_no = 0;
DROP TABLE ledger_chains;
