//! Organisations and their support: the operator's bootstrapping from the
//! command line (API.md "Operator CLI", audited with no actor and the CLI's
//! request id), and the regulator administrators' work on providers (PRODUCT
//! §5): adding and changing a provider and its accountable officer, and
//! resending an invitation to someone who has never signed in.

use domain::authz::{Denial, RegulatorTask};
use domain::person::{NameError, NamePart, PersonName, Title};
use domain::{EmailAddress, OrgId, OrganisationKind, Role, Ukprn, UserId};
use store::{NewOrganisation, NewUser, OrganisationRecord, UserWithRoles, role_grant};

use crate::limiter::Limit;
use crate::permit::{self, Permit, Refusal, TargetUser};
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

/// A change to a provider's details ([`App::edit_organisation`]): a field
/// left `None` stays as it is when the change is made (read then, under the
/// organisation's lock, so that two changes to different fields both hold).
#[derive(Debug, Clone, Default)]
pub struct OrganisationChange {
    pub name: Option<String>,
    pub ukprn: Option<String>,
    pub accountable_officer_name: Option<String>,
    pub accountable_officer_email: Option<String>,
}

impl OrganisationChange {
    /// Every field as given (the Change form sends them all).
    pub fn all(input: &OrganisationInput) -> Self {
        Self {
            name: Some(input.name.clone()),
            ukprn: input.ukprn.clone(),
            accountable_officer_name: input.accountable_officer_name.clone(),
            accountable_officer_email: input.accountable_officer_email.clone(),
        }
    }

    /// The whole input: what is given, the rest as `org` has it.
    fn over(&self, org: &OrganisationRecord) -> OrganisationInput {
        OrganisationInput {
            name: self.name.clone().unwrap_or_else(|| org.name.clone()),
            kind: org.kind.as_str().to_owned(),
            ukprn: self
                .ukprn
                .clone()
                .or_else(|| org.ukprn.as_ref().map(|u| u.to_string())),
            accountable_officer_name: self
                .accountable_officer_name
                .clone()
                .or_else(|| org.accountable_officer_name.clone()),
            accountable_officer_email: self.accountable_officer_email.clone().or_else(|| {
                org.accountable_officer_email
                    .as_ref()
                    .map(|e| e.to_string())
            }),
        }
    }
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

/// An organisation's details as entered, checked.
struct Details {
    kind: OrganisationKind,
    name: String,
    ukprn: Option<Ukprn>,
    officer_name: Option<String>,
    officer_email: Option<EmailAddress>,
}

/// Checks an organisation's details: every problem at once, each on its field.
fn details(input: &OrganisationInput) -> AppResult<Details> {
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
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (officer_name, officer_email) = (
        given(&input.accountable_officer_name),
        given(&input.accountable_officer_email),
    );
    // A contact is a name and an address: both, or neither.
    let officer_name = match (&officer_name, &officer_email) {
        (Some(n), _) => Some(required(
            &mut errors,
            "accountable_officer_name",
            n,
            "the accountable officer's name",
            200,
        )),
        (None, Some(_)) => {
            errors.insert(
                "accountable_officer_name",
                "Enter the accountable officer's name".into(),
            );
            None
        }
        (None, None) => None,
    };
    let officer_email = match officer_email {
        Some(e) => match EmailAddress::parse(&e) {
            Ok(e) => Some(e),
            Err(err) => {
                errors.insert("accountable_officer_email", err.to_string());
                None
            }
        },
        None if officer_name.is_some() => {
            errors.insert(
                "accountable_officer_email",
                "Enter the accountable officer's email address".into(),
            );
            None
        }
        None => None,
    };
    match kind.filter(|_| errors.is_empty()) {
        Some(kind) => Ok(Details {
            kind,
            name,
            ukprn,
            officer_name,
            officer_email,
        }),
        None => Err(AppError::Invalid(errors)),
    }
}

const ORG_CREATED: &str = "organisation.created";
const ORG_UPDATED: &str = "organisations.update";
const INVITATION_RESENT: &str = "users.invitation_resent";

/// How often one person's invitation may be sent again: enough for a support
/// call or two, too few to fill their mailbox (counted in the database, so on
/// every replica; issue 15).
const RESENDS: Limit = Limit {
    kind: "invitation-resend",
    max: 3,
    window: time::Duration::hours(24),
};

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
        let Details {
            kind,
            name,
            ukprn,
            officer_name,
            officer_email,
        } = details(input)?;
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

// Changing a provider, and resending an invitation (issue 15) -------------------

/// What a change to an organisation did, field by field, for the audit row:
/// "name: A -> B; accountable officer: …" (only what changed).
fn changes(before: &OrganisationRecord, after: &OrganisationRecord) -> Vec<String> {
    let officer = |o: &OrganisationRecord| match (
        &o.accountable_officer_name,
        &o.accountable_officer_email,
    ) {
        (None, None) => "none".to_owned(),
        (n, e) => format!(
            "{} <{}>",
            n.as_deref().unwrap_or_default(),
            e.as_ref().map(EmailAddress::as_str).unwrap_or_default()
        ),
    };
    let ukprn = |o: &OrganisationRecord| {
        o.ukprn
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if before.name != after.name {
        out.push(format!("name: {} -> {}", before.name, after.name));
    }
    if before.ukprn != after.ukprn {
        out.push(format!("ukprn: {} -> {}", ukprn(before), ukprn(after)));
    }
    if officer(before) != officer(after) {
        out.push(format!(
            "accountable officer: {} -> {}",
            officer(before),
            officer(after)
        ));
    }
    out
}

/// The accountable officer's address, compared as addresses are.
fn officer_address(o: &OrganisationRecord) -> Option<String> {
    o.accountable_officer_email
        .as_ref()
        .map(EmailAddress::normalised)
}

impl App {
    /// The organisation whose details `actor` asks to change, if they may
    /// (the Change form is not shown to anyone who could never submit it):
    /// a refusal is audited.
    pub async fn organisation_to_edit(
        &self,
        actor: &Principal,
        id: OrgId,
        meta: &RequestMeta,
    ) -> AppResult<OrganisationRecord> {
        // Decided before the look-up: a provider's user learns nothing of
        // another organisation, not even that it exists (PRODUCT §2 rule 1).
        let decision = match permit::organisation_to_edit(actor, id, ORG_UPDATED) {
            Err(refusal) => Err(refusal),
            Ok(()) => match self.store.organisation(id).await? {
                Some(org) => permit::edit_organisation(actor, org, ORG_UPDATED),
                None => Err(Refusal::denied(
                    ORG_UPDATED,
                    Some(id.to_string()),
                    Denial::NotFound,
                )),
            },
        };
        let permit = self.permitted(meta, Some(actor), decision).await?;
        Ok(permit.into_inner())
    }

    /// A regulator administrator changes a provider's name, UKPRN or
    /// accountable officer, in one change with its audit row (what changed,
    /// before and after). When the accountable officer's address changes, the
    /// address the regulator had is told it is no longer recorded, and the new
    /// one that it is. The details are checked as when a provider is added;
    /// a field the change leaves out is as the organisation has it once locked.
    pub async fn edit_organisation(
        &self,
        actor: &Principal,
        id: OrgId,
        change: &OrganisationChange,
        meta: &RequestMeta,
    ) -> AppResult<OrganisationRecord> {
        // Asked first: someone who may not change it learns nothing from the form.
        self.organisation_to_edit(actor, id, meta).await?;
        self.change(meta, Some(actor), async |u| {
            u.tx().lock_organisation(id).await?;
            let Some(before) = u.tx().organisation(id).await? else {
                return Err(
                    Refusal::denied(ORG_UPDATED, Some(id.to_string()), Denial::NotFound).into(),
                );
            };
            let permit = permit::edit_organisation(actor, before, ORG_UPDATED)?;
            let before = permit.on().clone();
            let checked = details(&change.over(&before))?;
            let after = OrganisationRecord {
                name: checked.name.clone(),
                ukprn: checked.ukprn.clone(),
                accountable_officer_name: checked.officer_name.clone(),
                accountable_officer_email: checked.officer_email.clone(),
                ..before.clone()
            };
            let changed = changes(&before, &after);
            if changed.is_empty() {
                u.audit(&permit, Some(id.to_string()), "nothing changed")
                    .await?;
                return Ok(u.done(&permit, after));
            }
            if let Err(e) = u.tx().update_organisation(&after).await {
                return Err(if e.is_conflict() {
                    AppError::Conflict("An organisation with this UKPRN already exists".into())
                } else {
                    e.into()
                });
            }
            u.audit(&permit, Some(id.to_string()), &changed.join("; "))
                .await?;
            // Whoever stops being the accountable officer is told at the
            // address the regulator had; whoever becomes it, at theirs.
            if officer_address(&before) != officer_address(&after) {
                let now = u.now;
                if let Some(old) = &before.accountable_officer_email {
                    let name = before.accountable_officer_name.as_deref().unwrap_or("");
                    u.email(emails::accountable_officer_replaced(
                        old.as_str(),
                        name,
                        &before.name,
                        now,
                    ))
                    .await?;
                }
                if let Some(new) = &after.accountable_officer_email {
                    let name = after.accountable_officer_name.as_deref().unwrap_or("");
                    u.email(emails::accountable_officer_recorded(
                        new.as_str(),
                        name,
                        &after.name,
                        now,
                    ))
                    .await?;
                }
            }
            Ok(u.done(&permit, after))
        })
        .await
    }

    /// Why `actor` may not resend `user`'s invitation now, in words for the
    /// page; `None` when they may. The same decision as
    /// [`App::resend_invitation`], so a page offers the button exactly when
    /// the action would be allowed (but for the daily limit).
    pub fn resend_refusal(
        &self,
        actor: &Principal,
        user: &UserWithRoles,
        kind: OrganisationKind,
    ) -> Option<&'static str> {
        let target = TargetUser {
            user: user.user.clone(),
            kind,
            roles: user.roles.iter().map(|g| g.role.clone()).collect(),
        };
        permit::resend_refusal(actor, &target, self.clock.now()).map(|d| d.reason())
    }

    /// Sends someone who has never signed in their welcome email again (a
    /// regulator administrator for anyone; a provider's administrators for
    /// their own people, by the rules for changing them). At most
    /// [`RESENDS`] a day per person; audited; the email is queued in the
    /// same change.
    pub async fn resend_invitation(
        &self,
        actor: &Principal,
        id: UserId,
        meta: &RequestMeta,
    ) -> AppResult<store::UserRecord> {
        // Decided on what the store shows before anything is counted, so a
        // refused request changes nothing.
        let target = match self.store.user(id).await? {
            Some(user) => {
                let roles = self.store.user_roles(id).await?;
                let kind = self
                    .store
                    .organisation(user.organisation_id)
                    .await?
                    .map(|o| o.kind)
                    .ok_or_else(|| AppError::internal("user without organisation"))?;
                Ok(TargetUser {
                    user,
                    kind,
                    roles: roles.into_iter().map(|g| g.role).collect(),
                })
            }
            None => Err(Refusal::denied(
                INVITATION_RESENT,
                Some(id.to_string()),
                Denial::NotFound,
            )),
        };
        let now = self.clock.now();
        let decision =
            target.and_then(|t| permit::resend_invitation(actor, t, now, INVITATION_RESENT));
        self.permitted(meta, Some(actor), decision).await?;
        let who = id.to_string();
        if let Err(retry) = self.take_hit(RESENDS, &who).await? {
            let refusal = Refusal::because(
                INVITATION_RESENT,
                "daily limit of resent invitations reached",
                AppError::RateLimited {
                    retry_after_secs: retry,
                },
            )
            .with_target(who.clone());
            return Err(self.refused(meta, Some(actor), refusal).await);
        }
        let sent = self
            .change(meta, Some(actor), async |u| {
                let Some(user) = u.tx().user_for_update(id).await? else {
                    return Err(Refusal::denied(
                        INVITATION_RESENT,
                        Some(id.to_string()),
                        Denial::NotFound,
                    )
                    .into());
                };
                let Some(org) = u.tx().organisation(user.organisation_id).await? else {
                    return Err(AppError::internal("user without organisation"));
                };
                let roles = u.tx().user_roles(id).await?;
                let target = TargetUser {
                    user,
                    kind: org.kind,
                    roles: roles.into_iter().map(|g| g.role).collect(),
                };
                // Decided again on what this change reads: they may have
                // signed in since the page was shown.
                let permit = permit::resend_invitation(actor, target, u.now, INVITATION_RESENT)?;
                let user = permit.on().user.clone();
                u.email(emails::welcome(
                    user.email.as_str(),
                    &user.display_name(),
                    &org.name,
                    &self.settings.base_url,
                    u.now,
                ))
                .await?;
                u.audit(&permit, Some(id.to_string()), &user.email.normalised())
                    .await?;
                Ok(u.done(&permit, user))
            })
            .await;
        if sent.is_err()
            && let Err(e) = self.give_back_hit(RESENDS, &who).await
        {
            tracing::warn!(request_id = %meta.request_id, error = ?e, "could not give back an invitation resend that was not sent");
        }
        sent
    }

    /// How many times a day one person's invitation may be resent.
    pub fn resends_per_day(&self) -> u32 {
        RESENDS.max
    }
}
