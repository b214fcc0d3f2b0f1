-- Payment cycles, the caseworkers' projection of each case, their tasks,
-- and every payment order. The workflow is the truth about a case; these
-- tables let people find and count cases without asking Temporal about
-- millions of workflows. None of them holds personal data.

CREATE TABLE cycles (
    id          text PRIMARY KEY CHECK (id ~ '^cyc_[a-z0-9]{6,40}$'),
    program_id  text NOT NULL REFERENCES programs (id),
    name        text NOT NULL,
    period      text NOT NULL DEFAULT '',
    cycle_date  date NOT NULL,
    status      text NOT NULL DEFAULT 'running',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (program_id, name)
);

CREATE TABLE cases (
    id             text PRIMARY KEY,
    program_id     text NOT NULL REFERENCES programs (id),
    cycle_id       text NOT NULL REFERENCES cycles (id),
    beneficiary_id text NOT NULL REFERENCES beneficiaries (id),
    step           text NOT NULL,
    status         text NOT NULL,
    waiting_on     text[] NOT NULL DEFAULT '{}',
    overdue        boolean NOT NULL DEFAULT false,
    outcome        text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    -- The full CaseState (timeline, votes, payments, referrals) when the
    -- writer had it; ids and outcomes only.
    state          jsonb,
    version        bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cycle_id, beneficiary_id)
);
CREATE INDEX cases_cycle_step ON cases (cycle_id, step, status);
CREATE INDEX cases_waiting_on ON cases USING gin (waiting_on);

-- Work for a person: a document to check, an overdue approval, a returned
-- payment needing a new instrument, a referral with no outcome.
CREATE TABLE case_tasks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     text NOT NULL REFERENCES cases (id),
    kind        text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
-- One open task of a kind per case: raising it again (an activity retry)
-- changes nothing.
CREATE UNIQUE INDEX case_tasks_open ON case_tasks (case_id, kind) WHERE resolved_at IS NULL;

CREATE TABLE payments (
    order_id       text PRIMARY KEY,
    case_id        text NOT NULL REFERENCES cases (id),
    program_id     text NOT NULL,
    cycle_id       text NOT NULL,
    beneficiary_id text NOT NULL,
    attempt        int NOT NULL CHECK (attempt > 0),
    rail           text NOT NULL,
    amount         numeric NOT NULL CHECK (amount > 0),
    fund           text NOT NULL,
    tracking_key   text NOT NULL,
    state          text NOT NULL,
    return_cause   int,
    provider_ref   text NOT NULL DEFAULT '',
    operation_date text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cycle_id, beneficiary_id, attempt)
);
-- The database itself refuses a second paid order for one person in one
-- cycle, whatever happens above it.
CREATE UNIQUE INDEX payments_paid_once_per_cycle ON payments (cycle_id, beneficiary_id)
    WHERE state IN ('settled', 'collected');
CREATE INDEX payments_tracking_key ON payments (tracking_key);

---- create above / drop below ----

DROP TABLE payments, case_tasks, cases, cycles;
