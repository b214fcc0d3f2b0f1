-- The stuck-case queue (apoyo.CaseService.Queue): open caseworker tasks,
-- oldest first, filtered by cycle, step, secretariat, alcaldía, task kind
-- and age, a page at a time by keyset on the task id.
--
-- The filters are copied onto each task (cycle, the step its case is at,
-- the secretariat whose people the work waits on, the person's alcaldía),
-- so that each filter is a predicate on case_tasks alone and a partial
-- index of the open tasks, ordered by id, answers it: a page reads about
-- as many index entries as it returns, however many cases there are. A
-- filter through the join to cases and beneficiaries could only walk the
-- open tasks in id order and look every case up, or read every matching
-- case and sort. cases.Store.RaiseTask fills the columns from the case's
-- projection; ResolveStaleTasks, which every projection write is followed
-- by, keeps step and secretariat current on the tasks still open.
ALTER TABLE case_tasks
    ADD COLUMN cycle_id    text NOT NULL DEFAULT '',
    ADD COLUMN step        text NOT NULL DEFAULT '',
    ADD COLUMN secretariat text NOT NULL DEFAULT '',
    ADD COLUMN alcaldia    text NOT NULL DEFAULT '';

-- Whose people a task waits on (apoyo.QueueItem.Secretariat): for an
-- overdue approval, the first secretariat, in the canonical order, the
-- case still waits for; for an overdue referral, the secretariat of the
-- first referral still without an outcome, SIBISO for a partner
-- organisation's (its Sub-directorate for Migrants coordinates the NGOs'
-- working group); SIBISO for identity documents; STyFE, the programme's
-- lead, for payments and failed steps, and when nothing more precise is
-- known. Arguments: the task's kind, and the case's waiting_on and state
-- from its projection.
CREATE FUNCTION case_task_secretariat(kind text, waiting_on text[], state jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE kind
        WHEN 'approval_overdue' THEN coalesce(
            (SELECT s FROM unnest(ARRAY['STYFE', 'SIBISO', 'SEDESA']) WITH ORDINALITY AS u(s, n)
             WHERE s = ANY (waiting_on) ORDER BY n LIMIT 1),
            'STYFE')
        WHEN 'referral_overdue' THEN coalesce(
            (SELECT CASE WHEN r->>'secretariat' IN ('STYFE', 'SIBISO', 'SEDESA') THEN r->>'secretariat' ELSE 'SIBISO' END
             FROM jsonb_array_elements(CASE WHEN jsonb_typeof(state->'referrals') = 'array' THEN state->'referrals' ELSE '[]' END)
                 WITH ORDINALITY AS e(r, n)
             WHERE coalesce(r->>'outcome', '') = '' ORDER BY n LIMIT 1),
            'STYFE')
        WHEN 'identity_review' THEN 'SIBISO'
        WHEN 'identity_review_expired' THEN 'SIBISO'
        ELSE 'STYFE'
    END
$$;

-- Every task's cycle and alcaldía are facts that never change. The step
-- and secretariat of a task closed before this migration were not
-- recorded and stay '': the queue reads open tasks only.
UPDATE case_tasks t SET cycle_id = c.cycle_id, alcaldia = b.alcaldia,
    step = CASE WHEN t.resolved_at IS NULL THEN c.step ELSE '' END,
    secretariat = CASE WHEN t.resolved_at IS NULL THEN case_task_secretariat(t.kind, c.waiting_on, c.state) ELSE '' END
FROM cases c JOIN beneficiaries b ON b.id = c.beneficiary_id
WHERE c.id = t.case_id;

-- RaiseTask sets every column: a writer that forgot one would hide its
-- task from the filters, so it fails instead.
ALTER TABLE case_tasks
    ALTER COLUMN cycle_id DROP DEFAULT,
    ALTER COLUMN step DROP DEFAULT,
    ALTER COLUMN secretariat DROP DEFAULT,
    ALTER COLUMN alcaldia DROP DEFAULT;

-- One partial index per filter, each ending in id so that it hands out
-- its open tasks already in the queue's order (id > cursor ORDER BY id
-- LIMIT n stops after n entries). Closed tasks, which pile up cycle after
-- cycle, are in none of them. Filters combined use one of these and check
-- the rest on the rows it gives; "open since before" uses the first, as
-- ids grow with created_at, so the oldest tasks come first either way.
CREATE INDEX case_tasks_queue ON case_tasks (id) WHERE resolved_at IS NULL;
CREATE INDEX case_tasks_queue_cycle ON case_tasks (cycle_id, id) WHERE resolved_at IS NULL;
CREATE INDEX case_tasks_queue_step ON case_tasks (step, id) WHERE resolved_at IS NULL;
CREATE INDEX case_tasks_queue_secretariat ON case_tasks (secretariat, id) WHERE resolved_at IS NULL;
CREATE INDEX case_tasks_queue_alcaldia ON case_tasks (alcaldia, id) WHERE resolved_at IS NULL;
CREATE INDEX case_tasks_queue_kind ON case_tasks (kind, id) WHERE resolved_at IS NULL;

-- No index became redundant: case_tasks_open (case_id, kind) still backs
-- RaiseTask's ON CONFLICT and the per-case lookups, and cases_waiting_on
-- (GIN) now serves ListCases' waiting_on filter, written as
-- waiting_on @> ARRAY[…] (the operator its index supports) instead of
-- … = ANY(waiting_on), which it never could.

---- create above / drop below ----

DROP INDEX case_tasks_queue, case_tasks_queue_cycle, case_tasks_queue_step, case_tasks_queue_secretariat,
    case_tasks_queue_alcaldia, case_tasks_queue_kind;
ALTER TABLE case_tasks DROP COLUMN cycle_id, DROP COLUMN step, DROP COLUMN secretariat, DROP COLUMN alcaldia;
DROP FUNCTION case_task_secretariat(text, text[], jsonb);
