-- Issue 13: the audit chain is keyed (HMAC-SHA256 under a key derived from
-- PORTAL_SECRET_KEY). Each row here says from which row on a key keeps the
-- chain, vouched for by that key; rows before the first were chained with
-- plain SHA-256 by earlier versions. The portal adds the first row when it
-- next starts (the row after the last one written), so an existing trail is
-- re-keyed from there on. Keep in step with migrations/postgres.
CREATE TABLE audit_chain_keys (
    from_seq INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- A record with rows under it is kept as it is (only an empty stretch, e.g. one
-- a test database was opened with, may be taken over by the next key).
CREATE TRIGGER audit_chain_keys_no_update BEFORE UPDATE ON audit_chain_keys
BEGIN
    SELECT RAISE(ABORT, 'audit chain key records are never changed');
END;
CREATE TRIGGER audit_chain_keys_no_delete BEFORE DELETE ON audit_chain_keys
WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq >= OLD.from_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit chain key records with rows under them are never deleted');
END;
