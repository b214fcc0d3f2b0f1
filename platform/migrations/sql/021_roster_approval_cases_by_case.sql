-- The signed lists that cover a case are looked up by the case: the votes
-- a case starts with (ListVotes), the sweep's check for approved cases not
-- yet told (ApprovedAwaitingSignal), the approvals of a case's page. The
-- primary key leads with the signature, so without this index each lookup
-- read the whole table: one sequential scan per case, quadratic in the
-- cycle's size (10,000 people: 12,000 scans reading 86 million rows).
CREATE INDEX roster_approval_cases_case ON roster_approval_cases (case_id);

---- create above / drop below ----

DROP INDEX roster_approval_cases_case;
