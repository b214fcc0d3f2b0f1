-- A case of the third shape that screening sends straight to approval
-- (identity verified, eligible) gets no workflow at the cycle's page of
-- starts: it waits for the secretariats' signed lists in PostgreSQL (its
-- projection and these rows), at no Temporal cost. Once its lists make the
-- quorum it is started with their votes in its input and goes straight to
-- payment: a start and one activity, no approvals signal, one workflow task
-- fewer. Anything else that needs its workflow first (a per-case vote, a
-- cancel) starts it from the input kept here. The input holds ids, the
-- amount, the rules and the screening's outcome: no personal data.
CREATE TABLE case_starts (
    case_id    text PRIMARY KEY,
    cycle_id   text NOT NULL,
    task_queue text NOT NULL,
    input      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- When its workflow was started (set after the start; a start whose
    -- mark was lost is found started again, which is harmless).
    started_at timestamptz
);
CREATE INDEX case_starts_unstarted ON case_starts (cycle_id, case_id) WHERE started_at IS NULL;

---- create above / drop below ----

DROP TABLE case_starts;
