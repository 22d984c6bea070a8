//! Operator actions: bootstrapping organisations and their first users from the
//! command line (API.md "Operator CLI"). Audited with no actor and the CLI's
//! request id.

use domain::authz::RegulatorTask;
use domain::person::{NameError, NamePart, PersonName, Title};
use domain::{EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use store::{NewOrganisation, NewUser, role_grant};

use crate::permit::{self, Permit, Refusal};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta, emails};

#[derive(Debug, Clone, Default)]
pub struct OrganisationInput {
    pub name: String,
    pub kind: String,
    pub ukprn: Option<String>,
    /// A provider's accountable officer (PRODUCT §1), both or neither.
    pub accountable_officer_name: Option<String>,
    pub accountable_officer_email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UserInput {
    /// An organisation id, or a provider's UKPRN.
    pub organisation: String,
    pub title: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<String>,
}

fn required(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    label: &str,
    max: usize,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.insert(field, format!("Enter {label}"));
    } else if v.chars().count() > max {
        errors.insert(field, format!("{label} must be {max} characters or fewer"));
    } else if v.chars().any(char::is_control) {
        errors.insert(
            field,
            format!("{label} must not contain control characters"),
        );
    }
    v.to_owned()
}

/// A person's details as entered on any form, checked: (title, first, last, email).
pub(crate) fn person(
    errors: &mut FieldErrors,
    title: &str,
    first_name: &str,
    last_name: &str,
    email: &str,
) -> Option<(String, String, String, EmailAddress)> {
    let mut field = |name: &'static str, parsed: Result<String, NameError>| {
        parsed.unwrap_or_else(|e| {
            errors.insert(name, e.to_string());
            String::new()
        })
    };
    let title = field("title", Title::parse(title).map(Title::into_inner));
    let first_name = field(
        "first_name",
        PersonName::parse(first_name, NamePart::First).map(PersonName::into_inner),
    );
    let last_name = field(
        "last_name",
        PersonName::parse(last_name, NamePart::Last).map(PersonName::into_inner),
    );
    let email = EmailAddress::parse(email)
        .map_err(|e| errors.insert("email", e.to_string()))
        .ok();
    email
        .filter(|_| errors.is_empty())
        .map(|e| (title, first_name, last_name, e))
}

const ORG_CREATED: &str = "organisation.created";

impl App {
    /// An operator (CLI, demonstration data) creates an organisation.
    pub async fn create_organisation(
        &self,
        input: &OrganisationInput,
        meta: &RequestMeta,
    ) -> AppResult<OrgId> {
        let permit = permit::operator_task(RegulatorTask::Organisations, ORG_CREATED);
        self.insert_organisation(permit, None, input, meta).await
    }

    /// A regulator administrator creates an organisation.
    pub async fn add_organisation(
        &self,
        actor: &Principal,
        input: &OrganisationInput,
        meta: &RequestMeta,
    ) -> AppResult<OrgId> {
        let permit = self
            .permitted(
                meta,
                Some(actor),
                permit::regulator_task(actor, RegulatorTask::Organisations, ORG_CREATED).map_err(
                    |r| Refusal {
                        action: "organisations.create".into(),
                        ..r
                    },
                ),
            )
            .await?;
        self.insert_organisation(permit, Some(actor), input, meta)
            .await
    }

    /// Every organisation, by name (regulator administrators only).
    pub async fn list_organisations(
        &self,
        actor: &Principal,
        page: i64,
        per_page: i64,
        meta: &RequestMeta,
    ) -> AppResult<(Vec<store::OrganisationRecord>, i64)> {
        self.permitted(
            meta,
            Some(actor),
            permit::regulator_task(actor, RegulatorTask::Organisations, "organisations.list"),
        )
        .await?;
        let per_page = if per_page < 1 { 50 } else { per_page.min(200) };
        let offset = (page.max(1) - 1).saturating_mul(per_page);
        Ok(self.store.list_organisations(offset, per_page).await?)
    }

    async fn insert_organisation(
        &self,
        permit: Permit<RegulatorTask>,
        actor: Option<&Principal>,
        input: &OrganisationInput,
        meta: &RequestMeta,
    ) -> AppResult<OrgId> {
        let mut errors = FieldErrors::new();
        let name = required(
            &mut errors,
            "name",
            &input.name,
            "the organisation's name",
            200,
        );
        let kind = OrganisationKind::parse(input.kind.trim());
        if kind.is_none() {
            errors.insert("kind", "Kind must be provider or regulator".into());
        }
        let ukprn = match (
            kind,
            input
                .ukprn
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        ) {
            (Some(OrganisationKind::Provider), Some(u)) => match Ukprn::parse(u) {
                Ok(u) => Some(u),
                Err(e) => {
                    errors.insert("ukprn", e.to_string());
                    None
                }
            },
            (Some(OrganisationKind::Provider), None) => {
                errors.insert("ukprn", "Enter the provider's UKPRN".into());
                None
            }
            (Some(OrganisationKind::Regulator), Some(_)) => {
                errors.insert("ukprn", "A regulator has no UKPRN".into());
                None
            }
            _ => None,
        };
        let officer_name = input
            .accountable_officer_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|n| {
                required(
                    &mut errors,
                    "accountable_officer_name",
                    n,
                    "the accountable officer's name",
                    200,
                )
            });
        let officer_email = match input
            .accountable_officer_email
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(e) => match EmailAddress::parse(e) {
                Ok(e) => Some(e),
                Err(err) => {
                    errors.insert("accountable_officer_email", err.to_string());
                    None
                }
            },
            None => None,
        };
        let Some(kind) = kind.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let id = OrgId::random();
        let permit = permit.for_organisation(id);
        self.change(meta, actor, async |u| {
            let now = u.now;
            let inserted = u
                .tx()
                .insert_organisation(&NewOrganisation {
                    id,
                    kind,
                    name: name.clone(),
                    ukprn: ukprn.clone(),
                    accountable_officer_name: officer_name,
                    accountable_officer_email: officer_email,
                    created_at: now,
                })
                .await;
            if let Err(e) = inserted {
                return Err(if e.is_conflict() {
                    AppError::Conflict("An organisation with this UKPRN already exists".into())
                } else {
                    e.into()
                });
            }
            u.audit(&permit, Some(id.to_string()), &name).await?;
            Ok(u.done(&permit, id))
        })
        .await
    }

    /// Creates a user with roles and queues their welcome email.
    pub async fn create_user(&self, input: &UserInput, meta: &RequestMeta) -> AppResult<UserId> {
        let mut errors = FieldErrors::new();
        let person = person(
            &mut errors,
            &input.title,
            &input.first_name,
            &input.last_name,
            &input.email,
        );
        let organisation = match input.organisation.trim() {
            o if o.len() == 8 => match Ukprn::parse(o) {
                Ok(u) => self.store.organisation_by_ukprn(&u).await?,
                Err(_) => None,
            },
            o => match o.parse::<OrgId>() {
                Ok(id) => self.store.organisation(id).await?,
                Err(_) => None,
            },
        };
        let Some(organisation) = organisation else {
            errors.insert(
                "organisation",
                "No organisation has this id or UKPRN".into(),
            );
            return Err(AppError::Invalid(errors));
        };
        let mut roles = Vec::new();
        for r in &input.roles {
            match Role::parse(r.trim()) {
                Some(role) if role.organisation_kind() == organisation.kind => roles.push(role),
                Some(_) => {
                    errors.insert(
                        "roles",
                        format!(
                            "{r} cannot be held by a {} user",
                            organisation.kind.as_str()
                        ),
                    );
                }
                None => {
                    errors.insert("roles", format!("{r} is not a portal role"));
                }
            }
        }
        let Some((title, first_name, last_name, email)) = person.filter(|_| errors.is_empty())
        else {
            return Err(AppError::Invalid(errors));
        };
        let id = UserId::random();
        let permit = permit::operator("user.created", Some(organisation.id));
        self.change(meta, None, async |u| {
            let now = u.now;
            let inserted = u
                .tx()
                .insert_user(&NewUser {
                    id,
                    organisation_id: organisation.id,
                    title: title.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    email: email.clone(),
                    created_at: now,
                    created_by: None,
                })
                .await;
            if let Err(e) = inserted {
                return Err(if e.is_conflict() {
                    AppError::Conflict("This email address already has a portal account".into())
                } else {
                    e.into()
                });
            }
            for role in &roles {
                u.tx()
                    .grant_role(&role_grant(id, role.clone(), None, now))
                    .await?;
            }
            let name = domain::user::display_name(&title, &first_name, &last_name);
            u.email(emails::welcome(
                email.as_str(),
                &name,
                &organisation.name,
                &self.settings.base_url,
                now,
            ))
            .await?;
            // Security alerts (issue 13): the provider's other Portal Administrators.
            let admin_roles: Vec<String> = (roles.iter())
                .filter(|r| crate::users::is_alerted_role(r))
                .map(|r| format!("Role given: {}", r.name("")))
                .collect();
            if !admin_roles.is_empty() {
                let by = crate::users::actor_name(None, organisation.id);
                let alert = crate::users::Alert {
                    subject: "administrator role given",
                    lead: format!(
                        "{by} added a new user, {}",
                        crate::users::person_named(&name, email.as_str())
                    ),
                    changes: admin_roles,
                };
                self.alert_portal_admins(u, organisation.id, &[id], &alert)
                    .await?;
            }
            let role_ids: Vec<String> = roles.iter().map(Role::id).collect();
            u.audit(
                &permit,
                Some(id.to_string()),
                &format!("{} roles=[{}]", email.normalised(), role_ids.join(",")),
            )
            .await?;
            Ok(u.done(&permit, id))
        })
        .await
    }
}

impl App {
    /// An organisation's record, to show its name (names and kinds are not
    /// confidential; nothing here decides access).
    pub async fn organisation(&self, id: OrgId) -> AppResult<Option<store::OrganisationRecord>> {
        Ok(self.store.organisation(id).await?)
    }

    /// Every provider, by name: the recipients a document can be shared with.
    pub async fn providers(&self) -> AppResult<Vec<store::OrganisationRecord>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (orgs, total) = self.store.list_organisations(offset, 500).await?;
            let n = orgs.len() as i64;
            out.extend(
                orgs.into_iter()
                    .filter(|o| o.kind == OrganisationKind::Provider),
            );
            offset += n;
            if n == 0 || offset >= total {
                return Ok(out);
            }
        }
    }

    /// The database answers (readiness).
    pub async fn ping(&self) -> AppResult<()> {
        Ok(self.store.ping().await?)
    }
}
