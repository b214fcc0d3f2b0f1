-- When a kept case was told that its approvals are complete: started
-- approved (the lists' votes in its input) or signalled, accepted by
-- Temporal either way. The sweep tells again only cases whose lists make
-- the quorum and that still wait at approval; a case already told still
-- waits there until its first workflow task runs, which on a busy server
-- can take minutes, and each telling again was a billed signal and a
-- workflow task more for a case that needed neither.
ALTER TABLE case_starts ADD COLUMN told_at timestamptz;

---- create above / drop below ----

ALTER TABLE case_starts DROP COLUMN told_at;
