-- Cases of the third shape (BeneficiaryCase3) wait for a payment's final
-- answer on their SendPayment activity, completed asynchronously: no
-- worker slot is held and nothing is billed while the bank decides.
-- Whoever hears the answer first (the bank's callback, or the cycle's
-- sweep that asks the bank when no callback came) books it, records the
-- case's projection and completes the activity by its task token. A row
-- is written when an attempt of SendPayment starts, before anything else,
-- so that the sweep sees every attempt that is waiting.
CREATE TABLE payment_waits (
    order_id     text PRIMARY KEY,
    case_id      text NOT NULL,
    cycle_id     text NOT NULL,
    -- The waiting activity attempt's task token (opaque to apoyo: ids of
    -- the namespace, workflow, run and activity; no personal data).
    task_token   bytea NOT NULL,
    -- The version of the projection written once paid, and how many
    -- referrals open then.
    case_version bigint NOT NULL,
    referrals    int NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- When the sweep last asked the bank (or the attempt started).
    asked_at     timestamptz NOT NULL DEFAULT now(),
    -- When the final answer reached the case.
    delivered_at timestamptz
);
CREATE INDEX payment_waits_due ON payment_waits (cycle_id, asked_at) WHERE delivered_at IS NULL;

---- create above / drop below ----

DROP TABLE payment_waits;
