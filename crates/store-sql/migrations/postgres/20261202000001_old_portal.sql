-- What the old portal had (seed 000): passwords with an administrator lock, and
-- access keys. Keep in step with migrations/sqlite.

-- An argon2id PHC string; NULL for accounts that sign in by passcode only.
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN password_failures BIGINT NOT NULL DEFAULT 0;
-- Locked until an administrator unlocks (seed 000 B3-B4).
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE access_keys (
    id UUID PRIMARY KEY,
    -- HMAC-SHA256 of the key under the server key; the key itself is never stored.
    key_hash BYTEA NOT NULL UNIQUE,
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    role_id TEXT NOT NULL,
    max_uses BIGINT NOT NULL CHECK (max_uses > 0),
    uses BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    created_by UUID REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_keys_by_organisation ON access_keys (organisation_id, created_at);

-- Wrong access keys are counted from the audit log, by person.
CREATE INDEX audit_by_actor ON audit_log (actor_id, at);
