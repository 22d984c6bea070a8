-- Limits shared by every process on this database (issue 14).
--
-- One row per counted thing (a client address's sign-in requests, a person's
-- wrong access keys): the hits in its current window and when that window
-- ends. A hit is taken by one `INSERT … ON CONFLICT DO UPDATE … WHERE` that
-- counts it only while the window has room, so concurrent requests on any
-- number of replicas never count past the limit. Rows whose window ended are
-- reused by the next hit, and forgotten now and then.
CREATE TABLE rate_limits (
    bucket      TEXT PRIMARY KEY,
    window_ends TIMESTAMPTZ NOT NULL,
    hits        BIGINT NOT NULL CHECK (hits >= 0)
);
CREATE INDEX rate_limits_by_window_end ON rate_limits (window_ends);
