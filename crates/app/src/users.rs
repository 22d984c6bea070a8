//! Managing an organisation's users (PRODUCT §4, seed 001). Every use case asks
//! `domain::authz` first; a refusal is audited and changes nothing.

use domain::audit::Outcome;
use domain::authz::{self, Action, Denial, Subject};
use domain::role::{Area, AreaKind};
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{UserFilter, UserRecord, UserWithRoles};

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
