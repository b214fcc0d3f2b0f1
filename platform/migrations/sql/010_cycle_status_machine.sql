-- A cycle's status moves by a state machine the database enforces, so no
-- code path (a late pause after a cancel, a retried activity, a second CLI)
-- can reopen a cancelled or closed cycle:
--
--   running ⇄ paused
--   running | paused → cancelled
--   running | paused | cancelled → closed   (the close ran: unspent
--                                             reservation released)
--   nothing out of closed; nothing out of cancelled but closed.
--
-- A closed cycle remembers whether it was cancelled (cancelled_at,
-- cancel_reason): cases of a cancelled cycle must not start paying after
-- it closes. control_seq counts the accepted pause/resume/cancel decisions;
-- the cycle workflow applies a control only when its seq is newer than the
-- last one it applied, so it converges on the database's last word.

-- 'done' was the old name of a cycle whose close ran.
UPDATE cycles SET status = 'closed' WHERE status = 'done';

ALTER TABLE cycles
    ADD COLUMN control_seq   bigint NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_at  timestamptz,
    ADD COLUMN cancel_reason text NOT NULL DEFAULT '',
    ADD COLUMN closed_at     timestamptz;

-- When an old cycle was cancelled or closed was not recorded: the
-- migration's time stands for it.
UPDATE cycles SET cancelled_at = now() WHERE status = 'cancelled';
UPDATE cycles SET closed_at = now() WHERE status = 'closed';

ALTER TABLE cycles
    ADD CONSTRAINT cycles_status_known CHECK (status IN ('running', 'paused', 'cancelled', 'closed')),
    ADD CONSTRAINT cycles_cancel_recorded CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL),
    ADD CONSTRAINT cycles_close_recorded CHECK (status <> 'closed' OR closed_at IS NOT NULL);

CREATE FUNCTION cycles_status_machine() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'running' THEN
            RAISE EXCEPTION 'cycle %: a new cycle is running, not %', NEW.id, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'cycles_status_transition';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.control_seq < OLD.control_seq THEN
        RAISE EXCEPTION 'cycle %: control_seq cannot go back from % to %', OLD.id, OLD.control_seq, NEW.control_seq
            USING ERRCODE = 'check_violation', CONSTRAINT = 'cycles_status_transition';
    END IF;
    IF OLD.cancelled_at IS NOT NULL AND (NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at OR NEW.cancel_reason <> OLD.cancel_reason) THEN
        RAISE EXCEPTION 'cycle %: a cancellation, once recorded, stays as it was', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'cycles_status_transition';
    END IF;
    IF OLD.closed_at IS NOT NULL AND NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
        RAISE EXCEPTION 'cycle %: a close, once recorded, stays as it was', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'cycles_status_transition';
    END IF;
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'running' AND NEW.status IN ('paused', 'cancelled', 'closed'))
         OR (OLD.status = 'paused' AND NEW.status IN ('running', 'cancelled', 'closed'))
         OR (OLD.status = 'cancelled' AND NEW.status = 'closed')) THEN
        RAISE EXCEPTION 'cycle % is %; it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'cycles_status_transition';
    END IF;
    IF NEW.status = 'cancelled' THEN
        NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
    END IF;
    IF NEW.status = 'closed' THEN
        NEW.closed_at := coalesce(NEW.closed_at, now());
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER cycles_status_machine BEFORE INSERT OR UPDATE ON cycles
    FOR EACH ROW EXECUTE FUNCTION cycles_status_machine();

---- create above / drop below ----

DROP TRIGGER cycles_status_machine ON cycles;
DROP FUNCTION cycles_status_machine();
ALTER TABLE cycles
    DROP CONSTRAINT cycles_status_known,
    DROP CONSTRAINT cycles_cancel_recorded,
    DROP CONSTRAINT cycles_close_recorded,
    DROP COLUMN control_seq,
    DROP COLUMN cancelled_at,
    DROP COLUMN cancel_reason,
    DROP COLUMN closed_at;
UPDATE cycles SET status = 'done' WHERE status = 'closed';
