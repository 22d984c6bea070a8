//! Reading the audit trail (PRODUCT §8, issue 13): the Activity page and
//! `GET /api/v1/audit`. Provider administrators read their own organisation's
//! events, refused attempts included; regulator administrators read every
//! organisation's (`permit::audit_reader`). Each row reads as one sentence
//! ("Ada Admin gave Hana Heses the role Data collection contributor - HESES"),
//! with who, to whom, the outcome and, for a change, what it changed.
//!
//! Reading is not itself recorded (no read of a list is); taking the rows away
//! (CSV or JSON) is, as every export is (`App::record_export`). The rows' hashes
//! are never shown: they are for `portal audit verify`.

use std::collections::HashMap;

use domain::audit::Outcome;
use domain::role::Area;
use domain::{OrgId, Role, UserId};
use store::{AUDIT_COUNT_LIMIT, AuditFilter, AuditRecord};
use time::OffsetDateTime;

use crate::permit::{self, AuditScope, Permit, Refusal};
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

/// Rows a page shows unless asked otherwise.
pub const PER_PAGE: i64 = 50;
/// The most rows one page may ask for.
pub const MAX_PER_PAGE: i64 = 200;
/// The most rows one export may hold: more than this, and the reader is asked
/// to narrow the filters (an export is built in memory).
pub const EXPORT_LIMIT: usize = 50_000;
/// The action an export of the trail is recorded as.
pub const EXPORTED: &str = "audit.exported";
const READ: &str = "audit.read";

/// What a reader asks for: every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct TrailQuery {
    /// Only what this person did.
    pub actor: Option<UserId>,
    /// One action (`users.set_roles`) or, ending in `.`, a group (`users.`).
    pub action: Option<String>,
    /// From this instant (inclusive) …
    pub from: Option<OffsetDateTime>,
    /// … to this one (exclusive).
    pub to: Option<OffsetDateTime>,
    /// One organisation's (regulator administrators; a provider administrator
    /// always reads their own, whatever this says).
    pub organisation: Option<OrgId>,
    pub page: i64,
    pub per_page: i64,
}

/// One audit row, for a reader.
#[derive(Debug, Clone)]
pub struct TrailItem {
    /// The row's sequence number: its id.
    pub id: i64,
    pub at: OffsetDateTime,
    /// `at` in UK time, as GOV.UK writes it.
    pub when: String,
    pub actor_id: Option<UserId>,
    /// The actor's name, or "The portal" for the operator and background work.
    pub actor_name: String,
    pub organisation_id: Option<OrgId>,
    pub organisation_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The person the row is about, when its target is a user.
    pub target_name: Option<String>,
    pub refused: bool,
    pub summary: String,
    /// What changed, one line each ("Role given: Portal Administrator"), or
    /// why it was refused.
    pub changes: Vec<String>,
    /// The row's detail as recorded.
    pub detail: String,
    pub request_id: Option<String>,
}

impl TrailItem {
    /// `allowed` or `refused`, as the API says it.
    pub fn outcome(&self) -> &'static str {
        if self.refused { "refused" } else { "allowed" }
    }
}

/// One page of the trail.
#[derive(Debug, Clone)]
pub struct Trail {
    pub items: Vec<TrailItem>,
    /// How many rows match: exact up to [`AUDIT_COUNT_LIMIT`]; beyond it
    /// `total_capped` is set and `total` is the limit.
    pub total: i64,
    pub total_capped: bool,
    pub page: i64,
    pub per_page: i64,
    /// Whose trail this is: one organisation's, or every one's.
    pub scope: Option<OrgId>,
}

/// A group of actions, for the filters.
pub struct ActionGroup {
    /// The filter value: the actions' common prefix, ending in `.`.
    pub prefix: &'static str,
    pub label: &'static str,
}

/// The groups the Activity page offers.
pub const ACTION_GROUPS: [ActionGroup; 11] = [
    ActionGroup {
        prefix: "users.",
        label: "Users and roles",
    },
    ActionGroup {
        prefix: "sign_in.",
        label: "Signing in",
    },
    ActionGroup {
        prefix: "sessions.",
        label: "Sessions",
    },
    ActionGroup {
        prefix: "api_tokens.",
        label: "API tokens",
    },
    ActionGroup {
        prefix: "access_keys.",
        label: "Access keys",
    },
    ActionGroup {
        prefix: "areas.",
        label: "Areas",
    },
    ActionGroup {
        prefix: "submissions.",
        label: "Submissions",
    },
    ActionGroup {
        prefix: "windows.",
        label: "Collection windows",
    },
    ActionGroup {
        prefix: "documents.",
        label: "Documents",
    },
    ActionGroup {
        prefix: "organisations.",
        label: "Organisations",
    },
    ActionGroup {
        prefix: "audit.",
        label: "Activity exports",
    },
];

impl App {
    /// Whose trail the actor may read: their organisation's, or (`None`)
    /// every one's; anyone else is refused (audited), before a page reads its
    /// filters.
    pub async fn audit_scope(
        &self,
        meta: &RequestMeta,
        actor: &Principal,
    ) -> AppResult<Option<OrgId>> {
        let permit = self
            .permitted(meta, Some(actor), permit::audit_reader(actor, READ))
            .await?;
        Ok(permit.on().0)
    }

    /// One page of the audit trail the actor may read, newest first.
    pub async fn audit_trail(
        &self,
        meta: &RequestMeta,
        actor: &Principal,
        query: &TrailQuery,
    ) -> AppResult<Trail> {
        let permit = self
            .permitted(meta, Some(actor), permit::audit_reader(actor, READ))
            .await?;
        let per_page = if query.per_page < 1 {
            PER_PAGE
        } else {
            query.per_page
        };
        if per_page > MAX_PER_PAGE {
            return Err(AppError::invalid(
                "per_page",
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        let page = query.page.max(1);
        let scope = match scoped(&permit, query) {
            Ok(f) => f,
            Err(r) => return Err(self.refused(meta, Some(actor), r).await),
        };
        let filter = AuditFilter {
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
            ..scope
        };
        let (rows, total) = self.store.audit_page(&filter).await?;
        let items = self.describe(rows).await?;
        Ok(Trail {
            items,
            total: total.min(AUDIT_COUNT_LIMIT),
            total_capped: total > AUDIT_COUNT_LIMIT,
            page,
            per_page,
            scope: permit.on().0,
        })
    }

    /// Every row the query matches (its page ignored), newest first, for a
    /// CSV or JSON download; recorded as an export. More than
    /// [`EXPORT_LIMIT`] rows is `400`: narrow the filters.
    pub async fn audit_export(
        &self,
        meta: &RequestMeta,
        actor: &Principal,
        query: &TrailQuery,
    ) -> AppResult<Vec<TrailItem>> {
        let permit = self
            .permitted(meta, Some(actor), permit::audit_reader(actor, EXPORTED))
            .await?;
        let scope = match scoped(&permit, query) {
            Ok(f) => f,
            Err(r) => return Err(self.refused(meta, Some(actor), r).await),
        };
        const CHUNK: i64 = 1_000;
        let mut rows: Vec<AuditRecord> = Vec::new();
        loop {
            let filter = AuditFilter {
                before_seq: rows.last().map(|r| r.entry.seq),
                offset: 0,
                limit: CHUNK,
                ..scope.clone()
            };
            let (chunk, _) = self.store.audit_page(&filter).await?;
            let last = (chunk.len() as i64) < CHUNK;
            rows.extend(chunk);
            if rows.len() > EXPORT_LIMIT {
                return Err(AppError::invalid(
                    "from",
                    format!(
                        "More than {EXPORT_LIMIT} events match: choose a shorter date range or more filters"
                    ),
                ));
            }
            if last {
                break;
            }
        }
        let items = self.describe(rows).await?;
        self.record_export(meta, actor, EXPORTED).await;
        Ok(items)
    }

    /// One row of the trail the actor may read; another organisation's, or
    /// one that does not exist, is not found (audited).
    pub async fn audit_event(
        &self,
        meta: &RequestMeta,
        actor: &Principal,
        id: i64,
    ) -> AppResult<TrailItem> {
        let permit = self
            .permitted(meta, Some(actor), permit::audit_reader(actor, READ))
            .await?;
        let row = if id > 0 {
            self.store
                .audit_after(id - 1, 1)
                .await?
                .into_iter()
                .next()
                .filter(|r| r.entry.seq == id)
        } else {
            None
        };
        let visible = |r: &AuditRecord| match permit.on().0 {
            None => true,
            Some(org) => r.entry.organisation_id == Some(org.0),
        };
        match row.filter(visible) {
            Some(r) => Ok(self.describe(vec![r]).await?.remove(0)),
            None => {
                let refusal = permit::Refusal::because(
                    READ,
                    "no such event in the reader's trail",
                    AppError::NotFound,
                )
                .with_target(id.to_string());
                Err(self.refused(meta, Some(actor), refusal).await)
            }
        }
    }

    /// The person an email address names, for the "person" filter. A provider
    /// administrator finds only their organisation's people (or, since they act
    /// there too, the regulator's); an unknown address is a field error.
    pub async fn audit_person(&self, actor: &Principal, email: &str) -> AppResult<UserId> {
        let not_found = || {
            AppError::invalid(
                "person",
                "No one with this email address has an account you can see",
            )
        };
        let Ok(address) = domain::EmailAddress::parse(email.trim()) else {
            return Err(AppError::invalid(
                "person",
                "Enter an email address in the correct format, like name@example.com",
            ));
        };
        let Some(user) = self.store.user_by_email(&address.normalised()).await? else {
            return Err(not_found());
        };
        if user.organisation_id == actor.organisation.id
            || actor.organisation.kind == domain::OrganisationKind::Regulator
        {
            return Ok(user.id);
        }
        match self.store.organisation(user.organisation_id).await? {
            Some(o) if o.kind == domain::OrganisationKind::Regulator => Ok(user.id),
            _ => Err(not_found()),
        }
    }

    /// The organisations a regulator administrator may filter by, by name.
    pub async fn audit_organisations(&self, actor: &Principal) -> AppResult<Vec<(OrgId, String)>> {
        if !(permit::may_read_audit(actor)
            && actor.organisation.kind == domain::OrganisationKind::Regulator)
        {
            return Ok(Vec::new());
        }
        let (orgs, _) = self.store.list_organisations(0, 10_000).await?;
        Ok(orgs.into_iter().map(|o| (o.id, o.name)).collect())
    }

    /// Rows as sentences: names looked up once each.
    async fn describe(&self, rows: Vec<AuditRecord>) -> AppResult<Vec<TrailItem>> {
        let areas = self.store.areas().await?;
        // Every name the page needs, in one query.
        let mut wanted: Vec<UserId> = rows
            .iter()
            .flat_map(|r| {
                let target = r
                    .entry
                    .target
                    .as_deref()
                    .and_then(|t| uuid::Uuid::parse_str(t).ok());
                r.entry.actor_id.into_iter().chain(target)
            })
            .map(UserId)
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut people: HashMap<uuid::Uuid, Option<String>> =
            wanted.iter().map(|id| (id.0, None)).collect();
        for u in self.store.users_by_ids(&wanted).await? {
            people.insert(u.id.0, Some(u.display_name()));
        }
        let mut orgs: HashMap<uuid::Uuid, Option<String>> = HashMap::new();
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let e = r.entry;
            // Every id was read above: one not found is a former user's.
            let name_of = |id: uuid::Uuid| people.get(&id).cloned().flatten();
            let actor_name = e.actor_id.and_then(name_of);
            let target_user = e
                .target
                .as_deref()
                .and_then(|t| uuid::Uuid::parse_str(t).ok());
            let target_name = target_user.and_then(name_of);
            let organisation_name = match e.organisation_id {
                Some(id) => {
                    if let Some(name) = orgs.get(&id) {
                        name.clone()
                    } else {
                        let name = self.store.organisation(OrgId(id)).await?.map(|o| o.name);
                        orgs.insert(id, name.clone());
                        name
                    }
                }
                None => None,
            };
            let refused = e.outcome == Outcome::Refused;
            let event = Event {
                action: &e.action,
                actor: actor_name.as_deref(),
                actor_known: e.actor_id.is_some(),
                target: e.target.as_deref(),
                target_name: target_name.as_deref(),
                detail: &e.detail,
                refused,
                areas: &areas,
            };
            let summary = sentence(&event);
            let changes = changes(&event);
            items.push(TrailItem {
                id: e.seq,
                at: e.at,
                when: domain::uk_time::moment(e.at),
                actor_id: e.actor_id.map(UserId),
                actor_name: actor_name.unwrap_or_else(|| {
                    if e.actor_id.is_some() {
                        "A former user".to_owned()
                    } else {
                        "The portal".to_owned()
                    }
                }),
                organisation_id: e.organisation_id.map(OrgId),
                organisation_name,
                action: e.action,
                target: e.target,
                target_name,
                refused,
                summary,
                changes,
                detail: e.detail,
                request_id: e.request_id,
            });
        }
        Ok(items)
    }
}

impl Principal {
    /// Whether the "Activity" pages are for this person.
    pub fn may_read_activity(&self) -> bool {
        permit::may_read_audit(self)
    }
}

/// The store's filter for `query` within what `permit` lets the actor read. A
/// provider administrator asking for another organisation's trail is refused
/// as for anything of another organisation: not found.
fn scoped(permit: &Permit<AuditScope>, query: &TrailQuery) -> Result<AuditFilter, Refusal> {
    let organisation = match (permit.on().0, query.organisation) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(Refusal::denied(
                permit.action(),
                Some(asked.to_string()),
                domain::authz::Denial::NotFound,
            ));
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    Ok(AuditFilter {
        organisation,
        actor: query.actor,
        action: query.action.clone().filter(|a| !a.is_empty()),
        from: query.from,
        to: query.to,
        ..AuditFilter::default()
    })
}

/// Checks a query's dates before anything is read: `from` must come before `to`.
pub fn check_range(
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
) -> Result<(), FieldErrors> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => {
            let mut errors = FieldErrors::new();
            errors.insert(
                "to",
                "The end of the date range must be after its start".to_owned(),
            );
            Err(errors)
        }
        _ => Ok(()),
    }
}

pub use domain::uk_time::uk_midnight;

/// What a sentence is made from.
struct Event<'a> {
    action: &'a str,
    actor: Option<&'a str>,
    /// The row names an actor (who may since have been removed).
    actor_known: bool,
    target: Option<&'a str>,
    target_name: Option<&'a str>,
    detail: &'a str,
    refused: bool,
    areas: &'a [Area],
}

impl Event<'_> {
    fn who(&self) -> String {
        match (self.actor, self.actor_known) {
            (Some(name), _) => name.to_owned(),
            (None, true) => "A former user".to_owned(),
            (None, false) => "The portal".to_owned(),
        }
    }

    /// The person or thing acted on, in words.
    fn whom(&self) -> String {
        match (self.target_name, self.target) {
            (Some(name), _) => name.to_owned(),
            (None, Some(t)) if uuid::Uuid::parse_str(t).is_ok() => {
                "a user who no longer exists".to_owned()
            }
            (None, Some(t)) => t.to_owned(),
            (None, None) => "someone".to_owned(),
        }
    }

    fn role_name(&self, id: &str) -> String {
        match Role::parse(id) {
            Some(role) => {
                let area = role
                    .area()
                    .and_then(|slug| self.areas.iter().find(|a| &a.slug == slug))
                    .map(|a| a.name.as_str())
                    .or(role.area().map(|s| s.as_str()))
                    .unwrap_or_default();
                role.name(area)
            }
            None => id.to_owned(),
        }
    }

    /// The role ids in `key=[a,b]` of the detail.
    fn roles_in(&self, key: &str) -> Vec<String> {
        let open = format!("{key}=[");
        let Some(start) = self.detail.find(&open) else {
            return Vec::new();
        };
        let rest = &self.detail[start + open.len()..];
        let list = rest.split(']').next().unwrap_or_default();
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(|id| self.role_name(id))
            .collect()
    }
}

/// "a", "a and b", "a, b and c".
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn roles_phrase(roles: &[String]) -> String {
    if roles.len() == 1 {
        format!("the role {}", roles[0])
    } else {
        format!("the roles {}", listed(roles))
    }
}

/// One plain-English sentence for an audit row.
fn sentence(e: &Event<'_>) -> String {
    let who = e.who();
    let whom = e.whom();
    let (family, _) = e.action.split_once('.').unwrap_or((e.action, ""));
    if e.refused {
        refused_sentence(e, &who, &whom)
    } else {
        match family {
            "users" | "user" => users_sentence(e, &who, &whom),
            "sign_in" | "password" | "register" | "sign_out" | "sessions" | "api_tokens" => {
                account_sentence(e, &who, &whom)
            }
            "access_keys" => match e.action {
                "access_keys.issue" => format!("{who} issued an access key"),
                "access_keys.activate" => format!("{who} activated an access key"),
                "access_keys.revoke" => format!("{who} revoked an access key"),
                _ => fallback(e, &who),
            },
            "areas" => match e.action {
                "areas.create" => format!("{who} created an area"),
                "areas.add_user" => format!("{who} added {whom} to an area"),
                "areas.remove_user" => format!("{who} removed {whom} from an area"),
                _ => fallback(e, &who),
            },
            "submissions" | "submission" => match e.action {
                "submissions.upload" | "submission.uploaded" => {
                    format!("{who} uploaded a data return")
                }
                "submissions.submit" => format!("{who} submitted a data return"),
                "submissions.status" => format!("{who} changed the status of a submission"),
                "submissions.download" => format!("{who} downloaded a submission"),
                _ => fallback(e, &who),
            },
            "windows" => match e.action {
                "windows.create" => format!("{who} opened a collection window"),
                "windows.update" => format!("{who} changed a collection window"),
                "windows.close" => format!("{who} closed a collection window"),
                _ => fallback(e, &who),
            },
            "documents" => match e.action {
                "documents.publish" => format!("{who} published a document"),
                "documents.download" => format!("{who} downloaded a document"),
                _ => fallback(e, &who),
            },
            "organisations" | "organisation" => format!("{who} created an organisation"),
            "feedback" => format!("{who} sent feedback"),
            "audit" if e.action == EXPORTED => format!("{who} downloaded the activity log"),
            "import_legacy" => format!("{who} imported users from the old portal"),
            _ => fallback(e, &who),
        }
    }
}

fn users_sentence(e: &Event<'_>, who: &str, whom: &str) -> String {
    match e.action {
        "users.set_roles" | "users.update" | "users.copy_roles" | "users.roles_changed" => {
            let added = e.roles_in("added");
            let removed = e.roles_in("removed");
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("gave {whom} {}", roles_phrase(&added)));
            }
            if !removed.is_empty() {
                parts.push(format!("removed {} from {whom}", roles_phrase(&removed)));
            }
            let other: Vec<String> = other_changes(e.detail);
            if parts.is_empty() && other.is_empty() {
                return format!("{who} changed the account of {whom}");
            }
            if !other.is_empty() {
                parts.push(format!(
                    "changed the account of {whom} ({})",
                    other.join("; ").to_lowercase()
                ));
            }
            format!("{who} {}", listed(&parts))
        }
        "users.add" | "users.add_requested" => {
            let roles = e.roles_in("roles");
            if roles.is_empty() {
                format!("{who} asked for an account for {whom}")
            } else {
                format!(
                    "{who} asked for an account for {whom} with {}",
                    roles_phrase(&roles)
                )
            }
        }
        "users.add_processed" | "user.created" => format!("{who} created an account for {whom}"),
        "users.exported" => format!("{who} downloaded the list of users"),
        "users.sign_out_everywhere" => format!("{who} signed {whom} out everywhere"),
        _ => fallback(e, who),
    }
}

fn account_sentence(e: &Event<'_>, who: &str, whom: &str) -> String {
    match e.action {
        "sign_in.code_requested" => format!("{who} asked for a sign-in code"),
        "sign_in.code_entered" | "sign_in.password" | "sign_in.succeeded" => {
            format!("{who} signed in")
        }
        "sign_in.locked" => format!("{who}'s sign-in was locked after too many attempts"),
        "password.code_requested" => format!("{who} asked for a code to set a password"),
        "password.changed" => format!("{who} set a new password"),
        "register" => format!("{who} registered with an access key"),
        "sign_out" => format!("{who} signed out"),
        "sessions.end" => format!("{who} ended one of their sessions"),
        "sessions.end_others" => format!("{who} ended their other sessions"),
        "api_tokens.create" => format!("{who} created an API token"),
        "api_tokens.revoke" => format!("{who} revoked an API token of {whom}"),
        _ => fallback(e, who),
    }
}

/// A refused attempt, said as what was tried.
fn refused_sentence(e: &Event<'_>, who: &str, whom: &str) -> String {
    let tried = match e.action {
        "users.set_roles" | "users.update" | "users.copy_roles" => {
            let (added, removed) = (e.roles_in("added"), e.roles_in("removed"));
            if !added.is_empty() {
                format!("tried to give {whom} {}", roles_phrase(&added))
            } else if !removed.is_empty() {
                format!("tried to remove {} from {whom}", roles_phrase(&removed))
            } else {
                format!("tried to change the roles or account of {whom}")
            }
        }
        "users.add" => "tried to add a user".to_owned(),
        "users.view" => format!("tried to view {whom}"),
        "users.list" => "tried to list users".to_owned(),
        "users.add_processed" => format!("could not create an account for {whom}"),
        "sign_in.code_entered" | "sign_in.password" => "tried to sign in".to_owned(),
        "sign_in.code_requested" => "asked for a sign-in code".to_owned(),
        "sign_in.locked" => "was locked out of signing in".to_owned(),
        "access_keys.activate" => "tried to use an access key".to_owned(),
        "audit.read" | "audit.exported" => "tried to read the activity log".to_owned(),
        action => format!("tried to {}", action_words(action)),
    };
    let why = other_changes(e.detail).join("; ");
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(": {why}")
    };
    format!("{who} {tried} (refused{why})")
}

/// Changes other than roles, as recorded ("Portal access disabled").
fn other_changes(detail: &str) -> Vec<String> {
    detail
        .split("; ")
        .filter(|p| !p.is_empty() && !p.starts_with("added=["))
        .map(str::to_owned)
        .collect()
}

/// What changed, a line each, for the detail view.
fn changes(e: &Event<'_>) -> Vec<String> {
    if e.refused {
        let mut lines = Vec::new();
        let (added, removed) = (e.roles_in("added"), e.roles_in("removed"));
        if !added.is_empty() {
            lines.push(format!("Asked to give: {}", listed(&added)));
        }
        if !removed.is_empty() {
            lines.push(format!("Asked to remove: {}", listed(&removed)));
        }
        let why = other_changes(e.detail).join("; ");
        if !why.is_empty() {
            lines.push(format!("Refused: {why}"));
        }
        return lines;
    }
    let mut lines = Vec::new();
    lines.extend(
        e.roles_in("added")
            .into_iter()
            .map(|r| format!("Role given: {r}")),
    );
    lines.extend(
        e.roles_in("removed")
            .into_iter()
            .map(|r| format!("Role removed: {r}")),
    );
    if e.action.starts_with("users.") && e.action != "users.add" {
        lines.extend(other_changes(e.detail));
    }
    if e.action == "users.add" {
        lines.extend(
            e.roles_in("roles")
                .into_iter()
                .map(|r| format!("Role asked for: {r}")),
        );
    }
    lines
}

/// An action's name as words: `windows.close` → "windows close".
fn action_words(action: &str) -> String {
    action.replace(['.', '_'], " ")
}

/// For an action with no sentence of its own.
fn fallback(e: &Event<'_>, who: &str) -> String {
    match e.target_name.or(e.target) {
        Some(t) => format!("{who}: {} ({t})", action_words(e.action)),
        None => format!("{who}: {}", action_words(e.action)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::AreaSlug;
    use domain::role::AreaKind;

    fn areas() -> Vec<Area> {
        vec![Area {
            slug: AreaSlug::parse("heses").unwrap(),
            name: "HESES".into(),
            kind: AreaKind::DataReturn,
            sensitive: false,
        }]
    }

    fn event<'a>(action: &'a str, detail: &'a str, refused: bool, areas: &'a [Area]) -> Event<'a> {
        Event {
            action,
            actor: Some("Ada Admin"),
            actor_known: true,
            target: Some("3f1e0c9a-0000-4000-8000-000000000000"),
            target_name: Some("Hana Heses"),
            detail,
            refused,
            areas,
        }
    }

    #[test]
    fn a_role_given_reads_as_product_section_8_says() {
        let areas = areas();
        let e = event(
            "users.set_roles",
            "added=[data-collection-contributor:heses] removed=[]",
            false,
            &areas,
        );
        assert_eq!(
            sentence(&e),
            "Ada Admin gave Hana Heses the role Data collection contributor - HESES"
        );
        assert_eq!(
            changes(&e),
            ["Role given: Data collection contributor - HESES"]
        );
    }

    #[test]
    fn roles_given_and_removed_and_access_changes_are_one_sentence() {
        let areas = areas();
        let e = event(
            "users.update",
            "added=[portal-admin,delegated-portal-admin] removed=[data-collection-contributor:heses]; Portal access disabled",
            false,
            &areas,
        );
        assert_eq!(
            sentence(&e),
            "Ada Admin gave Hana Heses the roles Portal Administrator and Delegated - Portal Administrator, \
             removed the role Data collection contributor - HESES from Hana Heses and \
             changed the account of Hana Heses (portal access disabled)"
        );
    }

    #[test]
    fn a_refusal_says_what_was_tried_and_why() {
        let areas = areas();
        let e = event(
            "users.set_roles",
            domain::authz::DELEGATE_ROLE,
            true,
            &areas,
        );
        assert_eq!(
            sentence(&e),
            format!(
                "Ada Admin tried to change the roles or account of Hana Heses (refused: {})",
                domain::authz::DELEGATE_ROLE
            )
        );
        // A refused role change names the role asked for (permit::roles records it).
        let detail = format!(
            "added=[portal-admin] removed=[]; {}",
            domain::authz::DELEGATE_ROLE
        );
        let e = event("users.set_roles", &detail, true, &areas);
        assert_eq!(
            sentence(&e),
            format!(
                "Ada Admin tried to give Hana Heses the role Portal Administrator (refused: {})",
                domain::authz::DELEGATE_ROLE
            )
        );
        assert_eq!(
            changes(&e),
            [
                "Asked to give: Portal Administrator".to_owned(),
                format!("Refused: {}", domain::authz::DELEGATE_ROLE)
            ]
        );
    }

    #[test]
    fn unknown_actions_still_read_as_a_sentence() {
        let areas = areas();
        let mut e = event("widgets.frobnicate", "", false, &areas);
        e.target_name = None;
        e.target = Some("w1");
        assert_eq!(sentence(&e), "Ada Admin: widgets frobnicate (w1)");
        e.actor = None;
        e.actor_known = false;
        assert_eq!(sentence(&e), "The portal: widgets frobnicate (w1)");
    }

    #[test]
    fn uk_midnight_is_gmt_in_winter_and_bst_in_summer() {
        use time::macros::{date, datetime};
        assert_eq!(
            uk_midnight(date!(2026 - 12 - 03)),
            datetime!(2026-12-03 0:00 UTC)
        );
        assert_eq!(
            uk_midnight(date!(2026 - 07 - 01)),
            datetime!(2026-06-30 23:00 UTC)
        );
    }
}
