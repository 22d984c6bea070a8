//! Row types decoded from either backend, and their mapping to store records.

use domain::audit::{AuditEntry, Outcome};
use domain::ids::MessageId;
use domain::{AttemptId, OrgId, OrganisationKind, Role, Ukprn, UserId};
use store::{
    AttemptRecord, AuditRecord, OrganisationRecord, OutboxMessage, RoleGrant, SessionKind,
    SessionRecord, StoreError, UserRecord,
};
use uuid::Uuid;

use crate::ts::Ts;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

pub const AREAS_SQL: &str = "SELECT slug, name, kind, sensitive FROM areas ORDER BY name";

pub const ORG_COLUMNS: &str =
    "id, kind, name, ukprn, accountable_officer_name, accountable_officer_email, created_at";

#[derive(Debug, sqlx::FromRow)]
pub struct OrgRow {
    id: Uuid,
    kind: String,
    name: String,
    ukprn: Option<String>,
    accountable_officer_name: Option<String>,
    accountable_officer_email: Option<String>,
    created_at: Ts,
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
            accountable_officer_email: r.accountable_officer_email,
            created_at: r.created_at.0,
        })
    }
}

pub const USER_COLUMNS: &str = "id, organisation_id, title, first_name, last_name, email, access_enabled, \
     expires_at, locked_until, lock_count, failed_sign_ins, locked, password_failures, password_hash, \
     last_signed_in_at, created_at, created_by";

#[derive(Debug, sqlx::FromRow)]
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

impl UserRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        Self {
            id: UserId(r.id),
            organisation_id: OrgId(r.organisation_id),
            title: r.title,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
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
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct RoleRow {
    pub role_id: String,
    pub area_name: Option<String>,
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

pub const SESSION_COLUMNS: &str = "token_hash, user_id, kind, created_at, last_seen_at, ended_at";

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    kind: String,
    created_at: Ts,
    last_seen_at: Ts,
    ended_at: Option<Ts>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: r.token_hash,
            user_id: UserId(r.user_id),
            kind: SessionKind::parse(&r.kind).ok_or_else(|| corrupt("session kind", &r.kind))?,
            created_at: r.created_at.0,
            last_seen_at: r.last_seen_at.0,
            ended_at: r.ended_at.map(|t| t.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AttemptRow {
    id: Uuid,
    user_id: Option<Uuid>,
    code_hash: Option<Vec<u8>>,
    guesses: i64,
    expires_at: Ts,
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

pub const OUTBOX_COLUMNS: &str = "id, to_address, subject, body, created_at, attempts, next_attempt_at, sent_at, dead_at, last_error";

#[derive(Debug, sqlx::FromRow)]
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

pub const AUDIT_COLUMNS: &str = "seq, at, actor_id, organisation_id, action, target, outcome, detail, \
     request_id, ip, prev_hash, hash";

#[derive(Debug, sqlx::FromRow)]
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

/// Rows read only through `Debug`, for snapshots.
#[allow(dead_code)] // read through Debug
#[derive(Debug, sqlx::FromRow)]
pub struct RoleGrantRow {
    pub user_id: Uuid,
    pub role_id: String,
    pub granted_by: Option<Uuid>,
    pub granted_at: Ts,
}

#[allow(dead_code)] // read through Debug
#[derive(Debug, sqlx::FromRow)]
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

#[derive(Debug, sqlx::FromRow)]
pub struct UserRoleRow {
    pub user_id: Uuid,
    pub role_id: String,
    pub area_name: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct AreaRow {
    slug: String,
    name: String,
    kind: String,
    sensitive: bool,
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

pub const REQUEST_COLUMNS: &str = "id, organisation_id, requested_by, title, first_name, last_name, email, roles, \
     status, user_id, reason, created_at";

#[derive(Debug, sqlx::FromRow)]
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
            email: r.email,
            roles,
            status: store::RequestStatus::parse(&r.status)
                .ok_or_else(|| corrupt("request status", &r.status))?,
            user_id: r.user_id.map(UserId),
            reason: r.reason,
            created_at: r.created_at.0,
        })
    }
}

pub const ACCESS_KEY_COLUMNS: &str =
    "id, organisation_id, role_id, max_uses, uses, expires_at, revoked_at, created_by, created_at";

#[derive(Debug, sqlx::FromRow)]
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

/// `t.col AS p_col, …` for each of `columns`: the same columns under a prefix,
/// so that one query can read several tables whose column names overlap.
pub fn prefixed(table: &str, prefix: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c} AS {prefix}_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
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

impl<'r, R> sqlx::FromRow<'r, R> for SessionSnapshotRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Ts: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let role_id: Option<String> = row.try_get("role_id")?;
        Ok(Self {
            session: SessionRow {
                token_hash: row.try_get("s_token_hash")?,
                user_id: row.try_get("s_user_id")?,
                kind: row.try_get("s_kind")?,
                created_at: row.try_get("s_created_at")?,
                last_seen_at: row.try_get("s_last_seen_at")?,
                ended_at: row.try_get("s_ended_at")?,
            },
            user: UserRow {
                id: row.try_get("u_id")?,
                organisation_id: row.try_get("u_organisation_id")?,
                title: row.try_get("u_title")?,
                first_name: row.try_get("u_first_name")?,
                last_name: row.try_get("u_last_name")?,
                email: row.try_get("u_email")?,
                access_enabled: row.try_get("u_access_enabled")?,
                expires_at: row.try_get("u_expires_at")?,
                locked_until: row.try_get("u_locked_until")?,
                lock_count: row.try_get("u_lock_count")?,
                failed_sign_ins: row.try_get("u_failed_sign_ins")?,
                locked: row.try_get("u_locked")?,
                password_failures: row.try_get("u_password_failures")?,
                password_hash: row.try_get("u_password_hash")?,
                last_signed_in_at: row.try_get("u_last_signed_in_at")?,
                created_at: row.try_get("u_created_at")?,
                created_by: row.try_get("u_created_by")?,
            },
            organisation: OrgRow {
                id: row.try_get("o_id")?,
                kind: row.try_get("o_kind")?,
                name: row.try_get("o_name")?,
                ukprn: row.try_get("o_ukprn")?,
                accountable_officer_name: row.try_get("o_accountable_officer_name")?,
                accountable_officer_email: row.try_get("o_accountable_officer_email")?,
                created_at: row.try_get("o_created_at")?,
            },
            role: match role_id {
                Some(role_id) => Some(RoleRow {
                    role_id,
                    area_name: row.try_get("area_name")?,
                }),
                None => None,
            },
        })
    }
}
