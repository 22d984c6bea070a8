//! Changing a user: roles, access, expiry, lock and details, validated, decided
//! and applied together in one unit of work (PRODUCT §2 rules 2–5 and 7).

use domain::audit::Outcome;
use domain::authz::{Action, Denial};
use domain::person::{NameError, NamePart, PersonName, Title};
use domain::{Role, UserId};
use store::{RoleGrant, UserRecord, UserWithRoles};

use super::{Alert, actor_name, area_of, is_alerted_role, parse_roles, person_named};
use crate::permit::{self, Permit, Refusal, TargetUser};
use crate::unit::{Done, Entry, Unit};
use crate::{App, AppError, AppResult, Principal, RequestMeta};

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

/// What copying permissions did (seed 000 D2–D3).
#[derive(Debug, Clone)]
pub struct CopyOutcome {
    /// Whose permissions were copied.
    pub source: UserRecord,
    /// The user they were copied to, as now.
    pub target: UserWithRoles,
    /// The roles given.
    pub copied: Vec<RoleGrant>,
    /// The roles the actor may not give, each with the reason.
    pub skipped: Vec<Skipped>,
    /// The source's roles the target already held.
    pub already: Vec<RoleGrant>,
}

impl CopyOutcome {
    /// Nothing could be given though something was asked: nothing changed,
    /// and the copy was audited as refused.
    pub fn refused(&self) -> bool {
        self.copied.is_empty() && !self.skipped.is_empty()
    }
}

/// A role not copied, and why (the domain's [`Denial`] reason).
#[derive(Debug, Clone)]
pub struct Skipped {
    pub role: RoleGrant,
    pub why: &'static str,
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
        // The same rules as every other form (domain::person).
        let mut check = |field: &'static str, result: Option<Result<(), NameError>>| {
            if let Some(Err(e)) = result {
                errors.insert(field, e.to_string());
            }
        };
        check(
            "title",
            self.title.as_deref().map(|t| Title::parse(t).map(drop)),
        );
        check(
            "first_name",
            (self.first_name.as_deref()).map(|n| PersonName::parse(n, NamePart::First).map(drop)),
        );
        check(
            "last_name",
            (self.last_name.as_deref()).map(|n| PersonName::parse(n, NamePart::Last).map(drop)),
        );
        if errors.is_empty() {
            Ok(email)
        } else {
            Err(AppError::Invalid(errors))
        }
    }
}

/// Reads user `id` for a change, in the change's transaction: the user
/// (locked on PostgreSQL), their organisation's kind and their roles. A user
/// who does not exist is refused as not found. The organisation is locked
/// later, and only by a change that may leave it without a Portal
/// Administrator (rule 4 counts them then).
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
    /// permissions to another user"), answering only the user as now (the
    /// API). As [`App::copy_permissions`]; when nothing at all may be given,
    /// the answer is refused with the reasons.
    pub async fn copy_roles(
        &self,
        actor: &Principal,
        from: UserId,
        to: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let copy = self.copy_permissions(actor, from, to, meta).await?;
        if copy.refused() {
            let mut reasons: Vec<&str> = Vec::new();
            for s in &copy.skipped {
                if !reasons.contains(&s.why) {
                    reasons.push(s.why);
                }
            }
            return Err(AppError::Forbidden(format!(
                "Nothing has been copied. {}",
                reasons.join(". ")
            )));
        }
        Ok(copy.target)
    }

    /// Copies `from`'s roles to `to` (seed 000 D2: "All the associated areas
    /// will be copied"): in one unit, every role `to` lacks that the actor may
    /// give is given; each one they may not (a sensitive area's, which only an
    /// access key gives; an administrator role a delegate cannot give) is
    /// skipped, with the domain's reason. The copy is audited once, with what
    /// was copied and what was skipped, and the person is emailed once. When
    /// nothing at all may be given, nothing changes and the copy is audited
    /// as refused (a kept refusal: the unit commits only that row). Someone
    /// who may not change `to`'s roles, or a user of another organisation as
    /// either, is refused outright.
    pub async fn copy_permissions(
        &self,
        actor: &Principal,
        from: UserId,
        to: UserId,
        meta: &RequestMeta,
    ) -> AppResult<CopyOutcome> {
        const ACTION: &str = "users.copy_roles";
        let outcome = self
            .change(meta, Some(actor), async |u| {
                // The source, read (not locked) in this unit: someone the actor may see.
                let Some(user) = u.tx().user(from).await? else {
                    return Err(
                        Refusal::denied(ACTION, Some(from.to_string()), Denial::NotFound).into(),
                    );
                };
                let kind = match u.tx().organisation(user.organisation_id).await? {
                    Some(org) => org.kind,
                    None => return Err(AppError::internal("user without organisation")),
                };
                let roles = u.tx().user_roles(from).await?;
                let source = TargetUser {
                    user,
                    kind,
                    roles: roles.iter().map(|g| g.role.clone()).collect(),
                };
                let source = permit::user(actor, source, &[], ACTION)?.into_inner();
                if from == to {
                    return Err(AppError::invalid(
                        "to_user_id",
                        "Choose another user to copy the permissions to",
                    ));
                }
                let target = target_for_change(u, actor, to, ACTION).await?;
                if target.user.organisation_id != source.user.organisation_id {
                    return Err(
                        Refusal::denied(ACTION, Some(to.to_string()), Denial::NotFound).into(),
                    );
                }
                let permit = permit::user(actor, target, &[Action::SetRoles], ACTION)?;
                let areas = u.tx().areas().await?;
                let grant = |role: &Role| RoleGrant {
                    role: role.clone(),
                    area_name: area_of(&areas, role).map(|a| a.name.clone()),
                };
                let held = &permit.on().roles;
                let already: Vec<RoleGrant> = (source.roles.iter())
                    .filter(|r| held.contains(r))
                    .map(grant)
                    .collect();
                let wanted: Vec<Role> = (source.roles.iter())
                    .filter(|r| !held.contains(r))
                    .cloned()
                    .collect();
                let mut given = Vec::new();
                let mut skipped = Vec::new();
                for (role, decision) in permit::role_decisions(actor, &permit, &wanted, &areas) {
                    match decision {
                        Ok(()) => given.push(role),
                        Err(denial) => skipped.push(Skipped {
                            role: grant(&role),
                            why: denial.reason(),
                        }),
                    }
                }
                let not_copied: Vec<String> = skipped
                    .iter()
                    .map(|s| format!("Not copied: {} ({})", s.role.name(), s.why))
                    .collect();
                if given.is_empty() && !skipped.is_empty() {
                    // Nothing may be given: nothing changes, and the refusal is
                    // the unit's one row.
                    let ids: Vec<String> = skipped.iter().map(|s| s.role.role.id()).collect();
                    let detail = format!(
                        "added=[{}] removed=[]; {}",
                        ids.join(","),
                        not_copied.join("; ")
                    );
                    let entry = Entry::new(Outcome::Refused, Some(to.to_string()), &detail);
                    u.record(&permit, entry).await?;
                    let target = permit.on();
                    let answer = CopyOutcome {
                        source: source.user.clone(),
                        target: UserWithRoles {
                            user: target.user.clone(),
                            roles: target.roles.iter().map(grant).collect(),
                        },
                        copied: Vec::new(),
                        skipped,
                        already,
                    };
                    return Ok(u.done(&permit, answer));
                }
                let copied: Vec<RoleGrant> = given.iter().map(grant).collect();
                let edit = UserEdit {
                    roles: Some(RoleChange::Add(given)),
                    ..UserEdit::default()
                };
                let (permit, target) = self
                    .apply_edit_noting(u, actor, permit.into_inner(), edit, ACTION, &not_copied)
                    .await?;
                let answer = CopyOutcome {
                    source: source.user,
                    target,
                    copied,
                    skipped,
                    already,
                };
                Ok(u.done(&permit, answer))
            })
            .await?;
        // Nothing could be given: a refusal the unit kept (and committed),
        // counted as App::refused counts every other.
        if outcome.copied.is_empty() && !outcome.skipped.is_empty() {
            crate::unit::count_refused(ACTION, "forbidden");
        }
        Ok(outcome)
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
        let (permit, user) = self
            .apply_edit_noting(u, actor, target, edit, action, &[])
            .await?;
        Ok(u.done(&permit, user))
    }

    /// [`App::apply_edit`], with `notes` added to the audit row's detail
    /// when one is written (what a copy did not give, and why); answers the
    /// permit it acted under and the user as now.
    async fn apply_edit_noting(
        &self,
        u: &mut Unit<'_>,
        actor: &Principal,
        target: TargetUser,
        edit: UserEdit,
        action: &'static str,
        notes: &[String],
    ) -> AppResult<(Permit<TargetUser>, UserWithRoles)> {
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
        let admin_before = current.contains(&Role::PortalAdmin) && before.counts_for_rule_4(now);
        let admin_after =
            admin_before && !removed.contains(&Role::PortalAdmin) && after.counts_for_rule_4(now);
        if admin_before && !admin_after {
            // Changes that may take away an administrator happen one after the
            // other within a provider: each counts the others only once the
            // one before it has committed. Other changes do not wait.
            u.tx().lock_organisation(user.organisation_id).await?;
            let others = u
                .tx()
                .portal_admins_with_access(user.organisation_id, now, user.id)
                .await?;
            permit::keeps_a_portal_admin(&permit, others)?;
        }
        let id = user.id;
        let old_email = user.email.clone();
        // A new address, not the same one written differently.
        let moved_to = email
            .clone()
            .filter(|e| e.normalised() != old_email.normalised());
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
        details.extend(notes.iter().cloned());
        changes.extend(added.iter().map(|r| format!("Role added: {}", name_of(r))));
        changes.extend(
            removed
                .iter()
                .map(|r| format!("Role removed: {}", name_of(r))),
        );
        if !changes.is_empty() {
            u.audit(&permit, Some(id.to_string()), &details.join("; "))
                .await?;
        }
        // The answer is what this unit committed: the user as now stored (as
        // read, locked, when only roles changed), the roles held less those
        // removed with those added, by role id.
        let user = if patch.is_empty() {
            user
        } else {
            u.tx()
                .user(id)
                .await?
                .ok_or_else(|| AppError::internal("changed user vanished"))?
        };
        if !changes.is_empty() {
            // One email for the whole change, to the address and by the name
            // the account has now (the old address is told separately). Access
            // turned off by this change: no invitation to sign in, but whom to ask.
            let turned_off =
                before.may_keep_session(now) && !user.account_state().may_keep_session(now);
            let email = if !turned_off {
                crate::emails::account_changed(
                    user.email.as_str(),
                    &user.display_name(),
                    &changes,
                    &self.settings.base_url,
                    now,
                )
            } else {
                let Some(org) = u.tx().organisation(user.organisation_id).await? else {
                    return Err(AppError::internal("user of a missing organisation"));
                };
                crate::emails::access_ended(
                    user.email.as_str(),
                    &user.display_name(),
                    user.access_enabled,
                    &changes,
                    &crate::session::Contact::of(&org).to_string(),
                    now,
                )
            };
            u.email(email).await?;
        }
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
        self.alert_edit(
            u,
            actor,
            &user,
            &old_email,
            moved_to.as_ref(),
            &added,
            &removed,
        )
        .await?;
        Ok((permit, UserWithRoles { user, roles: held }))
    }

    /// The security alerts of one edit (PRODUCT §8), queued in its unit:
    /// the provider's Portal Administrators hear of an administrator role
    /// given or removed and of a new email address; the old address is told
    /// where the account's email now goes (masked). `user` is as now stored.
    #[allow(clippy::too_many_arguments)]
    async fn alert_edit(
        &self,
        u: &mut Unit<'_>,
        actor: &Principal,
        user: &UserRecord,
        old_email: &domain::EmailAddress,
        moved_to: Option<&domain::EmailAddress>,
        added: &[Role],
        removed: &[Role],
    ) -> AppResult<()> {
        let org = user.organisation_id;
        // The alerted roles belong to no area: their names need none.
        let mut lines: Vec<String> = (added.iter().filter(|r| is_alerted_role(r)))
            .map(|r| format!("Role given: {}", r.name("")))
            .collect();
        lines.extend(
            (removed.iter().filter(|r| is_alerted_role(r)))
                .map(|r| format!("Role removed: {}", r.name(""))),
        );
        let roles_changed = !lines.is_empty();
        if let Some(new) = moved_to {
            lines.push(format!("Email address changed from {old_email} to {new}"));
        }
        if lines.is_empty() {
            return Ok(());
        }
        let by = actor_name(Some(actor), org);
        let alert = Alert {
            subject: match (roles_changed, moved_to.is_some()) {
                (true, true) => "administrator role and email address changed",
                (true, false) => "administrator role changed",
                _ => "email address changed",
            },
            lead: format!(
                "{by} changed the account of {}",
                person_named(&user.display_name(), user.email.as_str())
            ),
            changes: lines,
        };
        self.alert_portal_admins(u, org, &[user.id], &alert).await?;
        if let Some(new) = moved_to {
            let organisation = u
                .tx()
                .organisation(org)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            u.email(crate::emails::email_changed_to_old(
                old_email.as_str(),
                &user.display_name(),
                new.as_str(),
                &by,
                &organisation,
                u.now,
            ))
            .await?;
        }
        Ok(())
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
                email: email.unwrap_or_else(|| user.email.clone()),
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
                Some(t) => format!(
                    "Account expiry set: it can be used {}",
                    domain::uk_time::until(t)
                ),
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
        let touches_access =
            patch.access_enabled.is_some() || patch.expires_at.is_some() || patch.locked.is_some();
        if touches_access
            && (!after.may_keep_session(now) || !user.account_state().may_keep_session(now))
        {
            // Disabled or expired: every session and API token ends now, not at
            // its next request. Given back access (a later expiry, re-enabled,
            // unlocked): the sessions refused meanwhile end too, for good, so
            // none comes back to life.
            u.tx().end_sessions_of(id, now).await?;
        }
        Ok(changes)
    }
}
