-- Claims for a list of kinds look up each kind's oldest runnable job here, so queued jobs of
-- kinds a worker does not run (a newer version's, during a rolling deploy) never slow its claims.
CREATE INDEX jobs_kind_runnable ON jobs (kind, run_at, id) WHERE state IN ('queued', 'running');
