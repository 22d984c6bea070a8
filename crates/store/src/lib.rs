//! The storage seam.
//!
//! Use cases talk to storage only through [`Store`] (reads and the outbox worker's
//! leasing) and [`StoreTx`] (everything that changes data, in one transaction with
//! its audit row and its outbox row). Records are plain data; rules stay in
//! `domain` and `app`. Every backend must pass the conformance suite
//! (`--features conformance`), which is run against SQLite and PostgreSQL.

mod error;
mod records;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use domain::ids::MessageId;
use domain::{AttemptId, OrgId, Role, Ukprn, UserId};
use time::{Duration, OffsetDateTime};

pub use error::StoreError;
pub use records::*;

pub type StoreResult<T> = Result<T, StoreError>;

/// Reads, and the few writes that are their own transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a write transaction. It rolls back if dropped without [`StoreTx::commit`].
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    /// The database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The live-or-not session with this token hash, its user and organisation.
    async fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionWithUser>>;

    /// Records that a session was used (at most once a minute, see `domain::session`).
    async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()>;

    /// A user's sessions and API tokens that have not been ended and may be
    /// live: tokens expiring after `now`, other sessions started after
    /// `started_after`. Newest first.
    async fn user_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        started_after: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;

    /// A user's roles, each with the name of its area (if any), ordered by role id.
    async fn user_roles(&self, user: UserId) -> StoreResult<Vec<RoleGrant>>;

    async fn organisation(&self, id: OrgId) -> StoreResult<Option<OrganisationRecord>>;

    async fn organisation_by_ukprn(&self, ukprn: &Ukprn)
    -> StoreResult<Option<OrganisationRecord>>;

    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;

    async fn user_by_email(&self, email_norm: &str) -> StoreResult<Option<UserRecord>>;

    /// Number of organisations (to know whether a database is empty).
    async fn organisation_count(&self) -> StoreResult<i64>;

    /// Leases up to `limit` due outbox messages, oldest first, for `lease`,
    /// counting an attempt on each (one statement, so one commit for all). A
    /// message whose lease ran out (its worker died) becomes due again.
    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<OutboxMessage>>;

    /// The transport accepted these messages: they are never sent again. Their
    /// bodies are erased, since they may hold a passcode.
    async fn mark_emails_sent(&self, ids: &[MessageId], now: OffsetDateTime) -> StoreResult<()>;

    /// Sending failed: try again at `retry_at`, or, with `None`, give up
    /// (dead letter). The body is erased on giving up.
    async fn mark_email_failed(
        &self,
        id: MessageId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Outbox messages in creation order (operators and tests).
    async fn outbox(&self) -> StoreResult<Vec<OutboxMessage>>;

    /// How many messages wait to be sent, since when the oldest, and how many
    /// were given up on (metrics, issue 14). Reads the queue through its index.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;

    /// Audit rows with `seq > after`, in order, at most `limit`.
    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;

    /// The stretches of the audit chain and the key each was kept with, in
    /// order (`portal audit verify`). Rows before the first were chained
    /// without a key.
    async fn audit_chain_epochs(&self) -> StoreResult<Vec<ChainEpoch>>;

    /// Keeps the audit chain with `key` from the next row on: records where
    /// that key's stretch starts (vouched for by the key) unless the latest
    /// stretch already uses it, and appends with it from now. Call once when a
    /// process starts writing, before any append; until then appends fail.
    /// Fails closed ([`StoreError::Corrupt`]) on a trail with rows but no
    /// record of a key: see [`Store::adopt_unkeyed_audit`].
    async fn open_audit_chain(
        &self,
        key: domain::audit::ChainKey,
        now: OffsetDateTime,
    ) -> StoreResult<ChainEpoch>;

    /// The operator's one-off step after upgrading from the unkeyed chain:
    /// rows `1..=through` (which must be the whole trail) stay as they were,
    /// and `key` keeps the chain from the next row on.
    async fn adopt_unkeyed_audit(
        &self,
        key: domain::audit::ChainKey,
        through: i64,
        now: OffsetDateTime,
    ) -> StoreResult<ChainEpoch>;

    /// One page of the audit rows `filter` matches, newest first (by `seq`),
    /// and how many match: exactly up to [`AUDIT_COUNT_LIMIT`], above it
    /// `AUDIT_COUNT_LIMIT + 1`, meaning "more than that" (counting a million
    /// rows for every page is not worth its time).
    async fn audit_page(&self, filter: &AuditFilter) -> StoreResult<(Vec<AuditRecord>, i64)>;

    /// The users with these ids (those that exist, in no particular order): the
    /// names an audit page shows, read in one query rather than one per row.
    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>>;

    /// One page of an organisation's users with their roles, in the order
    /// `filter.sort` asks for, and how many match in all.
    async fn list_users(
        &self,
        org: OrgId,
        filter: &UserFilter,
    ) -> StoreResult<(Vec<UserWithRoles>, i64)>;

    async fn user_request(&self, id: uuid::Uuid) -> StoreResult<Option<UserRequestRecord>>;

    /// Organisations by name, a page at a time, and how many there are.
    async fn list_organisations(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<OrganisationRecord>, i64)>;

    /// Every area, by name.
    async fn areas(&self) -> StoreResult<Vec<domain::role::Area>>;

    /// Access keys, newest first: of one organisation, or all.
    async fn access_keys(&self, org: Option<OrgId>) -> StoreResult<Vec<AccessKeyRecord>>;

    async fn access_key(&self, id: uuid::Uuid) -> StoreResult<Option<AccessKeyRecord>>;

    /// Takes one hit against a limit that every process on this database
    /// shares: counted, atomically, if `bucket`'s current window (which starts
    /// at the first hit after the last one ended and lasts `window`) holds fewer
    /// than `limit` hits. Otherwise nothing changes and the answer is when the
    /// window ends.
    async fn take_hit(
        &self,
        bucket: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<Result<(), OffsetDateTime>>;

    /// Gives back one hit taken in `bucket`'s current window (what was counted
    /// in advance turned out not to count).
    async fn give_back_hit(&self, bucket: &str, now: OffsetDateTime) -> StoreResult<()>;

    /// Whether any add-user request waits to be handled (read outside a unit,
    /// so that an idle worker does not take the writer to find none).
    async fn user_requests_pending(&self) -> StoreResult<bool>;

    /// Forgets the windows that ended before `before`; says how many.
    async fn forget_hits(&self, before: OffsetDateTime) -> StoreResult<u64>;

    // Data returns and documents (PRODUCT §6).

    /// Every collection window, newest opening first.
    async fn windows(&self) -> StoreResult<Vec<WindowRecord>>;

    async fn window(&self, id: uuid::Uuid) -> StoreResult<Option<WindowRecord>>;

    /// A window's submission versions with their files, by organisation and
    /// newest version first: of one organisation, or of all; drafts only if asked.
    async fn submissions(
        &self,
        window: uuid::Uuid,
        org: Option<OrgId>,
        with_drafts: bool,
    ) -> StoreResult<Vec<SubmissionRecord>>;

    async fn submission(&self, id: uuid::Uuid) -> StoreResult<Option<SubmissionRecord>>;

    /// A checked file's first findings, in file order (issue 16).
    async fn file_findings(&self, file: uuid::Uuid) -> StoreResult<Vec<domain::checks::Finding>>;

    /// Queries with their messages, oldest first (issue 16). Access is not
    /// checked here: the filter must carry the caller's organisation for a
    /// provider's people.
    async fn queries(&self, filter: &QueryFilter) -> StoreResult<Vec<QueryRecord>>;

    async fn query(&self, id: uuid::Uuid) -> StoreResult<Option<QueryRecord>>;

    /// Documents, newest first: those shared with `org`, or all.
    async fn documents(&self, org: Option<OrgId>) -> StoreResult<Vec<DocumentRecord>>;

    async fn document(&self, id: uuid::Uuid) -> StoreResult<Option<DocumentRecord>>;

    /// Feedback, newest first, a page at a time, and how much there is.
    async fn feedback(&self, offset: i64, limit: i64) -> StoreResult<(Vec<FeedbackRecord>, i64)>;

    /// As [`Store::feedback`], each with who sent it and from which
    /// organisation (the regulator's Feedback page, issue 15).
    async fn received_feedback(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<ReceivedFeedback>, i64)>;

    /// Whether a window that is open at `now` still waits for its opening
    /// notice: a cheap look, so that the job takes the write lock only when
    /// it has work (issue 15).
    async fn window_awaiting_notice(&self, now: OffsetDateTime) -> StoreResult<bool>;

    /// The reminders already claimed for a window closing at `closes_at`
    /// (their days before closing): a cheap look, so that the reminder job
    /// takes the write lock only when a reminder is due (issue 16).
    async fn reminders_claimed(
        &self,
        window: uuid::Uuid,
        closes_at: OffsetDateTime,
    ) -> StoreResult<Vec<u32>>;

    /// Every row of every table but the audit log, as text: tests compare two
    /// snapshots to show that a refused request changed nothing.
    async fn snapshot(&self) -> StoreResult<Snapshot>;
}

/// A write transaction. Dropping it without `commit` rolls everything back.
#[async_trait]
pub trait StoreTx: Send {
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    async fn insert_organisation(&mut self, org: &NewOrganisation) -> StoreResult<()>;

    /// `StoreError::Conflict` if the address (compared case-insensitively) has an account.
    async fn insert_user(&mut self, user: &NewUser) -> StoreResult<()>;

    /// Looks the user up and, on PostgreSQL, locks the row until commit, so that
    /// concurrent sign-in steps for one account happen one after the other.
    async fn user_by_email_for_update(
        &mut self,
        email_norm: &str,
    ) -> StoreResult<Option<UserRecord>>;

    async fn user_for_update(&mut self, id: UserId) -> StoreResult<Option<UserRecord>>;

    async fn grant_role(&mut self, grant: &NewRoleGrant) -> StoreResult<()>;

    async fn revoke_role(&mut self, user: UserId, role: &Role) -> StoreResult<()>;

    /// A user's roles as this transaction sees them.
    async fn user_roles(&mut self, user: UserId) -> StoreResult<Vec<RoleGrant>>;

    // Reads through the transaction. A unit of work reads what it needs here,
    // never through the pool: on PostgreSQL a second connection taken while
    // this one holds locks makes concurrent writers wait on each other until
    // the pool times out.

    /// A user, without locking.
    async fn user(&mut self, id: UserId) -> StoreResult<Option<UserRecord>>;

    async fn organisation(&mut self, id: OrgId) -> StoreResult<Option<OrganisationRecord>>;

    async fn organisation_by_ukprn(
        &mut self,
        ukprn: &Ukprn,
    ) -> StoreResult<Option<OrganisationRecord>>;

    /// Every area, by name.
    async fn areas(&mut self) -> StoreResult<Vec<domain::role::Area>>;

    async fn access_key(&mut self, id: uuid::Uuid) -> StoreResult<Option<AccessKeyRecord>>;

    /// On PostgreSQL, locks the organisation's row until commit, so that the
    /// changes that may take away one of its administrators happen one after
    /// the other (rule 4 counts the others). Other changes of its users do not
    /// take it; a change of the organisation itself does.
    async fn lock_organisation(&mut self, org: OrgId) -> StoreResult<()>;

    /// Portal Administrators of `org` with access, not counting `except`:
    /// enabled and unexpired at `now`, locked or not — those rule 4 counts
    /// (`AccountState::counts_for_rule_4`, the test applied to the one changed).
    async fn portal_admins_with_access(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
        except: UserId,
    ) -> StoreResult<i64>;

    /// The Portal Administrators of `org` with access (enabled, unexpired at
    /// `now`), as this transaction sees them: who a security alert goes to.
    async fn portal_admins(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<UserRecord>>;

    /// Title, names and email; `Conflict` if the address has another account.
    async fn update_user_details(&mut self, user: UserId, details: &UserDetails)
    -> StoreResult<()>;

    async fn set_access(&mut self, user: UserId, enabled: bool) -> StoreResult<()>;

    async fn set_expiry(
        &mut self,
        user: UserId,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<()>;

    /// Clears both locks and every failure count.
    async fn unlock(&mut self, user: UserId) -> StoreResult<()>;

    /// Sets the password's hash and forgets wrong passwords.
    async fn set_password(&mut self, user: UserId, hash: &str) -> StoreResult<()>;

    async fn password_hash(&mut self, user: UserId) -> StoreResult<Option<String>>;

    /// Counts one more consecutive wrong password; returns the new count.
    async fn add_password_failure(&mut self, user: UserId) -> StoreResult<i64>;

    /// Locks the account until an administrator unlocks it.
    async fn lock_account(&mut self, user: UserId) -> StoreResult<()>;

    /// `Conflict` if the slug is taken.
    async fn insert_area(&mut self, area: &domain::role::Area) -> StoreResult<()>;

    async fn insert_access_key(&mut self, key: &NewAccessKey) -> StoreResult<()>;

    /// The key with this hash, locked until commit on PostgreSQL (uses are counted).
    async fn access_key_by_hash_for_update(
        &mut self,
        key_hash: &[u8],
    ) -> StoreResult<Option<AccessKeyRecord>>;

    /// Counts one use of a key.
    async fn use_access_key(&mut self, id: uuid::Uuid) -> StoreResult<()>;

    /// Revokes a key; `false` if it does not exist or already was.
    async fn revoke_access_key(&mut self, id: uuid::Uuid, now: OffsetDateTime)
    -> StoreResult<bool>;

    async fn insert_user_request(&mut self, request: &NewUserRequest) -> StoreResult<()>;

    /// A pending request of `org` for this address, if one is waiting.
    async fn pending_request_for(
        &mut self,
        org: OrgId,
        email_norm: &str,
    ) -> StoreResult<Option<uuid::Uuid>>;

    /// The oldest pending request, locked for this transaction (PostgreSQL
    /// skips requests another worker holds).
    async fn next_pending_request(&mut self) -> StoreResult<Option<UserRequestRecord>>;

    /// Marks a request done: `Ok` with the new user, or rejected with a reason.
    async fn finish_user_request(
        &mut self,
        id: uuid::Uuid,
        outcome: Result<UserId, &str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    // Data returns and documents (PRODUCT §6).

    async fn insert_window(&mut self, window: &WindowRecord) -> StoreResult<()>;

    /// Name, times, guidance and file types. A window moved to open after
    /// `now` waits for its opening notice again, even if it was announced.
    async fn update_window(
        &mut self,
        window: &WindowRecord,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    async fn close_window(&mut self, id: uuid::Uuid, now: OffsetDateTime) -> StoreResult<()>;

    /// The newest version of an organisation's submission to a window, locked
    /// until commit on PostgreSQL (versions are numbered one after another).
    async fn latest_submission_for_update(
        &mut self,
        window: uuid::Uuid,
        org: OrgId,
    ) -> StoreResult<Option<SubmissionRecord>>;

    async fn insert_submission(&mut self, submission: &NewSubmission) -> StoreResult<()>;

    async fn insert_file(&mut self, file: &FileRecord) -> StoreResult<()>;

    async fn attach_file(&mut self, submission: uuid::Uuid, file: uuid::Uuid) -> StoreResult<()>;

    /// A draft becomes submitted, with its note, the explanation of its
    /// warnings and, when it comes after closing, the reason it is late.
    async fn submit(&mut self, submission: uuid::Uuid, how: &Submit<'_>) -> StoreResult<()>;

    /// A file's check and its first findings (issue 16), with the file.
    async fn insert_file_check(
        &mut self,
        check: &FileCheckRecord,
        findings: &[domain::checks::Finding],
    ) -> StoreResult<()>;

    /// The provider's Portal Administrator signs a submitted version off:
    /// `false` (nothing changed) unless it is submitted and not yet signed off.
    async fn sign_off(
        &mut self,
        submission: uuid::Uuid,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// A submission version as it is now, read in this transaction.
    async fn submission(&mut self, id: uuid::Uuid) -> StoreResult<Option<SubmissionRecord>>;

    /// Each organisation's newest version's status for a window (issue 16:
    /// who has not submitted, for reminders).
    async fn latest_statuses(
        &mut self,
        window: uuid::Uuid,
    ) -> StoreResult<Vec<(OrgId, domain::collection::SubmissionStatus)>>;

    /// A new query with its first message (in `query.messages`).
    async fn insert_query(&mut self, query: &QueryRecord) -> StoreResult<()>;

    /// A query as it is now, read in this transaction (locked on PostgreSQL).
    async fn query_for_update(&mut self, id: uuid::Uuid) -> StoreResult<Option<QueryRecord>>;

    async fn insert_query_message(
        &mut self,
        query: uuid::Uuid,
        message: &QueryMessageRecord,
    ) -> StoreResult<()>;

    /// Closes an open query: `false` (nothing changed) if it was closed already.
    async fn close_query(
        &mut self,
        query: uuid::Uuid,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// A window as it is now, read in this transaction (locked on
    /// PostgreSQL): the reminder job's view of its closing time (issue 16).
    async fn window_for_update(&mut self, id: uuid::Uuid) -> StoreResult<Option<WindowRecord>>;

    /// Claims the reminder `days_before` a window closing at `closes_at`:
    /// `true` for the one transaction whose row goes in (others, on any
    /// replica, get `false` once it commits).
    async fn claim_reminder(
        &mut self,
        window: uuid::Uuid,
        days_before: u32,
        closes_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    async fn set_submission_status(
        &mut self,
        submission: uuid::Uuid,
        status: domain::collection::SubmissionStatus,
        comment: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// The document and its recipients (its file is inserted first).
    async fn insert_document(&mut self, document: &DocumentRecord) -> StoreResult<()>;

    async fn insert_feedback(&mut self, feedback: &FeedbackRecord) -> StoreResult<()>;

    /// Claims one window that is open at `now` and whose opening notice has
    /// not been sent, marking it sent at `now` (issue 15). Only one
    /// transaction ever claims a window: the mark is set by an `UPDATE` that
    /// matches only while it is unset, and on PostgreSQL a window another
    /// transaction is claiming is skipped. Windows in `skip` (whose notice
    /// failed this round) are passed over. `None` when no window waits.
    async fn claim_window_notice(
        &mut self,
        now: OffsetDateTime,
        skip: &[uuid::Uuid],
    ) -> StoreResult<Option<WindowRecord>>;

    /// Everyone holding any of `roles`, in any organisation, with their
    /// organisation's name: whom a notice about an area goes to. By
    /// organisation name, then user. Access is not checked here.
    async fn role_holders(&mut self, roles: &[Role]) -> StoreResult<Vec<RoleHolder>>;

    /// An organisation's name, UKPRN and accountable officer; `Conflict` if
    /// another organisation has the UKPRN.
    async fn update_organisation(&mut self, org: &OrganisationRecord) -> StoreResult<()>;

    /// Counts one more consecutive sign-in failure; returns the new count.
    async fn add_sign_in_failure(&mut self, user: UserId) -> StoreResult<i64>;

    /// Locks sign-in until `until`, counts the lock, and starts the failure count again.
    async fn lock_sign_in(&mut self, user: UserId, until: OffsetDateTime) -> StoreResult<()>;

    /// A successful sign-in: failures and locks forgotten, `last_signed_in_at` set.
    async fn record_sign_in(&mut self, user: UserId, now: OffsetDateTime) -> StoreResult<()>;

    /// Codes actually sent to this address since `since`.
    async fn codes_sent_since(
        &mut self,
        email_norm: &str,
        since: OffsetDateTime,
    ) -> StoreResult<i64>;

    async fn insert_attempt(&mut self, attempt: &NewAttempt) -> StoreResult<()>;

    /// Uses up one guess of an unexpired, unused attempt that has fewer than
    /// `max_guesses` guesses, atomically, and returns it; `None` if there is no
    /// such attempt (unknown, expired, used or voided).
    async fn take_guess(
        &mut self,
        id: AttemptId,
        max_guesses: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Option<AttemptRecord>>;

    /// Marks the attempt used; `false` if it already was.
    async fn consume_attempt(&mut self, id: AttemptId, now: OffsetDateTime) -> StoreResult<bool>;

    async fn insert_session(&mut self, session: &NewSession) -> StoreResult<()>;

    /// Ends one session; `false` if it had already ended or never existed.
    async fn end_session(&mut self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<bool>;

    /// Ends every live session of a user; returns how many.
    async fn end_sessions_of(&mut self, user: UserId, now: OffsetDateTime) -> StoreResult<u64>;

    /// A session (or API token) by its public id, ended or not.
    async fn session_by_id(&mut self, id: uuid::Uuid) -> StoreResult<Option<SessionRecord>>;

    async fn insert_api_token(&mut self, token: &NewApiToken) -> StoreResult<()>;

    /// Ends every live browser and API session of a user but the one with
    /// `keep` (personal API tokens stay); returns how many.
    async fn end_other_sessions(
        &mut self,
        user: UserId,
        keep: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<u64>;

    /// A user's API tokens made after `since`, and those not ended that
    /// expire after `now` (creation limits count both).
    async fn api_tokens_of(
        &mut self,
        user: UserId,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;

    async fn enqueue_email(&mut self, email: &NewEmail) -> StoreResult<()>;

    /// Appends an audit row chained to the last one; returns its sequence number.
    async fn append_audit(&mut self, event: &NewAuditEvent) -> StoreResult<i64>;

    // Legacy import (bulk)
    //
    // `portal import-legacy` writes up to a million users in one transaction:
    // these take any number of items and write them many rows per statement,
    // never one round trip per row.

    /// Brings the query planner's statistics on users, roles and organisations
    /// up to date, before looking up many rows and after writing many: a
    /// bulk change leaves them stale until autovacuum runs, if it runs at all,
    /// and stale statistics turn look-ups by key into whole-table scans.
    async fn refresh_statistics(&mut self) -> StoreResult<()>;

    /// The organisations with these UKPRNs.
    async fn organisations_by_ukprns(
        &mut self,
        ukprns: &[Ukprn],
    ) -> StoreResult<Vec<OrganisationRecord>>;

    async fn insert_organisations(&mut self, orgs: &[NewOrganisation]) -> StoreResult<()>;

    /// The accounts with these normalised addresses, with their roles.
    async fn accounts_by_emails(
        &mut self,
        emails_norm: &[String],
    ) -> StoreResult<Vec<ImportedAccount>>;

    /// `Conflict` if an address (compared case-insensitively) has an account.
    async fn insert_imported_users(&mut self, users: &[ImportedUser]) -> StoreResult<()>;

    /// Sets the title, names, expiry and lock of existing users.
    async fn update_imported_users(&mut self, users: &[ImportedUser]) -> StoreResult<()>;

    /// Grants roles, skipping any the user already holds; returns how many were new.
    async fn grant_roles(&mut self, grants: &[NewRoleGrant]) -> StoreResult<u64>;

    async fn enqueue_emails(&mut self, emails: &[NewEmail]) -> StoreResult<()>;

    /// Appends `events` to the audit chain in order, many rows per statement,
    /// chained exactly as [`StoreTx::append_audit`] chains one (the benchmark's
    /// dataset: a million rows one statement each would take minutes).
    async fn append_audit_bulk(&mut self, events: &[NewAuditEvent]) -> StoreResult<()>;
}

/// Convenience for the many places that grant a role by value.
pub fn role_grant(
    user: UserId,
    role: Role,
    granted_by: Option<UserId>,
    at: OffsetDateTime,
) -> NewRoleGrant {
    NewRoleGrant {
        user_id: user,
        role,
        granted_by,
        granted_at: at,
    }
}

// --- Reading the audit trail (issue 13) -------------------------------------

/// How far [`Store::audit_page`] counts the matching rows.
pub const AUDIT_COUNT_LIMIT: i64 = 10_000;

/// Which audit rows to read (the Activity page, `GET /api/v1/audit`). Every
/// filter left `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub organisation: Option<OrgId>,
    pub actor: Option<UserId>,
    /// An action, exactly; or, ending in `.`, every action of that group
    /// (`users.` matches `users.set_roles`, `users.update`…).
    pub action: Option<String>,
    /// From this instant, inclusive.
    pub from: Option<OffsetDateTime>,
    /// Up to this instant, exclusive.
    pub to: Option<OffsetDateTime>,
    /// Only rows before this sequence number (an export reads on from the last
    /// row it has, rather than by an ever larger offset).
    pub before_seq: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}
