-- Requests to add a user, processed in the background (seed 001: "It might take
-- a moment to process your request"). Keep in step with migrations/postgres.
CREATE TABLE user_requests (
    id BLOB PRIMARY KEY,
    organisation_id BLOB NOT NULL REFERENCES organisations (id),
    requested_by BLOB REFERENCES users (id),
    title TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    roles TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'rejected')),
    user_id BLOB REFERENCES users (id),
    reason TEXT,
    created_at INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX user_requests_pending ON user_requests (created_at) WHERE status = 'pending';
CREATE INDEX user_requests_by_address ON user_requests (organisation_id, email_norm);
