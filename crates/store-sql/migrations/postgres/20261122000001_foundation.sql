-- Foundation schema (PostgreSQL). Keep in step with migrations/sqlite (same file names).

CREATE TABLE organisations (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('regulator', 'provider')),
    name TEXT NOT NULL,
    ukprn TEXT UNIQUE,
    accountable_officer_name TEXT,
    accountable_officer_email TEXT,
    created_at TIMESTAMPTZ NOT NULL
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
    id UUID PRIMARY KEY,
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    title TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL UNIQUE,
    access_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at TIMESTAMPTZ,
    locked_until TIMESTAMPTZ,
    lock_count BIGINT NOT NULL DEFAULT 0,
    failed_sign_ins BIGINT NOT NULL DEFAULT 0,
    last_signed_in_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    created_by UUID REFERENCES users (id)
);
CREATE INDEX users_by_organisation ON users (organisation_id);

CREATE TABLE user_roles (
    user_id UUID NOT NULL REFERENCES users (id),
    role_id TEXT NOT NULL,
    area_slug TEXT REFERENCES areas (slug),
    granted_by UUID REFERENCES users (id),
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE sign_in_attempts (
    id UUID PRIMARY KEY,
    email_norm TEXT NOT NULL,
    user_id UUID REFERENCES users (id),
    code_hash BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    guesses BIGINT NOT NULL DEFAULT 0,
    consumed_at TIMESTAMPTZ
);
CREATE INDEX sign_in_attempts_by_email ON sign_in_attempts (email_norm, created_at);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('web', 'api')),
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE outbox (
    id UUID PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    leased_until TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    dead_at TIMESTAMPTZ,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor_id UUID,
    organisation_id UUID,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    request_id TEXT,
    ip TEXT,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_by_organisation ON audit_log (organisation_id, seq);

-- Audit rows are never changed or removed by the portal. (The table's owner can
-- disable this; the hash chain then shows the tampering.)
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are never changed or deleted';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
