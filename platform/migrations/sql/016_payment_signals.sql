-- Cases of the third shape (BeneficiaryCase3) send a payment and wait for
-- its final answer as a signal instead of an activity that polls. Whoever
-- hears the answer first (the bank's callback, or the cycle's sweep that
-- asks the bank when no callback came) books it and records the case's
-- projection, then signals the case; these columns say what that needs
-- and whether the case has been told.
ALTER TABLE payments
    -- The version the paid projection carries, and how many referrals
    -- open once paid (the projection's next step).
    ADD COLUMN case_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN referrals    int NOT NULL DEFAULT 0,
    -- The case waits for a signal (true), rather than an activity that
    -- waits for the bank (the older shapes).
    ADD COLUMN awaited      boolean NOT NULL DEFAULT false,
    -- When the final answer reached the case.
    ADD COLUMN delivered_at timestamptz;

-- The sweep's work list: answers not yet delivered, oldest first.
CREATE INDEX payments_undelivered ON payments (cycle_id, updated_at) WHERE awaited AND delivered_at IS NULL;

---- create above / drop below ----

DROP INDEX payments_undelivered;
ALTER TABLE payments DROP COLUMN case_version, DROP COLUMN referrals, DROP COLUMN awaited, DROP COLUMN delivered_at;
