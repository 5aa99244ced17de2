-- salesagent store schema (PostgreSQL).
-- Times are BIGINT nanoseconds since the Unix epoch (UTC), identical on both backends.
-- `doc` columns hold a sealed JSON document: `p:<json>` (no key configured) or
-- `e1:<key id>:<base64 nonce||ciphertext>` (XChaCha20-Poly1305). Columns ending in `_bidx`
-- hold a keyed hash (blind index) of an e-mail address, never the address itself.

CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    contact_bidx TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX submissions_contact ON submissions (contact_bidx);

CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    submission_id TEXT UNIQUE,
    contact_bidx TEXT NOT NULL,
    status TEXT NOT NULL,
    message_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX drafts_status ON drafts (status, created_at);
CREATE INDEX drafts_contact ON drafts (contact_bidx);
CREATE INDEX drafts_message ON drafts (message_id);

CREATE TABLE draft_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    draft_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX draft_events_draft ON draft_events (draft_id, seq);

CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL,
    draft_id TEXT,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX workflow_runs_submission ON workflow_runs (submission_id, started_at);

CREATE TABLE workflow_steps (
    run_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    duration_ms BIGINT,
    error TEXT,
    degraded_reason TEXT,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE messages (
    message_id TEXT PRIMARY KEY,
    contact_bidx TEXT NOT NULL,
    draft_id TEXT,
    at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX messages_contact ON messages (contact_bidx, at);

CREATE TABLE outcomes (
    id TEXT PRIMARY KEY,
    source_event_id TEXT NOT NULL UNIQUE,
    outcome_type TEXT NOT NULL,
    contact_bidx TEXT NOT NULL,
    sender_bidx TEXT,
    occurred_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX outcomes_contact ON outcomes (contact_bidx, occurred_at);
CREATE INDEX outcomes_occurred ON outcomes (occurred_at);

CREATE TABLE voice_profiles (
    owner_bidx TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (owner_bidx, name, version)
);

CREATE TABLE approved_recipients (
    email_bidx TEXT PRIMARY KEY,
    added_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE suppressions (
    email_bidx TEXT PRIMARY KEY,
    added_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE send_log (
    draft_id TEXT PRIMARY KEY,
    contact_bidx TEXT NOT NULL,
    sender_bidx TEXT NOT NULL,
    domain TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX send_log_contact ON send_log (contact_bidx, at);
CREATE INDEX send_log_sender ON send_log (sender_bidx, at);
CREATE INDEX send_log_domain ON send_log (domain, at);

CREATE TABLE oauth_tokens (
    account_bidx TEXT PRIMARY KEY,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Only runnable-or-running jobs are indexed, so claims never walk finished work.
CREATE INDEX jobs_runnable ON jobs (run_at, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_state ON jobs (state, created_at);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
