-- Claims for a list of kinds look up each kind's oldest runnable job here, so queued jobs of
-- kinds a worker does not run (a newer version's, during a rolling deploy) never slow its claims.
CREATE INDEX jobs_kind_runnable ON jobs (kind, run_at, id) WHERE state IN ('queued', 'running');

-- The index of claims for any kind gains a predicate that only those claims state
-- (`max_attempts > 0` holds for every job): PostgreSQL's planner could otherwise choose it for a
-- claim by kind too, and walk past every queued job of the other kinds in due order.
DROP INDEX jobs_runnable;
CREATE INDEX jobs_runnable ON jobs (run_at, id)
    WHERE state IN ('queued', 'running') AND max_attempts > 0;
