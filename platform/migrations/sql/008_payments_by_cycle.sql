-- Payments are listed by cycle (status, reports, the demo's cash pickups,
-- the bench): 006 dropped the unique constraint whose index served those
-- lookups, so give them a plain one.
CREATE INDEX payments_cycle ON payments (cycle_id, beneficiary_id, attempt);

---- create above / drop below ----

DROP INDEX payments_cycle;
