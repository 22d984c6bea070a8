//! Bulk reads and writes for `portal import-legacy`.
//!
//! A million users must import in well under a minute, in one transaction, so
//! nothing here makes a round trip per row: look-ups use `IN (…)` lists and
//! writes use multi-row `INSERT … VALUES (…), (…)` and `WITH v AS (VALUES …)
//! UPDATE … FROM v`, [`ROWS_PER_STATEMENT`] rows at a time. PostgreSQL allows
//! 65,535 bind parameters per statement and SQLite 32,766; at ten columns a
//! batch binds 5,000. Both backends run the same SQL.

use std::collections::HashMap;

use domain::{OrgId, Role, UserId};
use store::{
    ImportedAccount, ImportedUser, NewEmail, NewOrganisation, NewRoleGrant, OrganisationRecord,
    StoreError, StoreResult,
};
use uuid::Uuid;

use crate::db_err;
use crate::rows::*;
use crate::ts::Ts;
use crate::tx_impl::{SqlTx, TxInner};

/// Rows per statement: large enough that statements, not rows, dominate the
/// cost; small enough to stay far below both databases' parameter limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters; with
/// `anonymous`, `(?, ?), (?, ?)`.
fn values(columns: usize, rows: usize, anonymous: bool) -> String {
    let mut s = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..columns {
            if c > 0 {
                s.push_str(", ");
            }
            if anonymous {
                s.push('?');
            } else {
                s.push('$');
                s.push_str(&(r * columns + c + 1).to_string());
            }
        }
        s.push(')');
    }
    s
}

impl SqlTx {
    /// The parameter list of a bulk statement. SQLite gets anonymous `?`
    /// parameters: for numbered ones the driver looks every number up by name,
    /// which SQLite answers by a linear search, so a statement of n numbered
    /// parameters costs n² (three quarters of the whole import's time at 5,000).
    fn values(&self, columns: usize, rows: usize) -> String {
        values(columns, rows, matches!(self.inner, TxInner::Sqlite(_)))
    }

    /// PostgreSQL plans from statistics that only `ANALYZE` (or autovacuum)
    /// refreshes; right after a large import they are missing or stale. SQLite's
    /// planner uses the indexes without statistics.
    pub(crate) async fn bulk_refresh_statistics(&mut self) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("ANALYZE users, user_roles, organisations")
                .execute(&mut **t)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn bulk_organisations_by_ukprns(
        &mut self,
        ukprns: &[domain::Ukprn],
    ) -> StoreResult<Vec<OrganisationRecord>> {
        let mut out = Vec::new();
        for chunk in ukprns.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {ORG_COLUMNS} FROM organisations WHERE ukprn IN {}",
                self.values(chunk.len(), 1)
            );
            let rows = tx!(self, |c| {
                let mut q = sqlx::query_as::<_, OrgRow>(&sql);
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

    pub(crate) async fn bulk_insert_organisations(
        &mut self,
        orgs: &[NewOrganisation],
    ) -> StoreResult<()> {
        for chunk in orgs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO organisations (id, kind, name, ukprn, accountable_officer_name, \
                 accountable_officer_email, created_at) VALUES {}",
                self.values(7, chunk.len())
            );
            tx!(self, |c| {
                let mut q = sqlx::query(&sql);
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

    pub(crate) async fn bulk_accounts_by_emails(
        &mut self,
        emails_norm: &[String],
    ) -> StoreResult<Vec<ImportedAccount>> {
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
                let mut q = sqlx::query_as::<_, AccountRow>(&users_sql);
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
                let mut q = sqlx::query_as::<_, (Uuid, String)>(&roles_sql);
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

    pub(crate) async fn bulk_insert_users(&mut self, users: &[ImportedUser]) -> StoreResult<()> {
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO users (id, organisation_id, title, first_name, last_name, email, \
                 email_norm, expires_at, locked, created_at) VALUES {}",
                self.values(10, chunk.len())
            );
            tx!(self, |c| {
                let mut q = sqlx::query(&sql);
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

    pub(crate) async fn bulk_update_users(&mut self, users: &[ImportedUser]) -> StoreResult<()> {
        for chunk in users.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "WITH v (id, title, first_name, last_name, expires_at, locked) AS (VALUES {}) \
                 UPDATE users SET title = v.title, first_name = v.first_name, \
                 last_name = v.last_name, expires_at = v.expires_at, locked = v.locked \
                 FROM v WHERE users.id = v.id",
                self.values(6, chunk.len())
            );
            tx!(self, |c| {
                let mut q = sqlx::query(&sql);
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

    pub(crate) async fn bulk_grant_roles(&mut self, grants: &[NewRoleGrant]) -> StoreResult<u64> {
        let mut granted = 0;
        for chunk in grants.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO user_roles (user_id, role_id, area_slug, granted_by, granted_at) \
                 VALUES {} ON CONFLICT (user_id, role_id) DO NOTHING",
                self.values(5, chunk.len())
            );
            granted += tx!(self, |c| {
                let mut q = sqlx::query(&sql);
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

    pub(crate) async fn bulk_enqueue_emails(&mut self, emails: &[NewEmail]) -> StoreResult<()> {
        for chunk in emails.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO outbox (id, to_address, subject, body, created_at, next_attempt_at) \
                 VALUES {}",
                self.values(6, chunk.len())
            );
            tx!(self, |c| {
                let mut q = sqlx::query(&sql);
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
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn values_numbers_every_parameter_once() {
        assert_eq!(values(2, 2, false), "($1, $2), ($3, $4)");
        assert_eq!(values(3, 1, false), "($1, $2, $3)");
        assert_eq!(values(2, 2, true), "(?, ?), (?, ?)");
    }
}
