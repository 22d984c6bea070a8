//! Access keys (PRODUCT §5, seed 000): the regulator issues a key for one role
//! at one provider, with an expiry and a number of uses; it is shown once and
//! stored as a keyed hash. Whoever activates it (signed in, or registering with
//! a password) gets that role at that provider only. It is the only way to a
//! sensitive area's role (rule 5).

use domain::access_key::{self, AccessKey};
use domain::authz::{Denial, RegulatorTask};
use domain::{OrgId, OrganisationKind, Role};
use rand::rngs::OsRng;
use store::{AccessKeyRecord, RoleGrant};
use time::{Duration, OffsetDateTime};

use crate::permit::{self, Permit, Refusal};
use crate::unit::Unit;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

/// The longest a key may stay valid, and the most uses it may have.
pub const LONGEST_VALIDITY: Duration = Duration::days(366);
pub const MOST_USES: i64 = 1000;

#[derive(Debug, Clone)]
pub struct IssueKeyInput {
    /// The provider's id.
    pub organisation: String,
    pub role: String,
    pub max_uses: i64,
    pub expires_at: Option<OffsetDateTime>,
}

/// A key just issued: the only moment its secret exists outside the letter.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: AccessKey,
    pub record: AccessKeyRecord,
}

/// A key as listed, with the names a person reads.
#[derive(Debug, Clone)]
pub struct ListedKey {
    pub record: AccessKeyRecord,
    pub organisation_name: String,
    pub role_name: String,
}

const ACTIVATE: &str = "access_keys.activate";

/// Wrong access keys one person may enter in a window (PRODUCT §3).
const WRONG_KEYS: crate::limiter::Limit = crate::limiter::Limit {
    kind: "wrong-access-key",
    max: access_key::MAX_WRONG_KEYS,
    window: access_key::WRONG_KEY_WINDOW,
};

impl App {
    /// A regulator administrator (or, with `None`, an operator at the command
    /// line) issues a key.
    pub async fn issue_access_key(
        &self,
        actor: Option<&Principal>,
        input: &IssueKeyInput,
        meta: &RequestMeta,
    ) -> AppResult<IssuedKey> {
        const ACTION: &str = "access_keys.issue";
        let permit = match actor {
            Some(a) => Some(
                self.permitted(
                    meta,
                    actor,
                    permit::regulator_task(a, RegulatorTask::AccessKeys, ACTION),
                )
                .await?,
            ),
            None => None,
        };
        let now = self.clock.now();
        let mut errors = FieldErrors::new();
        let org = match input.organisation.trim().parse::<OrgId>() {
            Ok(id) => self.store.organisation(id).await?,
            Err(_) => match domain::Ukprn::parse(input.organisation.trim()) {
                Ok(u) => self.store.organisation_by_ukprn(&u).await?,
                Err(_) => None,
            },
        }
        .filter(|o| o.kind == OrganisationKind::Provider);
        if org.is_none() {
            errors.insert("organisation_id", "Choose a provider".into());
        }
        let areas = self.store.areas().await?;
        let role = Role::parse(input.role.trim()).filter(|r| {
            r.organisation_kind() == OrganisationKind::Provider
                && r.area().is_none_or(|a| areas.iter().any(|x| &x.slug == a))
        });
        if role.is_none() {
            errors.insert(
                "role",
                "Choose a role that a provider's user can hold".into(),
            );
        }
        if !(1..=MOST_USES).contains(&input.max_uses) {
            errors.insert(
                "max_uses",
                format!("The number of uses must be between 1 and {MOST_USES}"),
            );
        }
        match input.expires_at {
            None => {
                errors.insert("expires_at", "Enter the date the key expires".into());
            }
            Some(t) if t <= now => {
                errors.insert("expires_at", "The expiry date must be in the future".into());
            }
            Some(t) if t > now + LONGEST_VALIDITY => {
                errors.insert("expires_at", "The expiry date must be within a year".into());
            }
            Some(_) => {}
        }
        let (Some(org), Some(role), Some(expires_at)) = (org, role, input.expires_at) else {
            return Err(AppError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let key = AccessKey::generate(&mut OsRng);
        let record = AccessKeyRecord {
            id: uuid::Uuid::new_v4(),
            organisation_id: org.id,
            role: role.clone(),
            max_uses: input.max_uses,
            uses: 0,
            expires_at,
            revoked_at: None,
            created_by: actor.map(|a| a.user.id),
            created_at: now,
        };
        let detail = format!(
            "role={} organisation={} max_uses={} expires_at={expires_at}",
            role.id(),
            org.id,
            record.max_uses
        );
        let key_hash = key.hash(&self.key).to_vec();
        self.change(meta, actor, async |u| {
            let permit = match permit {
                Some(p) => p.for_organisation(org.id),
                None => permit::operator_task(RegulatorTask::AccessKeys, ACTION)
                    .for_organisation(org.id),
            };
            u.tx()
                .insert_access_key(&store::NewAccessKey {
                    id: record.id,
                    key_hash,
                    organisation_id: org.id,
                    role: role.clone(),
                    max_uses: record.max_uses,
                    expires_at,
                    created_by: record.created_by,
                    created_at: now,
                })
                .await?;
            u.audit(&permit, Some(record.id.to_string()), &detail)
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        Ok(IssuedKey { key, record })
    }

    /// Every key, newest first, without secrets (regulator administrators).
    pub async fn list_access_keys(
        &self,
        actor: &Principal,
        meta: &RequestMeta,
    ) -> AppResult<Vec<ListedKey>> {
        self.permitted(
            meta,
            Some(actor),
            permit::regulator_task(actor, RegulatorTask::AccessKeys, "access_keys.list"),
        )
        .await?;
        let areas = self.store.areas().await?;
        let mut out = Vec::new();
        let mut names = std::collections::HashMap::new();
        for record in self.store.access_keys(None).await? {
            let organisation_name = match names.get(&record.organisation_id) {
                Some(n) => String::clone(n),
                None => {
                    let n = self
                        .store
                        .organisation(record.organisation_id)
                        .await?
                        .map(|o| o.name)
                        .unwrap_or_default();
                    names.insert(record.organisation_id, n.clone());
                    n
                }
            };
            out.push(ListedKey {
                role_name: role_name(&record.role, &areas),
                organisation_name,
                record,
            });
        }
        Ok(out)
    }

    /// Revokes a key: it can no longer be activated. Revoking twice is not an error.
    pub async fn revoke_access_key(
        &self,
        actor: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        const ACTION: &str = "access_keys.revoke";
        let target: String = id.chars().take(40).collect();
        let permit = self
            .permitted(
                meta,
                Some(actor),
                permit::regulator_task(actor, RegulatorTask::AccessKeys, ACTION)
                    .map_err(|r| r.with_target(target.clone())),
            )
            .await?;
        self.change(meta, Some(actor), async |u| {
            let found = match id.parse::<uuid::Uuid>() {
                Ok(id) => u.tx().access_key(id).await?,
                Err(_) => None,
            };
            let Some(record) = found else {
                return Err(Refusal::denied(ACTION, Some(target), Denial::NotFound).into());
            };
            let permit = permit.for_organisation(record.organisation_id);
            let now = u.now;
            if u.tx().revoke_access_key(record.id, now).await? {
                u.audit(&permit, Some(record.id.to_string()), &record.role.id())
                    .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await
    }

    /// A signed-in person enters a key (My account → Activate an access key).
    /// Every way a key can be wrong gets the same answer; wrong keys are
    /// throttled per person and per client address.
    pub async fn activate_access_key(
        &self,
        actor: &Principal,
        input: &str,
        meta: &RequestMeta,
    ) -> AppResult<RoleGrant> {
        if let Err(retry) = self.ip_hit(meta.ip).await? {
            let refusal = Refusal::because(
                "access_keys.throttled",
                "per-address limit",
                AppError::RateLimited {
                    retry_after_secs: retry,
                },
            );
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        // Every try is counted as wrong before the key is looked at, and given
        // back if it was right: so concurrent guesses, on any replica, never
        // get past the limit.
        let who = actor.user.id.to_string();
        if let Err(retry) = self.take_hit(WRONG_KEYS, &who).await? {
            let refusal = Refusal::because(
                "access_keys.throttled",
                "too many wrong access keys",
                AppError::RateLimited {
                    retry_after_secs: retry,
                },
            );
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let activated = self.activate_counted_key(actor, input, meta).await;
        if activated.is_ok()
            && let Err(e) = self.give_back_hit(WRONG_KEYS, &who).await
        {
            // The role was given: that stands. The person merely has one
            // wrong try fewer until the window ends.
            tracing::warn!(request_id = %meta.request_id, error = ?e, "could not give back a counted access-key try");
        }
        activated
    }

    /// [`App::activate_access_key`] once the try has been counted.
    async fn activate_counted_key(
        &self,
        actor: &Principal,
        input: &str,
        meta: &RequestMeta,
    ) -> AppResult<RoleGrant> {
        let Some(key) = AccessKey::parse(input) else {
            let refusal = Refusal::because(
                ACTIVATE,
                "not an access key",
                AppError::invalid(
                    "key",
                    "Enter the access key as printed in the letter: 24 letters and numbers, like ABCD-EFGH-JKMN-PQRS-TVWX-YZ23",
                ),
            );
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        self.change(meta, Some(actor), async |u| {
            let Some(record) = u
                .tx()
                .access_key_by_hash_for_update(&key.hash(&self.key))
                .await?
            else {
                return Err(Refusal::because(
                    ACTIVATE,
                    "unknown access key",
                    AppError::invalid("key", access_key::KEY_REFUSED),
                )
                .into());
            };
            let permit = permit::access_key(record, actor.organisation.id, u.now, ACTIVATE)?;
            let grant = self.use_access_key(u, &permit, actor.user.id).await?;
            let record = permit.on();
            let detail = if let Some(grant) = &grant {
                u.email(crate::emails::account_changed(
                    actor.user.email.as_str(),
                    &actor.display_name(),
                    &[format!("Role added with an access key: {}", grant.name())],
                    &self.settings.base_url,
                    u.now,
                ))
                .await?;
                let alert = crate::users::Alert {
                    subject: "access key activated",
                    lead: format!(
                        "{} activated an access key",
                        crate::users::person_named(
                            &actor.display_name(),
                            actor.user.email.as_str()
                        )
                    ),
                    changes: vec![format!("Role given: {}", grant.name())],
                };
                self.alert_portal_admins(u, record.organisation_id, &[actor.user.id], &alert)
                    .await?;
                "role granted"
            } else {
                "role already held: no use counted"
            };
            u.audit(
                &permit,
                Some(record.id.to_string()),
                &format!("{detail}: {}", record.role.id()),
            )
            .await?;
            let areas = u.tx().areas().await?;
            let grant = grant.unwrap_or_else(|| RoleGrant {
                area_name: crate::users::area_of(&areas, &record.role).map(|a| a.name.clone()),
                role: record.role.clone(),
            });
            Ok(u.done(&permit, grant))
        })
        .await
    }

    /// Gives `user` the permitted key's role and counts one use; `None` if
    /// they already hold it (no use counted).
    pub(crate) async fn use_access_key(
        &self,
        u: &mut Unit<'_>,
        permit: &Permit<AccessKeyRecord>,
        user: domain::UserId,
    ) -> AppResult<Option<RoleGrant>> {
        let record = permit.on();
        let held = u
            .tx()
            .user_roles(user)
            .await?
            .iter()
            .any(|g| g.role == record.role);
        if held {
            return Ok(None);
        }
        let now = u.now;
        u.tx()
            .grant_role(&store::role_grant(user, record.role.clone(), None, now))
            .await?;
        u.tx().use_access_key(record.id).await?;
        let areas = u.tx().areas().await?;
        Ok(Some(RoleGrant {
            area_name: crate::users::area_of(&areas, &record.role).map(|a| a.name.clone()),
            role: record.role.clone(),
        }))
    }
}

/// A role's display name given the areas (empty area name if the area is gone).
pub(crate) fn role_name(role: &Role, areas: &[domain::role::Area]) -> String {
    let area = role
        .area()
        .and_then(|a| areas.iter().find(|x| &x.slug == a));
    role.name(area.map(|a| a.name.as_str()).unwrap_or_default())
}
