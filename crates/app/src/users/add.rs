//! Adding a user (seed 001): the request an administrator makes, and the
//! background worker that creates the account and tells both people.

use domain::audit::Outcome;
use domain::authz::{Action, Denial};
use domain::{OrgId, Role, UserId};

use super::{Alert, actor_name, area_of, is_alerted_role, parse_roles, person_named};
use crate::permit::{self, Refusal};
use crate::{App, AppError, AppResult, Principal, RequestMeta};

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
        if !self.store.user_requests_pending().await? {
            return Ok(false);
        }
        let meta = RequestMeta::operator("add-user");
        self.change(&meta, None, async |u| {
            let Some(req) = u.tx().next_pending_request().await? else {
                return Ok(u.done(&permit::operator("users.add_processed", None), false));
            };
            let permit = permit::operator("users.add_processed", Some(req.organisation_id));
            let now = u.now;
            let email = req.email.clone();
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
                let admin_roles: Vec<String> = (req.roles.iter().filter(|r| is_alerted_role(r)))
                    .map(|r| format!("Role given: {}", r.name("")))
                    .collect();
                if !admin_roles.is_empty() {
                    let by = match &requester {
                        Some(r) if r.organisation_id == req.organisation_id => r.display_name(),
                        Some(r) => {
                            let theirs = u.tx().organisation(r.organisation_id).await?;
                            let of = theirs.map(|o| o.name).unwrap_or_default();
                            format!("{} ({of})", r.display_name())
                        }
                        None => actor_name(None, req.organisation_id),
                    };
                    let alert = Alert {
                        subject: "administrator role given",
                        lead: format!(
                            "{by} added a new user, {}",
                            person_named(&name, email.as_str())
                        ),
                        changes: admin_roles,
                    };
                    self.alert_portal_admins(u, req.organisation_id, &[user_id], &alert)
                        .await?;
                }
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
                    r.email.as_str(),
                    &person,
                    result,
                    now,
                ))
                .await?;
            }
            Ok(u.done(&permit, true))
        })
        .await
    }
}
