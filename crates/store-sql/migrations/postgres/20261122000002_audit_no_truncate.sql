-- Row triggers do not fire on TRUNCATE: refuse it too, so the audit log can
-- only grow. Keep in step with migrations/sqlite (same file names).
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
