-- PostgreSQL's TRUNCATE bypasses row triggers; SQLite has no TRUNCATE (its
-- "DELETE FROM audit_log" already meets audit_log_no_delete). This migration
-- exists so both backends keep the same versions.
SELECT 1;
