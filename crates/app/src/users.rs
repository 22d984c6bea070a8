//! Managing an organisation's users (PRODUCT §4, seed 001). Every use case asks
//! `domain::authz` first; a refusal is audited and changes nothing.

use domain::audit::Outcome;
use domain::authz::{Action, Denial, RegulatorTask};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{RoleGrant, UserFilter, UserRecord, UserWithRoles};

use crate::permit::{self, Refusal, TargetUser};
use crate::unit::{Done, Unit};
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
    /// Copy this user's roles to a colleague: every role they hold is one
    /// the actor may give.
    pub copy: bool,
    /// Why the actor may change nothing about this user's roles or access,
    /// when they may not (shown where the controls would be).
    pub why_not: Option<&'static str>,
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
        permit::may_do(self, RegulatorTask::Organisations)
    }

    /// Whether the "Access keys" pages are for this person.
    pub fn may_manage_access_keys(&self) -> bool {
        permit::may_do(self, RegulatorTask::AccessKeys)
    }

    /// Whether this person may define areas (the "Add an area" form).
    pub fn may_define_areas(&self) -> bool {
        permit::may_do(self, RegulatorTask::Areas)
    }

    /// Whether the "User management" pages are for this person.
    pub fn may_manage_users(&self) -> bool {
        permit::org_users(self, Action::ListUsers, self.organisation.id, "users.list").is_ok()
    }

    /// Whether this person may ask for users to be added to their organisation.
    pub fn may_add_users(&self) -> bool {
        permit::org_users(self, Action::AddUser, self.organisation.id, "users.add").is_ok()
    }
}

/// A user as the actor may see them, with what the actor may change.
pub struct UserView {
    pub user: UserWithRoles,
    pub may: UserPermissions,
}

impl App {
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
        let permit = self
            .permitted(
                meta,
                Some(actor),
                permit::org_users(actor, Action::ListUsers, org, "users.list"),
            )
            .await?;
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
        let (items, total) = self.store.list_users(permit.on().0, &filter).await?;
        Ok(UserPage {
            items,
            total,
            page,
            per_page,
        })
    }

    /// The organisation the actor may add users to: their own, or for a
    /// regulator administrator any provider. A refusal is audited (the Add
    /// user form is not shown to someone who could never submit it).
    pub async fn may_add_users(
        &self,
        actor: &Principal,
        organisation: Option<OrgId>,
        meta: &RequestMeta,
    ) -> AppResult<()> {
        let org = organisation.unwrap_or(actor.organisation.id);
        self.permitted(
            meta,
            Some(actor),
            permit::org_users(actor, Action::AddUser, org, "users.add"),
        )
        .await
        .map(|_| ())
    }

    /// A user as seen by someone allowed to see them (404 for another
    /// organisation's), read without locking.
    async fn target(
        &self,
        actor: &Principal,
        id: UserId,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(TargetUser, Vec<RoleGrant>)> {
        let Some(user) = self.store.user(id).await? else {
            return Err(self
                .refused(
                    meta,
                    Some(actor),
                    Refusal::denied(action, Some(id.to_string()), Denial::NotFound),
                )
                .await);
        };
        let grants = self.store.user_roles(id).await?;
        let kind = if user.organisation_id == actor.organisation.id {
            actor.organisation.kind
        } else {
            match self.store.organisation(user.organisation_id).await? {
                Some(o) => o.kind,
                None => return Err(AppError::internal("user without organisation")),
            }
        };
        let roles = grants.iter().map(|g| g.role.clone()).collect();
        Ok((TargetUser { user, kind, roles }, grants))
    }

    /// One user, if the actor may see them (404 for another organisation's).
    pub async fn view_user(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        Ok(self.user_view(actor, id, meta).await?.user)
    }

    /// One user with what the actor may change about them, from the same
    /// decisions the changes use.
    pub async fn user_view(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserView> {
        const ACTION: &str = "users.view";
        let (target, grants) = self.target(actor, id, ACTION, meta).await?;
        let permit = self
            .permitted(meta, Some(actor), permit::user(actor, target, &[], ACTION))
            .await?;
        let target = permit.on();
        let allowed = permit::user_actions(actor, target);
        let may = |a| allowed.contains(&a);
        let areas = self.store.areas().await?;
        let org = target.user.organisation_id;
        let copy = may(Action::SetRoles)
            && target.roles.iter().all(|r| {
                let sensitive = area_of(&areas, r).is_some_and(|a| a.sensitive);
                permit::may_grant_newcomer(actor, org, target.kind, r, sensitive).is_ok()
            });
        let may = UserPermissions {
            details: may(Action::EditDetails),
            access: may(Action::SetAccess),
            expiry: may(Action::SetExpiry),
            unlock: may(Action::Unlock),
            roles: may(Action::SetRoles),
            copy,
            why_not: permit::user_refusal(actor, target, Action::SetRoles),
        };
        Ok(UserView {
            user: UserWithRoles {
                user: permit.into_inner().user,
                roles: grants,
            },
            may,
        })
    }

    /// The colleagues `from`'s roles may be copied to (seed 000 D1), searched:
    /// only users whose roles the actor may change, never the actor or `from`.
    pub async fn copy_targets(
        &self,
        actor: &Principal,
        from: &UserWithRoles,
        q: String,
        meta: &RequestMeta,
    ) -> AppResult<UserPage> {
        let org = from.user.organisation_id;
        let filter = UserFilter {
            q: Some(q),
            ..UserFilter::default()
        };
        let mut page = self.list_users(actor, Some(org), filter, 1, meta).await?;
        let kind = match self.store.organisation(org).await? {
            Some(o) => o.kind,
            None => return Err(AppError::internal("user without organisation")),
        };
        page.items.retain(|u| {
            let target = TargetUser {
                user: u.user.clone(),
                kind,
                roles: u.roles.iter().map(|g| g.role.clone()).collect(),
            };
            u.user.id != from.user.id
                && u.user.id != actor.user.id
                && permit::user_actions(actor, &target).contains(&Action::SetRoles)
        });
        Ok(page)
    }

    /// Every role a user of the actor's organisation could hold, with whether
    /// the actor may give it to someone else there (the API's `grantable`).
    pub async fn role_catalogue(&self, actor: &Principal) -> AppResult<Vec<RoleOffer>> {
        let areas = self.store.areas().await?;
        Ok(offers(
            actor,
            actor.organisation.id,
            actor.organisation.kind,
            &areas,
        ))
    }

    /// The roles a user of organisation `org` could hold, with whether the
    /// actor may give them (the Add user and invite forms offer only those).
    pub async fn roles_for(&self, actor: &Principal, org: OrgId) -> AppResult<Vec<RoleOffer>> {
        let Some(o) = self.store.organisation(org).await? else {
            return Ok(Vec::new());
        };
        let areas = self.store.areas().await?;
        Ok(offers(actor, o.id, o.kind, &areas))
    }
}

fn offers(actor: &Principal, org: OrgId, kind: OrganisationKind, areas: &[Area]) -> Vec<RoleOffer> {
    catalogue(kind, areas)
        .into_iter()
        .map(|(role, area)| {
            let area_name = area.map(|a| a.name.as_str()).unwrap_or_default();
            let sensitive = area.is_some_and(|a| a.sensitive);
            RoleOffer {
                name: role.name(area_name),
                description: role.description(area_name),
                grantable: permit::may_grant_newcomer(actor, org, kind, &role, sensitive).is_ok(),
                role,
            }
        })
        .collect()
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

/// Everything one request asks to change about a user: Edit user's Submit
/// (roles and access together), `PATCH /users/{id}` (with or without roles),
/// `PUT /users/{id}/roles`, the area pages and copying permissions.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    pub patch: UserPatch,
    pub roles: Option<RoleChange>,
}

impl UserPatch {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.email.is_none()
            && self.access_enabled.is_none()
            && self.expires_at.is_none()
            && self.locked.is_none()
    }

    /// The actions of PRODUCT §2 this patch needs.
    fn actions(&self) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.title.is_some()
            || self.first_name.is_some()
            || self.last_name.is_some()
            || self.email.is_some()
        {
            actions.push(Action::EditDetails);
        }
        if self.access_enabled.is_some() {
            actions.push(Action::SetAccess);
        }
        if self.expires_at.is_some() {
            actions.push(Action::SetExpiry);
        }
        if self.locked.is_some() {
            actions.push(Action::Unlock);
        }
        actions
    }

    /// Checks the patch's own values; the email as parsed.
    fn check(&self) -> AppResult<Option<domain::EmailAddress>> {
        let mut errors = crate::FieldErrors::new();
        if self.locked == Some(true) {
            errors.insert(
                "locked",
                "Accounts can be unlocked, not locked: set access_enabled to false instead".into(),
            );
        }
        let email = match &self.email {
            Some(e) => domain::EmailAddress::parse(e)
                .map_err(|err| errors.insert("email", err.to_string()))
                .ok(),
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
        check_name(&mut errors, "title", &self.title, "a title");
        check_name(&mut errors, "first_name", &self.first_name, "a first name");
        check_name(&mut errors, "last_name", &self.last_name, "a last name");
        if errors.is_empty() {
            Ok(email)
        } else {
            Err(AppError::Invalid(errors))
        }
    }
}

/// Reads user `id` for a change, in the change's transaction: the user
/// (locked on PostgreSQL, with their organisation), their organisation's kind
/// and their roles. A user who does not exist is refused as not found.
async fn target_for_change(
    u: &mut Unit<'_>,
    actor: &Principal,
    id: UserId,
    action: &str,
) -> AppResult<TargetUser> {
    let tx = u.tx();
    let Some(user) = tx.user_for_update(id).await? else {
        return Err(Refusal::denied(action, Some(id.to_string()), Denial::NotFound).into());
    };
    tx.lock_organisation(user.organisation_id).await?;
    // An organisation's kind never changes: the actor's own, read with their
    // session this request, serves for a colleague.
    let kind = if user.organisation_id == actor.organisation.id {
        actor.organisation.kind
    } else {
        match tx.organisation(user.organisation_id).await? {
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
    Ok(TargetUser { user, kind, roles })
}

impl App {
    /// Replaces a user's roles with `wanted`, atomically: every role added or
    /// removed must be allowed, and a provider keeps a Portal Administrator.
    pub async fn set_roles(
        &self,
        actor: &Principal,
        id: UserId,
        wanted: &[String],
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let edit = UserEdit {
            roles: Some(RoleChange::Replace(parse_roles(wanted)?)),
            ..UserEdit::default()
        };
        self.edit_user(actor, id, edit, "users.set_roles", meta)
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
        let roles = source.roles.iter().map(|g| g.role.clone()).collect();
        self.change(meta, Some(actor), async |u| {
            let target = target_for_change(u, actor, to, ACTION).await?;
            if target.user.organisation_id != source.user.organisation_id {
                return Err(Refusal::denied(ACTION, Some(to.to_string()), Denial::NotFound).into());
            }
            let edit = UserEdit {
                roles: Some(RoleChange::Add(roles)),
                ..UserEdit::default()
            };
            self.apply_edit(u, actor, target, edit, ACTION).await
        })
        .await
    }

    /// Changes details, access, expiry or lock, each checked as its own action.
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        patch: &UserPatch,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let edit = UserEdit {
            patch: patch.clone(),
            roles: None,
        };
        self.edit_user(actor, id, edit, "users.update", meta).await
    }

    /// The one path by which anything about a user changes: validated
    /// together, decided together (every action, every role added or removed,
    /// rule 4 counted once for the final state), applied in one unit of work,
    /// audited once as `action` (`users.update` when the patch changes
    /// anything) and emailed to the person, all at once or not at all.
    pub async fn edit_user(
        &self,
        actor: &Principal,
        id: UserId,
        edit: UserEdit,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        edit.patch.check()?;
        let action = if edit.patch.is_empty() {
            action
        } else {
            "users.update"
        };
        self.change(meta, Some(actor), async |u| {
            let target = target_for_change(u, actor, id, action).await?;
            self.apply_edit(u, actor, target, edit, action).await
        })
        .await
    }

    /// [`App::edit_user`] inside an open unit, on a target it has read.
    async fn apply_edit(
        &self,
        u: &mut Unit<'_>,
        actor: &Principal,
        target: TargetUser,
        edit: UserEdit,
        action: &'static str,
    ) -> AppResult<Done<UserWithRoles>> {
        let UserEdit { patch, roles } = edit;
        let email = patch.check()?;
        let now = u.now;
        let areas = u.tx().areas().await?;
        let current = target.roles.clone();
        let (added, removed): (Vec<Role>, Vec<Role>) = match &roles {
            None => (Vec::new(), Vec::new()),
            Some(RoleChange::Replace(wanted)) => (
                wanted
                    .iter()
                    .filter(|r| !current.contains(r))
                    .cloned()
                    .collect(),
                current
                    .iter()
                    .filter(|r| !wanted.contains(r))
                    .cloned()
                    .collect(),
            ),
            Some(RoleChange::Add(roles)) => (
                roles
                    .iter()
                    .filter(|r| !current.contains(r))
                    .cloned()
                    .collect(),
                Vec::new(),
            ),
            Some(RoleChange::Remove(roles)) => (
                Vec::new(),
                roles
                    .iter()
                    .filter(|r| current.contains(r))
                    .cloned()
                    .collect(),
            ),
        };
        if let Some(r) = added
            .iter()
            .find(|r| r.area().is_some() && area_of(&areas, r).is_none())
        {
            return Err(AppError::invalid(
                "roles",
                format!("{} is not a portal role", r.id()),
            ));
        }
        let mut actions = patch.actions();
        if roles.is_some() {
            actions.push(Action::SetRoles);
        }
        let permit = permit::user(actor, target, &actions, action)?;
        permit::roles(actor, &permit, &added, &removed, &areas)?;
        let user = permit.on().user.clone();
        let before = user.account_state();
        let after = domain::user::AccountState {
            access_enabled: patch.access_enabled.unwrap_or(user.access_enabled),
            expires_at: patch.expires_at.unwrap_or(user.expires_at),
            locked: user.locked && patch.locked != Some(false),
            ..before
        };
        // Rule 4, for the state after everything this request changes.
        let admin_before = current.contains(&Role::PortalAdmin) && before.may_keep_session(now);
        let admin_after =
            admin_before && !removed.contains(&Role::PortalAdmin) && after.may_keep_session(now);
        if admin_before && !admin_after {
            let others = u
                .tx()
                .portal_admins_with_access(user.organisation_id, now, user.id)
                .await?;
            permit::keeps_a_portal_admin(&permit, others)?;
        }
        let id = user.id;
        let mut changes = self.apply_patch(u, &user, &patch, email).await?;
        for r in &added {
            u.tx()
                .grant_role(&store::role_grant(id, r.clone(), Some(actor.user.id), now))
                .await?;
        }
        for r in &removed {
            u.tx().revoke_role(id, r).await?;
        }
        let name_of = |r: &Role| {
            r.name(
                area_of(&areas, r)
                    .map(|a| a.name.as_str())
                    .unwrap_or_default(),
            )
        };
        let mut details = Vec::new();
        if !added.is_empty() || !removed.is_empty() {
            details.push(format!(
                "added=[{}] removed=[{}]",
                added.iter().map(Role::id).collect::<Vec<_>>().join(","),
                removed.iter().map(Role::id).collect::<Vec<_>>().join(",")
            ));
        }
        details.extend(changes.iter().cloned());
        changes.extend(added.iter().map(|r| format!("Role added: {}", name_of(r))));
        changes.extend(
            removed
                .iter()
                .map(|r| format!("Role removed: {}", name_of(r))),
        );
        if !changes.is_empty() {
            u.audit(&permit, Some(id.to_string()), &details.join("; "))
                .await?;
            let to = patch
                .email
                .as_deref()
                .map(str::trim)
                .unwrap_or(&user.email)
                .to_owned();
            u.email(crate::emails::account_changed(
                &to,
                &user.display_name(),
                &changes,
                &self.settings.base_url,
                now,
            ))
            .await?;
        }
        // The answer is what this unit committed: the user as now stored, the
        // roles held less those removed with those added, by role id.
        let user = u
            .tx()
            .user(id)
            .await?
            .ok_or_else(|| AppError::internal("changed user vanished"))?;
        let mut held: Vec<RoleGrant> = current
            .iter()
            .filter(|r| !removed.contains(r))
            .chain(&added)
            .map(|r| RoleGrant {
                role: r.clone(),
                area_name: area_of(&areas, r).map(|a| a.name.clone()),
            })
            .collect();
        held.sort_by_key(|g| g.role.id());
        Ok(u.done(&permit, UserWithRoles { user, roles: held }))
    }

    /// Writes a patch's details, access, expiry and lock; what changed, in
    /// words for the person's email.
    async fn apply_patch(
        &self,
        u: &mut Unit<'_>,
        user: &UserRecord,
        patch: &UserPatch,
        email: Option<domain::EmailAddress>,
    ) -> AppResult<Vec<String>> {
        let now = u.now;
        let id = user.id;
        let mut changes = Vec::new();
        if patch.actions().contains(&Action::EditDetails) {
            let keep =
                |new: &Option<String>, old: &str| new.as_deref().unwrap_or(old).trim().to_owned();
            let details = store::UserDetails {
                title: keep(&patch.title, &user.title),
                first_name: keep(&patch.first_name, &user.first_name),
                last_name: keep(&patch.last_name, &user.last_name),
                email: match email {
                    Some(e) => e,
                    None => domain::EmailAddress::parse(&user.email)
                        .map_err(|_| AppError::internal("stored email no longer parses"))?,
                },
            };
            if let Err(e) = u.tx().update_user_details(id, &details).await {
                return Err(if e.is_conflict() {
                    AppError::Conflict("This email address already has a portal account".into())
                } else {
                    e.into()
                });
            }
            changes.push("Your details were updated".to_owned());
        }
        if let Some(enabled) = patch.access_enabled.filter(|e| *e != user.access_enabled) {
            u.tx().set_access(id, enabled).await?;
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
            u.tx().set_expiry(id, expiry).await?;
            changes.push(match expiry {
                Some(t) => format!("Account expiry date set to {}", t.date()),
                None => "Account expiry date removed".to_owned(),
            });
        }
        if patch.locked == Some(false) && user.account_state().is_locked(now) {
            u.tx().unlock(id).await?;
            changes.push("Account unlocked".to_owned());
        }
        let after = domain::user::AccountState {
            access_enabled: patch.access_enabled.unwrap_or(user.access_enabled),
            expires_at: patch.expires_at.unwrap_or(user.expires_at),
            locked: user.locked && patch.locked != Some(false),
            ..user.account_state()
        };
        let touches_access = patch.access_enabled.is_some() || patch.expires_at.is_some();
        if touches_access && !after.may_keep_session(now) {
            // Disabled or expired: every session ends now, not at its next request.
            u.tx().end_sessions_of(id, now).await?;
        }
        Ok(changes)
    }
}

/// Role ids as sent, parsed, without repeats.
pub fn parse_roles(ids: &[String]) -> AppResult<Vec<Role>> {
    let mut parsed = Vec::new();
    for r in ids {
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
    Ok(parsed)
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
        const ACTION: &str = "users.add";
        let org_id = organisation.unwrap_or(actor.organisation.id);
        let permit = self
            .permitted(
                meta,
                Some(actor),
                permit::org_users(actor, Action::AddUser, org_id, "users.add_requested").map_err(
                    |r| Refusal {
                        action: ACTION.into(),
                        ..r
                    },
                ),
            )
            .await?;
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
        let roles = match parse_roles(&input.roles) {
            Ok(r) => r,
            Err(AppError::Invalid(f)) => {
                errors.extend(f);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let Some((title, first_name, last_name, email)) = person.filter(|_| errors.is_empty())
        else {
            return Err(AppError::Invalid(errors));
        };
        self.change(meta, Some(actor), async |u| {
            let Some(org) = u.tx().organisation(org_id).await? else {
                return Err(
                    Refusal::denied(ACTION, Some(org_id.to_string()), Denial::NotFound).into(),
                );
            };
            let areas = u.tx().areas().await?;
            for role in &roles {
                let area = area_of(&areas, role);
                if role.area().is_some() && area.is_none() {
                    return Err(AppError::invalid(
                        "roles",
                        format!("{} is not a portal role", role.id()),
                    ));
                }
                let sensitive = area.is_some_and(|a| a.sensitive);
                permit::may_grant_newcomer(actor, org.id, org.kind, role, sensitive)
                    .map_err(|d| Refusal::denied(ACTION, Some(email.normalised()), d))?;
            }
            if let Some(existing) = u
                .tx()
                .pending_request_for(org.id, &email.normalised())
                .await?
            {
                return Ok(u.done(&permit, existing));
            }
            let id = uuid::Uuid::new_v4();
            let now = u.now;
            u.tx()
                .insert_user_request(&store::NewUserRequest {
                    id,
                    organisation_id: org.id,
                    requested_by: Some(actor.user.id),
                    title: title.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    email: email.clone(),
                    roles: roles.clone(),
                    created_at: now,
                })
                .await?;
            let detail = format!(
                "request {id} roles=[{}]",
                roles.iter().map(Role::id).collect::<Vec<_>>().join(",")
            );
            u.audit(&permit, Some(email.normalised()), &detail).await?;
            // The worker picks the request up at once.
            u.wake_workers();
            Ok(u.done(&permit, id))
        })
        .await
    }

    /// A request's progress, for the person's organisation (or the regulator).
    pub async fn user_request(
        &self,
        actor: &Principal,
        id: uuid::Uuid,
        meta: &RequestMeta,
    ) -> AppResult<store::UserRequestRecord> {
        const ACTION: &str = "users.add_status";
        let decision = match self.store.user_request(id).await? {
            Some(r) => {
                permit::org_users(actor, Action::AddUser, r.organisation_id, ACTION).map(|p| (p, r))
            }
            None => Err(Refusal::denied(
                ACTION,
                Some(id.to_string()),
                Denial::NotFound,
            )),
        };
        match decision {
            Ok((_, r)) => Ok(r),
            Err(refusal) => Err(self
                .refused(meta, Some(actor), refusal.with_target(id.to_string()))
                .await),
        }
    }

    /// Processes the oldest waiting request; `false` when none waits. The new
    /// user gets a welcome email; whoever asked gets the outcome.
    pub async fn process_next_user_request(&self) -> AppResult<bool> {
        let meta = RequestMeta::operator("add-user");
        self.change(&meta, None, async |u| {
            let Some(req) = u.tx().next_pending_request().await? else {
                return Ok(u.done(&permit::operator("users.add_processed", None), false));
            };
            let permit = permit::operator("users.add_processed", Some(req.organisation_id));
            let now = u.now;
            let email = domain::EmailAddress::parse(&req.email)
                .map_err(|_| AppError::internal("stored request email no longer parses"))?;
            let person = format!(
                "{} ({})",
                domain::user::display_name(&req.title, &req.first_name, &req.last_name),
                req.email
            );
            let requester = match req.requested_by {
                Some(id) => u.tx().user(id).await?,
                None => None,
            };
            let taken = u
                .tx()
                .user_by_email_for_update(&email.normalised())
                .await?
                .is_some();
            let result = if taken {
                u.tx()
                    .finish_user_request(req.id, Err(ADDRESS_TAKEN), now)
                    .await?;
                Err(ADDRESS_TAKEN)
            } else {
                let user_id = UserId::random();
                u.tx()
                    .insert_user(&store::NewUser {
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
                    u.tx()
                        .grant_role(&store::role_grant(
                            user_id,
                            role.clone(),
                            req.requested_by,
                            now,
                        ))
                        .await?;
                }
                u.tx().finish_user_request(req.id, Ok(user_id), now).await?;
                let org_name = u
                    .tx()
                    .organisation(req.organisation_id)
                    .await?
                    .map(|o| o.name)
                    .unwrap_or_default();
                let name = domain::user::display_name(&req.title, &req.first_name, &req.last_name);
                u.email(crate::emails::welcome(
                    email.as_str(),
                    &name,
                    &org_name,
                    &self.settings.base_url,
                    now,
                ))
                .await?;
                Ok(())
            };
            let outcome = if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Refused
            };
            let detail = format!("request {}: {}", req.id, result.err().unwrap_or("created"));
            u.audit_as(
                &permit,
                req.requested_by,
                Some(email.normalised()),
                outcome,
                &detail,
            )
            .await?;
            if let Some(r) = requester {
                u.email(crate::emails::add_user_outcome(
                    &r.email, &person, result, now,
                ))
                .await?;
            }
            Ok(u.done(&permit, true))
        })
        .await
    }
}

/// The area an area role is for, among `areas`; `None` for a role without an
/// area, or for an area that does not exist.
pub(crate) fn area_of<'a>(areas: &'a [Area], role: &Role) -> Option<&'a Area> {
    let slug = role.area()?;
    areas.iter().find(|a| &a.slug == slug)
}
