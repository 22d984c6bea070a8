-- Sessions you can see and end, and personal API tokens (issue 13).
--
-- Every session gets an opaque public `id`, so that a person can name one to
-- end (`DELETE /api/v1/me/sessions/{id}`) without its token hash ever leaving
-- the database. Existing sessions keep working: each gets a fresh random id.
--
-- A personal API token is a session of kind 'token' with a name and an expiry
-- of its own (no idle or 12-hour limit): it is looked up, resolved (user,
-- organisation and roles read fresh), touched and ended exactly as other
-- sessions are, so everything that ends a user's sessions (disabled access,
-- expiry, lock, sign out everywhere) ends their tokens too.
-- (A default, so that a process still running the previous version during a
-- rolling deploy can go on signing people in.)
ALTER TABLE sessions ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX sessions_by_id ON sessions (id);

ALTER TABLE sessions DROP CONSTRAINT sessions_kind_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_kind_check CHECK (kind IN ('web', 'api', 'token'));
ALTER TABLE sessions ADD COLUMN name TEXT, ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE sessions ADD CONSTRAINT sessions_token_fields
    CHECK ((kind = 'token') = (name IS NOT NULL AND expires_at IS NOT NULL));

DROP INDEX sessions_by_user;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
