//! Plain data going in and out of the store.

use std::collections::BTreeMap;

use domain::audit::AuditEntry;
use domain::ids::MessageId;
use domain::user::AccountState;
use domain::{AttemptId, EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationRecord {
    pub id: OrgId,
    pub kind: OrganisationKind,
    pub name: String,
    pub ukprn: Option<Ukprn>,
    pub accountable_officer_name: Option<String>,
    pub accountable_officer_email: Option<EmailAddress>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub id: OrgId,
    pub kind: OrganisationKind,
    pub name: String,
    pub ukprn: Option<Ukprn>,
    pub accountable_officer_name: Option<String>,
    pub accountable_officer_email: Option<EmailAddress>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub organisation_id: OrgId,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    /// As entered.
    pub email: EmailAddress,
    pub access_enabled: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub locked_until: Option<OffsetDateTime>,
    pub lock_count: i64,
    pub failed_sign_ins: i64,
    /// Locked until an administrator unlocks (five wrong passwords).
    pub locked: bool,
    pub password_failures: i64,
    /// Whether a password is set (the hash itself is read only to check one).
    pub has_password: bool,
    pub last_signed_in_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
}

impl UserRecord {
    pub fn account_state(&self) -> AccountState {
        AccountState {
            access_enabled: self.access_enabled,
            expires_at: self.expires_at,
            locked_until: self.locked_until,
            locked: self.locked,
            last_signed_in_at: self.last_signed_in_at,
        }
    }

    pub fn display_name(&self) -> String {
        domain::user::display_name(&self.title, &self.first_name, &self.last_name)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub organisation_id: OrgId,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
}

/// A role a user holds, with its area's name for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: Role,
    pub area_name: Option<String>,
}

impl RoleGrant {
    pub fn name(&self) -> String {
        self.role
            .name(self.area_name.as_deref().unwrap_or_default())
    }

    pub fn description(&self) -> String {
        self.role
            .description(self.area_name.as_deref().unwrap_or_default())
    }
}

#[derive(Debug, Clone)]
pub struct NewRoleGrant {
    pub user_id: UserId,
    pub role: Role,
    pub granted_by: Option<UserId>,
    pub granted_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub id: AttemptId,
    pub email_norm: String,
    /// `None` when the address may not sign in: no code was sent.
    pub user_id: Option<UserId>,
    pub code_hash: Option<Vec<u8>>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub user_id: Option<UserId>,
    pub code_hash: Option<Vec<u8>>,
    pub guesses: i64,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session (cookie).
    Web,
    /// An API bearer token from signing in to the API.
    Api,
    /// A personal API token: a bearer token with a name and an expiry of its
    /// own, made by a signed-in person (PRODUCT §9).
    Token,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Api => "api",
            Self::Token => "token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "api" => Some(Self::Api),
            "token" => Some(Self::Token),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub kind: SessionKind,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: Vec<u8>,
    /// The public id a person names the session by (never the hash).
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub kind: SessionKind,
    /// A personal API token's name and expiry (`None` for other kinds).
    pub name: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

/// A personal API token, stored as a session of kind [`SessionKind::Token`].
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: uuid::Uuid,
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Everything a request needs to know who is asking and what they may do,
/// read together (one query) on every request: nothing is cached.
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    pub session: SessionRecord,
    pub user: UserRecord,
    pub organisation: OrganisationRecord,
    /// The user's roles, in role id order.
    pub roles: Vec<RoleGrant>,
}

#[derive(Debug, Clone)]
pub struct NewEmail {
    pub id: MessageId,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: MessageId,
    pub to: String,
    pub subject: String,
    /// Erased (empty) once sent or dead-lettered.
    pub body: String,
    pub created_at: OffsetDateTime,
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
    pub dead_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// The outbox at a glance, for metrics (issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Messages neither sent nor dead-lettered.
    pub queued: i64,
    /// When the oldest of those was queued.
    pub oldest_queued_at: Option<OffsetDateTime>,
    /// Messages given up on.
    pub dead: i64,
}

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: OffsetDateTime,
    pub actor_id: Option<UserId>,
    pub organisation_id: Option<OrgId>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: domain::audit::Outcome,
    pub detail: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub entry: AuditEntry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Where a stretch of the audit chain starts and which key keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEpoch {
    /// The stretch's first row (it may not have been written yet).
    pub from_seq: i64,
    /// [`domain::audit::ChainKey::id`] of its key.
    pub key_id: String,
    /// [`domain::audit::ChainKey::epoch_mac`]: only the key's holder can move
    /// where the keyed chain starts.
    pub mac: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// Every row of the mutable tables, as text, by table name.
pub type Snapshot = BTreeMap<&'static str, Vec<String>>;

/// Which users to list: `q` matches the start of the first name, last name,
/// full name or email address (case-insensitive); `role` is a role id;
/// `sort` is the order of the list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub q: Option<String>,
    pub role: Option<String>,
    pub sort: UserSort,
    pub offset: i64,
    pub limit: i64,
}

/// The column a user list is sorted by (User management's sortable columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSortKey {
    /// Last name, then first name, ignoring case.
    #[default]
    Name,
    /// When they last signed in; "never" comes before every time.
    LastSignedIn,
    /// Their status as the list shows it at this moment (which decides
    /// whether an expiry date or a temporary lock has passed), in the
    /// alphabetical order of the status labels.
    Status(OffsetDateTime),
}

/// A user list's order. Users that tie on the column come by name, then by
/// id, so every order is total and pages never repeat or skip anyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserSort {
    pub key: UserSortKey,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct UserWithRoles {
    pub user: UserRecord,
    pub roles: Vec<RoleGrant>,
}

#[derive(Debug, Clone)]
pub struct UserDetails {
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Completed,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "completed" => Some(Self::Completed),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A request to add a user, as made.
#[derive(Debug, Clone)]
pub struct NewUserRequest {
    pub id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub requested_by: Option<UserId>,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub roles: Vec<Role>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequestRecord {
    pub id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub requested_by: Option<UserId>,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub roles: Vec<Role>,
    pub status: RequestStatus,
    pub user_id: Option<UserId>,
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

/// An access key as issued (its secret only as a keyed hash).
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub id: uuid::Uuid,
    pub key_hash: Vec<u8>,
    pub organisation_id: OrgId,
    pub role: Role,
    pub max_uses: i64,
    pub expires_at: OffsetDateTime,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub role: Role,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
}

impl AccessKeyRecord {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    pub fn is_used_up(&self) -> bool {
        self.uses >= self.max_uses
    }

    /// "Active", "Revoked", "Expired" or "Used up", as the list shows it.
    pub fn state(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "Revoked"
        } else if self.is_expired(now) {
            "Expired"
        } else if self.is_used_up() {
            "Used up"
        } else {
            "Active"
        }
    }
}

/// A collection window (PRODUCT §6).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRecord {
    pub id: uuid::Uuid,
    pub area: domain::AreaSlug,
    pub name: String,
    pub opens_at: OffsetDateTime,
    pub closes_at: OffsetDateTime,
    pub guidance: String,
    pub file_types: Vec<domain::collection::FileKind>,
    pub closed_at: Option<OffsetDateTime>,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    /// The column rules CSV uploads are checked against (issue 16); none: no checks.
    pub column_rules: Vec<domain::checks::ColumnRule>,
    /// Whether a return must be signed off by the provider's Portal
    /// Administrator before an officer may accept it.
    pub sign_off_required: bool,
    /// Days before closing at which providers that have not submitted are
    /// reminded, largest first.
    pub reminder_days: Vec<u32>,
    /// Whether returns may come after closing (with a reason, marked late)
    /// until the regulator closes the window.
    pub late_submissions: bool,
}

impl WindowRecord {
    pub fn state(&self, now: OffsetDateTime) -> domain::collection::WindowState {
        domain::collection::WindowState::of(self.opens_at, self.closes_at, self.closed_at, now)
    }
}

/// A file in the file store, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: uuid::Uuid,
    /// Where the file store keeps it (server-generated).
    pub storage_key: String,
    /// The name it was given, cleaned for showing (never used as a path).
    pub filename: String,
    pub kind: domain::collection::FileKind,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub uploaded_by: UserId,
    pub uploaded_at: OffsetDateTime,
}

/// A new version of a provider's submission to a window.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub id: uuid::Uuid,
    pub window_id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub version: i64,
    pub status: domain::collection::SubmissionStatus,
    pub note: String,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
}

/// One version of a submission, with its files and who did what.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRecord {
    pub id: uuid::Uuid,
    pub window_id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub version: i64,
    pub status: domain::collection::SubmissionStatus,
    pub note: String,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<OffsetDateTime>,
    pub status_comment: Option<String>,
    pub status_by: Option<UserId>,
    pub status_at: Option<OffsetDateTime>,
    /// Why the warnings are as they are, given at submission (issue 16).
    pub explanation: Option<String>,
    /// Why it came after the window closed; `Some` marks it late.
    pub late_reason: Option<String>,
    /// The provider's Portal Administrator's sign-off (issue 16).
    pub signed_off_by: Option<UserId>,
    pub signed_off_at: Option<OffsetDateTime>,
    pub files: Vec<FileRecord>,
    /// The check of each checked (CSV) file, in the order of `files`.
    pub checks: Vec<FileCheckRecord>,
}

impl SubmissionRecord {
    /// Errors in all its files: submission is refused while there are any.
    pub fn errors(&self) -> u64 {
        self.checks.iter().map(|c| c.errors).sum()
    }

    /// Warnings in all its files: each submission needs an explanation for them.
    pub fn warnings(&self) -> u64 {
        self.checks.iter().map(|c| c.warnings).sum()
    }
}

/// How a draft is submitted (issue 16).
#[derive(Debug, Clone, Copy)]
pub struct Submit<'a> {
    pub note: &'a str,
    pub explanation: Option<&'a str>,
    pub late_reason: Option<&'a str>,
    pub by: UserId,
    pub at: OffsetDateTime,
}

/// A file's check against its window's column rules (issue 16): the rules as
/// they were, the counts, and each rule's count. Its first findings are read
/// on their own ([`crate::Store::file_findings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FileCheckRecord {
    pub file_id: uuid::Uuid,
    pub rules: Vec<domain::checks::ColumnRule>,
    pub data_rows: u64,
    pub errors: u64,
    pub warnings: u64,
    pub rule_counts: Vec<domain::checks::RuleCount>,
    pub checked_at: OffsetDateTime,
}

/// A query on a submission, with its messages in order (issue 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRecord {
    pub id: uuid::Uuid,
    pub submission_id: uuid::Uuid,
    pub window_id: uuid::Uuid,
    pub organisation_id: OrgId,
    pub subject: String,
    pub raised_by: UserId,
    pub raised_at: OffsetDateTime,
    pub closed_by: Option<UserId>,
    pub closed_at: Option<OffsetDateTime>,
    pub messages: Vec<QueryMessageRecord>,
}

/// One message of a query's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMessageRecord {
    pub id: uuid::Uuid,
    pub author: UserId,
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// Which queries to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryFilter {
    pub submission: Option<uuid::Uuid>,
    pub window: Option<uuid::Uuid>,
    pub organisation: Option<OrgId>,
    pub open_only: bool,
}

/// A document shared with chosen providers in a communication area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub id: uuid::Uuid,
    pub area: domain::AreaSlug,
    pub title: String,
    pub file: FileRecord,
    pub published_by: UserId,
    pub published_at: OffsetDateTime,
    pub recipients: Vec<OrgId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRecord {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub organisation_id: OrgId,
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// Feedback with who sent it, as the regulator's administrators read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFeedback {
    pub feedback: FeedbackRecord,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub organisation: String,
}

/// Someone holding a role, with their organisation's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHolder {
    pub user: UserRecord,
    pub role: Role,
    pub organisation_name: String,
}
/// A user as the legacy import writes it. New users are inserted with every
/// field; for an existing user only the title, names, expiry and lock are set
/// (its organisation, address and creation time stay as they are).
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub id: UserId,
    pub organisation_id: OrgId,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: EmailAddress,
    pub expires_at: Option<OffsetDateTime>,
    /// The administrator lock (seed 000 B3–B4).
    pub locked: bool,
    pub created_at: OffsetDateTime,
}

/// An existing account as the legacy import compares it with a row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAccount {
    pub id: UserId,
    pub organisation_id: OrgId,
    pub email_norm: String,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub expires_at: Option<OffsetDateTime>,
    pub locked: bool,
    pub roles: Vec<Role>,
}
