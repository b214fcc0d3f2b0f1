-- A cycle reserves its whole amount against the budget at launch: how many
-- cases each fund covers is recorded with the cycle, so a relaunch reuses
-- the same reservation (the same ledger keys, the same amounts).
ALTER TABLE cycles
    ADD COLUMN roster_size int,
    ADD COLUMN amount      numeric,
    ADD COLUMN allocation  jsonb;

---- create above / drop below ----

ALTER TABLE cycles DROP COLUMN roster_size, DROP COLUMN amount, DROP COLUMN allocation;
