//! `impl Store for SqlStore`: reads, and the few writes that are their own
//! transaction (the outbox worker's, `touch_session`). Every method holds its
//! own SQL; sections follow the features in the same order as `tx_impl.rs`.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::audit::ChainKey;
use domain::ids::MessageId;
use domain::{AreaSlug, OrgId, Ukprn, UserId};
use store::{
    AuditRecord, ChainEpoch, DocumentRecord, FeedbackRecord, FileRecord, OrganisationRecord,
    OutboxMessage, RoleGrant, SessionWithUser, Snapshot, Store, StoreError, StoreResult, StoreTx,
    UserFilter, UserRecord, UserSort, UserSortKey, UserWithRoles, WindowRecord,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::connect::{Backend, SqlStore};
use crate::db;
use crate::db_err;
use crate::rows::*;
use crate::ts::Ts;
use crate::tx_impl::{SqlTx, TxInner};

/// The `ORDER BY` of a user list. Only these fixed texts reach the SQL: the
/// sort is an enum parsed at the edge, never text from a request. Ties on the
/// column go by name (ascending), then id, so the order is total and paging is
/// stable; sorting by name descending is the exact reverse of ascending.
fn user_order(sort: UserSort) -> String {
    const NAME: &str = "lower(u.last_name), lower(u.first_name), u.id";
    match (sort.key, sort.descending) {
        (UserSortKey::Name, false) => NAME.to_owned(),
        (UserSortKey::Name, true) => {
            "lower(u.last_name) DESC, lower(u.first_name) DESC, u.id DESC".to_owned()
        }
        // "Never" is the oldest: first going up, last coming down.
        (UserSortKey::LastSignedIn, false) => {
            format!("u.last_signed_in_at ASC NULLS FIRST, {NAME}")
        }
        (UserSortKey::LastSignedIn, true) => {
            format!("u.last_signed_in_at DESC NULLS LAST, {NAME}")
        }
        (UserSortKey::Status(_), descending) => {
            let direction = if descending { "DESC" } else { "ASC" };
            format!("{} {direction}, {NAME}", status_rank_sql())
        }
    }
}

/// A user's status ([`domain::user::AccountState::status`], the same tests in
/// the same order) as its rank among the labels in alphabetical order, worked
/// out at `$7`.
fn status_rank_sql() -> String {
    use domain::user::UserStatus::{Active, Disabled, Expired, Invited, Locked};
    let rank = |status: domain::user::UserStatus| {
        // Every status is listed below: a new one fails to compile here.
        match status {
            Invited | Active | Disabled | Locked | Expired => {}
        }
        let mut labels = [Invited, Active, Disabled, Locked, Expired].map(|s| s.label());
        labels.sort_unstable();
        labels
            .iter()
            .position(|l| *l == status.label())
            .unwrap_or(0)
    };
    format!(
        "CASE WHEN NOT u.access_enabled THEN {} \
         WHEN u.expires_at IS NOT NULL AND u.expires_at <= $7 THEN {} \
         WHEN u.locked OR (u.locked_until IS NOT NULL AND u.locked_until > $7) THEN {} \
         WHEN u.last_signed_in_at IS NULL THEN {} \
         ELSE {} END",
        rank(Disabled),
        rank(Expired),
        rank(Locked),
        rank(Invited),
        rank(Active)
    )
}

impl SqlStore {
    /// [`Store::open_audit_chain`], or with `adopt` [`Store::adopt_unkeyed_audit`].
    async fn keep_chain_with(
        &self,
        key: ChainKey,
        now: OffsetDateTime,
        adopt: Option<i64>,
    ) -> StoreResult<ChainEpoch> {
        let key_id = key.id();
        let mut tx = self.begin_sql().await?;
        // No row is appended while the stretch is decided, and replicas
        // starting together decide once.
        tx.lock_chain().await?;
        let latest: Vec<(i64, String, Vec<u8>, Ts)> = tx!(tx, |c| db::query_as(
            "SELECT from_seq, key_id, mac, created_at FROM audit_chain_keys \
             ORDER BY from_seq DESC LIMIT 2"
        )
        .fetch_all(&mut *c)
        .await)
        .map_err(db_err)?;
        let next: i64 = tx!(tx, |c| db::query_scalar::<i64>(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log"
        )
        .fetch_one(&mut *c)
        .await)
        .map_err(db_err)?;
        let refuse = |why: String| Err(StoreError::Corrupt(why));
        // Where the new stretch starts, and where the one before it started.
        let (from_seq, previous) = match (latest.first(), adopt) {
            (Some(_), Some(_)) => {
                return refuse("the audit chain is already kept with a key".into());
            }
            (None, Some(through)) if through != next - 1 => {
                return refuse(format!(
                    "the audit trail ends at row {}, not row {through}",
                    next - 1
                ));
            }
            (None, Some(_)) => (next, 0),
            (None, None) if next == 1 => (1, 0),
            (None, None) => {
                return refuse(format!(
                    "the audit trail has {n} rows but no record of the key that keeps it. If this \
                     database was last used by a version before the keyed chain, run \
                     `portal audit adopt-unkeyed --through {n}` once; otherwise the record was \
                     removed: investigate before going on (docs/decisions.md, \"The keyed audit chain\")",
                    n = next - 1
                ));
            }
            (Some((from, id, mac, at)), None) if *id == key_id => {
                let epoch = ChainEpoch {
                    from_seq: *from,
                    key_id: id.clone(),
                    mac: mac.clone(),
                    created_at: at.0,
                };
                Box::new(tx).commit().await?;
                *self.audit_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
                return Ok(epoch);
            }
            // A stretch no row was written under yet is taken over rather than
            // left empty.
            (Some((from, ..)), None) if *from >= next => {
                tx!(tx, |c| db::query(
                    "DELETE FROM audit_chain_keys WHERE from_seq = $1"
                )
                .bind(*from)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()))
                .map_err(db_err)?;
                (*from, latest.get(1).map_or(0, |l| l.0))
            }
            (Some((from, ..)), None) => (next, *from),
        };
        let epoch = ChainEpoch {
            from_seq,
            mac: key.epoch_mac(from_seq, &key_id, previous).to_vec(),
            key_id,
            created_at: now,
        };
        tx!(tx, |c| db::query(
            "INSERT INTO audit_chain_keys (from_seq, key_id, mac, created_at) \
             VALUES ($1, $2, $3, $4)"
        )
        .bind(epoch.from_seq)
        .bind(epoch.key_id.as_str())
        .bind(epoch.mac.as_slice())
        .bind(Ts(epoch.created_at))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Box::new(tx).commit().await?;
        *self.audit_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(epoch)
    }

    async fn begin_sql(&self) -> StoreResult<SqlTx> {
        // How long a transaction waited to start (a pool connection, and on
        // SQLite the write lock): the pool-saturation metric (issue 14).
        let started = std::time::Instant::now();
        let (pool, inner) = match &self.backend {
            // IMMEDIATE takes the write lock up front, so a transaction that reads
            // and then writes can never fail half-way for another writer's sake.
            Backend::Sqlite { writer, .. } => ("write", TxInner::Sqlite(writer.begin().await?)),
            Backend::Postgres(pool) => (
                "main",
                TxInner::Postgres(pool.begin().await.map_err(db_err)?),
            ),
        };
        metrics::histogram!("portal_db_begin_wait_seconds", "pool" => pool)
            .record(started.elapsed().as_secs_f64());
        Ok(SqlTx {
            inner,
            audit_tip: self.audit_tip.clone(),
            audit_key: self.audit_key.clone(),
        })
    }
}

#[async_trait]
impl Store for SqlStore {
    // Connection ----------------------------------------------------------

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(self.begin_sql().await?))
    }

    async fn ping(&self) -> StoreResult<()> {
        read!(self, |ex| db::query("SELECT 1")
            .execute(ex)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    // Sessions ------------------------------------------------------------

    async fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionWithUser>> {
        // One round trip: the session, its user, their organisation and one
        // row per role (a request's whole permission snapshot, read fresh).
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| {
            format!(
                "SELECT {}, {}, {}, r.role_id, a.name AS area_name FROM sessions s \
                 JOIN users u ON u.id = s.user_id \
                 JOIN organisations o ON o.id = u.organisation_id \
                 LEFT JOIN user_roles r ON r.user_id = u.id \
                 LEFT JOIN areas a ON a.slug = r.area_slug \
                 WHERE s.token_hash = $1 ORDER BY r.role_id",
                prefixed("s", "s", SESSION_COLUMNS),
                prefixed("u", "u", USER_COLUMNS),
                prefixed("o", "o", ORG_COLUMNS),
            )
        });
        let rows = read!(self, |ex| db::query_as::<SessionSnapshotRow>(sql)
            .bind(token_hash)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let mut roles = Vec::with_capacity(rows.len());
        let mut first = None;
        for row in rows {
            if let Some(role) = row.role {
                roles.push(RoleGrant::try_from(role)?);
            }
            if first.is_none() {
                first = Some((row.session, row.user, row.organisation));
            }
        }
        let Some((session, user, organisation)) = first else {
            return Ok(None);
        };
        Ok(Some(SessionWithUser {
            session: session.try_into()?,
            user: user.try_into()?,
            organisation: organisation.try_into()?,
            roles,
        }))
    }

    async fn touch_session(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<()> {
        // Waits for its sync: the idle timeout of the session's next request,
        // read by a reader, must see it (it is written once a minute at most).
        write!(self, |ex| db::query(
            "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND ended_at IS NULL AND last_seen_at < $2"
        )
        .bind(token_hash)
        .bind(Ts(now))
        .execute(ex)
        .await.map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
        started_after: OffsetDateTime,
    ) -> StoreResult<Vec<store::SessionRecord>> {
        let rows = read!(self, |ex| db::query_as::<SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL \
             AND (expires_at > $2 OR (expires_at IS NULL AND created_at > $3)) \
             ORDER BY created_at DESC, id"
        ))
        .bind(user.0)
        .bind(Ts(now))
        .bind(Ts(started_after))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(store::SessionRecord::try_from)
            .collect()
    }

    // Users and their roles -----------------------------------------------

    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row = read!(self, |ex| db::query_as::<UserRow>(&USER_BY_ID_SQL)
            .bind(id.0)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn user_by_email(&self, email_norm: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1");
        let row = read!(self, |ex| db::query_as::<UserRow>(&sql)
            .bind(email_norm)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn user_roles(&self, user: UserId) -> StoreResult<Vec<RoleGrant>> {
        let rows = read!(self, |ex| db::query_as::<RoleRow>(USER_ROLES_SQL)
            .bind(user.0)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(RoleGrant::try_from).collect()
    }

    async fn list_users(
        &self,
        org: OrgId,
        filter: &UserFilter,
    ) -> StoreResult<(Vec<UserWithRoles>, i64)> {
        // One filter for the page and the count.
        // Searching is by prefix: the address, the last name or "first last"
        // (which covers the first name) starts with the text, ignoring case.
        // Each is a range on its own index (migration 20261202000004), so a
        // search reads the matches, not every user of the provider. PostgreSQL
        // compares in the "C" collation, where a range is exactly a prefix.
        let c = match self.backend {
            Backend::Sqlite { .. } => "",
            Backend::Postgres(_) => " COLLATE \"C\"",
        };
        let search =
            |expr: &str| format!("(u.organisation_id = $1 AND {expr}{c} >= $2 AND {expr}{c} < $3)");
        let text = if filter.q.as_deref().is_some_and(|q| !q.trim().is_empty()) {
            format!(
                "({} OR {} OR {})",
                search("u.email_norm"),
                search("lower(u.last_name)"),
                search("lower(u.first_name || ' ' || u.last_name)")
            )
        } else {
            // Both bounds are NULL: listing, in name order, by the name index.
            "u.organisation_id = $1 AND $2 IS NULL AND $3 IS NULL".to_owned()
        };
        let matching = format!(
            "FROM users u WHERE {text} \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM user_roles f WHERE f.user_id = u.id AND f.role_id = $4))"
        );
        let order = format!("ORDER BY {} LIMIT $5 OFFSET $6", user_order(filter.sort));
        // Sorting by status works each status out at the list's moment ($7).
        let at = match filter.sort.key {
            UserSortKey::Status(at) => Some(Ts(at)),
            UserSortKey::Name | UserSortKey::LastSignedIn => None,
        };
        let low = filter
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        // Above every text that starts with `low` (U+10FFFF sorts after every
        // character, byte-wise and in "C").
        let high = low.as_ref().map(|l| format!("{l}\u{10FFFF}"));
        let role = filter.role.as_deref().filter(|r| !r.is_empty());
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        // One statement: the page (the filter, sorted, limited), one row per
        // role of each of its users, and the count of every match, as the
        // session snapshot reads a user with their roles. The page keeps the
        // name `u`, so the same order sorts its rows again (a page's worth).
        let page_sql = format!(
            "SELECT u.*, r.role_id, a.name AS area_name, (SELECT COUNT(*) {matching}) AS total \
             FROM (SELECT {columns} {matching} {order}) u \
             LEFT JOIN user_roles r ON r.user_id = u.id \
             LEFT JOIN areas a ON a.slug = r.area_slug \
             ORDER BY {}, r.role_id",
            user_order(filter.sort)
        );
        let rows = read!(self, |ex| {
            let q = db::query_as::<UserListRow>(&page_sql)
                .bind(org.0)
                .bind(low.as_deref())
                .bind(high.as_deref())
                .bind(role)
                .bind(filter.limit)
                .bind(filter.offset);
            match at {
                Some(at) => q.bind(at).fetch_all(ex).await,
                None => q.fetch_all(ex).await,
            }
        })
        .map_err(db_err)?;
        let mut total = rows.first().map(|r| r.total);
        let mut items: Vec<UserWithRoles> = Vec::new();
        for row in rows {
            let UserListRow {
                user,
                role_id,
                area_name,
                ..
            } = row;
            if items.last().is_none_or(|last| last.user.id.0 != user.id()) {
                items.push(UserWithRoles {
                    user: UserRecord::try_from(user)?,
                    roles: Vec::new(),
                });
            }
            if let (Some(role_id), Some(last)) = (role_id, items.last_mut()) {
                last.roles
                    .push(RoleGrant::try_from(RoleRow { role_id, area_name })?);
            }
        }
        // A page past the last one has no rows to carry the count.
        if total.is_none() && filter.offset > 0 {
            let count_sql = format!("SELECT COUNT(*) {matching}");
            let counted = read!(self, |ex| db::query_scalar::<i64>(&count_sql)
                .bind(org.0)
                .bind(low.as_deref())
                .bind(high.as_deref())
                .bind(role)
                .fetch_one(ex)
                .await)
            .map_err(db_err)?;
            total = Some(counted);
        }
        Ok((items, total.unwrap_or(0)))
    }

    // Organisations -------------------------------------------------------

    async fn organisation(&self, id: OrgId) -> StoreResult<Option<OrganisationRecord>> {
        read!(self, |ex| db::query_as::<OrgRow>(&ORG_BY_ID_SQL)
            .bind(id.0)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?
        .map(OrganisationRecord::try_from)
        .transpose()
    }

    async fn organisation_by_ukprn(
        &self,
        ukprn: &Ukprn,
    ) -> StoreResult<Option<OrganisationRecord>> {
        read!(self, |ex| db::query_as::<OrgRow>(&ORG_BY_UKPRN_SQL)
            .bind(ukprn.as_str())
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?
        .map(OrganisationRecord::try_from)
        .transpose()
    }

    async fn organisation_count(&self) -> StoreResult<i64> {
        read!(self, |ex| db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM organisations"
        )
        .fetch_one(ex)
        .await)
        .map_err(db_err)
    }

    async fn list_organisations(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<OrganisationRecord>, i64)> {
        let sql = format!(
            "SELECT {ORG_COLUMNS} FROM organisations ORDER BY lower(name), id LIMIT $1 OFFSET $2"
        );
        let rows = read!(self, |ex| db::query_as::<OrgRow>(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let total = self.organisation_count().await?;
        let orgs = rows
            .into_iter()
            .map(OrganisationRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok((orgs, total))
    }

    // Areas ---------------------------------------------------------------

    async fn areas(&self) -> StoreResult<Vec<domain::role::Area>> {
        let rows = read!(self, |ex| db::query_as::<AreaRow>(AREAS_SQL)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(domain::role::Area::try_from).collect()
    }

    // Access keys ---------------------------------------------------------

    async fn access_keys(&self, org: Option<OrgId>) -> StoreResult<Vec<store::AccessKeyRecord>> {
        let sql = format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys \
             WHERE ($1 IS NULL OR organisation_id = $1) ORDER BY created_at DESC, id"
        );
        let rows = read!(self, |ex| db::query_as::<AccessKeyRow>(&sql)
            .bind(org.map(|o| o.0))
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(store::AccessKeyRecord::try_from)
            .collect()
    }

    async fn access_key(&self, id: uuid::Uuid) -> StoreResult<Option<store::AccessKeyRecord>> {
        let row = read!(self, |ex| db::query_as::<AccessKeyRow>(
            &ACCESS_KEY_BY_ID_SQL
        )
        .bind(id)
        .fetch_optional(ex)
        .await)
        .map_err(db_err)?;
        row.map(store::AccessKeyRecord::try_from).transpose()
    }

    // User requests -------------------------------------------------------

    async fn user_request(&self, id: uuid::Uuid) -> StoreResult<Option<store::UserRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM user_requests WHERE id = $1");
        read!(self, |ex| db::query_as::<RequestRow>(&sql)
            .bind(id)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?
        .map(store::UserRequestRecord::try_from)
        .transpose()
    }

    // Outbox --------------------------------------------------------------

    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<OutboxMessage>> {
        // PostgreSQL: several workers may claim at once; SKIP LOCKED gives each
        // different messages. SQLite has one writer, so the plain sub-select is enough.
        let skip_locked = match self.backend {
            Backend::Sqlite { .. } => "",
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, leased_until = $2 \
             WHERE id IN (SELECT id FROM outbox \
                 WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1 \
                   AND (leased_until IS NULL OR leased_until <= $1) \
                 ORDER BY next_attempt_at, created_at LIMIT $3{skip_locked}) \
             RETURNING {OUTBOX_COLUMNS}"
        );
        // On SQLite the claim does not wait for its sync: it is one process's
        // database, so nobody else can claim before it is committed, and a
        // claim lost in a crash only means the email is claimed again at
        // start-up, as one whose lease ran out would be. Marking it sent
        // waits (that is what keeps a crash from sending it twice).
        let rows = write!(self, unsynced, |ex| db::query_as::<OutboxRow>(&sql)
            .bind(Ts(now))
            .bind(Ts(now + lease))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let mut messages: Vec<OutboxMessage> = rows.into_iter().map(OutboxMessage::from).collect();
        // RETURNING keeps no order.
        messages.sort_by_key(|m| (m.next_attempt_at, m.created_at));
        Ok(messages)
    }

    async fn mark_emails_sent(&self, ids: &[MessageId], now: OffsetDateTime) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "UPDATE outbox SET sent_at = $1, body = '', leased_until = NULL, last_error = NULL \
             WHERE id IN ({})",
            list.join(", ")
        );
        write!(self, |ex| {
            let mut q = db::query(&sql).bind(Ts(now));
            for id in ids {
                q = q.bind(id.0);
            }
            q.execute(ex).await.map(|r| r.rows_affected())
        })
        .map_err(db_err)?;
        Ok(())
    }

    async fn mark_email_failed(
        &self,
        id: MessageId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (sql, at) = match retry_at {
            Some(at) => (
                "UPDATE outbox SET last_error = $2, next_attempt_at = $3, leased_until = NULL WHERE id = $1",
                at,
            ),
            None => (
                "UPDATE outbox SET last_error = $2, dead_at = $3, body = '', leased_until = NULL WHERE id = $1",
                now,
            ),
        };
        let error: String = error.chars().take(500).collect();
        write!(self, |ex| db::query(sql)
            .bind(id.0)
            .bind(&error)
            .bind(Ts(at))
            .execute(ex)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn outbox(&self) -> StoreResult<Vec<OutboxMessage>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at, id");
        let rows = read!(self, |ex| db::query_as::<OutboxRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        Ok(rows.into_iter().map(OutboxMessage::from).collect())
    }

    async fn outbox_stats(&self) -> StoreResult<store::OutboxStats> {
        // Two statements: the queue through the partial index `outbox_due`,
        // and dead letters (few, but not indexed: a scan of the outbox).
        let (queued, oldest): (i64, Option<Ts>) = read!(self, |ex| {
            db::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"
        )
        .fetch_one(ex)
        .await
        })
        .map_err(db_err)?;
        let dead: i64 = read!(self, |ex| db::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL"
        )
        .fetch_one(ex)
        .await)
        .map_err(db_err)?;
        Ok(store::OutboxStats {
            queued,
            oldest_queued_at: oldest.map(|t| t.0),
            dead,
        })
    }

    // Audit ---------------------------------------------------------------

    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = read!(self, |ex| db::query_as::<AuditRow>(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(AuditRecord::try_from).collect()
    }

    async fn audit_page(
        &self,
        filter: &store::AuditFilter,
    ) -> StoreResult<(Vec<AuditRecord>, i64)> {
        // Only the filters given are in the text, so each query is a range on
        // one index of migration 20261203000001 read newest first, never a scan
        // through "$n IS NULL OR …" that no planner can use an index for.
        // PostgreSQL compares actions in the "C" collation (as its indexes
        // do), where a range is exactly a prefix whatever the database's.
        let action = match self.backend {
            Backend::Sqlite { .. } => "action",
            Backend::Postgres(_) => "(action COLLATE \"C\")",
        };
        // A group of actions (a prefix) is most of a trail: reading the trail
        // backwards and keeping the group's rows fills a page after a few
        // dozen, where the range on the action index must sort every row of
        // the group first (15 ms for a provider with 10,000 rows on SQLite).
        // SQLite's unary `+` keeps it off that index; PostgreSQL's planner
        // chooses this plan by itself (measured, docs/decisions.md).
        let group = match self.backend {
            Backend::Sqlite { .. } => "+action",
            Backend::Postgres(_) => "(action COLLATE \"C\")",
        };
        enum Arg {
            Id(Uuid),
            Text(String),
            At(Ts),
            Int(i64),
        }
        let mut args = Vec::new();
        let mut conds = Vec::new();
        let mut cond = |text: &str, arg: Arg| {
            args.push(arg);
            conds.push(text.replace('?', &format!("${}", args.len())));
        };
        if let Some(org) = filter.organisation {
            cond("organisation_id = ?", Arg::Id(org.0));
        }
        if let Some(actor) = filter.actor {
            cond("actor_id = ?", Arg::Id(actor.0));
        }
        match filter.action.as_deref() {
            Some(prefix) if prefix.ends_with('.') => {
                // Action names are ASCII; '/' follows '.'.
                let upper = format!("{}/", prefix.trim_end_matches('.'));
                cond(&format!("{group} >= ?"), Arg::Text(prefix.to_owned()));
                cond(&format!("{group} < ?"), Arg::Text(upper));
            }
            Some(exact) => cond(&format!("{action} = ?"), Arg::Text(exact.to_owned())),
            None => {}
        }
        if let Some(from) = filter.from {
            cond("at >= ?", Arg::At(Ts(from)));
        }
        if let Some(to) = filter.to {
            cond("at < ?", Arg::At(Ts(to)));
        }
        if let Some(before) = filter.before_seq {
            cond("seq < ?", Arg::Int(before));
        }
        let matching = if conds.is_empty() {
            "1 = 1".to_owned()
        } else {
            conds.join(" AND ")
        };
        let n = args.len();
        let page_sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {matching} \
             ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM audit_log WHERE {matching} LIMIT ${}) AS m",
            n + 1
        );
        macro_rules! bound {
            ($q:expr) => {{
                let mut q = $q;
                for a in &args {
                    q = match a {
                        Arg::Id(u) => q.bind(*u),
                        Arg::Text(t) => q.bind(t.as_str()),
                        Arg::At(t) => q.bind(*t),
                        Arg::Int(i) => q.bind(*i),
                    };
                }
                q
            }};
        }
        let rows = read!(self, |ex| bound!(db::query_as::<AuditRow>(&page_sql))
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let rows = rows
            .into_iter()
            .map(AuditRecord::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        // A page that is not full (and not empty past the end) tells the total itself.
        let told = (rows.len() as i64) < filter.limit && (!rows.is_empty() || filter.offset == 0);
        let total = if told {
            filter.offset + rows.len() as i64
        } else {
            read!(self, |ex| bound!(db::query_scalar::<i64>(&count_sql))
                .bind(store::AUDIT_COUNT_LIMIT + 1)
                .fetch_one(ex)
                .await)
            .map_err(db_err)?
        };
        Ok((rows, total))
    }

    async fn audit_chain_epochs(&self) -> StoreResult<Vec<ChainEpoch>> {
        let rows = read!(self, |ex| db::query_as::<(i64, String, Vec<u8>, Ts)>(
            "SELECT from_seq, key_id, mac, created_at FROM audit_chain_keys ORDER BY from_seq"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(from_seq, key_id, mac, at)| ChainEpoch {
                from_seq,
                key_id,
                mac,
                created_at: at.0,
            })
            .collect())
    }

    async fn open_audit_chain(
        &self,
        key: ChainKey,
        now: OffsetDateTime,
    ) -> StoreResult<ChainEpoch> {
        self.keep_chain_with(key, now, None).await
    }

    async fn adopt_unkeyed_audit(
        &self,
        key: ChainKey,
        through: i64,
        now: OffsetDateTime,
    ) -> StoreResult<ChainEpoch> {
        self.keep_chain_with(key, now, Some(through)).await
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id IN ({})",
                params.join(", ")
            );
            let rows = read!(self, |ex| {
                let mut q = db::query_as::<UserRow>(&sql);
                for id in chunk {
                    q = q.bind(id.0);
                }
                q.fetch_all(ex).await
            })
            .map_err(db_err)?;
            for r in rows {
                out.push(UserRecord::try_from(r)?);
            }
        }
        Ok(out)
    }

    async fn take_hit(
        &self,
        bucket: &str,
        limit: u32,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<Result<(), OffsetDateTime>> {
        // One statement: the row is locked while the WHERE decides, so
        // concurrent hits (from any process) are counted one after another and
        // none past the limit. A window that has ended starts again at 1.
        // Counted on the writer, and the window's end read there too when the
        // hit is refused (a reader would not see a hit not yet committed).
        let (counted, ends) = write!(self, unsynced, |ex| async {
            let mut ex = db::Ex::from(ex);
            let counted = db::query_scalar::<i64>(
                "INSERT INTO rate_limits (bucket, window_ends, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (bucket) DO UPDATE SET \
                     hits = CASE WHEN rate_limits.window_ends <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
                     window_ends = CASE WHEN rate_limits.window_ends <= $3 THEN $2 ELSE rate_limits.window_ends END \
                 WHERE rate_limits.window_ends <= $3 OR rate_limits.hits < $4 \
                 RETURNING hits",
            )
            .bind(bucket)
            .bind(Ts(now + window))
            .bind(Ts(now))
            .bind(i64::from(limit))
            .fetch_optional(ex.by_ref())
            .await?;
            let ends = match counted {
                Some(_) => None,
                None => db::query_scalar::<Ts>("SELECT window_ends FROM rate_limits WHERE bucket = $1")
                    .bind(bucket)
                    .fetch_optional(ex.by_ref())
                    .await?,
            };
            Ok::<_, db::DbError>((counted, ends))
        }
        .await)
        .map_err(db_err)?;
        if counted.is_some() {
            return Ok(Ok(()));
        }
        // The row is there (it refused the hit); were it forgotten meanwhile,
        // the window has ended.
        Ok(Err(ends.map_or(now, |t| t.0)))
    }

    async fn give_back_hit(&self, bucket: &str, now: OffsetDateTime) -> StoreResult<()> {
        write!(self, unsynced, |ex| db::query(
            "UPDATE rate_limits SET hits = hits - 1 \
             WHERE bucket = $1 AND window_ends > $2 AND hits > 0"
        )
        .bind(bucket)
        .bind(Ts(now))
        .execute(ex)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_requests_pending(&self) -> StoreResult<bool> {
        read!(self, |ex| db::query_scalar::<bool>(
            "SELECT EXISTS (SELECT 1 FROM user_requests WHERE status = 'pending')"
        )
        .fetch_one(ex)
        .await)
        .map_err(db_err)
    }

    async fn forget_hits(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = write!(self, unsynced, |ex| db::query(
            "DELETE FROM rate_limits WHERE window_ends < $1"
        )
        .bind(Ts(before))
        .execute(ex)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done)
    }

    // Data returns: windows -----------------------------------------------

    async fn windows(&self) -> StoreResult<Vec<store::WindowRecord>> {
        let sql =
            format!("SELECT {WINDOW_COLUMNS} FROM collection_windows ORDER BY opens_at DESC, name");
        let rows = read!(self, |ex| db::query_as::<WindowRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        rows.into_iter().map(WindowRecord::try_from).collect()
    }

    async fn window(&self, id: uuid::Uuid) -> StoreResult<Option<store::WindowRecord>> {
        let sql = format!("SELECT {WINDOW_COLUMNS} FROM collection_windows WHERE id = $1");
        let row = read!(self, |ex| db::query_as::<WindowRow>(&sql)
            .bind(id)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        row.map(WindowRecord::try_from).transpose()
    }

    // Data returns: submissions -------------------------------------------

    async fn submissions(
        &self,
        window: uuid::Uuid,
        org: Option<OrgId>,
        with_drafts: bool,
    ) -> StoreResult<Vec<store::SubmissionRecord>> {
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE window_id = $1 \
             AND ($2 IS NULL OR organisation_id = $2) AND ($3 OR status <> 'draft') \
             ORDER BY organisation_id, version DESC"
        );
        let rows = read!(self, |ex| db::query_as::<SubmissionRow>(&sql)
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
        let checks = self
            .checks_of_submissions("s.window_id = $1", window)
            .await?;
        rows.into_iter()
            .map(|r| {
                let f = files.remove(&r.id).unwrap_or_default();
                r.into_record(f, &checks)
            })
            .collect()
    }

    async fn submission(&self, id: uuid::Uuid) -> StoreResult<Option<store::SubmissionRecord>> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1");
        let row = read!(self, |ex| db::query_as::<SubmissionRow>(&sql)
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
        let checks = self.checks_of_submissions("s.id = $1", id).await?;
        row.into_record(files, &checks).map(Some)
    }

    async fn file_findings(&self, file: Uuid) -> StoreResult<Vec<domain::checks::Finding>> {
        let rows = read!(self, |ex| db::query_as::<FindingRow>(
            "SELECT severity, rule, row_no, column_name, message FROM file_findings \
             WHERE file_id = $1 ORDER BY seq"
        )
        .bind(file)
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    async fn queries(&self, f: &store::QueryFilter) -> StoreResult<Vec<store::QueryRecord>> {
        let clause = "($1 IS NULL OR q.submission_id = $1) AND ($2 IS NULL OR q.window_id = $2) \
             AND ($3 IS NULL OR q.organisation_id = $3) AND (NOT $4 OR q.closed_at IS NULL)";
        let sql = format!(
            "SELECT {QUERY_COLUMNS} FROM submission_queries q WHERE {clause} ORDER BY q.raised_at, q.id"
        );
        let rows = read!(self, |ex| db::query_as::<QueryRow>(&sql)
            .bind(f.submission)
            .bind(f.window)
            .bind(f.organisation.map(|o| o.0))
            .bind(f.open_only)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let message_sql = format!(
            "SELECT m.query_id, m.id, m.author, m.body, m.created_at FROM query_messages m \
             JOIN submission_queries q ON q.id = m.query_id WHERE {clause} ORDER BY m.created_at, m.id"
        );
        let messages = read!(self, |ex| db::query_as::<QueryMessageRow>(&message_sql)
            .bind(f.submission)
            .bind(f.window)
            .bind(f.organisation.map(|o| o.0))
            .bind(f.open_only)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        Ok(queries_with_messages(rows, messages))
    }

    async fn query(&self, id: Uuid) -> StoreResult<Option<store::QueryRecord>> {
        let sql = format!("SELECT {QUERY_COLUMNS} FROM submission_queries q WHERE q.id = $1");
        let row = read!(self, |ex| db::query_as::<QueryRow>(&sql)
            .bind(id)
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let messages = read!(self, |ex| db::query_as::<QueryMessageRow>(
            "SELECT query_id, id, author, body, created_at FROM query_messages \
             WHERE query_id = $1 ORDER BY created_at, id"
        )
        .bind(id)
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        Ok(queries_with_messages(vec![row], messages).pop())
    }

    // Data returns: documents ---------------------------------------------

    async fn documents(&self, org: Option<OrgId>) -> StoreResult<Vec<store::DocumentRecord>> {
        self.documents_where(
            "($1 IS NULL OR EXISTS (SELECT 1 FROM document_recipients x \
             WHERE x.document_id = d.id AND x.organisation_id = $1))",
            org.map(|o| o.0),
        )
        .await
    }

    async fn document(&self, id: uuid::Uuid) -> StoreResult<Option<store::DocumentRecord>> {
        Ok(self.documents_where("d.id = $1", Some(id)).await?.pop())
    }

    // Data returns: feedback ----------------------------------------------

    async fn feedback(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<store::FeedbackRecord>, i64)> {
        let rows = read!(self, |ex| db::query_as::<FeedbackRow>(
            "SELECT id, user_id, organisation_id, body, created_at FROM feedback \
             ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        let total = read!(self, |ex| db::query_scalar::<i64>(
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

    async fn received_feedback(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<store::ReceivedFeedback>, i64)> {
        let rows = read!(self, |ex| db::query_as::<ReceivedFeedbackRow>(
            "SELECT f.id, f.user_id, f.organisation_id, f.body, f.created_at, u.title, \
             u.first_name, u.last_name, u.email, o.name AS organisation_name FROM feedback f \
             JOIN users u ON u.id = f.user_id JOIN organisations o ON o.id = f.organisation_id \
             ORDER BY f.created_at DESC, f.id LIMIT $1 OFFSET $2"
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        let total = read!(self, |ex| db::query_scalar::<i64>(
            "SELECT COUNT(*) FROM feedback"
        )
        .fetch_one(ex)
        .await)
        .map_err(db_err)?;
        let items = rows
            .into_iter()
            .map(store::ReceivedFeedback::try_from)
            .collect::<StoreResult<_>>()?;
        Ok((items, total))
    }

    async fn window_awaiting_notice(&self, now: OffsetDateTime) -> StoreResult<bool> {
        let sql = window_awaiting_notice_sql(0);
        let found = read!(self, |ex| db::query_scalar::<Uuid>(&sql)
            .bind(Ts(now))
            .fetch_optional(ex)
            .await)
        .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn reminders_claimed(
        &self,
        window: Uuid,
        closes_at: OffsetDateTime,
    ) -> StoreResult<Vec<u32>> {
        let days = read!(self, |ex| db::query_scalar::<i64>(
            "SELECT days_before FROM window_reminders WHERE window_id = $1 AND closes_at = $2 \
             ORDER BY days_before"
        )
        .bind(window)
        .bind(Ts(closes_at))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        days.into_iter()
            .map(|d| u32::try_from(d).map_err(|_| corrupt("reminder days", &d.to_string())))
            .collect()
    }

    // Snapshot ------------------------------------------------------------

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        let mut snap = Snapshot::new();
        let orgs = read!(self, |ex| db::query_as::<OrgRow>(&format!(
            "SELECT {ORG_COLUMNS} FROM organisations ORDER BY id"
        ))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "organisations",
            orgs.iter().map(|r| format!("{r:?}")).collect(),
        );
        let users = read!(self, |ex| db::query_as::<UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY id"
        ))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert("users", users.iter().map(|r| format!("{r:?}")).collect());
        let keys = read!(self, |ex| db::query_as::<AccessKeyRow>(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY id"
        ))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "access_keys",
            keys.iter().map(|r| format!("{r:?}")).collect(),
        );
        let areas = read!(self, |ex| db::query_as::<AreaRow>(
            "SELECT slug, name, kind, sensitive FROM areas ORDER BY slug"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert("areas", areas.iter().map(|r| format!("{r:?}")).collect());
        let roles = read!(self, |ex| db::query_as::<RoleGrantRow>(
            "SELECT user_id, role_id, granted_by, granted_at FROM user_roles ORDER BY user_id, role_id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "user_roles",
            roles.iter().map(|r| format!("{r:?}")).collect(),
        );
        let attempts = read!(self, |ex| db::query_as::<AttemptSnapshotRow>(
            "SELECT id, email_norm, user_id, code_hash, created_at, expires_at, guesses, consumed_at \
             FROM sign_in_attempts ORDER BY id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "sign_in_attempts",
            attempts.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sessions = read!(self, |ex| db::query_as::<SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY token_hash"
        ))
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "sessions",
            sessions.iter().map(|r| format!("{r:?}")).collect(),
        );
        let outbox = self.outbox().await?;
        snap.insert("outbox", outbox.iter().map(|r| format!("{r:?}")).collect());
        // Data returns and documents.
        for (name, sql) in [(
            "collection_windows",
            "SELECT id, area_slug, name, opens_at, closes_at, guidance, file_types, closed_at, created_by, created_at, column_rules, sign_off_required, reminder_days, late_submissions FROM collection_windows ORDER BY id",
        )] {
            let rows = read!(self, |ex| db::query_as::<WindowRow>(sql)
                .fetch_all(ex)
                .await)
            .map_err(db_err)?;
            snap.insert(name, rows.iter().map(|r| format!("{r:?}")).collect());
        }
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions ORDER BY id");
        let rows = read!(self, |ex| db::query_as::<SubmissionRow>(&sql)
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
        let rows =
            read!(self, |ex| db::query_as::<FileRow>(&sql).fetch_all(ex).await).map_err(db_err)?;
        snap.insert(
            "stored_files",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.id");
        let rows = read!(self, |ex| db::query_as::<DocumentRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert("documents", rows.iter().map(|r| format!("{r:?}")).collect());
        let rows = read!(self, |ex| db::query_as::<RecipientRow>(
            "SELECT document_id, organisation_id FROM document_recipients ORDER BY document_id, organisation_id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "document_recipients",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let rows = read!(self, |ex| db::query_as::<FeedbackRow>(
            "SELECT id, user_id, organisation_id, body, created_at FROM feedback ORDER BY id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert("feedback", rows.iter().map(|r| format!("{r:?}")).collect());
        // Issue 16's tables, each row as text in a fixed order.
        let sql = format!("SELECT {CHECK_COLUMNS} FROM file_checks c ORDER BY c.file_id");
        let rows = read!(self, |ex| db::query_as::<CheckRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert(
            "file_checks",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sql = format!(
            "SELECT {CHECK_RULE_COLUMNS} FROM file_check_rules r ORDER BY r.file_id, r.seq"
        );
        let rows = read!(self, |ex| db::query_as::<CheckRuleRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert(
            "file_check_rules",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let rows = read!(self, |ex| db::query_as::<FindingRow>(
            "SELECT severity, rule, row_no, column_name, message FROM file_findings ORDER BY file_id, seq"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "file_findings",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let sql = format!("SELECT {QUERY_COLUMNS} FROM submission_queries q ORDER BY q.id");
        let rows = read!(self, |ex| db::query_as::<QueryRow>(&sql)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        snap.insert(
            "submission_queries",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let rows = read!(self, |ex| db::query_as::<QueryMessageRow>(
            "SELECT query_id, id, author, body, created_at FROM query_messages ORDER BY id"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "query_messages",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        let rows: Vec<(Uuid, i64, Ts, Ts)> = read!(self, |ex| db::query_as(
            "SELECT window_id, days_before, closes_at, sent_at FROM window_reminders \
             ORDER BY window_id, days_before, closes_at"
        )
        .fetch_all(ex)
        .await)
        .map_err(db_err)?;
        snap.insert(
            "window_reminders",
            rows.iter().map(|r| format!("{r:?}")).collect(),
        );
        Ok(snap)
    }
}

/// Statements shared by two reads, the clause that tells them apart given by each.
impl SqlStore {
    /// The checks of the files of the submissions the clause picks (`s`).
    async fn checks_of_submissions(
        &self,
        clause: &str,
        bind: Uuid,
    ) -> StoreResult<HashMap<Uuid, store::FileCheckRecord>> {
        let sql = format!(
            "SELECT {CHECK_COLUMNS} FROM file_checks c \
             JOIN submission_files sf ON sf.file_id = c.file_id \
             JOIN submissions s ON s.id = sf.submission_id WHERE {clause}"
        );
        let checks = read!(self, |ex| db::query_as::<CheckRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let sql = format!(
            "SELECT {CHECK_RULE_COLUMNS} FROM file_check_rules r \
             JOIN submission_files sf ON sf.file_id = r.file_id \
             JOIN submissions s ON s.id = sf.submission_id WHERE {clause}"
        );
        let rules = read!(self, |ex| db::query_as::<CheckRuleRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        checks_by_file(checks, rules)
    }

    async fn files_of_submissions(&self, clause: &str, bind: Uuid) -> StoreResult<Vec<FileRow>> {
        let sql = format!(
            "SELECT sf.submission_id AS owner, {FILE_COLUMNS} FROM submission_files sf \
             JOIN stored_files f ON f.id = sf.file_id \
             JOIN submissions s ON s.id = sf.submission_id \
             WHERE {clause} ORDER BY f.uploaded_at, f.id"
        );
        read!(self, |ex| db::query_as::<FileRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)
    }

    async fn documents_where(
        &self,
        clause: &str,
        bind: Option<Uuid>,
    ) -> StoreResult<Vec<DocumentRecord>> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE {clause} ORDER BY d.published_at DESC, d.id"
        );
        let rows = read!(self, |ex| db::query_as::<DocumentRow>(&sql)
            .bind(bind)
            .fetch_all(ex)
            .await)
        .map_err(db_err)?;
        let file_sql = format!(
            "SELECT d.id AS owner, {FILE_COLUMNS} FROM documents d \
             JOIN stored_files f ON f.id = d.file_id WHERE {clause}"
        );
        let mut files = by_owner(
            read!(self, |ex| db::query_as::<FileRow>(&file_sql)
                .bind(bind)
                .fetch_all(ex)
                .await)
            .map_err(db_err)?,
        )?;
        let recipient_sql = format!(
            "SELECT r.document_id, r.organisation_id FROM document_recipients r \
             JOIN documents d ON d.id = r.document_id WHERE {clause} ORDER BY r.organisation_id"
        );
        let recipients = read!(self, |ex| db::query_as::<RecipientRow>(&recipient_sql)
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
}
