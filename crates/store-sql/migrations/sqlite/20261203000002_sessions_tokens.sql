-- Sessions you can see and end, and personal API tokens (issue 13).
--
-- Every session gets an opaque public `id`, so that a person can name one to
-- end (`DELETE /api/v1/me/sessions/{id}`) without its token hash ever leaving
-- the database. Existing sessions keep working: they are copied with a fresh
-- random id.
--
-- A personal API token is a session of kind 'token' with a name and an expiry
-- of its own (no idle or 12-hour limit): it is looked up, resolved (user,
-- organisation and roles read fresh), touched and ended exactly as other
-- sessions are, so everything that ends a user's sessions (disabled access,
-- expiry, lock, sign out everywhere) ends their tokens too.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE sessions_new (
    token_hash BLOB PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    user_id BLOB NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('web', 'api', 'token')),
    name TEXT,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at INTEGER,
    CHECK ((kind = 'token') = (name IS NOT NULL AND expires_at IS NOT NULL))
);
INSERT INTO sessions_new (token_hash, id, user_id, kind, created_at, last_seen_at, ended_at)
SELECT token_hash, randomblob(16), user_id, kind, created_at, last_seen_at, ended_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
