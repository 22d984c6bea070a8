//! Access keys (PRODUCT §5, seed 000): the regulator issues a key for one role
//! at one provider, with an expiry and a number of uses; it is shown once and
//! stored as a keyed hash. Whoever activates it (signed in, or registering with
//! a password) gets that role at that provider only. It is the only way to a
//! sensitive area's role (rule 5).

use domain::access_key::{self, AccessKey};
use domain::audit::Outcome;
use domain::authz::{self, RegulatorTask};
use domain::{OrgId, OrganisationKind, Role};
use rand::rngs::OsRng;
use store::{AccessKeyRecord, RoleGrant};
use time::{Duration, OffsetDateTime};

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

impl App {
    fn regulator_task(&self, actor: &Principal) -> authz::Decision {
        authz::may_do_regulator_task(
            actor.organisation.kind,
            &actor.role_list(),
            RegulatorTask::AccessKeys,
        )
    }

    /// A regulator administrator (or, with `None`, an operator at the command
    /// line) issues a key.
    pub async fn issue_access_key(
        &self,
        actor: Option<&Principal>,
        input: &IssueKeyInput,
        meta: &RequestMeta,
    ) -> AppResult<IssuedKey> {
        if let Some(a) = actor
            && let Err(d) = self.regulator_task(a)
        {
            return Err(self.deny(meta, a, "access_keys.issue", None, d).await);
        }
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
        let mut tx = self.store.begin().await?;
        tx.insert_access_key(&store::NewAccessKey {
            id: record.id,
            key_hash: key.hash(&self.key).to_vec(),
            organisation_id: org.id,
            role: role.clone(),
            max_uses: record.max_uses,
            expires_at,
            created_by: record.created_by,
            created_at: now,
        })
        .await?;
        let mut event = meta.event(
            now,
            actor,
            "access_keys.issue",
            Some(record.id.to_string()),
            Outcome::Success,
            &format!(
                "role={} organisation={} max_uses={} expires_at={expires_at}",
                role.id(),
                org.id,
                record.max_uses
            ),
        );
        event.organisation_id = Some(org.id);
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok(IssuedKey { key, record })
    }

    /// Every key, newest first, without secrets (regulator administrators).
    pub async fn list_access_keys(
        &self,
        actor: &Principal,
        meta: &RequestMeta,
    ) -> AppResult<Vec<ListedKey>> {
        if let Err(d) = self.regulator_task(actor) {
            return Err(self.deny(meta, actor, "access_keys.list", None, d).await);
        }
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
        if let Err(d) = self.regulator_task(actor) {
            return Err(self
                .deny(
                    meta,
                    actor,
                    "access_keys.revoke",
                    Some(id.chars().take(40).collect()),
                    d,
                )
                .await);
        }
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.access_key(id).await?,
            Err(_) => None,
        };
        let Some(record) = found else {
            return Err(self
                .deny(
                    meta,
                    actor,
                    "access_keys.revoke",
                    Some(id.chars().take(40).collect()),
                    authz::Denial::NotFound,
                )
                .await);
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if tx.revoke_access_key(record.id, now).await? {
            let mut event = meta.event(
                now,
                Some(actor),
                "access_keys.revoke",
                Some(record.id.to_string()),
                Outcome::Success,
                &record.role.id(),
            );
            event.organisation_id = Some(record.organisation_id);
            tx.append_audit(&event).await?;
        }
        tx.commit().await?;
        Ok(())
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
        let now = self.clock.now();
        if let Err(retry) = self.sign_in_limiter.check(meta.ip, now) {
            self.audit_refusal(
                meta,
                Some(actor),
                "access_keys.throttled",
                "per-address limit",
            )
            .await?;
            return Err(AppError::RateLimited {
                retry_after_secs: retry,
            });
        }
        let wrong = self
            .store
            .refusals_since(actor.user.id, ACTIVATE, now - access_key::WRONG_KEY_WINDOW)
            .await?;
        if wrong >= access_key::MAX_WRONG_KEYS {
            self.audit_refusal(
                meta,
                Some(actor),
                "access_keys.throttled",
                "too many wrong access keys",
            )
            .await?;
            return Err(AppError::RateLimited {
                retry_after_secs: access_key::WRONG_KEY_WINDOW.whole_seconds() as u64,
            });
        }
        let refuse =
            |why: &str| meta.event(now, Some(actor), ACTIVATE, None, Outcome::Refused, why);
        let Some(key) = AccessKey::parse(input) else {
            self.audit_refusal(meta, Some(actor), ACTIVATE, "not an access key")
                .await?;
            return Err(AppError::invalid(
                "key",
                "Enter the access key as printed in the letter: 24 letters and numbers, like ABCD-EFGH-JKMN-PQRS-TVWX-YZ23",
            ));
        };
        let mut tx = self.store.begin().await?;
        let Some(record) = tx
            .access_key_by_hash_for_update(&key.hash(&self.key))
            .await?
        else {
            tx.append_audit(&refuse("unknown access key")).await?;
            tx.commit().await?;
            return Err(AppError::invalid("key", access_key::KEY_REFUSED));
        };
        let target = |mut e: store::NewAuditEvent| {
            e.target = Some(record.id.to_string());
            e
        };
        if let Some(why) = authz::access_key_refusal(
            record.organisation_id,
            actor.organisation.id,
            record.is_expired(now),
            record.is_used_up(),
            record.revoked_at.is_some(),
        ) {
            tx.append_audit(&target(refuse(why))).await?;
            tx.commit().await?;
            return Err(AppError::invalid("key", access_key::KEY_REFUSED));
        }
        let areas = self.store.areas().await?;
        let grant = RoleGrant {
            area_name: record
                .role
                .area()
                .and_then(|a| areas.iter().find(|x| &x.slug == a))
                .map(|a| a.name.clone()),
            role: record.role.clone(),
        };
        let held = tx
            .user_roles(actor.user.id)
            .await?
            .iter()
            .any(|g| g.role == record.role);
        let detail = if held {
            "role already held: no use counted"
        } else {
            tx.grant_role(&store::role_grant(
                actor.user.id,
                record.role.clone(),
                None,
                now,
            ))
            .await?;
            tx.use_access_key(record.id).await?;
            let email = crate::emails::account_changed(
                &actor.user.email,
                &actor.display_name(),
                &[format!("Role added with an access key: {}", grant.name())],
                &self.settings.base_url,
                now,
            );
            self.queue_email(tx.as_mut(), email).await?;
            "role granted"
        };
        tx.append_audit(&target(meta.event(
            now,
            Some(actor),
            ACTIVATE,
            None,
            Outcome::Success,
            &format!("{detail}: {}", record.role.id()),
        )))
        .await?;
        tx.commit().await?;
        self.outbox_ready.notify_one();
        Ok(grant)
    }
}

/// A role's display name given the areas (empty area name if the area is gone).
pub(crate) fn role_name(role: &Role, areas: &[domain::role::Area]) -> String {
    let area = role
        .area()
        .and_then(|a| areas.iter().find(|x| &x.slug == a));
    role.name(area.map(|a| a.name.as_str()).unwrap_or_default())
}
