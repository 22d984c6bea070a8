//! Managing an organisation's users (PRODUCT §4, seed 001). Every use case asks
//! `domain::authz` first; a refusal is audited and changes nothing.

use domain::authz::{Action, Denial, RegulatorTask};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{RoleGrant, UserFilter, UserWithRoles};

use crate::permit::{self, Refusal, TargetUser};
use crate::{App, AppError, AppResult, Principal, RequestMeta};

mod add;
mod alerts;
mod edit;

pub use add::*;
pub(crate) use alerts::{Alert, actor_name, is_alerted_role, person_named};
pub use edit::*;

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
    /// Copy this user's roles to a colleague: some role they hold is one
    /// the actor may give (a copy gives those, and says which it did not).
    pub copy: bool,
    /// Send their invitation again: they have never signed in and could
    /// (`domain::authz::may_resend_invitation`, issue 15).
    pub resend: bool,
    /// Why the actor may change nothing about this user's roles or access,
    /// when they may not (shown where the controls would be).
    pub why_not: Option<&'static str>,
    /// Why there is no "Copy permissions" link, for an actor who may change
    /// someone's roles here and so would expect one.
    pub why_not_copy: Option<&'static str>,
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
        let (copy, why_not_copy) = self.copy_offer(actor, target, &areas).await?;
        let may = UserPermissions {
            details: may(Action::EditDetails),
            access: may(Action::SetAccess),
            expiry: may(Action::SetExpiry),
            unlock: may(Action::Unlock),
            roles: may(Action::SetRoles),
            copy,
            resend: permit::resend_refusal(actor, target, self.clock.now()).is_none(),
            why_not: permit::user_refusal(actor, target, Action::SetRoles),
            why_not_copy,
        };
        Ok(UserView {
            user: UserWithRoles {
                user: permit.into_inner().user,
                roles: grants,
            },
            may,
        })
    }

    /// Whether copying `source`'s roles could give anything, on the basis the
    /// copy uses (`copy_permissions`): some colleague the copy page offers (one
    /// whose roles the actor may change, neither the actor nor `source`) lacks
    /// some role of `source` the actor may give them. When not, why, for an
    /// actor who may change someone's roles in the organisation.
    async fn copy_offer(
        &self,
        actor: &Principal,
        source: &TargetUser,
        areas: &[Area],
    ) -> AppResult<(bool, Option<&'static str>)> {
        const ACTION: &str = "users.copy_roles";
        const PAGE: i64 = 200;
        let mut may_change_someone =
            permit::user_actions(actor, source).contains(&Action::SetRoles);
        let mut a_colleague = false;
        let mut offset = 0;
        loop {
            let filter = UserFilter {
                offset,
                limit: PAGE,
                ..UserFilter::default()
            };
            let (users, _) = self
                .store
                .list_users(source.user.organisation_id, &filter)
                .await?;
            for u in &users {
                if u.user.id == source.user.id || u.user.id == actor.user.id {
                    continue;
                }
                let target = TargetUser {
                    user: u.user.clone(),
                    kind: source.kind,
                    roles: u.roles.iter().map(|g| g.role.clone()).collect(),
                };
                let Ok(permit) = permit::user(actor, target, &[Action::SetRoles], ACTION) else {
                    continue;
                };
                (may_change_someone, a_colleague) = (true, true);
                let held = &permit.on().roles;
                let wanted: Vec<Role> = (source.roles.iter())
                    .filter(|r| !held.contains(r))
                    .cloned()
                    .collect();
                if permit::role_decisions(actor, &permit, &wanted, areas)
                    .iter()
                    .any(|(_, d)| d.is_ok())
                {
                    return Ok((true, None));
                }
            }
            if (users.len() as i64) < PAGE {
                break;
            }
            offset += PAGE;
        }
        let why = if !may_change_someone {
            None
        } else if source.roles.is_empty() {
            Some("This user has no roles to copy.")
        } else if !a_colleague {
            Some(
                "Their permissions cannot be copied: there is no other user here whose roles you may change.",
            )
        } else {
            Some(
                "Their permissions cannot be copied: you may not give any of their roles to another user here who does not already have it.",
            )
        };
        Ok((false, why))
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

/// The area an area role is for, among `areas`; `None` for a role without an
/// area, or for an area that does not exist.
pub(crate) fn area_of<'a>(areas: &'a [Area], role: &Role) -> Option<&'a Area> {
    let slug = role.area()?;
    areas.iter().find(|a| &a.slug == slug)
}
