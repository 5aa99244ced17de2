-- Privacy: per-contact data keys (crypto-shredding of audit details), erasure tombstones, and
-- sealed job payloads, job errors and step errors.
--
-- `contact_keys.doc` is a sealed JSON document {"email": <address or null>, "key": <base64 of
-- a random 256-bit data key>}, one per contact blind index (`system` for entries about no
-- contact). Audit `details` are sealed under these data keys (`d1:<key_id>:…`); erasing a
-- contact deletes its row, so its audit details can no longer be opened while the hash chain
-- (which covers the sealed text) still verifies. `key_id` is random and survives key rotation.
CREATE TABLE contact_keys (
    key_id TEXT PRIMARY KEY,
    contact_bidx TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    doc TEXT NOT NULL
);

-- An erased address, as a keyed hash under a random key kept sealed in store_meta
-- (`tombstone_key`): never mailed again, never stored in clear.
CREATE TABLE erasure_tombstones (
    tomb_hash TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL
);

-- Job payloads, job errors and step errors are sealed like documents from now on: mark the
-- existing ones as plaintext (`cli keys encrypt` seals them when a key is configured).
UPDATE jobs SET payload = 'p:' || payload
    WHERE payload NOT LIKE 'p:%' AND payload NOT LIKE 'e1:%';
UPDATE jobs SET last_error = 'p:' || last_error
    WHERE last_error IS NOT NULL AND last_error NOT LIKE 'p:%' AND last_error NOT LIKE 'e1:%';
UPDATE workflow_steps SET error = 'p:' || error
    WHERE error IS NOT NULL AND error NOT LIKE 'p:%' AND error NOT LIKE 'e1:%';
