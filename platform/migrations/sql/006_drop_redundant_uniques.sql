-- A case's id is case/<cycle>/<beneficiary> and an order's id is
-- pay_<cycle>_<beneficiary>_<attempt>: the primary keys already make those
-- pairs unique. The extra UNIQUE constraints only made two concurrent first
-- writes of the same row collide on an index their ON CONFLICT did not
-- name, failing an activity for nothing (it was retried). The one
-- constraint that matters — at most one paid order per person and cycle —
-- stays.
ALTER TABLE cases DROP CONSTRAINT cases_cycle_id_beneficiary_id_key;
ALTER TABLE payments DROP CONSTRAINT payments_cycle_id_beneficiary_id_attempt_key;
CREATE INDEX cases_cycle_beneficiary ON cases (cycle_id, beneficiary_id);

---- create above / drop below ----

DROP INDEX cases_cycle_beneficiary;
ALTER TABLE cases ADD CONSTRAINT cases_cycle_id_beneficiary_id_key UNIQUE (cycle_id, beneficiary_id);
ALTER TABLE payments ADD CONSTRAINT payments_cycle_id_beneficiary_id_attempt_key UNIQUE (cycle_id, beneficiary_id, attempt);
