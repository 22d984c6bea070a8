-- Foundation schema (SQLite). Times are INTEGER Unix microseconds (UTC); ids are
-- 16-byte UUID blobs. Keep in step with migrations/postgres (same file names).

CREATE TABLE organisations (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('regulator', 'provider')),
    name TEXT NOT NULL,
    ukprn TEXT UNIQUE,
    accountable_officer_name TEXT,
    accountable_officer_email TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE areas (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('data_return', 'communication')),
    sensitive BOOLEAN NOT NULL DEFAULT FALSE
);

INSERT INTO areas (slug, name, kind, sensitive) VALUES
    ('annual-fee-information', 'Annual Fee Information', 'data_return', FALSE),
    ('annual-financial-return', 'Annual Financial Return', 'data_return', FALSE),
    ('capital-funding', 'Capital Funding', 'data_return', FALSE),
    ('heses', 'HESES', 'data_return', FALSE),
    ('medical-and-dental-students', 'Medical and Dental Students', 'data_return', FALSE),
    ('prevent', 'Prevent', 'data_return', FALSE);

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    organisation_id BLOB NOT NULL REFERENCES organisations (id),
    title TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL UNIQUE,
    access_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at INTEGER,
    locked_until INTEGER,
    lock_count INTEGER NOT NULL DEFAULT 0,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    last_signed_in_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by BLOB REFERENCES users (id)
);
CREATE INDEX users_by_organisation ON users (organisation_id);

CREATE TABLE user_roles (
    user_id BLOB NOT NULL REFERENCES users (id),
    role_id TEXT NOT NULL,
    area_slug TEXT REFERENCES areas (slug),
    granted_by BLOB REFERENCES users (id),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE sign_in_attempts (
    id BLOB PRIMARY KEY,
    email_norm TEXT NOT NULL,
    user_id BLOB REFERENCES users (id),
    code_hash BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    guesses INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER
);
CREATE INDEX sign_in_attempts_by_email ON sign_in_attempts (email_norm, created_at);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('web', 'api')),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE outbox (
    id BLOB PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    sent_at INTEGER,
    dead_at INTEGER,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id BLOB,
    organisation_id BLOB,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    request_id TEXT,
    ip TEXT,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_by_organisation ON audit_log (organisation_id, seq);

-- Audit rows are never changed or removed by the portal. (Someone with direct
-- access to the file can drop these; the hash chain then shows the tampering.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never deleted');
END;
