-- When a payment order was last handed to the bank and when that call
-- ended. A call that started and has not ended (the worker died, or is
-- still waiting on the bank) may still reach the bank: until it ends, or
-- the bounded call time has certainly passed, nobody may conclude that the
-- order was never sent and give its money back.
ALTER TABLE payments
    ADD COLUMN send_started_at timestamptz,
    ADD COLUMN send_ended_at   timestamptz;

---- create above / drop below ----

ALTER TABLE payments DROP COLUMN send_started_at, DROP COLUMN send_ended_at;
