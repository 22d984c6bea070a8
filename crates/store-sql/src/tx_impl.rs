//! `impl StoreTx for SqlTx`: everything written, and what a unit of work reads
//! through its own transaction. Every method holds its own SQL; sections follow
//! the features in the same order as `store_impl.rs`.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::audit::{AuditEntry, GENESIS, Link};
use domain::collection::SubmissionStatus;
use domain::{AttemptId, OrgId, Role, Ukprn, UserId};
use store::{
    AttemptRecord, DocumentRecord, FeedbackRecord, FileRecord, ImportedAccount, NewAttempt,
    NewAuditEvent, NewEmail, NewOrganisation, NewRoleGrant, NewSession, NewSubmission, NewUser,
    NewUserRequest, OrganisationRecord, RoleGrant, StoreError, StoreResult, StoreTx,
    SubmissionRecord, UserDetails, UserRecord, WindowRecord,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::bulk::ROWS_PER_STATEMENT;
use crate::db;
use crate::db_err;
use crate::rows::*;
use crate::ts::Ts;

pub(crate) enum TxInner {
    Sqlite(crate::lite::LiteTx),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

pub(crate) struct SqlTx {
    pub(crate) inner: TxInner,
    pub(crate) audit_tip: crate::connect::AuditTip,
    pub(crate) audit_key: crate::connect::AuditKey,
}

/// The row lock every read-then-write takes on PostgreSQL ([`SqlTx::for_update`],
/// [`StoreTx::lock_organisation`]).
const PG_ROW_LOCK: &str = " FOR NO KEY UPDATE";

impl SqlTx {
    /// A submission row with its files and their checks, read in this transaction.
    async fn complete_submission(&mut self, row: SubmissionRow) -> StoreResult<SubmissionRecord> {
        let file_sql = format!(
            "SELECT sf.submission_id AS owner, {FILE_COLUMNS} FROM submission_files sf \
             JOIN stored_files f ON f.id = sf.file_id WHERE sf.submission_id = $1 ORDER BY f.uploaded_at, f.id"
        );
        let files: Vec<FileRecord> = tx!(self, |c| db::query_as::<FileRow>(&file_sql)
            .bind(row.id)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?
        .into_iter()
        .map(FileRecord::try_from)
        .collect::<Result<_, _>>()?;
        let check_sql = format!(
            "SELECT {CHECK_COLUMNS} FROM file_checks c \
             JOIN submission_files sf ON sf.file_id = c.file_id WHERE sf.submission_id = $1"
        );
        let checks = tx!(self, |c| db::query_as::<CheckRow>(&check_sql)
            .bind(row.id)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        let rule_sql = format!(
            "SELECT {CHECK_RULE_COLUMNS} FROM file_check_rules r \
             JOIN submission_files sf ON sf.file_id = r.file_id WHERE sf.submission_id = $1"
        );
        let rules = tx!(self, |c| db::query_as::<CheckRuleRow>(&rule_sql)
            .bind(row.id)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        row.into_record(files, &checks_by_file(checks, rules)?)
    }

    /// Row locks exist only on PostgreSQL; SQLite's write transaction already
    /// holds the whole database. `FOR NO KEY UPDATE` is the lock PostgreSQL's
    /// own UPDATE takes when no key column changes (no row so locked is ever
    /// deleted): it keeps writers of the same row in turn but lets other
    /// transactions insert rows that refer to it (a foreign key's check takes
    /// `FOR KEY SHARE`), which `FOR UPDATE` would make wait, and two such
    /// waits crossing are a deadlock. A change of a key column (a user's
    /// address, a provider's UKPRN: each has a unique index) takes the
    /// stronger lock itself when its UPDATE runs, waiting then for such
    /// inserts to commit.
    fn for_update(&self) -> &'static str {
        match self.inner {
            TxInner::Sqlite(_) => "",
            TxInner::Postgres(_) => PG_ROW_LOCK,
        }
    }

    async fn user_where(
        &mut self,
        clause: &str,
        bind: UserKey<'_>,
    ) -> StoreResult<Option<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {clause}{}",
            self.for_update()
        );
        let row = match bind {
            UserKey::Id(id) => tx!(self, |c| db::query_as::<UserRow>(&sql)
                .bind(id.0)
                .fetch_optional(&mut *c)
                .await),
            UserKey::Email(e) => tx!(self, |c| db::query_as::<UserRow>(&sql)
                .bind(e)
                .fetch_optional(&mut *c)
                .await),
        }
        .map_err(db_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    /// The key this store keeps the audit chain with.
    fn chain_key(&self) -> StoreResult<domain::audit::ChainKey> {
        self.audit_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                StoreError::Database(
                    "the audit chain has not been opened with a key (Store::open_audit_chain)"
                        .into(),
                )
            })
    }

    /// The chain needs one writer at a time: PostgreSQL takes a transaction-scoped
    /// advisory lock (released at commit); SQLite's write transaction already is one.
    pub(crate) async fn lock_chain(&mut self) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            db::query("SELECT pg_advisory_xact_lock(7262001)")
                .execute(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// The last audit row's `(seq, hash)`, read through this transaction.
    async fn chain_end(&mut self) -> StoreResult<Option<(i64, Vec<u8>)>> {
        tx!(self, |c| db::query_as::<(i64, Vec<u8>)>(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        )
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)
    }

    fn remember_audit_tip(&self, seq: i64, hash: Vec<u8>) {
        *self.audit_tip.lock().unwrap_or_else(|e| e.into_inner()) = Some((seq, hash));
    }
}

enum UserKey<'a> {
    Id(UserId),
    Email(&'a str),
}

#[async_trait]
impl StoreTx for SqlTx {
    // Connection ----------------------------------------------------------

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Postgres(t) => t.commit().await.map_err(db_err),
        }
    }

    // Sign-in attempts ----------------------------------------------------

    async fn codes_sent_since(
        &mut self,
        email_norm: &str,
        since: OffsetDateTime,
    ) -> StoreResult<i64> {
        tx!(self, |c| db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM sign_in_attempts \
             WHERE email_norm = $1 AND created_at > $2 AND code_hash IS NOT NULL"
        )
        .bind(email_norm)
        .bind(Ts(since))
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn insert_attempt(&mut self, a: &NewAttempt) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO sign_in_attempts (id, email_norm, user_id, code_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(a.id.0)
        .bind(&a.email_norm)
        .bind(a.user_id.map(|u| u.0))
        .bind(a.code_hash.as_deref())
        .bind(Ts(a.created_at))
        .bind(Ts(a.expires_at))
        .execute(&mut *c)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_guess(
        &mut self,
        id: AttemptId,
        max_guesses: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Option<AttemptRecord>> {
        // One statement: on PostgreSQL concurrent guesses queue on the row lock and
        // re-check the condition, so no more than `max_guesses` ever get through.
        let row = tx!(self, |c| db::query_as::<AttemptRow>(
            "UPDATE sign_in_attempts SET guesses = guesses + 1 \
             WHERE id = $1 AND consumed_at IS NULL AND guesses < $2 AND expires_at > $3 \
             RETURNING id, user_id, code_hash, guesses, expires_at"
        )
        .bind(id.0)
        .bind(max_guesses)
        .bind(Ts(now))
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)?;
        Ok(row.map(AttemptRecord::from))
    }

    async fn consume_attempt(&mut self, id: AttemptId, now: OffsetDateTime) -> StoreResult<bool> {
        let done = tx!(self, |c| db::query(
            "UPDATE sign_in_attempts SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL"
        )
        .bind(id.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done == 1)
    }

    // Sign-in failures, locks and passwords -------------------------------

    async fn add_sign_in_failure(&mut self, user: UserId) -> StoreResult<i64> {
        tx!(self, |c| db::query_scalar::<i64>(
            "UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE id = $1 RETURNING failed_sign_ins"
        )
        .bind(user.0)
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn lock_sign_in(&mut self, user: UserId, until: OffsetDateTime) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET locked_until = $2, lock_count = lock_count + 1, failed_sign_ins = 0 WHERE id = $1"
        )
        .bind(user.0)
        .bind(Ts(until))
        .execute(&mut *c)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn record_sign_in(&mut self, user: UserId, now: OffsetDateTime) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET failed_sign_ins = 0, lock_count = 0, locked_until = NULL, \
             password_failures = 0, last_signed_in_at = $2 WHERE id = $1"
        )
        .bind(user.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn set_password(&mut self, user: UserId, hash: &str) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET password_hash = $2, password_failures = 0 WHERE id = $1"
        )
        .bind(user.0)
        .bind(hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn password_hash(&mut self, user: UserId) -> StoreResult<Option<String>> {
        tx!(self, |c| db::query_scalar::<Option<String>>(
            "SELECT password_hash FROM users WHERE id = $1"
        )
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await)
        .map(Option::flatten)
        .map_err(db_err)
    }

    async fn add_password_failure(&mut self, user: UserId) -> StoreResult<i64> {
        tx!(self, |c| db::query_scalar::<i64>(
            "UPDATE users SET password_failures = password_failures + 1 WHERE id = $1 \
             RETURNING password_failures"
        )
        .bind(user.0)
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn lock_account(&mut self, user: UserId) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET locked = TRUE, password_failures = 0 WHERE id = $1"
        )
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    // Sessions ------------------------------------------------------------

    async fn insert_session(&mut self, s: &NewSession) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO sessions (token_hash, id, user_id, kind, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $5)"
        )
        .bind(&s.token_hash)
        .bind(uuid::Uuid::new_v4())
        .bind(s.user_id.0)
        .bind(s.kind.as_str())
        .bind(Ts(s.created_at))
        .execute(&mut *c)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn end_session(&mut self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<bool> {
        let done = tx!(self, |c| db::query(
            "UPDATE sessions SET ended_at = $2 WHERE token_hash = $1 AND ended_at IS NULL"
        )
        .bind(token_hash)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done == 1)
    }

    async fn end_sessions_of(&mut self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        let done = tx!(self, |c| db::query(
            "UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL"
        )
        .bind(user.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done)
    }

    async fn session_by_id(&mut self, id: uuid::Uuid) -> StoreResult<Option<store::SessionRecord>> {
        let row = tx!(self, |c| db::query_as::<SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)?;
        row.map(store::SessionRecord::try_from).transpose()
    }

    async fn insert_api_token(&mut self, t: &store::NewApiToken) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO sessions (token_hash, id, user_id, kind, name, expires_at, created_at, last_seen_at) \
             VALUES ($1, $2, $3, 'token', $4, $5, $6, $6)"
        )
        .bind(&t.token_hash)
        .bind(t.id)
        .bind(t.user_id.0)
        .bind(&t.name)
        .bind(Ts(t.expires_at))
        .bind(Ts(t.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn end_other_sessions(
        &mut self,
        user: UserId,
        keep: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done = tx!(self, |c| db::query(
            "UPDATE sessions SET ended_at = $3 WHERE user_id = $1 AND token_hash <> $2 \
             AND kind <> 'token' AND ended_at IS NULL"
        )
        .bind(user.0)
        .bind(keep)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done)
    }

    async fn api_tokens_of(
        &mut self,
        user: UserId,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<store::SessionRecord>> {
        let rows = tx!(self, |c| db::query_as::<SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND kind = 'token' \
             AND (created_at > $2 OR (ended_at IS NULL AND expires_at > $3)) ORDER BY created_at"
        ))
        .bind(user.0)
        .bind(Ts(since))
        .bind(Ts(now))
        .fetch_all(&mut *c)
        .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(store::SessionRecord::try_from)
            .collect()
    }

    // Users and their roles -----------------------------------------------

    async fn insert_user(&mut self, user: &NewUser) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO users (id, organisation_id, title, first_name, last_name, email, email_norm, \
             created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(user.id.0)
        .bind(user.organisation_id.0)
        .bind(&user.title)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(user.email.as_str())
        .bind(user.email.normalised())
        .bind(Ts(user.created_at))
        .bind(user.created_by.map(|u| u.0))
        .execute(&mut *c)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_by_email_for_update(
        &mut self,
        email_norm: &str,
    ) -> StoreResult<Option<UserRecord>> {
        self.user_where("email_norm = $1", UserKey::Email(email_norm))
            .await
    }

    async fn user_for_update(&mut self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.user_where("id = $1", UserKey::Id(id)).await
    }

    async fn user(&mut self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row = tx!(self, |c| db::query_as::<UserRow>(&USER_BY_ID_SQL)
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn update_user_details(&mut self, user: UserId, d: &UserDetails) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET title = $2, first_name = $3, last_name = $4, email = $5, email_norm = $6 WHERE id = $1"
        )
        .bind(user.0)
        .bind(&d.title)
        .bind(&d.first_name)
        .bind(&d.last_name)
        .bind(d.email.as_str())
        .bind(d.email.normalised())
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn set_access(&mut self, user: UserId, enabled: bool) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET access_enabled = $2 WHERE id = $1"
        )
        .bind(user.0)
        .bind(enabled)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn set_expiry(
        &mut self,
        user: UserId,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET expires_at = $2 WHERE id = $1"
        )
        .bind(user.0)
        .bind(expires_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn unlock(&mut self, user: UserId) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE users SET locked_until = NULL, failed_sign_ins = 0, lock_count = 0, \
             locked = FALSE, password_failures = 0 WHERE id = $1"
        )
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn grant_role(&mut self, grant: &NewRoleGrant) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO user_roles (user_id, role_id, area_slug, granted_by, granted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, role_id) DO NOTHING"
        )
        .bind(grant.user_id.0)
        .bind(grant.role.id())
        .bind(grant.role.area().map(|a| a.as_str()))
        .bind(grant.granted_by.map(|u| u.0))
        .bind(Ts(grant.granted_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_role(&mut self, user: UserId, role: &Role) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2"
        )
        .bind(user.0)
        .bind(role.id())
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_roles(&mut self, user: UserId) -> StoreResult<Vec<RoleGrant>> {
        let rows = tx!(self, |c| db::query_as::<RoleRow>(USER_ROLES_SQL)
            .bind(user.0)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(RoleGrant::try_from).collect()
    }

    async fn portal_admins_with_access(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
        except: UserId,
    ) -> StoreResult<i64> {
        tx!(self, |c| db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role_id = 'portal-admin' \
             WHERE u.organisation_id = $1 AND u.id <> $3 AND u.access_enabled \
               AND (u.expires_at IS NULL OR u.expires_at > $2)"
        )
        .bind(org.0)
        .bind(Ts(now))
        .bind(except.0)
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn portal_admins(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<UserRecord>> {
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM users u \
             JOIN user_roles r ON r.user_id = u.id AND r.role_id = 'portal-admin' \
             WHERE u.organisation_id = $1 AND u.access_enabled \
               AND (u.expires_at IS NULL OR u.expires_at > $2) ORDER BY u.id"
        );
        let rows = tx!(self, |c| db::query_as::<UserRow>(&sql)
            .bind(org.0)
            .bind(Ts(now))
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn role_holders(&mut self, roles: &[Role]) -> StoreResult<Vec<store::RoleHolder>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let placeholders = (1..=roles.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, r.role_id, o.name AS organisation_name FROM user_roles r \
             JOIN users u ON u.id = r.user_id JOIN organisations o ON o.id = u.organisation_id \
             WHERE r.role_id IN ({placeholders}) \
             ORDER BY o.name, o.id, u.last_name, u.first_name, u.id, r.role_id"
        );
        let ids: Vec<String> = roles.iter().map(Role::id).collect();
        let rows = tx!(self, |c| {
            let mut q = db::query_as::<RoleHolderRow>(&sql);
            for id in &ids {
                q = q.bind(id);
            }
            q.fetch_all(&mut *c).await
        })
        .map_err(db_err)?;
        rows.into_iter().map(store::RoleHolder::try_from).collect()
    }

    // Organisations -------------------------------------------------------

    async fn insert_organisation(&mut self, org: &NewOrganisation) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO organisations (id, kind, name, ukprn, accountable_officer_name, \
             accountable_officer_email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(org.id.0)
        .bind(org.kind.as_str())
        .bind(&org.name)
        .bind(org.ukprn.as_ref().map(|u| u.as_str()))
        .bind(org.accountable_officer_name.as_deref())
        .bind(org.accountable_officer_email.as_ref().map(|e| e.as_str()))
        .bind(Ts(org.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn organisation(&mut self, id: OrgId) -> StoreResult<Option<OrganisationRecord>> {
        tx!(self, |c| db::query_as::<OrgRow>(&ORG_BY_ID_SQL)
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?
        .map(OrganisationRecord::try_from)
        .transpose()
    }

    async fn organisation_by_ukprn(
        &mut self,
        ukprn: &Ukprn,
    ) -> StoreResult<Option<OrganisationRecord>> {
        tx!(self, |c| db::query_as::<OrgRow>(&ORG_BY_UKPRN_SQL)
            .bind(ukprn.as_str())
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?
        .map(OrganisationRecord::try_from)
        .transpose()
    }

    async fn update_organisation(&mut self, org: &OrganisationRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE organisations SET name = $2, ukprn = $3, accountable_officer_name = $4, \
             accountable_officer_email = $5 WHERE id = $1"
        )
        .bind(org.id.0)
        .bind(&org.name)
        .bind(org.ukprn.as_ref().map(|u| u.as_str()))
        .bind(org.accountable_officer_name.as_deref())
        .bind(org.accountable_officer_email.as_ref().map(|e| e.as_str()))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn lock_organisation(&mut self, org: OrgId) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            let sql = format!("SELECT id FROM organisations WHERE id = $1{PG_ROW_LOCK}");
            db::query_scalar::<Uuid>(&sql)
                .bind(org.0)
                .fetch_optional(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    // Areas ---------------------------------------------------------------

    async fn areas(&mut self) -> StoreResult<Vec<domain::role::Area>> {
        let rows = tx!(self, |c| db::query_as::<AreaRow>(AREAS_SQL)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(domain::role::Area::try_from).collect()
    }

    async fn insert_area(&mut self, area: &domain::role::Area) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO areas (slug, name, kind, sensitive) VALUES ($1, $2, $3, $4)"
        )
        .bind(area.slug.as_str())
        .bind(&area.name)
        .bind(area.kind.as_str())
        .bind(area.sensitive)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    // Access keys ---------------------------------------------------------

    async fn access_key(&mut self, id: uuid::Uuid) -> StoreResult<Option<store::AccessKeyRecord>> {
        let row = tx!(self, |c| db::query_as::<AccessKeyRow>(
            &ACCESS_KEY_BY_ID_SQL
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)?;
        row.map(store::AccessKeyRecord::try_from).transpose()
    }

    async fn insert_access_key(&mut self, key: &store::NewAccessKey) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO access_keys (id, key_hash, organisation_id, role_id, max_uses, expires_at, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(key.id)
        .bind(&key.key_hash)
        .bind(key.organisation_id.0)
        .bind(key.role.id())
        .bind(key.max_uses)
        .bind(Ts(key.expires_at))
        .bind(key.created_by.map(|u| u.0))
        .bind(Ts(key.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn access_key_by_hash_for_update(
        &mut self,
        key_hash: &[u8],
    ) -> StoreResult<Option<store::AccessKeyRecord>> {
        let sql = format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE key_hash = $1{}",
            self.for_update()
        );
        let row = tx!(self, |c| db::query_as::<AccessKeyRow>(&sql)
            .bind(key_hash)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        row.map(store::AccessKeyRecord::try_from).transpose()
    }

    async fn use_access_key(&mut self, id: uuid::Uuid) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE access_keys SET uses = uses + 1 WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_access_key(
        &mut self,
        id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n = tx!(self, |c| db::query(
            "UPDATE access_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    // User requests -------------------------------------------------------

    async fn insert_user_request(&mut self, r: &NewUserRequest) -> StoreResult<()> {
        let roles = r.roles.iter().map(Role::id).collect::<Vec<_>>().join(",");
        tx!(self, |c| db::query(
            "INSERT INTO user_requests (id, organisation_id, requested_by, title, first_name, last_name, email, \
             email_norm, roles, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10)"
        )
        .bind(r.id)
        .bind(r.organisation_id.0)
        .bind(r.requested_by.map(|u| u.0))
        .bind(&r.title)
        .bind(&r.first_name)
        .bind(&r.last_name)
        .bind(r.email.as_str())
        .bind(r.email.normalised())
        .bind(&roles)
        .bind(Ts(r.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn pending_request_for(
        &mut self,
        org: OrgId,
        email_norm: &str,
    ) -> StoreResult<Option<uuid::Uuid>> {
        tx!(self, |c| db::query_scalar::<uuid::Uuid>(
            "SELECT id FROM user_requests WHERE organisation_id = $1 AND email_norm = $2 AND status = 'pending' \
             ORDER BY created_at LIMIT 1"
        )
        .bind(org.0)
        .bind(email_norm)
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn next_pending_request(&mut self) -> StoreResult<Option<store::UserRequestRecord>> {
        let skip_locked = match self.inner {
            TxInner::Sqlite(_) => "",
            TxInner::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM user_requests WHERE status = 'pending' ORDER BY created_at, id LIMIT 1{skip_locked}"
        );
        tx!(self, |c| db::query_as::<RequestRow>(&sql)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?
        .map(store::UserRequestRecord::try_from)
        .transpose()
    }

    async fn finish_user_request(
        &mut self,
        id: uuid::Uuid,
        outcome: Result<UserId, &str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (status, user, reason) = match outcome {
            Ok(u) => ("completed", Some(u.0), None),
            Err(why) => ("rejected", None, Some(why)),
        };
        tx!(self, |c| db::query(
            "UPDATE user_requests SET status = $2, user_id = $3, reason = $4, processed_at = $5 WHERE id = $1"
        )
        .bind(id)
        .bind(status)
        .bind(user)
        .bind(reason)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    // Outbox --------------------------------------------------------------

    async fn enqueue_email(&mut self, e: &NewEmail) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO outbox (id, to_address, subject, body, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $5)"
        )
        .bind(e.id.0)
        .bind(&e.to)
        .bind(&e.subject)
        .bind(&e.body)
        .bind(Ts(e.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    // Audit ---------------------------------------------------------------

    async fn append_audit(&mut self, ev: &NewAuditEvent) -> StoreResult<i64> {
        let key = self.chain_key()?;
        let link = Link::Keyed(&key);
        self.lock_chain().await?;
        // The chain's end as this process last wrote it is usually still the
        // end: append after it on condition that it is, in one statement. If
        // it is not (another process wrote, or that transaction rolled back),
        // nothing is written and the end is read, as it always may be.
        let guess = self
            .audit_tip
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((prev_seq, prev_hash)) = guess {
            let entry = audit_entry(ev, prev_seq + 1);
            let hash = entry.chain_hash(link, &prev_hash);
            let sql = format!(
                "INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT {AUDIT_VALUES} \
                 WHERE (SELECT max(seq) FROM audit_log) = $13 \
                 AND EXISTS (SELECT 1 FROM audit_log WHERE seq = $13 AND hash = $11)"
            );
            let written = tx!(self, |c| bind_audit(
                db::query(&sql),
                &entry,
                &prev_hash,
                &hash
            )
            .bind(prev_seq)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(db_err)?;
            if written == 1 {
                self.remember_audit_tip(entry.seq, hash.to_vec());
                return Ok(entry.seq);
            }
        }
        let last = self.chain_end().await?;
        let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_vec()));
        let entry = audit_entry(ev, prev_seq + 1);
        let hash = entry.chain_hash(link, &prev_hash);
        let sql = format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({AUDIT_VALUES})");
        tx!(self, |c| bind_audit(
            db::query(&sql),
            &entry,
            &prev_hash,
            &hash
        )
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        self.remember_audit_tip(entry.seq, hash.to_vec());
        Ok(entry.seq)
    }

    // Data returns: windows -----------------------------------------------

    async fn insert_window(&mut self, w: &WindowRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO collection_windows (id, area_slug, name, opens_at, closes_at, guidance, \
             file_types, created_by, created_at, column_rules, sign_off_required, reminder_days, \
             late_submissions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
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
        .bind(rules_text(&w.column_rules))
        .bind(w.sign_off_required)
        .bind(reminder_days_text(w))
        .bind(w.late_submissions)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_window(&mut self, w: &WindowRecord, now: OffsetDateTime) -> StoreResult<()> {
        // Moved to open later: announced again when it opens.
        let unannounce = w.opens_at > now;
        tx!(self, |c| db::query(
            "UPDATE collection_windows SET name = $2, opens_at = $3, closes_at = $4, guidance = $5, \
             file_types = $6, \
             opened_notice_sent_at = CASE WHEN $7 THEN NULL ELSE opened_notice_sent_at END, \
             column_rules = $8, sign_off_required = $9, reminder_days = $10, late_submissions = $11 \
             WHERE id = $1"
        )
        .bind(w.id)
        .bind(&w.name)
        .bind(Ts(w.opens_at))
        .bind(Ts(w.closes_at))
        .bind(&w.guidance)
        .bind(file_types(w))
        .bind(unannounce)
        .bind(rules_text(&w.column_rules))
        .bind(w.sign_off_required)
        .bind(reminder_days_text(w))
        .bind(w.late_submissions)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn close_window(&mut self, id: Uuid, now: OffsetDateTime) -> StoreResult<()> {
        tx!(self, |c| db::query(
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

    async fn claim_window_notice(
        &mut self,
        now: OffsetDateTime,
        skip: &[Uuid],
    ) -> StoreResult<Option<WindowRecord>> {
        // The sub-select picks a window; the outer condition makes the claim
        // conditional: on PostgreSQL a second transaction that picked the
        // same window waits for the first, then finds the mark set and
        // matches nothing (and with SKIP LOCKED it picks another instead).
        let skip_locked = match self.inner {
            TxInner::Sqlite(_) => "",
            TxInner::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let awaiting = window_awaiting_notice_sql(skip.len());
        let sql = format!(
            "UPDATE collection_windows SET opened_notice_sent_at = $1 \
             WHERE id = ({awaiting}{skip_locked}) \
             AND opened_notice_sent_at IS NULL RETURNING {WINDOW_COLUMNS}"
        );
        tx!(self, |c| {
            let mut q = db::query_as::<WindowRow>(&sql).bind(Ts(now));
            for id in skip {
                q = q.bind(*id);
            }
            q.fetch_optional(&mut *c).await
        })
        .map_err(db_err)?
        .map(WindowRecord::try_from)
        .transpose()
    }

    // Data returns: submissions -------------------------------------------

    async fn latest_submission_for_update(
        &mut self,
        window: Uuid,
        org: OrgId,
    ) -> StoreResult<Option<SubmissionRecord>> {
        let lock = self.for_update();
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE window_id = $1 AND organisation_id = $2 \
             ORDER BY version DESC LIMIT 1{lock}"
        );
        let row = tx!(self, |c| db::query_as::<SubmissionRow>(&sql)
            .bind(window)
            .bind(org.0)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        self.complete_submission(row).await.map(Some)
    }

    async fn insert_submission(&mut self, s: &NewSubmission) -> StoreResult<()> {
        let submitted = s.status != SubmissionStatus::Draft;
        tx!(self, |c| db::query(
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

    async fn insert_file(&mut self, f: &FileRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
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

    async fn attach_file(&mut self, submission: Uuid, file: Uuid) -> StoreResult<()> {
        tx!(self, |c| db::query(
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

    async fn submit(&mut self, id: Uuid, how: &store::Submit<'_>) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "UPDATE submissions SET status = 'submitted', note = $2, submitted_by = $3, submitted_at = $4, \
             explanation = $5, late_reason = $6 WHERE id = $1 AND status = 'draft'"
        )
        .bind(id)
        .bind(how.note)
        .bind(how.by.0)
        .bind(Ts(how.at))
        .bind(how.explanation)
        .bind(how.late_reason)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_file_check(
        &mut self,
        check: &store::FileCheckRecord,
        findings: &[domain::checks::Finding],
    ) -> StoreResult<()> {
        let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        tx!(self, |c| db::query(
            "INSERT INTO file_checks (file_id, rules, data_rows, errors, warnings, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(check.file_id)
        .bind(rules_text(&check.rules))
        .bind(big(check.data_rows))
        .bind(big(check.errors))
        .bind(big(check.warnings))
        .bind(Ts(check.checked_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        for (seq, r) in check.rule_counts.iter().enumerate() {
            tx!(self, |c| db::query(
                "INSERT INTO file_check_rules (file_id, seq, severity, rule, column_name, hits, first_row) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(check.file_id)
            .bind(seq as i64)
            .bind(r.severity.as_str())
            .bind(&r.rule)
            .bind(&r.column)
            .bind(big(r.count))
            .bind(r.first_row.map(big))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))
            .map_err(db_err)?;
        }
        // Many rows per statement: a report keeps up to FINDINGS_KEPT.
        for (n, chunk) in findings.chunks(ROWS_PER_STATEMENT.min(100)).enumerate() {
            let base = n * ROWS_PER_STATEMENT.min(100);
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO file_findings (file_id, seq, severity, rule, row_no, column_name, message) \
                 VALUES {}",
                values.join(", ")
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for (i, f) in chunk.iter().enumerate() {
                    q = q
                        .bind(check.file_id)
                        .bind((base + i) as i64)
                        .bind(f.severity.as_str())
                        .bind(&f.rule)
                        .bind(f.row.map(big))
                        .bind(&f.column)
                        .bind(&f.message);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn sign_off(&mut self, id: Uuid, by: UserId, now: OffsetDateTime) -> StoreResult<bool> {
        let n = tx!(self, |c| db::query(
            "UPDATE submissions SET signed_off_by = $2, signed_off_at = $3 \
             WHERE id = $1 AND status = 'submitted' AND signed_off_at IS NULL"
        )
        .bind(id)
        .bind(by.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn submission(&mut self, id: Uuid) -> StoreResult<Option<SubmissionRecord>> {
        let lock = self.for_update();
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1{lock}");
        let row = tx!(self, |c| db::query_as::<SubmissionRow>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        self.complete_submission(row).await.map(Some)
    }

    async fn latest_statuses(
        &mut self,
        window: Uuid,
    ) -> StoreResult<Vec<(OrgId, SubmissionStatus)>> {
        let rows: Vec<(Uuid, String)> = tx!(self, |c| db::query_as(
            "SELECT s.organisation_id, s.status FROM submissions s WHERE s.window_id = $1 \
             AND s.version = (SELECT MAX(x.version) FROM submissions x \
             WHERE x.window_id = s.window_id AND x.organisation_id = s.organisation_id)"
        )
        .bind(window)
        .fetch_all(&mut *c)
        .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(org, status)| {
                SubmissionStatus::parse(&status)
                    .map(|s| (OrgId(org), s))
                    .ok_or_else(|| corrupt("submission status", &status))
            })
            .collect()
    }

    async fn insert_query(&mut self, q: &store::QueryRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO submission_queries (id, submission_id, window_id, organisation_id, subject, \
             raised_by, raised_at, closed_by, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(q.id)
        .bind(q.submission_id)
        .bind(q.window_id)
        .bind(q.organisation_id.0)
        .bind(&q.subject)
        .bind(q.raised_by.0)
        .bind(Ts(q.raised_at))
        .bind(q.closed_by.map(|u| u.0))
        .bind(q.closed_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        for m in &q.messages {
            self.insert_query_message(q.id, m).await?;
        }
        Ok(())
    }

    async fn query_for_update(&mut self, id: Uuid) -> StoreResult<Option<store::QueryRecord>> {
        let lock = self.for_update();
        let sql = format!("SELECT {QUERY_COLUMNS} FROM submission_queries q WHERE q.id = $1{lock}");
        let row = tx!(self, |c| db::query_as::<QueryRow>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let messages = tx!(self, |c| db::query_as::<QueryMessageRow>(
            "SELECT query_id, id, author, body, created_at FROM query_messages \
             WHERE query_id = $1 ORDER BY created_at, id"
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await)
        .map_err(db_err)?;
        Ok(queries_with_messages(vec![row], messages).pop())
    }

    async fn insert_query_message(
        &mut self,
        query: Uuid,
        m: &store::QueryMessageRecord,
    ) -> StoreResult<()> {
        tx!(self, |c| db::query(
            "INSERT INTO query_messages (id, query_id, author, body, created_at) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(m.id)
        .bind(query)
        .bind(m.author.0)
        .bind(&m.body)
        .bind(Ts(m.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn close_query(
        &mut self,
        id: Uuid,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n = tx!(self, |c| db::query(
            "UPDATE submission_queries SET closed_by = $2, closed_at = $3 \
             WHERE id = $1 AND closed_at IS NULL"
        )
        .bind(id)
        .bind(by.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn window_for_update(&mut self, id: Uuid) -> StoreResult<Option<WindowRecord>> {
        let lock = self.for_update();
        let sql = format!("SELECT {WINDOW_COLUMNS} FROM collection_windows WHERE id = $1{lock}");
        let row = tx!(self, |c| db::query_as::<WindowRow>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        row.map(WindowRecord::try_from).transpose()
    }

    async fn claim_reminder(
        &mut self,
        window: Uuid,
        days_before: u32,
        closes_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        // On PostgreSQL a second transaction inserting the same key waits for
        // the first and then does nothing; SQLite has one writer.
        let n = tx!(self, |c| db::query(
            "INSERT INTO window_reminders (window_id, days_before, closes_at, sent_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (window_id, days_before, closes_at) DO NOTHING"
        )
        .bind(window)
        .bind(i64::from(days_before))
        .bind(Ts(closes_at))
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn set_submission_status(
        &mut self,
        id: Uuid,
        status: SubmissionStatus,
        comment: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        tx!(self, |c| db::query(
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

    // Data returns: documents ---------------------------------------------

    async fn insert_document(&mut self, d: &DocumentRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
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
            tx!(self, |c| db::query(
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

    // Data returns: feedback ----------------------------------------------

    async fn insert_feedback(&mut self, f: &FeedbackRecord) -> StoreResult<()> {
        tx!(self, |c| db::query(
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

    // Legacy import (bulk) ------------------------------------------------
    //
    // `portal import-legacy` writes up to a million users in one transaction,
    // which must take well under a minute: nothing here makes a round trip per
    // row. Look-ups use `IN (…)` lists and writes use multi-row `INSERT …
    // VALUES (…), (…)` and `WITH v AS (VALUES …) UPDATE … FROM v`,
    // [`ROWS_PER_STATEMENT`] rows at a time (see `bulk.rs`).

    async fn refresh_statistics(&mut self) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            db::query("ANALYZE users, user_roles, organisations")
                .execute(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn organisations_by_ukprns(
        &mut self,
        ukprns: &[domain::Ukprn],
    ) -> StoreResult<Vec<store::OrganisationRecord>> {
        let mut out = Vec::new();
        for chunk in ukprns.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {ORG_COLUMNS} FROM organisations WHERE ukprn IN {}",
                self.values(chunk.len(), 1)
            );
            let rows = tx!(self, |c| {
                let mut q = db::query_as::<OrgRow>(&sql);
                for u in chunk {
                    q = q.bind(u.as_str());
                }
                q.fetch_all(&mut *c).await
            })
            .map_err(db_err)?;
            for r in rows {
                out.push(OrganisationRecord::try_from(r)?);
            }
        }
        Ok(out)
    }

    async fn insert_organisations(&mut self, orgs: &[NewOrganisation]) -> StoreResult<()> {
        for chunk in orgs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO organisations (id, kind, name, ukprn, accountable_officer_name, \
                 accountable_officer_email, created_at) VALUES {}",
                self.values(7, chunk.len())
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for o in chunk {
                    q = q
                        .bind(o.id.0)
                        .bind(o.kind.as_str())
                        .bind(&o.name)
                        .bind(o.ukprn.as_ref().map(|u| u.as_str()))
                        .bind(o.accountable_officer_name.as_deref())
                        .bind(o.accountable_officer_email.as_ref().map(|e| e.as_str()))
                        .bind(Ts(o.created_at));
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn accounts_by_emails(
        &mut self,
        emails_norm: &[String],
    ) -> StoreResult<Vec<store::ImportedAccount>> {
        type AccountRow = (Uuid, Uuid, String, String, String, String, Option<Ts>, bool);
        let mut out = Vec::new();
        for chunk in emails_norm.chunks(ROWS_PER_STATEMENT) {
            // Only the columns the import compares, read by position: reading a
            // hundred thousand full user rows by column name costs seconds.
            let users_sql = format!(
                "SELECT id, organisation_id, email_norm, title, first_name, last_name, expires_at, \
                 locked FROM users WHERE email_norm IN {}",
                self.values(chunk.len(), 1)
            );
            let users = tx!(self, |c| {
                let mut q = db::query_as::<AccountRow>(&users_sql);
                for e in chunk {
                    q = q.bind(e.as_str());
                }
                q.fetch_all(&mut *c).await
            })
            .map_err(db_err)?;
            if users.is_empty() {
                continue;
            }
            // By id, not by a sub-select on the addresses: PostgreSQL plans that
            // as a scan of every role.
            let roles_sql = format!(
                "SELECT user_id, role_id FROM user_roles WHERE user_id IN {}",
                self.values(users.len(), 1)
            );
            let roles = tx!(self, |c| {
                let mut q = db::query_as::<(Uuid, String)>(&roles_sql);
                for u in &users {
                    q = q.bind(u.0);
                }
                q.fetch_all(&mut *c).await
            })
            .map_err(db_err)?;
            let mut by_user: HashMap<Uuid, Vec<Role>> = HashMap::new();
            for (user, role) in roles {
                let parsed = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("role: {role:?}")))?;
                by_user.entry(user).or_default().push(parsed);
            }
            for (id, org, email_norm, title, first_name, last_name, expires_at, locked) in users {
                out.push(ImportedAccount {
                    id: UserId(id),
                    organisation_id: OrgId(org),
                    email_norm,
                    title,
                    first_name,
                    last_name,
                    expires_at: expires_at.map(|t| t.0),
                    locked,
                    roles: by_user.remove(&id).unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    async fn insert_imported_users(&mut self, users: &[store::ImportedUser]) -> StoreResult<()> {
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO users (id, organisation_id, title, first_name, last_name, email, \
                 email_norm, expires_at, locked, created_at) VALUES {}",
                self.values(10, chunk.len())
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for u in chunk {
                    q = q
                        .bind(u.id.0)
                        .bind(u.organisation_id.0)
                        .bind(&u.title)
                        .bind(&u.first_name)
                        .bind(&u.last_name)
                        .bind(u.email.as_str())
                        .bind(u.email.normalised())
                        .bind(u.expires_at.map(Ts))
                        .bind(u.locked)
                        .bind(Ts(u.created_at));
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn update_imported_users(&mut self, users: &[store::ImportedUser]) -> StoreResult<()> {
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "WITH v (id, title, first_name, last_name, expires_at, locked) AS (VALUES {}) \
                 UPDATE users SET title = v.title, first_name = v.first_name, \
                 last_name = v.last_name, expires_at = v.expires_at, locked = v.locked \
                 FROM v WHERE users.id = v.id",
                self.values(6, chunk.len())
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for u in chunk {
                    q = q
                        .bind(u.id.0)
                        .bind(&u.title)
                        .bind(&u.first_name)
                        .bind(&u.last_name)
                        .bind(u.expires_at.map(Ts))
                        .bind(u.locked);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn grant_roles(&mut self, grants: &[NewRoleGrant]) -> StoreResult<u64> {
        let mut granted = 0;
        for chunk in grants.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO user_roles (user_id, role_id, area_slug, granted_by, granted_at) \
                 VALUES {} ON CONFLICT (user_id, role_id) DO NOTHING",
                self.values(5, chunk.len())
            );
            granted += tx!(self, |c| {
                let mut q = db::query(&sql);
                for g in chunk {
                    q = q
                        .bind(g.user_id.0)
                        .bind(g.role.id())
                        .bind(g.role.area().map(|a| a.as_str().to_owned()))
                        .bind(g.granted_by.map(|u| u.0))
                        .bind(Ts(g.granted_at));
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(granted)
    }

    async fn enqueue_emails(&mut self, emails: &[NewEmail]) -> StoreResult<()> {
        for chunk in emails.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO outbox (id, to_address, subject, body, created_at, next_attempt_at) \
                 VALUES {}",
                self.values(6, chunk.len())
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for e in chunk {
                    q = q
                        .bind(e.id.0)
                        .bind(&e.to)
                        .bind(&e.subject)
                        .bind(&e.body)
                        .bind(Ts(e.created_at))
                        .bind(Ts(e.created_at));
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn append_audit_bulk(&mut self, events: &[NewAuditEvent]) -> StoreResult<()> {
        // The same key, lock and chain as `append_audit`, the tip read once.
        let key = self.chain_key()?;
        let link = Link::Keyed(&key);
        self.lock_chain().await?;
        let last = self.chain_end().await?;
        let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_vec()));
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<(AuditEntry, Vec<u8>, [u8; 32])> = chunk
                .iter()
                .map(|ev| {
                    seq += 1;
                    let entry = audit_entry(ev, seq);
                    let hash = entry.chain_hash(link, &prev);
                    let before = std::mem::replace(&mut prev, hash.to_vec());
                    (entry, before, hash)
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {}",
                self.values(12, rows.len())
            );
            tx!(self, |c| {
                let mut q = db::query(&sql);
                for (entry, before, hash) in &rows {
                    q = bind_audit(q, entry, before, hash);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })
            .map_err(db_err)?;
        }
        if !events.is_empty() {
            self.remember_audit_tip(seq, prev);
        }
        Ok(())
    }
}

const AUDIT_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12";

/// The row `ev` becomes at position `seq` of the chain.
fn audit_entry(ev: &NewAuditEvent, seq: i64) -> AuditEntry {
    AuditEntry {
        seq,
        // Stored with microsecond precision: hash what will be read back.
        at: ev
            .at
            .replace_nanosecond(ev.at.nanosecond() / 1_000 * 1_000)
            .unwrap_or(ev.at),
        actor_id: ev.actor_id.map(|u| u.0),
        organisation_id: ev.organisation_id.map(|o| o.0),
        action: ev.action.clone(),
        target: ev.target.clone(),
        outcome: ev.outcome,
        detail: ev.detail.clone(),
        request_id: ev.request_id.clone(),
        ip: ev.ip.clone(),
    }
}

/// Binds `$1`..`$12` of [`AUDIT_VALUES`].
fn bind_audit<'q, O>(
    q: db::Q<'q, O>,
    entry: &'q AuditEntry,
    prev_hash: &'q [u8],
    hash: &'q [u8],
) -> db::Q<'q, O> {
    q.bind(entry.seq)
        .bind(Ts(entry.at))
        .bind(entry.actor_id)
        .bind(entry.organisation_id)
        .bind(entry.action.as_str())
        .bind(entry.target.as_deref())
        .bind(entry.outcome.as_str())
        .bind(entry.detail.as_str())
        .bind(entry.request_id.as_deref())
        .bind(entry.ip.as_deref())
        .bind(prev_hash)
        .bind(hash)
}
