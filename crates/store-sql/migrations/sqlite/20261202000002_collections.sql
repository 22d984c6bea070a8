-- Data returns and documents (PRODUCT §6): collection windows, submissions with
-- their files, documents shared with providers, and feedback. Keep in step with
-- the other migrations folder.

CREATE TABLE collection_windows (
    id BLOB PRIMARY KEY,
    area_slug TEXT NOT NULL REFERENCES areas (slug),
    name TEXT NOT NULL,
    opens_at INTEGER NOT NULL,
    closes_at INTEGER NOT NULL,
    guidance TEXT NOT NULL,
    -- Comma-separated: csv, xlsx, pdf.
    file_types TEXT NOT NULL,
    -- Closed early by the regulator.
    closed_at INTEGER,
    created_by BLOB REFERENCES users (id),
    created_at INTEGER NOT NULL,
    CHECK (closes_at > opens_at)
);
CREATE INDEX collection_windows_by_area ON collection_windows (area_slug, opens_at);

-- One row per version of a provider's submission to a window; never updated but
-- for its status.
CREATE TABLE submissions (
    id BLOB PRIMARY KEY,
    window_id BLOB NOT NULL REFERENCES collection_windows (id),
    organisation_id BLOB NOT NULL REFERENCES organisations (id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'returned', 'accepted')),
    note TEXT NOT NULL,
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    submitted_by BLOB REFERENCES users (id),
    submitted_at INTEGER,
    status_comment TEXT,
    status_by BLOB REFERENCES users (id),
    status_at INTEGER,
    UNIQUE (window_id, organisation_id, version)
);
CREATE INDEX submissions_by_window ON submissions (window_id, status);

-- Files are kept in the file store under server-generated keys; the name the
-- person gave is only ever shown (escaped).
CREATE TABLE stored_files (
    id BLOB PRIMARY KEY,
    storage_key TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('csv', 'xlsx', 'pdf')),
    size INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    uploaded_by BLOB NOT NULL REFERENCES users (id),
    uploaded_at INTEGER NOT NULL
);

CREATE TABLE submission_files (
    submission_id BLOB NOT NULL REFERENCES submissions (id),
    file_id BLOB NOT NULL REFERENCES stored_files (id),
    PRIMARY KEY (submission_id, file_id)
);

CREATE TABLE documents (
    id BLOB PRIMARY KEY,
    area_slug TEXT NOT NULL REFERENCES areas (slug),
    title TEXT NOT NULL,
    file_id BLOB NOT NULL REFERENCES stored_files (id),
    published_by BLOB NOT NULL REFERENCES users (id),
    published_at INTEGER NOT NULL
);

CREATE TABLE document_recipients (
    document_id BLOB NOT NULL REFERENCES documents (id),
    organisation_id BLOB NOT NULL REFERENCES organisations (id),
    PRIMARY KEY (document_id, organisation_id)
);
CREATE INDEX document_recipients_by_organisation ON document_recipients (organisation_id);

CREATE TABLE feedback (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users (id),
    organisation_id BLOB NOT NULL REFERENCES organisations (id),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
