//! `portal import-legacy`: the old portal's accounts, areas and memberships
//! brought into the new portal's users and roles (PRODUCT §9; the file format
//! and every rule are in docs/legacy-import.md).
//!
//! All or nothing: every row is checked first (the file's own rules in
//! `domain::legacy`, then the database's: an address may not belong to another
//! organisation), and if any is bad nothing is written. Then everything is
//! written in one transaction, with one audit row for the run. Running the same
//! file again changes nothing: existing users are matched by address and only
//! what differs is written; roles are only ever added, and the lock only ever
//! set. Nothing is done a row at a time: the store's bulk methods read and
//! write thousands of rows per round trip.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use domain::audit::Outcome;
use domain::legacy::{LegacyUser, LineError};
use domain::{OrgId, OrganisationKind, Role, Ukprn, UserId};
use sha2::{Digest, Sha256};
use store::{ImportedAccount, ImportedUser, NewOrganisation, StoreError, role_grant};

use crate::permit;
use crate::unit::Entry as AuditEntry;
use crate::{App, AppError, RequestMeta, emails};

/// Items handed to the store per call: the progress bar moves this often.
const STEP: usize = 5_000;

/// Where the import says how far it has got (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// A new stage of `total` steps begins (0: a stage of unknown length).
    fn stage(&self, name: &'static str, total: u64);
    /// `n` more steps of the current stage are done.
    fn advance(&self, n: u64);
}

/// For callers that show no progress.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &'static str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: u64,
    pub created: u64,
    /// Existing users whose details, expiry, lock or roles changed.
    pub updated: u64,
    pub unchanged: u64,
    pub roles_granted: u64,
    pub providers_created: u64,
    /// Welcome emails queued (`--notify` only).
    pub emails_queued: u64,
    /// Of the file's bytes, hex.
    pub sha256: String,
    pub elapsed: Duration,
}

impl ImportSummary {
    /// Rows handled per second.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Bad rows, each with its line: nothing was imported.
    #[error("{} bad row(s); nothing was imported", .0.len())]
    Rejected(Vec<LineError>),
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// What the file asks of one existing user.
enum Change {
    Unchanged,
    /// Roles to add, and the user as written if its details, expiry or lock differ.
    Changed(Option<ImportedUser>, Vec<Role>),
}

fn compare(row: &LegacyUser, user: &ImportedAccount, now: time::OffsetDateTime) -> Change {
    let held: BTreeSet<&Role> = user.roles.iter().collect();
    let add: Vec<Role> = row
        .roles
        .iter()
        .filter(|r| !held.contains(r))
        .cloned()
        .collect();
    // The lock is only ever set: unlocking is an administrator's decision.
    let locked = user.locked || row.locked;
    let same = user.title == row.title
        && user.first_name == row.first_name
        && user.last_name == row.last_name
        && user.expires_at == row.expires_at
        && user.locked == locked;
    let write = (!same).then(|| ImportedUser {
        id: user.id,
        organisation_id: user.organisation_id,
        title: row.title.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        email: row.email.clone(),
        expires_at: row.expires_at,
        locked,
        created_at: now,
    });
    if write.is_none() && add.is_empty() {
        Change::Unchanged
    } else {
        Change::Changed(write, add)
    }
}

impl App {
    /// Imports an export of the old portal (the file's bytes). `notify` queues a
    /// welcome email to each user created.
    pub async fn import_legacy(
        &self,
        file: &[u8],
        notify: bool,
        meta: &RequestMeta,
        progress: &dyn Progress,
    ) -> Result<ImportSummary, ImportError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(file));
        progress.stage("Reading the file", 0);
        let areas = self.store.areas().await?;
        let export = domain::legacy::read_export(file, &areas);
        let mut errors = export.errors;
        let rows = export.users;
        let now = self.clock.now();

        // The whole import is one unit of work, the operator's: all of it or none.
        let permit = permit::operator("import_legacy", None);
        let outcome = self
            .change(meta, None, async |u| {
            u.tx().refresh_statistics().await?;
            let mut ukprns: Vec<Ukprn> = Vec::new();
            let mut seen = HashSet::new();
            for r in &rows {
                if seen.insert(&r.ukprn) {
                    ukprns.push(r.ukprn.clone());
                }
            }
            let mut orgs: HashMap<Ukprn, (OrgId, String)> = u
                .tx()
                .organisations_by_ukprns(&ukprns)
                .await?
                .into_iter()
                .filter_map(|o| o.ukprn.map(|u| (u, (o.id, o.name))))
                .collect();

            progress.stage("Checking existing accounts", rows.len() as u64);
            let mut existing: HashMap<String, ImportedAccount> = HashMap::new();
            for chunk in rows.chunks(STEP) {
                let emails: Vec<String> = chunk.iter().map(|r| r.email.normalised()).collect();
                for u in u.tx().accounts_by_emails(&emails).await? {
                    existing.insert(u.email_norm.clone(), u);
                }
                progress.advance(chunk.len() as u64);
            }
            let mut other_orgs: HashMap<OrgId, String> = HashMap::new();
            for r in &rows {
                let Some(e) = existing.get(&r.email.normalised()) else {
                    continue;
                };
                let org = e.organisation_id;
                if orgs.get(&r.ukprn).map(|(id, _)| *id) == Some(org) {
                    continue;
                }
                let name = match other_orgs.entry(org) {
                    Entry::Occupied(e) => e.get().clone(),
                    Entry::Vacant(v) => {
                        let name = match u.tx().organisation(org).await? {
                            Some(o) => match o.ukprn {
                                Some(u) => format!("{} (UKPRN {u})", o.name),
                                None => o.name,
                            },
                            None => org.to_string(),
                        };
                        v.insert(name).clone()
                    }
                };
                errors.push(LineError {
                    line: r.line,
                    reasons: vec![format!(
                        "{} already has an account at another organisation, {name}",
                        r.email
                    )],
                });
            }
            if !errors.is_empty() {
                // Nothing is written: the refusal is recorded, and the caller told.
                errors.sort_by_key(|e| e.line);
                let detail = format!("bad_rows={} sha256={sha256}", errors.len());
                u.record(&permit, AuditEntry::new(Outcome::Refused, None, &detail))
                    .await?;
                return Ok(u.done(&permit, Err(errors)));
            }

            // The plan: new providers, new users, changed users, roles to grant.
            let mut new_orgs = Vec::new();
            for r in &rows {
                if !orgs.contains_key(&r.ukprn) {
                    let id = OrgId::random();
                    orgs.insert(r.ukprn.clone(), (id, r.provider_name.clone()));
                    new_orgs.push(NewOrganisation {
                        id,
                        kind: OrganisationKind::Provider,
                        name: r.provider_name.clone(),
                        ukprn: Some(r.ukprn.clone()),
                        accountable_officer_name: None,
                        accountable_officer_email: None,
                        created_at: now,
                    });
                }
            }
            let mut inserts = Vec::new();
            let mut updates = Vec::new();
            let mut grants = Vec::new();
            let mut welcome = Vec::new();
            let mut summary = ImportSummary {
                rows: export.rows,
                providers_created: new_orgs.len() as u64,
                sha256,
                ..ImportSummary::default()
            };
            for r in &rows {
                let (org, org_name) = orgs
                    .get(&r.ukprn)
                    .ok_or_else(|| AppError::internal("a provider was not planned"))?;
                match existing.get(&r.email.normalised()) {
                    None => {
                        let id = UserId::random();
                        inserts.push(ImportedUser {
                            id,
                            organisation_id: *org,
                            title: r.title.clone(),
                            first_name: r.first_name.clone(),
                            last_name: r.last_name.clone(),
                            email: r.email.clone(),
                            expires_at: r.expires_at,
                            locked: r.locked,
                            created_at: now,
                        });
                        grants.extend(
                            r.roles
                                .iter()
                                .map(|role| role_grant(id, role.clone(), None, now)),
                        );
                        if notify {
                            let name =
                                domain::user::display_name(&r.title, &r.first_name, &r.last_name);
                            let mut email = emails::welcome(
                                r.email.as_str(),
                                &name,
                                org_name,
                                &self.settings.base_url,
                                now,
                            );
                            // Sealed at rest, as `App::queue_email` does one at a time.
                            email.body = crate::sealed::seal(&self.key, email.id, &email.body);
                            welcome.push(email);
                        }
                        summary.created += 1;
                    }
                    Some(e) => match compare(r, e, now) {
                        Change::Unchanged => summary.unchanged += 1,
                        Change::Changed(write, add) => {
                            updates.extend(write);
                            grants.extend(
                                add.into_iter()
                                    .map(|role| role_grant(e.id, role, None, now)),
                            );
                            summary.updated += 1;
                        }
                    },
                }
            }

            progress.stage(
                "Writing",
                (inserts.len() + updates.len() + grants.len() + welcome.len()) as u64,
            );
            u.tx().insert_organisations(&new_orgs).await?;
            for chunk in inserts.chunks(STEP) {
                if let Err(e) = u.tx().insert_imported_users(chunk).await {
                    return Err(if e.is_conflict() {
                        AppError::Conflict(
                            "an address in the file was given an account while importing; run the import again"
                                .into(),
                        )
                    } else {
                        e.into()
                    });
                }
                progress.advance(chunk.len() as u64);
            }
            for chunk in updates.chunks(STEP) {
                u.tx().update_imported_users(chunk).await?;
                progress.advance(chunk.len() as u64);
            }
            for chunk in grants.chunks(STEP) {
                summary.roles_granted += u.tx().grant_roles(chunk).await?;
                progress.advance(chunk.len() as u64);
            }
            for chunk in welcome.chunks(STEP) {
                u.tx().enqueue_emails(chunk).await?;
                summary.emails_queued += chunk.len() as u64;
                progress.advance(chunk.len() as u64);
            }
            let detail = format!(
                "rows={} created={} updated={} unchanged={} roles={} providers={} emails={} sha256={}",
                summary.rows,
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.roles_granted,
                summary.providers_created,
                summary.emails_queued,
                summary.sha256
            );
            if summary.created + summary.updated > 0 {
                u.tx().refresh_statistics().await?;
            }
            u.audit(&permit, None, &detail).await?;
            if summary.emails_queued > 0 {
                u.wake_workers();
            }
            Ok(u.done(&permit, Ok(summary)))
            })
            .await?;
        let mut summary = outcome.map_err(ImportError::Rejected)?;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }
}
