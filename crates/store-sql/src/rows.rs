//! Row types decoded from either backend, their mapping to store records, and
//! the column lists and statements that both `store_impl.rs` and `tx_impl.rs`
//! use. Sections follow the same features, in the same order, as those files.

use std::collections::HashMap;
use std::sync::LazyLock;

use domain::audit::{AuditEntry, Outcome};
use domain::collection::{FileKind, SubmissionStatus};
use domain::ids::MessageId;
use domain::{AreaSlug, AttemptId, EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use store::{
    AttemptRecord, AuditRecord, FileCheckRecord, FileRecord, OrganisationRecord, OutboxMessage,
    QueryMessageRecord, QueryRecord, RoleGrant, SessionKind, SessionRecord, StoreError,
    SubmissionRecord, UserRecord, WindowRecord,
};
use uuid::Uuid;

use crate::db::{DbError, FromDbRow, RowRead};
use crate::ts::Ts;

/// A value read back that the store never writes.
pub fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

/// `t.col AS p_col, …` for each of `columns`: the same columns under a prefix,
/// so that one query can read several tables whose column names overlap.
pub fn prefixed(table: &str, prefix: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c} AS {prefix}_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// Sign-in attempts ----------------------------------------------------------

crate::db_row! {
#[derive(Debug)]
pub struct AttemptRow {
    id: Uuid,
    user_id: Option<Uuid>,
    code_hash: Option<Vec<u8>>,
    guesses: i64,
    expires_at: Ts,
}
}

impl From<AttemptRow> for AttemptRecord {
    fn from(r: AttemptRow) -> Self {
        Self {
            id: AttemptId(r.id),
            user_id: r.user_id.map(UserId),
            code_hash: r.code_hash,
            guesses: r.guesses,
            expires_at: r.expires_at.0,
        }
    }
}

crate::db_row! {
/// Read only through `Debug`, for snapshots.
#[allow(dead_code)] // read through Debug
#[derive(Debug)]
pub struct AttemptSnapshotRow {
    pub id: Uuid,
    pub email_norm: String,
    pub user_id: Option<Uuid>,
    pub code_hash: Option<Vec<u8>>,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub guesses: i64,
    pub consumed_at: Option<Ts>,
}
}

// Sessions ------------------------------------------------------------------

pub const SESSION_COLUMNS: &str =
    "token_hash, id, user_id, kind, name, expires_at, created_at, last_seen_at, ended_at";

crate::db_row! {
#[derive(Debug)]
pub struct SessionRow {
    token_hash: Vec<u8>,
    id: Uuid,
    user_id: Uuid,
    kind: String,
    name: Option<String>,
    expires_at: Option<Ts>,
    created_at: Ts,
    last_seen_at: Ts,
    ended_at: Option<Ts>,
}
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: r.token_hash,
            id: r.id,
            user_id: UserId(r.user_id),
            kind: SessionKind::parse(&r.kind).ok_or_else(|| corrupt("session kind", &r.kind))?,
            name: r.name,
            expires_at: r.expires_at.map(|t| t.0),
            created_at: r.created_at.0,
            last_seen_at: r.last_seen_at.0,
            ended_at: r.ended_at.map(|t| t.0),
        })
    }
}

/// One row of the session snapshot query (`Store::session`): the session, its
/// user and organisation under the prefixes `s_`, `u_` and `o_`, and one of
/// the user's roles (none if they hold none).
pub struct SessionSnapshotRow {
    pub session: SessionRow,
    pub user: UserRow,
    pub organisation: OrgRow,
    pub role: Option<RoleRow>,
}

impl FromDbRow for SessionSnapshotRow {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
        let role_id: Option<String> = row.col("role_id")?;
        Ok(Self {
            session: SessionRow {
                token_hash: row.col("s_token_hash")?,
                id: row.col("s_id")?,
                user_id: row.col("s_user_id")?,
                kind: row.col("s_kind")?,
                name: row.col("s_name")?,
                expires_at: row.col("s_expires_at")?,
                created_at: row.col("s_created_at")?,
                last_seen_at: row.col("s_last_seen_at")?,
                ended_at: row.col("s_ended_at")?,
            },
            user: UserRow {
                id: row.col("u_id")?,
                organisation_id: row.col("u_organisation_id")?,
                title: row.col("u_title")?,
                first_name: row.col("u_first_name")?,
                last_name: row.col("u_last_name")?,
                email: row.col("u_email")?,
                access_enabled: row.col("u_access_enabled")?,
                expires_at: row.col("u_expires_at")?,
                locked_until: row.col("u_locked_until")?,
                lock_count: row.col("u_lock_count")?,
                failed_sign_ins: row.col("u_failed_sign_ins")?,
                locked: row.col("u_locked")?,
                password_failures: row.col("u_password_failures")?,
                password_hash: row.col("u_password_hash")?,
                last_signed_in_at: row.col("u_last_signed_in_at")?,
                created_at: row.col("u_created_at")?,
                created_by: row.col("u_created_by")?,
            },
            organisation: OrgRow {
                id: row.col("o_id")?,
                kind: row.col("o_kind")?,
                name: row.col("o_name")?,
                ukprn: row.col("o_ukprn")?,
                accountable_officer_name: row.col("o_accountable_officer_name")?,
                accountable_officer_email: row.col("o_accountable_officer_email")?,
                created_at: row.col("o_created_at")?,
            },
            role: match role_id {
                Some(role_id) => Some(RoleRow {
                    role_id,
                    area_name: row.col("area_name")?,
                }),
                None => None,
            },
        })
    }
}

// Users and their roles -----------------------------------------------------

pub const USER_COLUMNS: &str = "id, organisation_id, title, first_name, last_name, email, access_enabled, \
     expires_at, locked_until, lock_count, failed_sign_ins, locked, password_failures, password_hash, \
     last_signed_in_at, created_at, created_by";

/// A user by id, without locking (`Store::user`, `StoreTx::user`).
pub static USER_BY_ID_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));

/// A user's roles with their area names (`Store::user_roles`, `StoreTx::user_roles`).
pub const USER_ROLES_SQL: &str = "SELECT r.role_id, a.name AS area_name FROM user_roles r \
             LEFT JOIN areas a ON a.slug = r.area_slug WHERE r.user_id = $1 ORDER BY r.role_id";

crate::db_row! {
#[derive(Debug)]
pub struct UserRow {
    id: Uuid,
    organisation_id: Uuid,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    access_enabled: bool,
    expires_at: Option<Ts>,
    locked_until: Option<Ts>,
    lock_count: i64,
    failed_sign_ins: i64,
    locked: bool,
    password_failures: i64,
    /// Read so that snapshots see it; a [`UserRecord`] only says whether there is one.
    password_hash: Option<String>,
    last_signed_in_at: Option<Ts>,
    created_at: Ts,
    created_by: Option<Uuid>,
}
}

impl UserRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: UserId(r.id),
            organisation_id: OrgId(r.organisation_id),
            title: r.title,
            first_name: r.first_name,
            last_name: r.last_name,
            email: email(&r.email)?,
            access_enabled: r.access_enabled,
            expires_at: r.expires_at.map(|t| t.0),
            locked_until: r.locked_until.map(|t| t.0),
            lock_count: r.lock_count,
            failed_sign_ins: r.failed_sign_ins,
            locked: r.locked,
            password_failures: r.password_failures,
            has_password: r.password_hash.is_some(),
            last_signed_in_at: r.last_signed_in_at.map(|t| t.0),
            created_at: r.created_at.0,
            created_by: r.created_by.map(UserId),
        })
    }
}

/// An address as stored: it was parsed before it was written.
fn email(stored: &str) -> Result<EmailAddress, StoreError> {
    EmailAddress::parse(stored).map_err(|_| corrupt("email", stored))
}

crate::db_row! {
#[derive(Debug)]
pub struct RoleRow {
    pub role_id: String,
    pub area_name: Option<String>,
}
}

impl TryFrom<RoleRow> for RoleGrant {
    type Error = StoreError;
    fn try_from(r: RoleRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: Role::parse(&r.role_id).ok_or_else(|| corrupt("role", &r.role_id))?,
            area_name: r.area_name,
        })
    }
}

/// A user of a listed page with one of their roles (none: a user without
/// roles) and the count of every match (`Store::list_users`).
#[derive(Debug)]
pub struct UserListRow {
    pub user: UserRow,
    pub role_id: Option<String>,
    pub area_name: Option<String>,
    pub total: i64,
}

impl FromDbRow for UserListRow {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
        Ok(Self {
            user: UserRow::from_row(row)?,
            role_id: row.col("role_id")?,
            area_name: row.col("area_name")?,
            total: row.col("total")?,
        })
    }
}

/// Someone holding a role, with their organisation's name (`StoreTx::role_holders`).
#[derive(Debug)]
pub struct RoleHolderRow {
    user: UserRow,
    role_id: String,
    organisation_name: String,
}

impl FromDbRow for RoleHolderRow {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
        Ok(Self {
            user: UserRow::from_row(row)?,
            role_id: row.col("role_id")?,
            organisation_name: row.col("organisation_name")?,
        })
    }
}

impl TryFrom<RoleHolderRow> for store::RoleHolder {
    type Error = StoreError;
    fn try_from(r: RoleHolderRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: Role::parse(&r.role_id).ok_or_else(|| corrupt("role", &r.role_id))?,
            user: UserRecord::try_from(r.user)?,
            organisation_name: r.organisation_name,
        })
    }
}

crate::db_row! {
/// Read only through `Debug`, for snapshots.
#[allow(dead_code)] // read through Debug
#[derive(Debug)]
pub struct RoleGrantRow {
    pub user_id: Uuid,
    pub role_id: String,
    pub granted_by: Option<Uuid>,
    pub granted_at: Ts,
}
}

// Organisations -------------------------------------------------------------

pub const ORG_COLUMNS: &str =
    "id, kind, name, ukprn, accountable_officer_name, accountable_officer_email, created_at";

/// An organisation by id (`Store::organisation`, `StoreTx::organisation`).
pub static ORG_BY_ID_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1"));

/// An organisation by UKPRN (`Store::organisation_by_ukprn`, `StoreTx::organisation_by_ukprn`).
pub static ORG_BY_UKPRN_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ORG_COLUMNS} FROM organisations WHERE ukprn = $1"));

crate::db_row! {
#[derive(Debug)]
pub struct OrgRow {
    id: Uuid,
    kind: String,
    name: String,
    ukprn: Option<String>,
    accountable_officer_name: Option<String>,
    accountable_officer_email: Option<String>,
    created_at: Ts,
}
}

impl TryFrom<OrgRow> for OrganisationRecord {
    type Error = StoreError;
    fn try_from(r: OrgRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: OrgId(r.id),
            kind: OrganisationKind::parse(&r.kind)
                .ok_or_else(|| corrupt("organisation kind", &r.kind))?,
            name: r.name,
            ukprn: r
                .ukprn
                .map(|u| Ukprn::parse(&u).map_err(|_| corrupt("ukprn", &u)))
                .transpose()?,
            accountable_officer_name: r.accountable_officer_name,
            accountable_officer_email: r
                .accountable_officer_email
                .as_deref()
                .map(email)
                .transpose()?,
            created_at: r.created_at.0,
        })
    }
}

// Areas ---------------------------------------------------------------------

/// Every area, by name (`Store::areas`, `StoreTx::areas`).
pub const AREAS_SQL: &str = "SELECT slug, name, kind, sensitive FROM areas ORDER BY name";

crate::db_row! {
#[derive(Debug)]
pub struct AreaRow {
    slug: String,
    name: String,
    kind: String,
    sensitive: bool,
}
}

impl TryFrom<AreaRow> for domain::role::Area {
    type Error = StoreError;
    fn try_from(r: AreaRow) -> Result<Self, StoreError> {
        Ok(Self {
            slug: domain::AreaSlug::parse(&r.slug).ok_or_else(|| corrupt("area slug", &r.slug))?,
            kind: domain::role::AreaKind::parse(&r.kind)
                .ok_or_else(|| corrupt("area kind", &r.kind))?,
            name: r.name,
            sensitive: r.sensitive,
        })
    }
}

// Access keys ---------------------------------------------------------------

pub const ACCESS_KEY_COLUMNS: &str =
    "id, organisation_id, role_id, max_uses, uses, expires_at, revoked_at, created_by, created_at";

/// An access key by id (`Store::access_key`, `StoreTx::access_key`).
pub static ACCESS_KEY_BY_ID_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE id = $1"));

crate::db_row! {
#[derive(Debug)]
pub struct AccessKeyRow {
    id: Uuid,
    organisation_id: Uuid,
    role_id: String,
    max_uses: i64,
    uses: i64,
    expires_at: Ts,
    revoked_at: Option<Ts>,
    created_by: Option<Uuid>,
    created_at: Ts,
}
}

impl TryFrom<AccessKeyRow> for store::AccessKeyRecord {
    type Error = StoreError;
    fn try_from(r: AccessKeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            organisation_id: OrgId(r.organisation_id),
            role: Role::parse(&r.role_id).ok_or_else(|| corrupt("role", &r.role_id))?,
            max_uses: r.max_uses,
            uses: r.uses,
            expires_at: r.expires_at.0,
            revoked_at: r.revoked_at.map(|t| t.0),
            created_by: r.created_by.map(UserId),
            created_at: r.created_at.0,
        })
    }
}

// User requests -------------------------------------------------------------

pub const REQUEST_COLUMNS: &str = "id, organisation_id, requested_by, title, first_name, last_name, email, roles, \
     status, user_id, reason, created_at";

crate::db_row! {
#[derive(Debug)]
pub struct RequestRow {
    id: Uuid,
    organisation_id: Uuid,
    requested_by: Option<Uuid>,
    title: String,
    first_name: String,
    last_name: String,
    email: String,
    roles: String,
    status: String,
    user_id: Option<Uuid>,
    reason: Option<String>,
    created_at: Ts,
}
}

impl TryFrom<RequestRow> for store::UserRequestRecord {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        let roles = r
            .roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|id| Role::parse(id).ok_or_else(|| corrupt("role", id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: r.id,
            organisation_id: OrgId(r.organisation_id),
            requested_by: r.requested_by.map(UserId),
            title: r.title,
            first_name: r.first_name,
            last_name: r.last_name,
            email: email(&r.email)?,
            roles,
            status: store::RequestStatus::parse(&r.status)
                .ok_or_else(|| corrupt("request status", &r.status))?,
            user_id: r.user_id.map(UserId),
            reason: r.reason,
            created_at: r.created_at.0,
        })
    }
}

// Outbox --------------------------------------------------------------------

pub const OUTBOX_COLUMNS: &str = "id, to_address, subject, body, created_at, attempts, next_attempt_at, sent_at, dead_at, last_error";

crate::db_row! {
#[derive(Debug)]
pub struct OutboxRow {
    id: Uuid,
    to_address: String,
    subject: String,
    body: String,
    created_at: Ts,
    attempts: i64,
    next_attempt_at: Ts,
    sent_at: Option<Ts>,
    dead_at: Option<Ts>,
    last_error: Option<String>,
}
}

impl From<OutboxRow> for OutboxMessage {
    fn from(r: OutboxRow) -> Self {
        Self {
            id: MessageId(r.id),
            to: r.to_address,
            subject: r.subject,
            body: r.body,
            created_at: r.created_at.0,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.0,
            sent_at: r.sent_at.map(|t| t.0),
            dead_at: r.dead_at.map(|t| t.0),
            last_error: r.last_error,
        }
    }
}

// Audit ---------------------------------------------------------------------

pub const AUDIT_COLUMNS: &str = "seq, at, actor_id, organisation_id, action, target, outcome, detail, \
     request_id, ip, prev_hash, hash";

crate::db_row! {
#[derive(Debug)]
pub struct AuditRow {
    seq: i64,
    at: Ts,
    actor_id: Option<Uuid>,
    organisation_id: Option<Uuid>,
    action: String,
    target: Option<String>,
    outcome: String,
    detail: String,
    request_id: Option<String>,
    ip: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        let outcome = match r.outcome.as_str() {
            "success" => Outcome::Success,
            "refused" => Outcome::Refused,
            other => return Err(corrupt("audit outcome", other)),
        };
        Ok(Self {
            entry: AuditEntry {
                seq: r.seq,
                at: r.at.0,
                actor_id: r.actor_id,
                organisation_id: r.organisation_id,
                action: r.action,
                target: r.target,
                outcome,
                detail: r.detail,
                request_id: r.request_id,
                ip: r.ip,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

// Data returns: windows -----------------------------------------------------

pub const WINDOW_COLUMNS: &str = "id, area_slug, name, opens_at, closes_at, guidance, file_types, \
     closed_at, created_by, created_at, column_rules, sign_off_required, reminder_days, late_submissions";

/// The first window that is open at `$1` and still waits for its opening
/// notice (`Store::window_awaiting_notice`, `StoreTx::claim_window_notice`),
/// passing over the `skip` windows bound as `$2`, `$3`, ….
pub fn window_awaiting_notice_sql(skip: usize) -> String {
    let skipped = if skip == 0 {
        String::new()
    } else {
        let params: Vec<String> = (2..skip + 2).map(|n| format!("${n}")).collect();
        format!(" AND id NOT IN ({})", params.join(", "))
    };
    format!(
        "SELECT id FROM collection_windows \
         WHERE opened_notice_sent_at IS NULL AND opens_at <= $1 AND closes_at > $1 \
         AND (closed_at IS NULL OR closed_at > $1){skipped} ORDER BY opens_at, id LIMIT 1"
    )
}

crate::db_row! {
#[derive(Debug)]
pub struct WindowRow {
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
    column_rules: String,
    sign_off_required: bool,
    reminder_days: String,
    late_submissions: bool,
}
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
            column_rules: rules_from_text(&r.column_rules)?,
            sign_off_required: r.sign_off_required,
            reminder_days: r
                .reminder_days
                .split(',')
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().map_err(|_| corrupt("reminder days", d)))
                .collect::<Result<_, _>>()?,
            late_submissions: r.late_submissions,
        })
    }
}

/// Column rules as stored: JSON, as API.md gives them.
pub fn rules_text(rules: &[domain::checks::ColumnRule]) -> String {
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned())
}

pub fn rules_from_text(text: &str) -> Result<Vec<domain::checks::ColumnRule>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("column rules", text))
}

/// A window's reminder days as stored: comma-separated, largest first.
pub fn reminder_days_text(w: &WindowRecord) -> String {
    let mut days = w.reminder_days.clone();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    days.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A window's file types as stored: their names, comma-separated.
pub fn file_types(w: &WindowRecord) -> String {
    w.file_types
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

// Data returns: submissions and their files ---------------------------------

pub const SUBMISSION_COLUMNS: &str = "id, window_id, organisation_id, version, status, note, created_by, \
     created_at, submitted_by, submitted_at, status_comment, status_by, status_at, explanation, \
     late_reason, signed_off_by, signed_off_at";

crate::db_row! {
#[derive(Debug)]
pub struct SubmissionRow {
    pub id: Uuid,
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
    explanation: Option<String>,
    late_reason: Option<String>,
    signed_off_by: Option<Uuid>,
    signed_off_at: Option<Ts>,
}
}

impl SubmissionRow {
    /// The record, with its files and those files' checks (from `checks`,
    /// which may hold other submissions' too).
    pub fn into_record(
        self,
        files: Vec<FileRecord>,
        checks: &HashMap<Uuid, FileCheckRecord>,
    ) -> Result<SubmissionRecord, StoreError> {
        let file_checks = files
            .iter()
            .filter_map(|f| checks.get(&f.id).cloned())
            .collect();
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
            explanation: self.explanation,
            late_reason: self.late_reason,
            signed_off_by: self.signed_off_by.map(UserId),
            signed_off_at: self.signed_off_at.map(|t| t.0),
            files,
            checks: file_checks,
        })
    }
}

pub const FILE_COLUMNS: &str =
    "f.id, f.storage_key, f.filename, f.kind, f.size, f.sha256, f.uploaded_by, f.uploaded_at";

crate::db_row! {
#[derive(Debug)]
pub struct FileRow {
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
pub fn by_owner(rows: Vec<FileRow>) -> Result<HashMap<Uuid, Vec<FileRecord>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<FileRecord>> = HashMap::new();
    for r in rows {
        let owner = r.owner;
        out.entry(owner).or_default().push(FileRecord::try_from(r)?);
    }
    Ok(out)
}

// Data returns: checks, queries (issue 16) -----------------------------------

pub const CHECK_COLUMNS: &str =
    "c.file_id, c.rules, c.data_rows, c.errors, c.warnings, c.checked_at";

crate::db_row! {
#[derive(Debug)]
pub struct CheckRow {
    pub file_id: Uuid,
    rules: String,
    data_rows: i64,
    errors: i64,
    warnings: i64,
    checked_at: Ts,
}
}

pub const CHECK_RULE_COLUMNS: &str =
    "r.file_id, r.seq, r.severity, r.rule, r.column_name, r.hits, r.first_row";

crate::db_row! {
#[derive(Debug)]
pub struct CheckRuleRow {
    pub file_id: Uuid,
    seq: i64,
    severity: String,
    rule: String,
    column_name: String,
    hits: i64,
    first_row: Option<i64>,
}
}

fn severity(s: &str) -> Result<domain::checks::Severity, StoreError> {
    domain::checks::Severity::parse(s).ok_or_else(|| corrupt("severity", s))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Checks by file, each with its rule counts (in `seq` order).
pub fn checks_by_file(
    checks: Vec<CheckRow>,
    mut rules: Vec<CheckRuleRow>,
) -> Result<HashMap<Uuid, FileCheckRecord>, StoreError> {
    rules.sort_by_key(|r| (r.file_id, r.seq));
    let mut out = HashMap::new();
    for c in checks {
        out.insert(
            c.file_id,
            FileCheckRecord {
                file_id: c.file_id,
                rules: rules_from_text(&c.rules)?,
                data_rows: count(c.data_rows),
                errors: count(c.errors),
                warnings: count(c.warnings),
                rule_counts: Vec::new(),
                checked_at: c.checked_at.0,
            },
        );
    }
    for r in rules {
        if let Some(check) = out.get_mut(&r.file_id) {
            check.rule_counts.push(domain::checks::RuleCount {
                severity: severity(&r.severity)?,
                rule: r.rule,
                column: r.column_name,
                count: count(r.hits),
                first_row: r.first_row.map(count),
            });
        }
    }
    Ok(out)
}

crate::db_row! {
#[derive(Debug)]
pub struct FindingRow {
    severity: String,
    rule: String,
    row_no: Option<i64>,
    column_name: String,
    message: String,
}
}

impl TryFrom<FindingRow> for domain::checks::Finding {
    type Error = StoreError;
    fn try_from(r: FindingRow) -> Result<Self, StoreError> {
        Ok(Self {
            severity: severity(&r.severity)?,
            rule: r.rule,
            row: r.row_no.map(count),
            column: r.column_name,
            message: r.message,
        })
    }
}

pub const QUERY_COLUMNS: &str = "q.id, q.submission_id, q.window_id, q.organisation_id, q.subject, \
     q.raised_by, q.raised_at, q.closed_by, q.closed_at";

crate::db_row! {
#[derive(Debug)]
pub struct QueryRow {
    pub id: Uuid,
    submission_id: Uuid,
    window_id: Uuid,
    organisation_id: Uuid,
    subject: String,
    raised_by: Uuid,
    raised_at: Ts,
    closed_by: Option<Uuid>,
    closed_at: Option<Ts>,
}
}

crate::db_row! {
#[derive(Debug)]
pub struct QueryMessageRow {
    pub query_id: Uuid,
    id: Uuid,
    author: Uuid,
    body: String,
    created_at: Ts,
}
}

/// Queries with their messages (given in thread order).
pub fn queries_with_messages(
    queries: Vec<QueryRow>,
    messages: Vec<QueryMessageRow>,
) -> Vec<QueryRecord> {
    let mut by_query: HashMap<Uuid, Vec<QueryMessageRecord>> = HashMap::new();
    for m in messages {
        by_query
            .entry(m.query_id)
            .or_default()
            .push(QueryMessageRecord {
                id: m.id,
                author: UserId(m.author),
                body: m.body,
                created_at: m.created_at.0,
            });
    }
    queries
        .into_iter()
        .map(|q| QueryRecord {
            messages: by_query.remove(&q.id).unwrap_or_default(),
            id: q.id,
            submission_id: q.submission_id,
            window_id: q.window_id,
            organisation_id: OrgId(q.organisation_id),
            subject: q.subject,
            raised_by: UserId(q.raised_by),
            raised_at: q.raised_at.0,
            closed_by: q.closed_by.map(UserId),
            closed_at: q.closed_at.map(|t| t.0),
        })
        .collect()
}

// Data returns: documents ---------------------------------------------------

pub const DOCUMENT_COLUMNS: &str = "d.id, d.area_slug, d.title, d.published_by, d.published_at";

crate::db_row! {
#[derive(Debug)]
pub struct DocumentRow {
    pub id: Uuid,
    pub area_slug: String,
    pub title: String,
    pub published_by: Uuid,
    pub published_at: Ts,
}
}

crate::db_row! {
#[derive(Debug)]
pub struct RecipientRow {
    pub document_id: Uuid,
    pub organisation_id: Uuid,
}
}

// Data returns: feedback ----------------------------------------------------

crate::db_row! {
#[derive(Debug)]
pub struct FeedbackRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub organisation_id: Uuid,
    pub body: String,
    pub created_at: Ts,
}
}

/// Feedback with its sender (`Store::received_feedback`).
#[derive(Debug)]
pub struct ReceivedFeedbackRow {
    pub feedback: FeedbackRow,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub organisation_name: String,
}

impl FromDbRow for ReceivedFeedbackRow {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
        Ok(Self {
            feedback: FeedbackRow::from_row(row)?,
            title: row.col("title")?,
            first_name: row.col("first_name")?,
            last_name: row.col("last_name")?,
            email: row.col("email")?,
            organisation_name: row.col("organisation_name")?,
        })
    }
}

impl TryFrom<ReceivedFeedbackRow> for store::ReceivedFeedback {
    type Error = StoreError;
    fn try_from(r: ReceivedFeedbackRow) -> Result<Self, StoreError> {
        let f = r.feedback;
        Ok(Self {
            feedback: store::FeedbackRecord {
                id: f.id,
                user_id: UserId(f.user_id),
                organisation_id: OrgId(f.organisation_id),
                body: f.body,
                created_at: f.created_at.0,
            },
            title: r.title,
            first_name: r.first_name,
            last_name: r.last_name,
            email: email(&r.email)?,
            organisation: r.organisation_name,
        })
    }
}
