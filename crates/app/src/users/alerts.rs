//! Security alerts (PRODUCT §8): every Portal Administrator of a provider is
//! emailed when someone there is given or loses the Portal Administrator or
//! Delegated - Portal Administrator role, activates an access key, or has their
//! email address changed.
//!
//! * An alert is queued in the unit of work that makes the change, so it goes
//!   out if and only if the change commits; a refusal or a rollback sends none.
//! * The administrators are read through the unit's transaction *after* the
//!   change: someone just made a Portal Administrator is one, someone whose role
//!   was just removed is not. Only those with access (enabled, unexpired) are
//!   told, as rule 4 counts them.
//! * The person the change is about is never sent an alert too: they get their
//!   own email about it (the account-changed, welcome or registration email),
//!   so a Portal Administrator who loses the role hears of it at the address
//!   they had, once.

use domain::{OrgId, OrganisationKind, Role, UserId};

use crate::unit::Unit;
use crate::{App, AppResult, Principal, emails};

/// What one change tells the administrators.
pub(crate) struct Alert {
    /// After "Security alert: ".
    pub subject: &'static str,
    /// Who did what to whom, without the time (`Ada Admin changed the account
    /// of Bob Smith (bob@example.ac.uk)`).
    pub lead: String,
    /// What changed, one line each.
    pub changes: Vec<String>,
}

/// Whether a role's being given or removed is a security alert.
pub(crate) fn is_alerted_role(role: &Role) -> bool {
    matches!(role, Role::PortalAdmin | Role::DelegatedPortalAdmin)
}

/// The person who acted, as the administrators of `org` read it: their name,
/// with their organisation's when it is another (the regulator), or the
/// operator at the server's command line.
pub(crate) fn actor_name(actor: Option<&Principal>, org: OrgId) -> String {
    match actor {
        Some(p) if p.organisation.id == org => p.display_name(),
        Some(p) => format!("{} ({})", p.display_name(), p.organisation.name),
        None => "The Provider Portal operator (at the server's command line)".to_owned(),
    }
}

/// A person as an alert names them: `Bob Smith (bob@example.ac.uk)`.
pub(crate) fn person_named(name: &str, email: &str) -> String {
    format!("{name} ({email})")
}

impl App {
    /// Queues `alert` to every Portal Administrator of provider `org` with
    /// access, as the unit now sees them, except those in `told` (who hear
    /// of the change in their own email). Nothing for a regulator.
    pub(crate) async fn alert_portal_admins(
        &self,
        u: &mut Unit<'_>,
        org: OrgId,
        told: &[UserId],
        alert: &Alert,
    ) -> AppResult<usize> {
        let Some(organisation) = u.tx().organisation(org).await? else {
            return Ok(0);
        };
        if organisation.kind != OrganisationKind::Provider {
            return Ok(0);
        }
        let now = u.now;
        let admins = u.tx().portal_admins(org, now).await?;
        let mut sent = 0;
        for admin in admins.iter().filter(|a| !told.contains(&a.id)) {
            u.email(emails::security_alert(
                admin.email.as_str(),
                &admin.display_name(),
                &organisation.name,
                alert.subject,
                &alert.lead,
                &alert.changes,
                &self.settings.base_url,
                now,
            ))
            .await?;
            sent += 1;
        }
        Ok(sent)
    }
}
