-- Data returns and documents (PRODUCT §6): collection windows, submissions with
-- their files, documents shared with providers, and feedback. Keep in step with
-- the other migrations folder.

CREATE TABLE collection_windows (
    id UUID PRIMARY KEY,
    area_slug TEXT NOT NULL REFERENCES areas (slug),
    name TEXT NOT NULL,
    opens_at TIMESTAMPTZ NOT NULL,
    closes_at TIMESTAMPTZ NOT NULL,
    guidance TEXT NOT NULL,
    -- Comma-separated: csv, xlsx, pdf.
    file_types TEXT NOT NULL,
    -- Closed early by the regulator.
    closed_at TIMESTAMPTZ,
    created_by UUID REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (closes_at > opens_at)
);
CREATE INDEX collection_windows_by_area ON collection_windows (area_slug, opens_at);

-- One row per version of a provider's submission to a window; never updated but
-- for its status.
CREATE TABLE submissions (
    id UUID PRIMARY KEY,
    window_id UUID NOT NULL REFERENCES collection_windows (id),
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    version BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'returned', 'accepted')),
    note TEXT NOT NULL,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    submitted_by UUID REFERENCES users (id),
    submitted_at TIMESTAMPTZ,
    status_comment TEXT,
    status_by UUID REFERENCES users (id),
    status_at TIMESTAMPTZ,
    UNIQUE (window_id, organisation_id, version)
);
CREATE INDEX submissions_by_window ON submissions (window_id, status);

-- Files are kept in the file store under server-generated keys; the name the
-- person gave is only ever shown (escaped).
CREATE TABLE stored_files (
    id UUID PRIMARY KEY,
    storage_key TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('csv', 'xlsx', 'pdf')),
    size BIGINT NOT NULL,
    sha256 BYTEA NOT NULL,
    uploaded_by UUID NOT NULL REFERENCES users (id),
    uploaded_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE submission_files (
    submission_id UUID NOT NULL REFERENCES submissions (id),
    file_id UUID NOT NULL REFERENCES stored_files (id),
    PRIMARY KEY (submission_id, file_id)
);

CREATE TABLE documents (
    id UUID PRIMARY KEY,
    area_slug TEXT NOT NULL REFERENCES areas (slug),
    title TEXT NOT NULL,
    file_id UUID NOT NULL REFERENCES stored_files (id),
    published_by UUID NOT NULL REFERENCES users (id),
    published_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE document_recipients (
    document_id UUID NOT NULL REFERENCES documents (id),
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    PRIMARY KEY (document_id, organisation_id)
);
CREATE INDEX document_recipients_by_organisation ON document_recipients (organisation_id);

CREATE TABLE feedback (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id),
    organisation_id UUID NOT NULL REFERENCES organisations (id),
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
