-- Data-return checks and sign-off (issue 16, PRODUCT §6): a window's column
-- rules and settings, each CSV file's check, the accountable officer's
-- sign-off, queries on a submission, and reminders before a window closes.
-- Keep in step with the other migrations folder.

-- The column rules (JSON, as API.md gives them; '[]' for none), whether the
-- provider's Portal Administrator must sign a return off before it can be
-- accepted, the days before closing at which those who have not submitted are
-- reminded (comma-separated, largest first; '' for none), and whether returns
-- may come late (after closing, with a reason, until the window is closed).
ALTER TABLE collection_windows ADD COLUMN column_rules TEXT NOT NULL DEFAULT '[]';
ALTER TABLE collection_windows ADD COLUMN sign_off_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE collection_windows ADD COLUMN reminder_days TEXT NOT NULL DEFAULT '';
ALTER TABLE collection_windows ADD COLUMN late_submissions BOOLEAN NOT NULL DEFAULT FALSE;

-- Warnings explained at submission, a late submission's reason, and the sign-off.
ALTER TABLE submissions ADD COLUMN explanation TEXT;
ALTER TABLE submissions ADD COLUMN late_reason TEXT;
ALTER TABLE submissions ADD COLUMN signed_off_by UUID REFERENCES users (id);
ALTER TABLE submissions ADD COLUMN signed_off_at TIMESTAMPTZ;

-- One row per checked file: the rules it was checked against (JSON), its
-- size in data rows and its counts. Written with the file, never changed.
CREATE TABLE file_checks (
    file_id UUID PRIMARY KEY REFERENCES stored_files (id),
    rules TEXT NOT NULL,
    data_rows BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    warnings BIGINT NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL
);

-- How often each rule was broken in a file (exact).
CREATE TABLE file_check_rules (
    file_id UUID NOT NULL REFERENCES file_checks (file_id),
    seq BIGINT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    rule TEXT NOT NULL,
    column_name TEXT NOT NULL,
    hits BIGINT NOT NULL,
    first_row BIGINT,
    PRIMARY KEY (file_id, seq)
);

-- The first findings of a file (at most domain::checks::FINDINGS_KEPT); the
-- whole report is made again from the file when downloaded.
CREATE TABLE file_findings (
    file_id UUID NOT NULL REFERENCES file_checks (file_id),
    seq BIGINT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    rule TEXT NOT NULL,
    row_no BIGINT,
    column_name TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (file_id, seq)
);

-- Queries on a submission: raised by the regulator's officers, answered by
-- the provider, closed by an officer. The organisation and window are kept
-- on the query so that lists of open queries need no join.
CREATE TABLE submission_queries (
    id UUID PRIMARY KEY,
    submission_id UUID NOT NULL REFERENCES submissions (id),
    window_id UUID NOT NULL REFERENCES collection_windows (id),
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    subject TEXT NOT NULL,
    raised_by UUID NOT NULL REFERENCES users (id),
    raised_at TIMESTAMPTZ NOT NULL,
    closed_by UUID REFERENCES users (id),
    closed_at TIMESTAMPTZ
);
CREATE INDEX submission_queries_by_submission ON submission_queries (submission_id, raised_at);
CREATE INDEX submission_queries_by_window ON submission_queries (window_id, organisation_id);

CREATE TABLE query_messages (
    id UUID PRIMARY KEY,
    query_id UUID NOT NULL REFERENCES submission_queries (id),
    author UUID NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX query_messages_by_query ON query_messages (query_id, created_at);

-- A reminder sent: one row per window, offset and closing time (a window
-- moved later is reminded again on its new timetable). The background job
-- claims a reminder by inserting its row in the transaction that queues the
-- emails; however many replicas run the job, one insert wins.
CREATE TABLE window_reminders (
    window_id UUID NOT NULL REFERENCES collection_windows (id),
    days_before BIGINT NOT NULL,
    closes_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (window_id, days_before, closes_at)
);
