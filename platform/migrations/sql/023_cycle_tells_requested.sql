-- When a signed list last left kept cases for the cycle to start (their
-- approvals complete, no workflow yet). The signature's request records
-- the list and returns; the cycle's sweep, woken by a signal, starts those
-- cases a page at a time, 32 in flight, and clears this once a pass finds
-- none left (only if no list set it again meanwhile). A list of millions
-- was told inside the request, and took as long as starting them all.
ALTER TABLE cycles ADD COLUMN tells_requested_at timestamptz;

---- create above / drop below ----

ALTER TABLE cycles DROP COLUMN tells_requested_at;
