-- Follow-up sequences (salesagent_core::sequences), one per contact. The state is a sealed JSON
-- document (`sequences:<id>`); status, version and last change are kept in clear for listing
-- and optimistic writes.
CREATE TABLE sequences (
    contact_bidx TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX sequences_status ON sequences (status, updated_at);
