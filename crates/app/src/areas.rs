//! Areas (PRODUCT §1, seed 000 E): the regulator's processes, and who of an
//! organisation belongs to each. Membership of an area *is* holding its role
//! (`Role::for_area`), so the Areas pages change roles through the same path as
//! Edit user, with the same checks: a sensitive area's role is never added here.

use domain::OrganisationKind;
use domain::authz::{Action, Denial, NOT_YOURSELF, RegulatorTask};
use domain::role::{Area, AreaKind};
use domain::{AreaSlug, Role, UserId};
use store::{UserFilter, UserWithRoles};

use crate::permit::{self, Permit, Refusal};
use crate::users::{MAX_PER_PAGE, RoleChange, UserEdit, UserPage, catalogue};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

/// Someone with access to an area through a role other than the area's own.
#[derive(Debug, Clone)]
pub struct AccessThroughRole {
    pub user: UserWithRoles,
    /// The names of the roles that give it ("Portal Administrator").
    pub through: Vec<String>,
    /// The actor may change their roles (the decision Edit user's roles
    /// change uses), so the page links to them.
    pub may_change_roles: bool,
    /// When not, whom to ask.
    pub ask: Option<&'static str>,
}

/// A new area, as typed on the form or sent to the API.
#[derive(Debug, Clone, Default)]
pub struct AreaInput {
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub sensitive: bool,
}

const AREAS_CREATE: &str = "areas.create";

impl App {
    /// Every area, by name (anyone signed in: names are not confidential).
    pub async fn areas(&self) -> AppResult<Vec<Area>> {
        Ok(self.store.areas().await?)
    }

    /// One area; an unknown slug is not found (and audited as such).
    pub async fn area(&self, actor: &Principal, slug: &str, meta: &RequestMeta) -> AppResult<Area> {
        let wanted = AreaSlug::parse(slug);
        let found = match &wanted {
            Some(w) => self.store.areas().await?.into_iter().find(|a| &a.slug == w),
            None => None,
        };
        match found {
            Some(area) => Ok(area),
            None => {
                let target = Some(slug.chars().take(64).collect());
                let refusal = Refusal::denied("areas.view", target, Denial::NotFound);
                Err(self.refused(meta, Some(actor), refusal).await)
            }
        }
    }

    /// What membership of `area` means for the actor's organisation.
    pub fn area_role(&self, actor: &Principal, area: &Area) -> Role {
        Role::for_area(area, actor.organisation.kind)
    }

    /// The actor's organisation's members of an area (seed 000 E1), searched and paged.
    pub async fn area_users(
        &self,
        actor: &Principal,
        area: &Area,
        q: Option<String>,
        page: i64,
        meta: &RequestMeta,
    ) -> AppResult<UserPage> {
        let filter = UserFilter {
            q,
            role: Some(self.area_role(actor, area).id()),
            offset: 0,
            limit: 0,
            ..UserFilter::default()
        };
        self.list_users(actor, None, filter, page, meta).await
    }

    /// The people of the actor's organisation who have access to `area`
    /// through another role than its own (a provider's Portal Administrators
    /// and Delegated - Portal Administrators see every return), with the
    /// roles that give it, as `domain::collection::may` decides for seeing
    /// the area's returns or reading its documents. Members (holders of the
    /// area's own role) are [`App::area_users`]' and are not repeated here.
    pub async fn area_access_through_roles(
        &self,
        actor: &Principal,
        area: &Area,
        meta: &RequestMeta,
    ) -> AppResult<Vec<AccessThroughRole>> {
        let own = self.area_role(actor, area);
        let areas = self.store.areas().await?;
        let catalogue = catalogue(actor.organisation.kind, &areas);
        let candidates: Vec<Role> = (catalogue.iter())
            .map(|(role, _)| role.clone())
            .filter(|role| *role != own)
            .collect();
        let opening = permit::roles_opening_area(actor, area, &candidates);
        let name_of = |role: &Role| {
            let area = catalogue
                .iter()
                .find(|(r, _)| r == role)
                .and_then(|(_, a)| *a);
            role.name(area.map(|a| a.name.as_str()).unwrap_or_default())
        };
        let mut people: Vec<AccessThroughRole> = Vec::new();
        for role in &opening {
            let mut page = 1;
            loop {
                let filter = UserFilter {
                    role: Some(role.id()),
                    limit: MAX_PER_PAGE,
                    ..UserFilter::default()
                };
                let found = self.list_users(actor, None, filter, page, meta).await?;
                for u in &found.items {
                    if u.roles.iter().any(|g| g.role == own) {
                        continue;
                    }
                    let name = name_of(role);
                    match people.iter_mut().find(|p| p.user.user.id == u.user.id) {
                        Some(p) => p.through.push(name),
                        None => {
                            let target = permit::TargetUser {
                                user: u.user.clone(),
                                kind: actor.organisation.kind,
                                roles: u.roles.iter().map(|g| g.role.clone()).collect(),
                            };
                            let refusal = permit::user_refusal(actor, &target, Action::SetRoles);
                            people.push(AccessThroughRole {
                                user: u.clone(),
                                through: vec![name],
                                may_change_roles: refusal.is_none(),
                                ask: refusal.map(|why| whom_to_ask(actor, why)),
                            });
                        }
                    }
                }
                if page * found.per_page >= found.total || found.items.is_empty() {
                    break;
                }
                page += 1;
            }
        }
        people.sort_by_key(|p| {
            (
                p.user.user.last_name.to_lowercase(),
                p.user.user.first_name.to_lowercase(),
                p.user.user.email.to_string(),
            )
        });
        Ok(people)
    }

    /// Adds a user to an area (seed 000 E3): gives them the area's role.
    pub async fn add_to_area(
        &self,
        actor: &Principal,
        area: &Area,
        user: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let role = self.area_role(actor, area);
        let edit = UserEdit {
            roles: Some(RoleChange::Add(vec![role])),
            ..UserEdit::default()
        };
        self.edit_user(actor, user, edit, "areas.add_user", meta)
            .await
    }

    /// Removes a user from an area (seed 000 B5): takes the area's role away.
    pub async fn remove_from_area(
        &self,
        actor: &Principal,
        area: &Area,
        user: UserId,
        meta: &RequestMeta,
    ) -> AppResult<UserWithRoles> {
        let role = self.area_role(actor, area);
        let edit = UserEdit {
            roles: Some(RoleChange::Remove(vec![role])),
            ..UserEdit::default()
        };
        self.edit_user(actor, user, edit, "areas.remove_user", meta)
            .await
    }

    /// A regulator administrator defines an area (PRODUCT §5).
    pub async fn create_area(
        &self,
        actor: &Principal,
        input: &AreaInput,
        meta: &RequestMeta,
    ) -> AppResult<Area> {
        let permit = self
            .permitted(
                meta,
                Some(actor),
                permit::regulator_task(actor, RegulatorTask::Areas, AREAS_CREATE),
            )
            .await?;
        self.insert_area(permit, Some(actor), input, meta).await
    }

    /// Operators (demonstration data, tests) define an area without an actor.
    pub async fn define_area(&self, input: &AreaInput, meta: &RequestMeta) -> AppResult<Area> {
        let permit = permit::operator_task(RegulatorTask::Areas, AREAS_CREATE);
        self.insert_area(permit, None, input, meta).await
    }

    async fn insert_area(
        &self,
        permit: Permit<RegulatorTask>,
        actor: Option<&Principal>,
        input: &AreaInput,
        meta: &RequestMeta,
    ) -> AppResult<Area> {
        let area = parse_area(input)?;
        self.change(meta, actor, async |u| {
            if let Err(e) = u.tx().insert_area(&area).await {
                return Err(if e.is_conflict() {
                    AppError::invalid("slug", "An area with this short name already exists")
                } else {
                    e.into()
                });
            }
            let detail = format!("{} sensitive={}", area.kind.as_str(), area.sensitive);
            u.audit(&permit, Some(area.slug.to_string()), &detail)
                .await?;
            Ok(u.done(&permit, area.clone()))
        })
        .await
    }
}

/// Whom someone refused a change to a user's roles (`why`) asks instead.
fn whom_to_ask(actor: &Principal, why: &'static str) -> &'static str {
    if why == NOT_YOURSELF {
        "This is you: ask another administrator to change your role"
    } else if actor.organisation.kind == OrganisationKind::Regulator {
        "Ask a regulator administrator to change their role"
    } else {
        "Ask a Portal Administrator to change their role"
    }
}

fn parse_area(input: &AreaInput) -> AppResult<Area> {
    let mut errors = FieldErrors::new();
    let slug = AreaSlug::parse(input.slug.trim());
    if slug.is_none() {
        errors.insert(
            "slug",
            "Enter a short name of lower-case letters, numbers and single hyphens, like board-papers"
                .into(),
        );
    }
    let name = input.name.trim();
    if name.is_empty() {
        errors.insert("name", "Enter the area's name".into());
    } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.insert(
            "name",
            "The name must be 100 characters or fewer, without control characters".into(),
        );
    }
    let kind = AreaKind::parse(input.kind.trim());
    if kind.is_none() {
        errors.insert("kind", "Choose data return or communication".into());
    }
    match (slug, kind) {
        (Some(slug), Some(kind)) if errors.is_empty() => Ok(Area {
            slug,
            name: name.to_owned(),
            kind,
            sensitive: input.sensitive,
        }),
        _ => Err(AppError::Invalid(errors)),
    }
}
