-- Named operators: each with a token of their own, stored only as a hash.
-- `token_hash` is the lowercase hex SHA-256 of the token (the token has 244 random bits and is
-- shown once, when the operator is added). A revoked operator keeps its row (for `list`) until
-- its name is added again.
CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
