-- A cycle works on the roster as it stood at its launch. People enrolled
-- later have no share in the cycle's reservation, so they wait for the next
-- cycle: the launch copies the programme's beneficiary ids into
-- cycle_roster with one INSERT … SELECT in the transaction that creates the
-- cycle row, and the reservation (roster_size), the cycle's pages and its
-- case count all come from that one frozen set.
--
-- The primary key is the keyset the cycle workflow pages by (cycle_id,
-- beneficiary_id > cursor ORDER BY beneficiary_id), so no other index is
-- needed. There are no foreign keys: the rows are only ever written by the
-- snapshot statement, which reads them from beneficiaries for a cycle it has
-- just inserted, and a per-row referential check would double the cost of a
-- launch of millions for nothing (neither table ever deletes).
CREATE TABLE cycle_roster (
    cycle_id       text NOT NULL,
    beneficiary_id text NOT NULL,
    PRIMARY KEY (cycle_id, beneficiary_id)
);

-- roster_hash: SHA-256 over the frozen ids in byte order, each followed by
-- a newline, so anyone can recompute it from the snapshot (or from a
-- payment roll) and see the set did not change. NULL for cycles created
-- before snapshots existed: those page the live roster.
ALTER TABLE cycles ADD COLUMN roster_hash bytea;

---- create above / drop below ----

ALTER TABLE cycles DROP COLUMN roster_hash;
DROP TABLE cycle_roster;
