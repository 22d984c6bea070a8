//! Managing an organisation's users (PRODUCT §4, seed 001). Every use case asks
//! `domain::authz` first; a refusal is audited and changes nothing.

use domain::audit::Outcome;
use domain::authz::{self, Action, Denial, Subject};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{RoleGrant, UserFilter, UserRecord, UserWithRoles};

use crate::{App, AppError, AppResult, Principal, RequestMeta};

/// Users per page unless asked otherwise, and at most.
pub const PER_PAGE: i64 = 25;
pub const MAX_PER_PAGE: i64 = 100;

pub struct UserPage {
    pub items: Vec<UserWithRoles>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// What the actor may change about one user (drives which controls a page shows).
#[derive(Debug, Clone, Copy, Default)]
pub struct UserPermissions {
    pub details: bool,
    pub access: bool,
    /// Set, change or remove the expiry date.
    pub expiry: bool,
    /// Unlock the account (only offered when it is locked).
    pub unlock: bool,
    pub roles: bool,
}

/// A role the portal offers, with whether the caller may give it.
pub struct RoleOffer {
    pub role: Role,
    pub name: String,
    pub description: String,
    pub grantable: bool,
}

impl Principal {
    pub fn role_list(&self) -> Vec<Role> {
        self.roles.iter().map(|g| g.role.clone()).collect()
    }

    /// Whether the "Organisations" pages are for this person.
    pub fn may_manage_organisations(&self) -> bool {
        authz::may_manage_organisations(self.organisation.kind, &self.role_list()).is_ok()
    }

    /// Whether the "Access keys" pages are for this person.
    pub fn may_manage_access_keys(&self) -> bool {
        authz::may_do_regulator_task(
            self.organisation.kind,
            &self.role_list(),
            authz::RegulatorTask::AccessKeys,
        )
        .is_ok()
    }

    /// Whether this person may define areas (the "Add an area" form).
    pub fn may_define_areas(&self) -> bool {
        authz::may_do_regulator_task(
            self.organisation.kind,
            &self.role_list(),
            authz::RegulatorTask::Areas,
        )
        .is_ok()
    }

    /// Whether the "User management" pages are for this person.
    pub fn may_manage_users(&self) -> bool {
        let roles = self.role_list();
        let me = subject(&self.user, self.organisation.kind, &roles);
        authz::decide(&me, Action::ListUsers, self.organisation.id, None).is_ok()
    }
}

fn subject<'a>(user: &UserRecord, kind: OrganisationKind, roles: &'a [Role]) -> Subject<'a> {
    Subject {
        user: user.id,
        org: user.organisation_id,
        org_kind: kind,
        roles,
    }
}

impl App {
    /// Turns a denial into the error the caller sees, after auditing it.
    pub(crate) async fn deny(
        &self,
        meta: &RequestMeta,
        actor: &Principal,
        action: &str,
        target: Option<String>,
        denial: Denial,
    ) -> AppError {
        let now = self.clock.now();
        let event = meta.event(
            now,
            Some(actor),
            action,
            target,
            Outcome::Refused,
            denial.reason(),
        );
        let audited = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(&event).await?;
            tx.commit().await
        };
        if let Err(e) = audited.await {
            return e.into();
        }
        match denial {
            Denial::NotFound => AppError::NotFound,
            Denial::Forbidden(why) => AppError::Forbidden(why.to_owned()),
            Denial::LastPortalAdmin => AppError::Conflict(denial.reason().to_owned()),
        }
    }

    /// The organisation's users (the actor's own, or for a regulator
    /// administrator any organisation's), searched, filtered and paged.
    pub async fn list_users(
        &self,
        actor: &Principal,
        organisation: Option<OrgId>,
        filter: UserFilter,
        page: i64,
        meta: &RequestMeta,
    ) -> AppResult<UserPage> {
        let org = organisation.unwrap_or(actor.organisation.id);
        let roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &roles);
        if let Err(d) = authz::decide(&me, Action::ListUsers, org, None) {
            return Err(self
                .deny(meta, actor, "users.list", Some(org.to_string()), d)
                .await);
        }
        let per_page = if filter.limit < 1 {
            PER_PAGE
        } else {
            filter.limit.min(MAX_PER_PAGE)
        };
        let page = page.max(1);
        let filter = UserFilter {
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
            ..filter
        };
        let (items, total) = self.store.list_users(org, &filter).await?;
        Ok(UserPage {
            items,
            total,
            page,
            per_page,
        })
    }

    /// One user, if the actor may see them (404 for another organisation's).
    pub async fn view_user(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let Some(user) = self.store.user(id).await? else {
            return Err(self
                .deny(
                    meta,
                    actor,
                    "users.view",
                    Some(id.to_string()),
                    Denial::NotFound,
                )
                .await);
        };
        let target_roles = self.store.user_roles(id).await?;
        let target_role_list: Vec<Role> = target_roles.iter().map(|g| g.role.clone()).collect();
        let target_kind = match self.store.organisation(user.organisation_id).await? {
            Some(o) => o.kind,
            None => return Err(AppError::internal("user without organisation")),
        };
        let roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &roles);
        let them = subject(&user, target_kind, &target_role_list);
        if let Err(d) = authz::decide(&me, Action::ViewUser, user.organisation_id, Some(&them)) {
            return Err(self
                .deny(meta, actor, "users.view", Some(id.to_string()), d)
                .await);
        }
        Ok(UserWithRoles {
            user,
            roles: target_roles,
        })
    }

    /// Which changes the actor may make to this user.
    pub async fn user_permissions(
        &self,
        actor: &Principal,
        target: &UserWithRoles,
    ) -> AppResult<UserPermissions> {
        let kind = match self.store.organisation(target.user.organisation_id).await? {
            Some(o) => o.kind,
            None => return Err(AppError::internal("user without organisation")),
        };
        let roles = actor.role_list();
        let target_roles: Vec<Role> = target.roles.iter().map(|g| g.role.clone()).collect();
        let me = subject(&actor.user, actor.organisation.kind, &roles);
        let them = subject(&target.user, kind, &target_roles);
        let may = |a| authz::decide(&me, a, target.user.organisation_id, Some(&them)).is_ok();
        Ok(UserPermissions {
            details: may(Action::EditDetails),
            access: may(Action::SetAccess),
            expiry: may(Action::SetExpiry),
            unlock: may(Action::Unlock),
            roles: may(Action::SetRoles),
        })
    }

    /// Every role a user of the actor's organisation could hold, with whether
    /// the actor may give it to someone else there (the API's `grantable`).
    pub async fn role_catalogue(&self, actor: &Principal) -> AppResult<Vec<RoleOffer>> {
        let areas = self.store.areas().await?;
        let roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &roles);
        let colleague = Subject {
            user: UserId::random(),
            org: actor.organisation.id,
            org_kind: actor.organisation.kind,
            roles: &[],
        };
        Ok(catalogue(actor.organisation.kind, &areas)
            .into_iter()
            .map(|(role, area)| {
                let area_name = area.map(|a| a.name.as_str()).unwrap_or_default();
                let sensitive = area.is_some_and(|a| a.sensitive);
                RoleOffer {
                    name: role.name(area_name),
                    description: role.description(area_name),
                    grantable: authz::may_grant(&me, &colleague, &role, sensitive).is_ok(),
                    role,
                }
            })
            .collect())
    }
}

/// The roles of an organisation of `kind`, in the order the guidance lists them.
pub fn catalogue(kind: OrganisationKind, areas: &[Area]) -> Vec<(Role, Option<&Area>)> {
    let mut out = Vec::new();
    match kind {
        OrganisationKind::Provider => {
            out.push((Role::PortalAdmin, None));
            out.push((Role::DelegatedPortalAdmin, None));
            for a in areas.iter().filter(|a| a.kind == AreaKind::DataReturn) {
                out.push((Role::DataCollectionContributor(a.slug.clone()), Some(a)));
            }
            for a in areas.iter().filter(|a| a.kind == AreaKind::Communication) {
                out.push((Role::AreaMember(a.slug.clone()), Some(a)));
            }
        }
        OrganisationKind::Regulator => {
            out.push((Role::RegulatorAdmin, None));
            for a in areas {
                out.push((Role::RegulatorOfficer(a.slug.clone()), Some(a)));
            }
        }
    }
    out
}

/// How a user's roles are to change.
#[derive(Debug, Clone)]
pub enum RoleChange {
    /// The whole new set (Edit user's Submit, `PUT /users/{id}/roles`).
    Replace(Vec<Role>),
    /// Roles to add to whatever is held (area pages, copying permissions).
    Add(Vec<Role>),
    /// Roles to take away from whatever is held (area pages).
    Remove(Vec<Role>),
}

/// What `PATCH /users/{id}` may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub access_enabled: Option<bool>,
    /// `Some(None)` removes the expiry date.
    pub expires_at: Option<Option<time::OffsetDateTime>>,
    /// Only `false` (unlock) is accepted.
    pub locked: Option<bool>,
}

impl App {
    /// Opens the transaction for a change to user `id`: the user (locked on
    /// PostgreSQL, with their organisation), their organisation's kind and their
    /// roles. A user who does not exist is refused as not found, audited.
    async fn begin_change(
        &self,
        actor: &Principal,
        id: UserId,
        action: &str,
        meta: &RequestMeta,
    ) -> AppResult<(
        Box<dyn store::StoreTx>,
        UserRecord,
        OrganisationKind,
        Vec<Role>,
    )> {
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.user_for_update(id).await? else {
            drop(tx);
            return Err(self
                .deny(meta, actor, action, Some(id.to_string()), Denial::NotFound)
                .await);
        };
        tx.lock_organisation(user.organisation_id).await?;
        // An organisation's kind never changes: the actor's own, read with their
        // session this request, serves for a colleague.
        let kind = if user.organisation_id == actor.organisation.id {
            actor.organisation.kind
        } else {
            match self.store.organisation(user.organisation_id).await? {
                Some(org) => org.kind,
                None => return Err(AppError::internal("user without organisation")),
            }
        };
        let roles = tx
            .user_roles(id)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect();
        Ok((tx, user, kind, roles))
    }

    /// Replaces a user's roles with `wanted`, atomically: every role added or
    /// removed must be allowed, and a provider keeps a Portal Administrator.
    pub async fn set_roles(
        &self,
        actor: &Principal,
        id: UserId,
        wanted: &[String],
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let mut parsed = Vec::new();
        for r in wanted {
            match Role::parse(r.trim()) {
                Some(role) if !parsed.contains(&role) => parsed.push(role),
                Some(_) => {}
                None => {
                    return Err(AppError::invalid(
                        "roles",
                        format!("{r} is not a portal role"),
                    ));
                }
            }
        }
        self.change_roles(
            actor,
            id,
            RoleChange::Replace(parsed),
            "users.set_roles",
            meta,
        )
        .await
    }

    /// Gives `to` every role `from` holds that `to` lacks (seed 000 D: "Copy
    /// permissions to another user"). Every role must be one the actor may
    /// grant: if any is not, nothing is copied and the reason is given.
    pub async fn copy_roles(
        &self,
        actor: &Principal,
        from: UserId,
        to: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        const ACTION: &str = "users.copy_roles";
        let source = self.view_user(actor, from, meta).await?;
        if from == to {
            return Err(AppError::invalid(
                "to_user_id",
                "Choose another user to copy the permissions to",
            ));
        }
        let same_org = self
            .store
            .user(to)
            .await?
            .is_some_and(|t| t.organisation_id == source.user.organisation_id);
        if !same_org {
            return Err(self
                .deny(meta, actor, ACTION, Some(to.to_string()), Denial::NotFound)
                .await);
        }
        let roles = source.roles.iter().map(|g| g.role.clone()).collect();
        self.change_roles(actor, to, RoleChange::Add(roles), ACTION, meta)
            .await
    }

    /// The one path by which an administrator changes someone's roles (Edit
    /// user, the API, area pages, copying permissions): worked out against the
    /// roles held inside the transaction, every role added or removed checked
    /// by `authz`, rule 4 counted, and the change audited as `action` and
    /// emailed to the person, all at once or not at all.
    pub(crate) async fn change_roles(
        &self,
        actor: &Principal,
        id: UserId,
        change: RoleChange,
        action: &str,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let areas = self.store.areas().await?;
        let now = self.clock.now();
        let (mut tx, user, kind, current) = self.begin_change(actor, id, action, meta).await?;
        let (added, removed): (Vec<&Role>, Vec<&Role>) = match &change {
            RoleChange::Replace(wanted) => (
                wanted.iter().filter(|r| !current.contains(r)).collect(),
                current.iter().filter(|r| !wanted.contains(r)).collect(),
            ),
            RoleChange::Add(roles) => (
                roles.iter().filter(|r| !current.contains(r)).collect(),
                Vec::new(),
            ),
            RoleChange::Remove(roles) => (
                Vec::new(),
                roles.iter().filter(|r| current.contains(r)).collect(),
            ),
        };
        let actor_roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &actor_roles);
        let them = subject(&user, kind, &current);
        let unknown_area = added
            .iter()
            .find(|r| r.area().is_some() && area_of(&areas, r).is_none());
        if let Some(r) = unknown_area {
            return Err(AppError::invalid(
                "roles",
                format!("{} is not a portal role", r.id()),
            ));
        }
        let sensitive = |r: &Role| area_of(&areas, r).is_some_and(|a| a.sensitive);
        let decision = authz::decide(&me, Action::SetRoles, user.organisation_id, Some(&them))
            .and_then(|()| {
                added
                    .iter()
                    .try_for_each(|r| authz::may_grant(&me, &them, r, sensitive(r)))
            })
            .and_then(|()| {
                removed
                    .iter()
                    .try_for_each(|r| authz::may_grant(&me, &them, r, false))
            });
        let decision = match decision {
            Ok(())
                if removed.contains(&&Role::PortalAdmin)
                    && user.account_state().may_keep_session(now) =>
            {
                let others = tx
                    .portal_admins_with_access(user.organisation_id, now, user.id)
                    .await?;
                authz::keeps_a_portal_admin(kind, others)
            }
            other => other,
        };
        if let Err(d) = decision {
            drop(tx);
            return Err(self
                .deny(meta, actor, action, Some(id.to_string()), d)
                .await);
        }
        if added.is_empty() && removed.is_empty() {
            drop(tx);
            return self.view_user(actor, id, meta).await;
        }
        for r in &added {
            tx.grant_role(&store::role_grant(
                id,
                (*r).clone(),
                Some(actor.user.id),
                now,
            ))
            .await?;
        }
        for r in &removed {
            tx.revoke_role(id, r).await?;
        }
        let name_of = |r: &Role| {
            r.name(
                area_of(&areas, r)
                    .map(|a| a.name.as_str())
                    .unwrap_or_default(),
            )
        };
        let mut changes: Vec<String> = added
            .iter()
            .map(|r| format!("Role added: {}", name_of(r)))
            .collect();
        changes.extend(
            removed
                .iter()
                .map(|r| format!("Role removed: {}", name_of(r))),
        );
        let detail = format!(
            "added=[{}] removed=[{}]",
            added.iter().map(|r| r.id()).collect::<Vec<_>>().join(","),
            removed.iter().map(|r| r.id()).collect::<Vec<_>>().join(",")
        );
        let mut event = meta.event(
            now,
            Some(actor),
            action,
            Some(id.to_string()),
            Outcome::Success,
            &detail,
        );
        event.organisation_id = Some(user.organisation_id);
        tx.append_audit(&event).await?;
        let email = crate::emails::account_changed(
            &user.email,
            &user.display_name(),
            &changes,
            &self.settings.base_url,
            now,
        );
        self.queue_email(tx.as_mut(), email).await?;
        tx.commit().await?;
        self.outbox_ready.notify_one();
        // The answer is what this transaction committed: the roles held, less
        // those removed, with those added, in the store's order (by role id).
        let mut roles: Vec<RoleGrant> = current
            .iter()
            .filter(|r| !removed.contains(r))
            .chain(added.iter().copied())
            .map(|r| RoleGrant {
                role: r.clone(),
                area_name: area_of(&areas, r).map(|a| a.name.clone()),
            })
            .collect();
        roles.sort_by_key(|g| g.role.id());
        Ok(UserWithRoles { user, roles })
    }

    /// Changes details, access, expiry or lock, each checked as its own action.
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        patch: &UserPatch,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let mut errors = crate::FieldErrors::new();
        if patch.locked == Some(true) {
            errors.insert(
                "locked",
                "Accounts can be unlocked, not locked: set access_enabled to false instead".into(),
            );
        }
        let email = match &patch.email {
            Some(e) => match domain::EmailAddress::parse(e) {
                Ok(e) => Some(e),
                Err(err) => {
                    errors.insert("email", err.to_string());
                    None
                }
            },
            None => None,
        };
        let check_name = |errors: &mut crate::FieldErrors,
                          field: &'static str,
                          v: &Option<String>,
                          label: &str| {
            if let Some(v) = v {
                if v.trim().is_empty() && field != "title" {
                    errors.insert(field, format!("Enter {label}"));
                } else if v.chars().count() > 100 || v.chars().any(char::is_control) {
                    errors.insert(
                        field,
                        format!(
                            "{label} must be 100 characters or fewer, without control characters"
                        ),
                    );
                }
            }
        };
        check_name(&mut errors, "title", &patch.title, "a title");
        check_name(&mut errors, "first_name", &patch.first_name, "a first name");
        check_name(&mut errors, "last_name", &patch.last_name, "a last name");
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let mut actions = Vec::new();
        if patch.title.is_some()
            || patch.first_name.is_some()
            || patch.last_name.is_some()
            || email.is_some()
        {
            actions.push(Action::EditDetails);
        }
        if patch.access_enabled.is_some() {
            actions.push(Action::SetAccess);
        }
        if patch.expires_at.is_some() {
            actions.push(Action::SetExpiry);
        }
        if patch.locked.is_some() {
            actions.push(Action::Unlock);
        }
        let now = self.clock.now();
        let (mut tx, user, kind, current) =
            self.begin_change(actor, id, "users.update", meta).await?;
        let actor_roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &actor_roles);
        let them = subject(&user, kind, &current);
        let mut decision = authz::decide(&me, Action::ViewUser, user.organisation_id, Some(&them));
        for a in &actions {
            decision =
                decision.and_then(|()| authz::decide(&me, *a, user.organisation_id, Some(&them)));
        }
        let after = domain::user::AccountState {
            access_enabled: patch.access_enabled.unwrap_or(user.access_enabled),
            expires_at: patch.expires_at.unwrap_or(user.expires_at),
            locked: user.locked && patch.locked != Some(false),
            ..user.account_state()
        };
        let loses_access =
            user.account_state().may_keep_session(now) && !after.may_keep_session(now);
        if decision.is_ok() && loses_access && current.contains(&Role::PortalAdmin) {
            let others = tx
                .portal_admins_with_access(user.organisation_id, now, user.id)
                .await?;
            decision = authz::keeps_a_portal_admin(kind, others);
        }
        if let Err(d) = decision {
            drop(tx);
            return Err(self
                .deny(meta, actor, "users.update", Some(id.to_string()), d)
                .await);
        }
        let mut changes = Vec::new();
        if actions.contains(&Action::EditDetails) {
            let details = store::UserDetails {
                title: patch
                    .title
                    .clone()
                    .unwrap_or(user.title.clone())
                    .trim()
                    .to_owned(),
                first_name: patch
                    .first_name
                    .clone()
                    .unwrap_or(user.first_name.clone())
                    .trim()
                    .to_owned(),
                last_name: patch
                    .last_name
                    .clone()
                    .unwrap_or(user.last_name.clone())
                    .trim()
                    .to_owned(),
                email: match email {
                    Some(e) => e,
                    None => domain::EmailAddress::parse(&user.email)
                        .map_err(|_| AppError::internal("stored email no longer parses"))?,
                },
            };
            if let Err(e) = tx.update_user_details(id, &details).await {
                drop(tx);
                return Err(if e.is_conflict() {
                    AppError::Conflict("This email address already has a portal account".into())
                } else {
                    e.into()
                });
            }
            changes.push("Your details were updated".to_owned());
        }
        if let Some(enabled) = patch.access_enabled.filter(|e| *e != user.access_enabled) {
            tx.set_access(id, enabled).await?;
            changes.push(
                if enabled {
                    "Portal access enabled"
                } else {
                    "Portal access disabled"
                }
                .to_owned(),
            );
        }
        if let Some(expiry) = patch.expires_at.filter(|e| *e != user.expires_at) {
            tx.set_expiry(id, expiry).await?;
            changes.push(match expiry {
                Some(t) => format!("Account expiry date set to {}", t.date()),
                None => "Account expiry date removed".to_owned(),
            });
        }
        if patch.locked == Some(false) && user.account_state().is_locked(now) {
            tx.unlock(id).await?;
            changes.push("Account unlocked".to_owned());
        }
        if !after.may_keep_session(now) {
            // Disabled or expired: every session ends now, not at its next request.
            tx.end_sessions_of(id, now).await?;
        }
        if !changes.is_empty() {
            let mut event = meta.event(
                now,
                Some(actor),
                "users.update",
                Some(id.to_string()),
                Outcome::Success,
                &changes.join("; "),
            );
            event.organisation_id = Some(user.organisation_id);
            tx.append_audit(&event).await?;
            let to = patch
                .email
                .as_deref()
                .map(str::trim)
                .unwrap_or(&user.email)
                .to_owned();
            let email = crate::emails::account_changed(
                &to,
                &user.display_name(),
                &changes,
                &self.settings.base_url,
                now,
            );
            self.queue_email(tx.as_mut(), email).await?;
        }
        tx.commit().await?;
        self.outbox_ready.notify_one();
        self.view_user(actor, id, meta).await
    }
}

/// A request to add someone, as typed on the Add user form or sent to the API.
#[derive(Debug, Clone, Default)]
pub struct AddUserInput {
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<String>,
}

/// Why a request is refused when the address is taken: the same words whether
/// the account is at this provider or another, so nothing is revealed.
pub const ADDRESS_TAKEN: &str = "This email address already has a Provider Portal account. \
     Each person has one account; if they have moved to your organisation, contact portal@officeforstudents.org.uk.";

impl App {
    /// Asks for a user to be created (seed 001: processed in the background).
    /// Asking twice for the same address while the first is waiting gives the
    /// same request, so a double submit makes one user.
    pub async fn request_user(
        &self,
        actor: &Principal,
        organisation: Option<OrgId>,
        input: &AddUserInput,
        meta: &RequestMeta,
    ) -> AppResult<uuid::Uuid> {
        let org_id = organisation.unwrap_or(actor.organisation.id);
        let actor_roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &actor_roles);
        if let Err(d) = authz::decide(&me, Action::AddUser, org_id, None) {
            return Err(self
                .deny(meta, actor, "users.add", Some(org_id.to_string()), d)
                .await);
        }
        let Some(org) = self.store.organisation(org_id).await? else {
            return Err(self
                .deny(
                    meta,
                    actor,
                    "users.add",
                    Some(org_id.to_string()),
                    Denial::NotFound,
                )
                .await);
        };
        let mut errors = crate::FieldErrors::new();
        if input.title.trim().is_empty() {
            errors.insert("title", "Enter a title, like Dr or Ms".into());
        }
        let person = crate::admin::person(
            &mut errors,
            &input.title,
            &input.first_name,
            &input.last_name,
            &input.email,
        );
        let mut roles = Vec::new();
        for r in &input.roles {
            match Role::parse(r.trim()) {
                Some(role) if !roles.contains(&role) => roles.push(role),
                Some(_) => {}
                None => {
                    errors.insert("roles", format!("{r} is not a portal role"));
                }
            }
        }
        let Some((title, first_name, last_name, email)) = person.filter(|_| errors.is_empty())
        else {
            return Err(AppError::Invalid(errors));
        };
        let areas = self.store.areas().await?;
        let newcomer = Subject {
            user: UserId::random(),
            org: org.id,
            org_kind: org.kind,
            roles: &[],
        };
        for role in &roles {
            let sensitive = area_of(&areas, role).is_some_and(|a| a.sensitive);
            if role.area().is_some() && area_of(&areas, role).is_none() {
                return Err(AppError::invalid(
                    "roles",
                    format!("{} is not a portal role", role.id()),
                ));
            }
            if let Err(d) = authz::may_grant(&me, &newcomer, role, sensitive) {
                return Err(self
                    .deny(meta, actor, "users.add", Some(email.normalised()), d)
                    .await);
            }
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(existing) = tx.pending_request_for(org.id, &email.normalised()).await? {
            return Ok(existing);
        }
        let id = uuid::Uuid::new_v4();
        tx.insert_user_request(&store::NewUserRequest {
            id,
            organisation_id: org.id,
            requested_by: Some(actor.user.id),
            title,
            first_name,
            last_name,
            email: email.clone(),
            roles: roles.clone(),
            created_at: now,
        })
        .await?;
        let mut event = meta.event(
            now,
            Some(actor),
            "users.add_requested",
            Some(email.normalised()),
            Outcome::Success,
            &format!(
                "request {id} roles=[{}]",
                roles.iter().map(Role::id).collect::<Vec<_>>().join(",")
            ),
        );
        event.organisation_id = Some(org.id);
        tx.append_audit(&event).await?;
        tx.commit().await?;
        self.outbox_ready.notify_one();
        Ok(id)
    }

    /// A request's progress, for the person's organisation (or the regulator).
    pub async fn user_request(
        &self,
        actor: &Principal,
        id: uuid::Uuid,
        meta: &RequestMeta,
    ) -> AppResult<store::UserRequestRecord> {
        let found = self.store.user_request(id).await?;
        let actor_roles = actor.role_list();
        let me = subject(&actor.user, actor.organisation.kind, &actor_roles);
        let decision = match &found {
            Some(r) => authz::decide(&me, Action::AddUser, r.organisation_id, None),
            None => Err(Denial::NotFound),
        };
        match (found, decision) {
            (Some(r), Ok(())) => Ok(r),
            (_, Err(d)) => Err(self
                .deny(meta, actor, "users.add_status", Some(id.to_string()), d)
                .await),
            (None, Ok(())) => Err(AppError::NotFound),
        }
    }

    /// Processes the oldest waiting request; `false` when none waits. The new
    /// user gets a welcome email; whoever asked gets the outcome.
    pub async fn process_next_user_request(&self) -> AppResult<bool> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(req) = tx.next_pending_request().await? else {
            return Ok(false);
        };
        let email = domain::EmailAddress::parse(&req.email)
            .map_err(|_| AppError::internal("stored request email no longer parses"))?;
        let person = format!(
            "{} ({})",
            domain::user::display_name(&req.title, &req.first_name, &req.last_name),
            req.email
        );
        let requester = match req.requested_by {
            Some(id) => self.store.user(id).await?,
            None => None,
        };
        let meta = RequestMeta::operator("add-user");
        let taken = tx
            .user_by_email_for_update(&email.normalised())
            .await?
            .is_some();
        let result = if taken {
            tx.finish_user_request(req.id, Err(ADDRESS_TAKEN), now)
                .await?;
            Err(ADDRESS_TAKEN)
        } else {
            let user_id = UserId::random();
            tx.insert_user(&store::NewUser {
                id: user_id,
                organisation_id: req.organisation_id,
                title: req.title.clone(),
                first_name: req.first_name.clone(),
                last_name: req.last_name.clone(),
                email: email.clone(),
                created_at: now,
                created_by: req.requested_by,
            })
            .await?;
            for role in &req.roles {
                tx.grant_role(&store::role_grant(
                    user_id,
                    role.clone(),
                    req.requested_by,
                    now,
                ))
                .await?;
            }
            tx.finish_user_request(req.id, Ok(user_id), now).await?;
            let org_name = self
                .store
                .organisation(req.organisation_id)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            let name = domain::user::display_name(&req.title, &req.first_name, &req.last_name);
            let welcome = crate::emails::welcome(
                email.as_str(),
                &name,
                &org_name,
                &self.settings.base_url,
                now,
            );
            self.queue_email(tx.as_mut(), welcome).await?;
            Ok(())
        };
        let mut event = meta.event(
            now,
            None,
            "users.add_processed",
            Some(email.normalised()),
            if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Refused
            },
            &format!("request {}: {}", req.id, result.err().unwrap_or("created")),
        );
        event.actor_id = req.requested_by;
        event.organisation_id = Some(req.organisation_id);
        tx.append_audit(&event).await?;
        if let Some(r) = requester {
            self.queue_email(
                tx.as_mut(),
                crate::emails::add_user_outcome(&r.email, &person, result, now),
            )
            .await?;
        }
        tx.commit().await?;
        self.outbox_ready.notify_one();
        Ok(true)
    }
}

/// The area an area role is for, among `areas`; `None` for a role without an
/// area, or for an area that does not exist.
fn area_of<'a>(areas: &'a [Area], role: &Role) -> Option<&'a Area> {
    let slug = role.area()?;
    areas.iter().find(|a| &a.slug == slug)
}
