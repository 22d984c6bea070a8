//! Write transactions.

use async_trait::async_trait;
use domain::audit::{AuditEntry, GENESIS};
use domain::{AttemptId, OrgId, Role, Ukprn, UserId};
use store::{
    AttemptRecord, NewAttempt, NewAuditEvent, NewEmail, NewOrganisation, NewRoleGrant, NewSession,
    NewUser, NewUserRequest, OrganisationRecord, RoleGrant, StoreResult, StoreTx, UserDetails,
    UserRecord,
};
use time::OffsetDateTime;

use crate::db_err;
use crate::rows::*;
use crate::ts::Ts;

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

pub(crate) struct SqlTx {
    pub(crate) inner: TxInner,
    pub(crate) audit_tip: crate::connect::AuditTip,
}

impl SqlTx {
    /// Row locks exist only on PostgreSQL; SQLite's write transaction already
    /// holds the whole database.
    fn for_update(&self) -> &'static str {
        match self.inner {
            TxInner::Sqlite(_) => "",
            TxInner::Postgres(_) => " FOR UPDATE",
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
            UserKey::Id(id) => tx!(self, |c| sqlx::query_as::<_, UserRow>(&sql)
                .bind(id.0)
                .fetch_optional(&mut *c)
                .await),
            UserKey::Email(e) => tx!(self, |c| sqlx::query_as::<_, UserRow>(&sql)
                .bind(e)
                .fetch_optional(&mut *c)
                .await),
        }
        .map_err(db_err)?;
        Ok(row.map(UserRecord::from))
    }
}

enum UserKey<'a> {
    Id(UserId),
    Email(&'a str),
}

#[async_trait]
impl StoreTx for SqlTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Postgres(t) => t.commit().await,
        }
        .map_err(db_err)
    }

    async fn insert_organisation(&mut self, org: &NewOrganisation) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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

    async fn insert_user(&mut self, user: &NewUser) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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

    async fn grant_role(&mut self, grant: &NewRoleGrant) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query(
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
        let rows = tx!(self, |c| sqlx::query_as::<_, RoleRow>(
            "SELECT r.role_id, a.name AS area_name FROM user_roles r \
             LEFT JOIN areas a ON a.slug = r.area_slug WHERE r.user_id = $1 ORDER BY r.role_id"
        )
        .bind(user.0)
        .fetch_all(&mut *c)
        .await)
        .map_err(db_err)?;
        rows.into_iter().map(RoleGrant::try_from).collect()
    }

    async fn user(&mut self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = tx!(self, |c| sqlx::query_as::<_, UserRow>(&sql)
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        Ok(row.map(UserRecord::from))
    }

    async fn organisation(&mut self, id: OrgId) -> StoreResult<Option<OrganisationRecord>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1");
        tx!(self, |c| sqlx::query_as::<_, OrgRow>(&sql)
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
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE ukprn = $1");
        tx!(self, |c| sqlx::query_as::<_, OrgRow>(&sql)
            .bind(ukprn.as_str())
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?
        .map(OrganisationRecord::try_from)
        .transpose()
    }

    async fn areas(&mut self) -> StoreResult<Vec<domain::role::Area>> {
        let rows = tx!(self, |c| sqlx::query_as::<_, AreaRow>(AREAS_SQL)
            .fetch_all(&mut *c)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(domain::role::Area::try_from).collect()
    }

    async fn access_key(&mut self, id: uuid::Uuid) -> StoreResult<Option<store::AccessKeyRecord>> {
        let sql = format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE id = $1");
        let row = tx!(self, |c| sqlx::query_as::<_, AccessKeyRow>(&sql)
            .bind(id)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        row.map(store::AccessKeyRecord::try_from).transpose()
    }

    async fn lock_organisation(&mut self, org: OrgId) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
                .bind(org.0)
                .fetch_optional(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn portal_admins_with_access(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
        except: UserId,
    ) -> StoreResult<i64> {
        tx!(self, |c| sqlx::query_scalar::<_, i64>(
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

    async fn update_user_details(&mut self, user: UserId, d: &UserDetails) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query(
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

    async fn insert_user_request(&mut self, r: &NewUserRequest) -> StoreResult<()> {
        let roles = r.roles.iter().map(Role::id).collect::<Vec<_>>().join(",");
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query_scalar::<_, uuid::Uuid>(
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
        tx!(self, |c| sqlx::query_as::<_, RequestRow>(&sql)
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
        tx!(self, |c| sqlx::query(
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

    async fn set_password(&mut self, user: UserId, hash: &str) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query_scalar::<_, Option<String>>(
            "SELECT password_hash FROM users WHERE id = $1"
        )
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await)
        .map(Option::flatten)
        .map_err(db_err)
    }

    async fn add_password_failure(&mut self, user: UserId) -> StoreResult<i64> {
        tx!(self, |c| sqlx::query_scalar::<_, i64>(
            "UPDATE users SET password_failures = password_failures + 1 WHERE id = $1 \
             RETURNING password_failures"
        )
        .bind(user.0)
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn lock_account(&mut self, user: UserId) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "UPDATE users SET locked = TRUE, password_failures = 0 WHERE id = $1"
        )
        .bind(user.0)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_area(&mut self, area: &domain::role::Area) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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

    async fn insert_access_key(&mut self, key: &store::NewAccessKey) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        let row = tx!(self, |c| sqlx::query_as::<_, AccessKeyRow>(&sql)
            .bind(key_hash)
            .fetch_optional(&mut *c)
            .await)
        .map_err(db_err)?;
        row.map(store::AccessKeyRecord::try_from).transpose()
    }

    async fn use_access_key(&mut self, id: uuid::Uuid) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        let n = tx!(self, |c| sqlx::query(
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

    async fn insert_window(&mut self, window: &store::WindowRecord) -> StoreResult<()> {
        self.insert_window_impl(window).await
    }

    async fn update_window(&mut self, window: &store::WindowRecord) -> StoreResult<()> {
        self.update_window_impl(window).await
    }

    async fn close_window(&mut self, id: uuid::Uuid, now: OffsetDateTime) -> StoreResult<()> {
        self.close_window_impl(id, now).await
    }

    async fn latest_submission_for_update(
        &mut self,
        window: uuid::Uuid,
        org: OrgId,
    ) -> StoreResult<Option<store::SubmissionRecord>> {
        self.latest_submission_for_update_impl(window, org).await
    }

    async fn insert_submission(&mut self, submission: &store::NewSubmission) -> StoreResult<()> {
        self.insert_submission_impl(submission).await
    }

    async fn insert_file(&mut self, file: &store::FileRecord) -> StoreResult<()> {
        self.insert_file_impl(file).await
    }

    async fn attach_file(&mut self, submission: uuid::Uuid, file: uuid::Uuid) -> StoreResult<()> {
        self.attach_file_impl(submission, file).await
    }

    async fn submit(
        &mut self,
        submission: uuid::Uuid,
        note: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.submit_impl(submission, note, by, now).await
    }

    async fn set_submission_status(
        &mut self,
        submission: uuid::Uuid,
        status: domain::collection::SubmissionStatus,
        comment: &str,
        by: UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.set_submission_status_impl(submission, status, comment, by, now)
            .await
    }

    async fn insert_document(&mut self, document: &store::DocumentRecord) -> StoreResult<()> {
        self.insert_document_impl(document).await
    }

    async fn insert_feedback(&mut self, feedback: &store::FeedbackRecord) -> StoreResult<()> {
        self.insert_feedback_impl(feedback).await
    }

    async fn add_sign_in_failure(&mut self, user: UserId) -> StoreResult<i64> {
        tx!(self, |c| sqlx::query_scalar::<_, i64>(
            "UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE id = $1 RETURNING failed_sign_ins"
        )
        .bind(user.0)
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)
    }

    async fn lock_sign_in(&mut self, user: UserId, until: OffsetDateTime) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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
        tx!(self, |c| sqlx::query(
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

    async fn codes_sent_since(
        &mut self,
        email_norm: &str,
        since: OffsetDateTime,
    ) -> StoreResult<i64> {
        tx!(self, |c| sqlx::query_scalar::<_, i64>(
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
        tx!(self, |c| sqlx::query(
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
        let row = tx!(self, |c| sqlx::query_as::<_, AttemptRow>(
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
        let done = tx!(self, |c| sqlx::query(
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

    async fn insert_session(&mut self, s: &NewSession) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, kind, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)"
        )
        .bind(&s.token_hash)
        .bind(s.user_id.0)
        .bind(s.kind.as_str())
        .bind(Ts(s.created_at))
        .execute(&mut *c)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn end_session(&mut self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<bool> {
        let done = tx!(self, |c| sqlx::query(
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
        let done = tx!(self, |c| sqlx::query(
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

    async fn enqueue_email(&mut self, e: &NewEmail) -> StoreResult<()> {
        tx!(self, |c| sqlx::query(
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

    async fn append_audit(&mut self, ev: &NewAuditEvent) -> StoreResult<i64> {
        // The chain needs one writer at a time: PostgreSQL takes a transaction-scoped
        // advisory lock (released at commit); SQLite's write transaction already is one.
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("SELECT pg_advisory_xact_lock(7262001)")
                .execute(&mut **t)
                .await
                .map_err(db_err)?;
        }
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
            let hash = entry.chain_hash(&prev_hash);
            let sql = format!(
                "INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT {AUDIT_VALUES} \
                 WHERE (SELECT max(seq) FROM audit_log) = $13 \
                 AND EXISTS (SELECT 1 FROM audit_log WHERE seq = $13 AND hash = $11)"
            );
            let written = tx!(self, |c| bind_audit(
                sqlx::query(&sql),
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
        let last = tx!(self, |c| sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        )
        .fetch_optional(&mut *c)
        .await)
        .map_err(db_err)?;
        let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_vec()));
        let entry = audit_entry(ev, prev_seq + 1);
        let hash = entry.chain_hash(&prev_hash);
        let sql = format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({AUDIT_VALUES})");
        tx!(self, |c| bind_audit(
            sqlx::query(&sql),
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

    // Legacy import (bulk): see import.rs.

    async fn refresh_statistics(&mut self) -> StoreResult<()> {
        self.bulk_refresh_statistics().await
    }

    async fn organisations_by_ukprns(
        &mut self,
        ukprns: &[domain::Ukprn],
    ) -> StoreResult<Vec<store::OrganisationRecord>> {
        self.bulk_organisations_by_ukprns(ukprns).await
    }

    async fn insert_organisations(&mut self, orgs: &[NewOrganisation]) -> StoreResult<()> {
        self.bulk_insert_organisations(orgs).await
    }

    async fn accounts_by_emails(
        &mut self,
        emails_norm: &[String],
    ) -> StoreResult<Vec<store::ImportedAccount>> {
        self.bulk_accounts_by_emails(emails_norm).await
    }

    async fn insert_imported_users(&mut self, users: &[store::ImportedUser]) -> StoreResult<()> {
        self.bulk_insert_users(users).await
    }

    async fn update_imported_users(&mut self, users: &[store::ImportedUser]) -> StoreResult<()> {
        self.bulk_update_users(users).await
    }

    async fn grant_roles(&mut self, grants: &[NewRoleGrant]) -> StoreResult<u64> {
        self.bulk_grant_roles(grants).await
    }

    async fn enqueue_emails(&mut self, emails: &[NewEmail]) -> StoreResult<()> {
        self.bulk_enqueue_emails(emails).await
    }
}

const AUDIT_COLUMNS: &str = "seq, at, actor_id, organisation_id, action, target, outcome, detail, \
     request_id, ip, prev_hash, hash";
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
fn bind_audit<'q, DB>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    entry: &'q AuditEntry,
    prev_hash: &'q [u8],
    hash: &'q [u8],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Ts: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<uuid::Uuid>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
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

impl SqlTx {
    fn remember_audit_tip(&self, seq: i64, hash: Vec<u8>) {
        *self.audit_tip.lock().unwrap_or_else(|e| e.into_inner()) = Some((seq, hash));
    }
}
