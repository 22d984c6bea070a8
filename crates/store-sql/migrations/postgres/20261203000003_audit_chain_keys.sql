-- Issue 13: the audit chain is keyed (HMAC-SHA256 under a key derived from
-- PORTAL_SECRET_KEY). Each row here says from which row on a key keeps the
-- chain, vouched for by that key; rows before the first were chained with
-- plain SHA-256 by earlier versions. The portal adds the first row when it
-- next starts (the row after the last one written), so an existing trail is
-- re-keyed from there on. Keep in step with migrations/sqlite.
CREATE TABLE audit_chain_keys (
    from_seq BIGINT PRIMARY KEY,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- A record with rows under it is kept as it is (only an empty stretch, e.g. one
-- a test database was opened with, may be taken over by the next key).
CREATE FUNCTION audit_chain_keys_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR EXISTS (SELECT 1 FROM audit_log WHERE seq >= OLD.from_seq) THEN
        RAISE EXCEPTION 'audit chain key records with rows under them are never changed or deleted';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_chain_keys_kept BEFORE UPDATE OR DELETE ON audit_chain_keys
    FOR EACH ROW EXECUTE FUNCTION audit_chain_keys_are_kept();
CREATE TRIGGER audit_chain_keys_no_truncate BEFORE TRUNCATE ON audit_chain_keys
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
