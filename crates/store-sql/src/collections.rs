//! Data returns and documents (PRODUCT §6): windows, submission versions with
//! their files, documents with their recipients, feedback.

use std::collections::HashMap;

use domain::collection::{FileKind, SubmissionStatus};
use domain::{AreaSlug, OrgId, UserId};
use store::{
    DocumentRecord, FeedbackRecord, FileRecord, NewSubmission, StoreError, StoreResult,
    SubmissionRecord, WindowRecord,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::connect::SqlStore;
use crate::db_err;
use crate::ts::Ts;
use crate::tx_impl::SqlTx;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

const WINDOW_COLUMNS: &str = "id, area_slug, name, opens_at, closes_at, guidance, file_types, \
     closed_at, created_by, created_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WindowRow {
    id: Uuid,
    area_slug: String,
    name: String,
    opens_at: Ts,
    closes_at: Ts,
    guidance: String,
    file_types: String,
    closed_at: Option<Ts>,
    created_by: Option<Uuid>,
    created_at: Ts,
}

impl TryFrom<WindowRow> for WindowRecord {
    type Error = StoreError;
    fn try_from(r: WindowRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            area: AreaSlug::parse(&r.area_slug).ok_or_else(|| corrupt("area", &r.area_slug))?,
            name: r.name,
            opens_at: r.opens_at.0,
            closes_at: r.closes_at.0,
            guidance: r.guidance,
            file_types: r
                .file_types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(|t| FileKind::parse(t).ok_or_else(|| corrupt("file type", t)))
                .collect::<Result<_, _>>()?,
            closed_at: r.closed_at.map(|t| t.0),
            created_by: r.created_by.map(UserId),
            created_at: r.created_at.0,
        })
    }
}

fn file_types(w: &WindowRecord) -> String {
    w.file_types
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

const SUBMISSION_COLUMNS: &str = "id, window_id, organisation_id, version, status, note, created_by, \
     created_at, submitted_by, submitted_at, status_comment, status_by, status_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SubmissionRow {
    id: Uuid,
    window_id: Uuid,
    organisation_id: Uuid,
    version: i64,
    status: String,
    note: String,
    created_by: Uuid,
    created_at: Ts,
    submitted_by: Option<Uuid>,
    submitted_at: Option<Ts>,
    status_comment: Option<String>,
    status_by: Option<Uuid>,
    status_at: Option<Ts>,
}

impl SubmissionRow {
    fn into_record(self, files: Vec<FileRecord>) -> Result<SubmissionRecord, StoreError> {
        Ok(SubmissionRecord {
            id: self.id,
            window_id: self.window_id,
            organisation_id: OrgId(self.organisation_id),
            version: self.version,
            status: SubmissionStatus::parse(&self.status)
                .ok_or_else(|| corrupt("submission status", &self.status))?,
            note: self.note,
            created_by: UserId(self.created_by),
            created_at: self.created_at.0,
            submitted_by: self.submitted_by.map(UserId),
            submitted_at: self.submitted_at.map(|t| t.0),
            status_comment: self.status_comment,
            status_by: self.status_by.map(UserId),
            status_at: self.status_at.map(|t| t.0),
            files,
        })
    }
}

const FILE_COLUMNS: &str =
    "f.id, f.storage_key, f.filename, f.kind, f.size, f.sha256, f.uploaded_by, f.uploaded_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FileRow {
    /// The submission or document the file belongs to.
    owner: Uuid,
    id: Uuid,
    storage_key: String,
    filename: String,
    kind: String,
    size: i64,
    sha256: Vec<u8>,
    uploaded_by: Uuid,
    uploaded_at: Ts,
}

impl TryFrom<FileRow> for FileRecord {
    type Error = StoreError;
    fn try_from(r: FileRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            storage_key: r.storage_key,
            filename: r.filename,
            kind: FileKind::parse(&r.kind).ok_or_else(|| corrupt("file kind", &r.kind))?,
            size: r.size,
            sha256: r.sha256,
            uploaded_by: UserId(r.uploaded_by),
            uploaded_at: r.uploaded_at.0,
        })
    }
}

/// Files by owner, in upload order.
fn by_owner(rows: Vec<FileRow>) -> Result<HashMap<Uuid, Vec<FileRecord>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<FileRecord>> = HashMap::new();
    for r in rows {
        let owner = r.owner;
        out.entry(owner).or_default().push(FileRecord::try_from(r)?);
    }
    Ok(out)
}

const DOCUMENT_COLUMNS: &str = "d.id, d.area_slug, d.title, d.published_by, d.published_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentRow {
    id: Uuid,
    area_slug: String,
    title: String,
    published_by: Uuid,
    published_at: Ts,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecipientRow {
    document_id: Uuid,
    organisation_id: Uuid,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FeedbackRow {
    id: Uuid,
    user_id: Uuid,
    organisation_id: Uuid,
    body: String,
    created_at: Ts,
}

impl SqlStore {
    pub(crate) async fn windows_impl(&self) -> StoreResult<Vec<WindowRecord>> {
        let sql =
            format!("SELECT {WINDOW_COLUMNS} FROM collection_windows ORDER BY opens_at DESC, name");
        let rows = read!(self, |ex| sqlx::query_as::<_, WindowRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(WindowRecord::try_from).collect()
    }

    pub(crate) async fn window_impl(&self, id: Uuid) -> StoreResult<Option<WindowRecord>> {
        let sql = format!("SELECT {WINDOW_COLUMNS} FROM collection_windows WHERE id = $1");
        let row = read!(self, |ex| sqlx::query_as::<_, WindowRow>(&sql)
            .bind(id)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        row.map(WindowRecord::try_from).transpose()
    }

    async fn files_of_submissions(&self, clause: &str, bind: Uuid) -> StoreResult<Vec<FileRow>> {
        let sql = format!(
            "SELECT sf.submission_id AS owner, {FILE_COLUMNS} FROM submission_files sf \
             JOIN stored_files f ON f.id = sf.file_id \
             JOIN submissions s ON s.id = sf.submission_id \
             WHERE {clause} ORDER BY f.uploaded_at, f.id"
        );
        read!(self, |ex| sqlx::query_as::<_, FileRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)
    }

    pub(crate) async fn submissions_impl(
        &self,
        window: Uuid,
        org: Option<OrgId>,
        with_drafts: bool,
    ) -> StoreResult<Vec<SubmissionRecord>> {
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE window_id = $1 \
             AND ($2 IS NULL OR organisation_id = $2) AND ($3 OR status <> 'draft') \
             ORDER BY organisation_id, version DESC"
        );
        let rows = read!(self, |ex| sqlx::query_as::<_, SubmissionRow>(&sql)
            .bind(window)
            .bind(org.map(|o| o.0))
            .bind(with_drafts)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let mut files = by_owner(
            self.files_of_submissions("s.window_id = $1", window)
                .await?,
        )?;
        rows.into_iter()
            .map(|r| {
                let f = files.remove(&r.id).unwrap_or_default();
                r.into_record(f)
            })
            .collect()
    }

    pub(crate) async fn submission_impl(&self, id: Uuid) -> StoreResult<Option<SubmissionRecord>> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1");
        let row = read!(self, |ex| sqlx::query_as::<_, SubmissionRow>(&sql)
            .bind(id)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let files = self
            .files_of_submissions("s.id = $1", id)
            .await?
            .into_iter()
            .map(FileRecord::try_from)
            .collect::<Result<_, _>>()?;
        row.into_record(files).map(Some)
    }

    async fn documents_where(
        &self,
        clause: &str,
        bind: Option<Uuid>,
    ) -> StoreResult<Vec<DocumentRecord>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE {clause} ORDER BY d.published_at DESC, d.id"
        );
        let rows = read!(self, |ex| sqlx::query_as::<_, DocumentRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let file_sql = format!(
            "SELECT d.id AS owner, {FILE_COLUMNS} FROM documents d \
             JOIN stored_files f ON f.id = d.file_id WHERE {clause}"
        );
        let mut files = by_owner(
            read!(self, |ex| sqlx::query_as::<_, FileRow>(&file_sql)
                .bind(bind)
                .fetch_all(ex)
                .await)
            .map_err(db_err)?,
        )?;
        let recipient_sql = format!(
            "SELECT r.document_id, r.organisation_id FROM document_recipients r \
             JOIN documents d ON d.id = r.document_id WHERE {clause} ORDER BY r.organisation_id"
        );
        let recipients = read!(self, |ex| sqlx::query_as::<_, RecipientRow>(&recipient_sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                let file = files
                    .remove(&r.id)
                    .and_then(|mut f| f.pop())
                    .ok_or_else(|| corrupt("document without its file", &r.id.to_string()))?;
                Ok(DocumentRecord {
                    area: AreaSlug::parse(&r.area_slug)
                        .ok_or_else(|| corrupt("area", &r.area_slug))?,
                    title: r.title,
                    file,
                    published_by: UserId(r.published_by),
                    published_at: r.published_at.0,
                    recipients: recipients
                        .iter()
                        .filter(|x| x.document_id == r.id)
                        .map(|x| OrgId(x.organisation_id))
                        .collect(),
                    id: r.id,
                })
            })
            .collect()
    }

    pub(crate) async fn documents_impl(
        &self,
        org: Option<OrgId>,
    ) -> StoreResult<Vec<DocumentRecord>> {
        self.documents_where(
            "($1 IS NULL OR EXISTS (SELECT 1 FROM document_recipients x \
             WHERE x.document_id = d.id AND x.organisation_id = $1))",
            org.map(|o| o.0),
        )
        .await
    }

    pub(crate) async fn document_impl(&self, id: Uuid) -> StoreResult<Option<DocumentRecord>> {
        Ok(self.documents_where("d.id = $1", Some(id)).await?.pop())
    }

    pub(crate) async fn feedback_impl(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<FeedbackRecord>, i64)> {
        let rows = read!(self, |ex| sqlx::query_as::<_, FeedbackRow>(
            "SELECT id, user_id, organisation_id, body, created_at FROM feedback \
             ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        let total = read!(self, |ex| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM feedback"
        )
        .fetch_one(ex)
        .await)
        .map_err(db_err)?;
        Ok((
            rows.into_iter()
                .map(|r| FeedbackRecord {
                    id: r.id,
                    user_id: UserId(r.user_id),
                    organisation_id: OrgId(r.organisation_id),
                    body: r.body,
                    created_at: r.created_at.0,
                })
                .collect(),
            total,
        ))
    }

    /// Rows of the tables above, for snapshots.
    pub(crate) async fn collection_snapshot(&self, snap: &mut store::Snapshot) -> StoreResult<()> {
        for (name, sql) in [(
            "collection_windows",
            "SELECT id, area_slug, name, opens_at, closes_at, guidance, file_types, closed_at, created_by, created_at FROM collection_windows ORDER BY id",
        )] {
            let rows = read!(self, |ex| sqlx::query_as::<_, WindowRow>(sql)
                .fetch_all(ex)
                .await)
            .map_err(db_err)?;
            snap.insert(name, rows.iter().map(|r| format!("{r:?}")).collect());
        }
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions ORDER BY id");
        let rows = read!(self, |ex| sqlx::query_as::<_, SubmissionRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert(
            "submissions",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sql = format!(
            "SELECT COALESCE(sf.submission_id, d.id) AS owner, {FILE_COLUMNS} FROM stored_files f \
             LEFT JOIN submission_files sf ON sf.file_id = f.id \
             LEFT JOIN documents d ON d.file_id = f.id ORDER BY f.id"
        );
        let rows = read!(self, |ex| sqlx::query_as::<_, FileRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert(
            "stored_files",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.id");
        let rows = read!(self, |ex| sqlx::query_as::<_, DocumentRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert("documents", rows.iter().map(|r| format!("{r:?}")).collect());
        let rows = read!(self, |ex| sqlx::query_as::<_, RecipientRow>(
            "SELECT document_id, organisation_id FROM document_recipients ORDER BY document_id, organisation_id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "document_recipients",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let rows = read!(self, |ex| sqlx::query_as::<_, FeedbackRow>(
            "SELECT id, user_id, organisation_id, body, created_at FROM feedback ORDER BY id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert("feedback", rows.iter().map(|r| format!("{r:?}")).collect());
        Ok(())
    }
}

impl SqlTx {
    pub(crate) async fn insert_window_impl(&mut self, w: &WindowRecord) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO collection_windows (id, area_slug, name, opens_at, closes_at, guidance, \
             file_types, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(w.id)
        .bind(w.area.as_str())
        .bind(&w.name)
        .bind(Ts(w.opens_at))
        .bind(Ts(w.closes_at))
        .bind(&w.guidance)
        .bind(file_types(w))
        .bind(w.created_by.map(|u| u.0))
        .bind(Ts(w.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn update_window_impl(&mut self, w: &WindowRecord) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "UPDATE collection_windows SET name = $2, opens_at = $3, closes_at = $4, guidance = $5, \
             file_types = $6 WHERE id = $1"
        )
        .bind(w.id)
        .bind(&w.name)
        .bind(Ts(w.opens_at))
        .bind(Ts(w.closes_at))
        .bind(&w.guidance)
        .bind(file_types(w))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn close_window_impl(
        &mut self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "UPDATE collection_windows SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL"
        )
        .bind(id)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn latest_submission_for_update_impl(
        &mut self,
        window: Uuid,
        org: OrgId,
    ) -> StoreResult<Option<SubmissionRecord>> {
        let lock = match self.inner {
            crate::tx_impl::TxInner::Sqlite(_) => "",
            crate::tx_impl::TxInner::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE window_id = $1 AND organisation_id = $2 \
             ORDER BY version DESC LIMIT 1{lock}"
        );
        let row = tx!(self, |c| sqlx::query_as::<_, SubmissionRow>(&sql)
            .bind(window)
            .bind(org.0)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let file_sql = format!(
            "SELECT sf.submission_id AS owner, {FILE_COLUMNS} FROM submission_files sf \
             JOIN stored_files f ON f.id = sf.file_id WHERE sf.submission_id = $1 ORDER BY f.uploaded_at, f.id"
        );
        let files = tx!(self, |c| sqlx::query_as::<_, FileRow>(&file_sql)
            .bind(row.id)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?
        .into_iter()
        .map(FileRecord::try_from)
        .collect::<Result<_, _>>()?;
        row.into_record(files).map(Some)
    }

    pub(crate) async fn insert_submission_impl(&mut self, s: &NewSubmission) -> StoreResult<()> {
        let submitted = s.status != SubmissionStatus::Draft;
        tx!(self, |c| sqlx::query(
            "INSERT INTO submissions (id, window_id, organisation_id, version, status, note, created_by, \
             created_at, submitted_by, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(s.id)
        .bind(s.window_id)
        .bind(s.organisation_id.0)
        .bind(s.version)
        .bind(s.status.as_str())
        .bind(&s.note)
        .bind(s.created_by.0)
        .bind(Ts(s.created_at))
        .bind(submitted.then_some(s.created_by.0))
        .bind(submitted.then_some(Ts(s.created_at)))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn insert_file_impl(&mut self, f: &FileRecord) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO stored_files (id, storage_key, filename, kind, size, sha256, uploaded_by, \
             uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(f.id)
        .bind(&f.storage_key)
        .bind(&f.filename)
        .bind(f.kind.as_str())
        .bind(f.size)
        .bind(&f.sha256)
        .bind(f.uploaded_by.0)
        .bind(Ts(f.uploaded_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn attach_file_impl(
        &mut self,
        submission: Uuid,
        file: Uuid,
    ) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO submission_files (submission_id, file_id) VALUES ($1, $2)"
        )
        .bind(submission)
        .bind(file)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn submit_impl(
        &mut self,
        id: Uuid,
        note: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "UPDATE submissions SET status = 'submitted', note = $2, submitted_by = $3, submitted_at = $4 \
             WHERE id = $1 AND status = 'draft'"
        )
        .bind(id)
        .bind(note)
        .bind(by.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn set_submission_status_impl(
        &mut self,
        id: Uuid,
        status: SubmissionStatus,
        comment: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "UPDATE submissions SET status = $2, status_comment = $3, status_by = $4, status_at = $5 \
             WHERE id = $1"
        )
        .bind(id)
        .bind(status.as_str())
        .bind(comment)
        .bind(by.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn insert_document_impl(&mut self, d: &DocumentRecord) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO documents (id, area_slug, title, file_id, published_by, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(d.id)
        .bind(d.area.as_str())
        .bind(&d.title)
        .bind(d.file.id)
        .bind(d.published_by.0)
        .bind(Ts(d.published_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        for org in &d.recipients {
            tx!(self, |c| sqlx::query(
                "INSERT INTO document_recipients (document_id, organisation_id) VALUES ($1, $2)"
            )
            .bind(d.id)
            .bind(org.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn insert_feedback_impl(&mut self, f: &FeedbackRecord) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO feedback (id, user_id, organisation_id, body, created_at) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(f.id)
        .bind(f.user_id.0)
        .bind(f.organisation_id.0)
        .bind(&f.body)
        .bind(Ts(f.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }
}
