-- Reading the audit trail (the Activity page, GET /api/v1/audit): a page is
-- the newest rows matching the filters given, so each filter a reader may give
-- has an index ending in seq, read backwards from the newest and stopped after
-- a page. audit_by_organisation (organisation_id, seq) already serves a
-- provider's whole trail.
CREATE INDEX audit_by_organisation_actor ON audit_log (organisation_id, actor_id, seq);
CREATE INDEX audit_by_organisation_action ON audit_log (organisation_id, action, seq);
CREATE INDEX audit_by_organisation_at ON audit_log (organisation_id, at);
-- A regulator administrator reads every organisation's.
CREATE INDEX audit_by_actor_seq ON audit_log (actor_id, seq);
CREATE INDEX audit_by_action ON audit_log (action, seq);
CREATE INDEX audit_by_at ON audit_log (at);
