//! Queries on a submission (issue 16): raised by the regulator's officers,
//! answered by the provider, closed by an officer; emailed both ways.
//!
//! Who may do what is `domain::collection::may`, through the same permit as
//! every other work on a submission ([`crate::permit::submission`]): raising
//! and closing are part of an officer's [`Work::Review`]; writing in a
//! thread is [`Work::AnswerQuery`] (the provider's people who see the return,
//! and the area's officers). A query of another provider, or of a return a
//! provider's person holds no role for, is answered exactly as a missing one
//! (404). Each action is one unit of work: its rows, one audit row and its
//! emails, committed together.
//!
//! The emails carry the query's subject and text, so that people can answer
//! from their inbox, except in a sensitive area, whose emails say only that
//! there is a query and where to read it.

use std::collections::BTreeMap;

use domain::authz::{Denial, Subject};
use domain::collection::{self, SubmissionStatus, Work};
use domain::ids::MessageId;
use domain::role::Area;
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::{NewEmail, QueryFilter, QueryMessageRecord, QueryRecord, RoleHolder, UserRecord};
use time::OffsetDateTime;

use crate::permit::{self, AreaWork, Permit, Refusal};
use crate::unit::Unit;
use crate::{App, AppError, AppResult, FieldErrors, Principal, RequestMeta};

use super::VisibleWindow;

const RAISE: &str = "queries.raise";
const ANSWER: &str = "queries.answer";
const CLOSE: &str = "queries.close";
const SEE: &str = "queries.view";

/// The longest subject and message, in characters.
pub const SUBJECT_MAX: usize = 150;
pub const MESSAGE_MAX: usize = 5000;

/// One message of a query's thread, as shown.
#[derive(Debug, Clone)]
pub struct ThreadMessage {
    pub id: uuid::Uuid,
    pub author: String,
    /// Written by the regulator (else by the provider's people).
    pub from_regulator: bool,
    pub body: String,
    pub at: OffsetDateTime,
}

/// A query as the person asking may see it, with what they may do with it
/// (from the same decision the actions use).
#[derive(Debug, Clone)]
pub struct QueryThread {
    pub id: uuid::Uuid,
    pub submission_id: uuid::Uuid,
    pub window_id: uuid::Uuid,
    pub window: String,
    pub organisation_id: OrgId,
    pub organisation: String,
    pub version: i64,
    pub subject: String,
    pub raised_by: String,
    pub raised_at: OffsetDateTime,
    pub closed_by: Option<String>,
    pub closed_at: Option<OffsetDateTime>,
    pub messages: Vec<ThreadMessage>,
    /// May write in the thread now (it is open, and they may answer).
    pub may_answer: bool,
    /// May close it now (it is open, and they are an officer of the area).
    pub may_close: bool,
}

impl QueryThread {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// When something was last written in it (or it was closed).
    pub fn last_activity(&self) -> OffsetDateTime {
        let last = self.messages.last().map_or(self.raised_at, |m| m.at);
        self.closed_at.map_or(last, |c| c.max(last))
    }
}

/// A subject as typed: trimmed, 1 to 150 characters, one line.
fn check_subject(subject: &str, errors: &mut FieldErrors) -> String {
    let s = subject.trim();
    if s.is_empty() {
        errors.insert("subject", "Enter a subject".into());
    } else if s.chars().count() > SUBJECT_MAX {
        errors.insert(
            "subject",
            format!("The subject must be {SUBJECT_MAX} characters or fewer"),
        );
    } else if s.chars().any(char::is_control) {
        errors.insert(
            "subject",
            "The subject must be one line of text, without tabs or other control characters".into(),
        );
    }
    s.to_owned()
}

/// A message as typed: line endings made `\n`, trimmed, 1 to 5,000
/// characters, no control characters but new lines.
fn check_message(body: &str, errors: &mut FieldErrors) -> String {
    let b = body.replace("\r\n", "\n").replace('\r', "\n");
    let b = b.trim();
    if b.is_empty() {
        errors.insert("message", "Enter a message".into());
    } else if b.chars().count() > MESSAGE_MAX {
        errors.insert(
            "message",
            "The message must be 5,000 characters or fewer".to_owned(),
        );
    } else if b.chars().any(|c| c.is_control() && c != '\n') {
        errors.insert(
            "message",
            "The message must be plain text: remove tabs and other control characters".into(),
        );
    }
    b.to_owned()
}

/// Names of the people and providers in threads, read once each.
#[derive(Default)]
struct Names {
    users: BTreeMap<UserId, (String, OrgId)>,
    orgs: BTreeMap<OrgId, String>,
}

impl App {
    /// An officer of the area raises a query on a submitted (returned or
    /// accepted) version, with its first message; the provider is emailed.
    pub async fn raise_query(
        &self,
        actor: &Principal,
        submission: &str,
        subject: &str,
        message: &str,
        meta: &RequestMeta,
    ) -> AppResult<QueryThread> {
        let (permit, s, window) = self
            .submission_permit(actor, submission, Work::Review, RAISE, meta)
            .await?;
        let mut errors = FieldErrors::new();
        let subject = check_subject(subject, &mut errors);
        let message = check_message(message, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let id = uuid::Uuid::new_v4();
        let area = permit.on().area.clone();
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            // The regulator never sees a draft (the permit says not found);
            // read again here, in the unit, as it is now.
            let current = u.tx().submission(s.id).await?;
            if current
                .as_ref()
                .is_none_or(|c| c.status == SubmissionStatus::Draft)
            {
                let refusal = Refusal::because(
                    RAISE,
                    "not a submitted version",
                    AppError::Conflict("Only a submitted return can be queried".into()),
                )
                .with_target(s.id.to_string());
                return Err(refusal.into());
            }
            let query = QueryRecord {
                id,
                submission_id: s.id,
                window_id: window.id,
                organisation_id: s.organisation_id,
                subject: subject.clone(),
                raised_by: actor.user.id,
                raised_at: now,
                closed_by: None,
                closed_at: None,
                messages: vec![QueryMessageRecord {
                    id: uuid::Uuid::new_v4(),
                    author: actor.user.id,
                    body: message.clone(),
                    created_at: now,
                }],
            };
            u.tx().insert_query(&query).await?;
            let detail = format!(
                "submission {} version {}: {} characters",
                s.id,
                s.version,
                message.chars().count()
            );
            u.audit(&permit, Some(id.to_string()), &detail).await?;
            let to = provider_recipients(u, &query, &area).await?;
            let about = About::new(
                &query,
                &window.name,
                s.version,
                &area,
                &self.settings.base_url,
            );
            for person in &to {
                u.email(query_raised(
                    person,
                    &about,
                    &actor.display_name(),
                    &message,
                    now,
                ))
                .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.thread_by_id(actor, id).await
    }

    /// Someone who may answer writes in an open query's thread: the
    /// provider's message goes to the area's officers, an officer's to the
    /// provider's people.
    pub async fn answer_query(
        &self,
        actor: &Principal,
        query: &str,
        message: &str,
        meta: &RequestMeta,
    ) -> AppResult<QueryThread> {
        let (permit, q, version, window) = self
            .query_permit(actor, query, Work::AnswerQuery, ANSWER, meta)
            .await?;
        let mut errors = FieldErrors::new();
        let message = check_message(message, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let area = permit.on().area.clone();
        let from_regulator = actor.organisation.kind == OrganisationKind::Regulator;
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let Some(current) = u.tx().query_for_update(q.id).await? else {
                return Err(
                    Refusal::denied(ANSWER, Some(q.id.to_string()), Denial::NotFound).into(),
                );
            };
            if current.closed_at.is_some() {
                return Err(closed_refusal(ANSWER, &current).into());
            }
            // A thread reads in the order it was written: never at or before
            // its last message, even within the same clock tick.
            let last = current.messages.last().map_or(now, |m| m.created_at);
            let at = now.max(last + time::Duration::microseconds(1));
            let record = QueryMessageRecord {
                id: uuid::Uuid::new_v4(),
                author: actor.user.id,
                body: message.clone(),
                created_at: at,
            };
            u.tx().insert_query_message(q.id, &record).await?;
            let detail = format!(
                "submission {}: {} characters",
                q.submission_id,
                message.chars().count()
            );
            u.audit(&permit, Some(q.id.to_string()), &detail).await?;
            let to = if from_regulator {
                provider_recipients(u, &current, &area).await?
            } else {
                officers(u, &area, now).await?
            };
            let about = About::new(
                &current,
                &window.name,
                version,
                &area,
                &self.settings.base_url,
            );
            for person in to.iter().filter(|p| p.id != actor.user.id) {
                u.email(query_answered(
                    person,
                    &about,
                    &actor.display_name(),
                    &message,
                    now,
                ))
                .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.thread_by_id(actor, q.id).await
    }

    /// An officer of the area closes an open query; the provider's people
    /// are told. Closing a closed query is refused (409).
    pub async fn close_query(
        &self,
        actor: &Principal,
        query: &str,
        meta: &RequestMeta,
    ) -> AppResult<QueryThread> {
        let (permit, q, version, window) = self
            .query_permit(actor, query, Work::Review, CLOSE, meta)
            .await?;
        let area = permit.on().area.clone();
        self.change(meta, Some(actor), async |u| {
            let now = u.now;
            let Some(current) = u.tx().query_for_update(q.id).await? else {
                return Err(
                    Refusal::denied(CLOSE, Some(q.id.to_string()), Denial::NotFound).into(),
                );
            };
            if !u.tx().close_query(q.id, actor.user.id, now).await? {
                return Err(closed_refusal(CLOSE, &current).into());
            }
            let detail = format!("submission {}", q.submission_id);
            u.audit(&permit, Some(q.id.to_string()), &detail).await?;
            let to = provider_recipients(u, &current, &area).await?;
            let about = About::new(
                &current,
                &window.name,
                version,
                &area,
                &self.settings.base_url,
            );
            for person in &to {
                u.email(query_closed(person, &about, &actor.display_name(), now))
                    .await?;
            }
            Ok(u.done(&permit, ()))
        })
        .await?;
        self.thread_by_id(actor, q.id).await
    }

    /// The queries on a submission `actor` has been allowed to see (by
    /// [`App::submission_for`]), oldest first. Checked again here: someone
    /// who may not see the return sees nothing of it (404).
    pub async fn queries_for(
        &self,
        actor: &Principal,
        submission: &store::SubmissionRecord,
        window: &VisibleWindow,
    ) -> AppResult<Vec<QueryThread>> {
        let org = submission.organisation_id;
        if !permit::may_work(actor, &window.area, org, Work::SeeReturns) {
            return Err(AppError::NotFound);
        }
        let filter = QueryFilter {
            submission: Some(submission.id),
            ..QueryFilter::default()
        };
        let found = self.store.queries(&filter).await?;
        let mut names = Names::default();
        let mut out = Vec::with_capacity(found.len());
        for q in found {
            let thread = self
                .thread(
                    actor,
                    q,
                    &window.window.name,
                    submission.version,
                    &window.area,
                    &mut names,
                )
                .await?;
            out.push(thread);
        }
        Ok(out)
    }

    /// The queries on a submission, for the API: 404 unless `actor` may see
    /// the submission.
    pub async fn submission_queries(
        &self,
        actor: &Principal,
        submission: &str,
        meta: &RequestMeta,
    ) -> AppResult<Vec<QueryThread>> {
        let (s, window) = self
            .submission_for(actor, submission, Work::SeeReturns, SEE, meta)
            .await?;
        self.queries_for(actor, &s, &window).await
    }

    /// One query, if `actor` may see its return (404 otherwise, audited).
    pub async fn query_thread(
        &self,
        actor: &Principal,
        query: &str,
        meta: &RequestMeta,
    ) -> AppResult<QueryThread> {
        let (permit, q, version, window) = self
            .query_permit(actor, query, Work::SeeReturns, SEE, meta)
            .await?;
        let area = permit.into_inner().area;
        self.thread(
            actor,
            q,
            &window.name,
            version,
            &area,
            &mut Names::default(),
        )
        .await
    }

    /// Whether `actor` may raise a query on this submission (the page's
    /// "Raise a query" form): an officer of the area, on a submitted version.
    pub fn may_raise_query(
        &self,
        actor: &Principal,
        submission: &store::SubmissionRecord,
        window: &VisibleWindow,
    ) -> bool {
        submission.status != SubmissionStatus::Draft
            && permit::may_work(
                actor,
                &window.area,
                submission.organisation_id,
                Work::Review,
            )
    }

    /// Open queries for the lists: a provider's people see those on their
    /// provider's returns they may see; an officer those of their areas.
    pub async fn open_queries(&self, actor: &Principal) -> AppResult<Vec<QueryThread>> {
        self.visible_queries(actor, true).await
    }

    /// How many open queries `actor` may see, by the same decision as
    /// [`App::open_queries`] but without reading their threads (the Data
    /// returns page shows the number on every visit).
    pub async fn open_query_count(&self, actor: &Principal) -> AppResult<usize> {
        let provider = actor.organisation.kind == OrganisationKind::Provider;
        if !provider && !reviews_any_return(actor) {
            return Ok(0);
        }
        let filter = QueryFilter {
            organisation: provider.then_some(actor.organisation.id),
            open_only: true,
            ..QueryFilter::default()
        };
        let found = self.store.queries(&filter).await?;
        if found.is_empty() {
            return Ok(0);
        }
        let windows = self.store.windows().await?;
        let areas = self.store.areas().await?;
        Ok(found
            .iter()
            .filter(|q| {
                windows
                    .iter()
                    .find(|w| w.id == q.window_id)
                    .and_then(|w| areas.iter().find(|a| a.slug == w.area))
                    .is_some_and(|area| {
                        permit::may_work(actor, area, q.organisation_id, Work::SeeReturns)
                    })
            })
            .count())
    }

    /// Every query `actor` may see (only the open ones with `open_only`),
    /// most recently active first.
    pub async fn visible_queries(
        &self,
        actor: &Principal,
        open_only: bool,
    ) -> AppResult<Vec<QueryThread>> {
        let provider = actor.organisation.kind == OrganisationKind::Provider;
        // The regulator's people who review no return see no query: nothing
        // to read (every provider's threads would otherwise be loaded).
        if !provider && !reviews_any_return(actor) {
            return Ok(Vec::new());
        }
        let filter = QueryFilter {
            organisation: provider.then_some(actor.organisation.id),
            open_only,
            ..QueryFilter::default()
        };
        let found = self.store.queries(&filter).await?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let windows: BTreeMap<uuid::Uuid, store::WindowRecord> = self
            .store
            .windows()
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let areas = self.store.areas().await?;
        let mut names = Names::default();
        let mut out = Vec::new();
        for q in found {
            let Some(window) = windows.get(&q.window_id) else {
                continue;
            };
            let Some(area) = areas.iter().find(|a| a.slug == window.area) else {
                continue;
            };
            // The same decision as the submission's page: a provider's
            // people for the returns they hold a role for, officers for
            // their areas.
            if !permit::may_work(actor, area, q.organisation_id, Work::SeeReturns) {
                continue;
            }
            let version = match self.store.submission(q.submission_id).await? {
                Some(s) => s.version,
                None => continue,
            };
            let thread = self
                .thread(actor, q, &window.name, version, area, &mut names)
                .await?;
            out.push(thread);
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.last_activity()));
        Ok(out)
    }

    /// A query, its submission's version and its window, if `actor` may do
    /// `work` with it; a refusal (404 for what they may not see) is audited.
    async fn query_permit(
        &self,
        actor: &Principal,
        id: &str,
        work: Work,
        action: &'static str,
        meta: &RequestMeta,
    ) -> AppResult<(Permit<AreaWork>, QueryRecord, i64, store::WindowRecord)> {
        let target = Some(id.chars().take(40).collect::<String>());
        let found = match id.parse::<uuid::Uuid>() {
            Ok(id) => self.store.query(id).await?,
            Err(_) => None,
        };
        let Some(q) = found else {
            let refusal = Refusal::denied(action, target, Denial::NotFound);
            return Err(self.refused(meta, Some(actor), refusal).await);
        };
        let Some(s) = self.store.submission(q.submission_id).await? else {
            return Err(AppError::internal("query without its submission"));
        };
        let Some(window) = self.store.window(s.window_id).await? else {
            return Err(AppError::internal("submission without its window"));
        };
        let area = self.area_of(&window.area).await?;
        let decision = permit::submission(actor, &area, &s, work, action, target);
        let permit = self.permitted(meta, Some(actor), decision).await?;
        Ok((permit, q, s.version, window))
    }

    /// A query just written, as `actor` now sees it.
    async fn thread_by_id(&self, actor: &Principal, id: uuid::Uuid) -> AppResult<QueryThread> {
        let Some(q) = self.store.query(id).await? else {
            return Err(AppError::internal("query vanished"));
        };
        let Some(s) = self.store.submission(q.submission_id).await? else {
            return Err(AppError::internal("query without its submission"));
        };
        let Some(window) = self.store.window(q.window_id).await? else {
            return Err(AppError::internal("query without its window"));
        };
        let area = self.area_of(&window.area).await?;
        self.thread(
            actor,
            q,
            &window.name,
            s.version,
            &area,
            &mut Names::default(),
        )
        .await
    }

    async fn thread(
        &self,
        actor: &Principal,
        q: QueryRecord,
        window: &str,
        version: i64,
        area: &Area,
        names: &mut Names,
    ) -> AppResult<QueryThread> {
        let open = q.closed_at.is_none();
        let may = |work| permit::may_work(actor, area, q.organisation_id, work);
        let mut messages = Vec::with_capacity(q.messages.len());
        for m in &q.messages {
            let (author, org) = self.name(names, m.author).await?;
            messages.push(ThreadMessage {
                id: m.id,
                author,
                from_regulator: org != q.organisation_id,
                body: m.body.clone(),
                at: m.created_at,
            });
        }
        let organisation = match names.orgs.get(&q.organisation_id) {
            Some(n) => n.clone(),
            None => {
                let n = self
                    .store
                    .organisation(q.organisation_id)
                    .await?
                    .map(|o| o.name)
                    .unwrap_or_default();
                names.orgs.insert(q.organisation_id, n.clone());
                n
            }
        };
        let raised_by = self.name(names, q.raised_by).await?.0;
        let closed_by = match q.closed_by {
            Some(u) => Some(self.name(names, u).await?.0),
            None => None,
        };
        Ok(QueryThread {
            id: q.id,
            submission_id: q.submission_id,
            window_id: q.window_id,
            window: window.to_owned(),
            organisation_id: q.organisation_id,
            organisation,
            version,
            subject: q.subject,
            raised_by,
            raised_at: q.raised_at,
            closed_by,
            closed_at: q.closed_at,
            messages,
            may_answer: open && may(Work::AnswerQuery),
            may_close: open && may(Work::Review),
        })
    }

    async fn name(&self, names: &mut Names, id: UserId) -> AppResult<(String, OrgId)> {
        if let Some(n) = names.users.get(&id) {
            return Ok(n.clone());
        }
        let n = match self.store.user(id).await? {
            Some(u) => (u.display_name(), u.organisation_id),
            None => (String::new(), OrgId(uuid::Uuid::nil())),
        };
        names.users.insert(id, n.clone());
        Ok(n)
    }
}

/// A closed query takes no more messages and is not closed twice (409).
fn closed_refusal(action: &str, q: &QueryRecord) -> Refusal {
    let when = q.closed_at.map(domain::uk_time::moment).unwrap_or_default();
    Refusal::because(
        action,
        "query closed",
        AppError::Conflict(format!("This query was closed on {when}")),
    )
    .with_target(q.id.to_string())
}

/// The provider's people told about a query, as this unit reads them: the
/// contributors for the return who may use the portal (its Portal
/// Administrators where there are none, as for a window's opening), and
/// anyone of the provider who has written in the thread and may still see
/// the return.
async fn provider_recipients(
    u: &mut Unit<'_>,
    q: &QueryRecord,
    area: &Area,
) -> AppResult<Vec<UserRecord>> {
    let now = u.now;
    let org = q.organisation_id;
    let contributor = Role::DataCollectionContributor(area.slug.clone());
    let mut holders: Vec<RoleHolder> = u
        .tx()
        .role_holders(std::slice::from_ref(&contributor))
        .await?
        .into_iter()
        .filter(|h| h.user.organisation_id == org)
        .collect();
    let admins = u.tx().portal_admins(org, now).await?;
    holders.extend(admins.into_iter().map(|user| RoleHolder {
        user,
        role: Role::PortalAdmin,
        organisation_name: String::new(),
    }));
    let told = super::notices::whom_to_tell(&holders, &contributor, now);
    let mut out: Vec<UserRecord> = told
        .get(&org)
        .map(|(_, people, _)| people.iter().map(|p| (*p).clone()).collect())
        .unwrap_or_default();
    let mut authors: Vec<UserId> = Vec::new();
    for m in &q.messages {
        if !authors.contains(&m.author) {
            authors.push(m.author);
        }
    }
    for id in authors {
        if out.iter().any(|p| p.id == id) {
            continue;
        }
        let Some(user) = u.tx().user(id).await? else {
            continue;
        };
        if user.organisation_id != org || !user.account_state().may_keep_session(now) {
            continue;
        }
        let roles: Vec<Role> = u
            .tx()
            .user_roles(id)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect();
        let them = Subject {
            user: id,
            org,
            org_kind: OrganisationKind::Provider,
            roles: &roles,
        };
        if collection::may(&them, Work::SeeReturns, &area.slug, area.sensitive, org).is_ok() {
            out.push(user);
        }
    }
    Ok(out)
}

/// The area's officers who may use the portal, as this unit reads them (the
/// officer who raised the query among them while they hold the role).
async fn officers(
    u: &mut Unit<'_>,
    area: &Area,
    now: OffsetDateTime,
) -> AppResult<Vec<UserRecord>> {
    let officer = Role::RegulatorOfficer(area.slug.clone());
    let mut out: Vec<UserRecord> = Vec::new();
    for h in u.tx().role_holders(&[officer]).await? {
        if h.user.account_state().may_keep_session(now) && !out.iter().any(|o| o.id == h.user.id) {
            out.push(h.user);
        }
    }
    Ok(out)
}

// Emails ----------------------------------------------------------------------

/// What an email about a query names.
struct About<'a> {
    subject: &'a str,
    window: &'a str,
    version: i64,
    link: String,
    /// The query's words stay out of a sensitive area's emails.
    sensitive: bool,
}

impl<'a> About<'a> {
    fn new(q: &'a QueryRecord, window: &'a str, version: i64, area: &Area, base_url: &str) -> Self {
        Self {
            subject: &q.subject,
            window,
            version,
            link: format!("{base_url}/submissions/{}#query-{}", q.submission_id, q.id),
            sensitive: area.sensitive,
        }
    }

    fn subject_line(&self, what: &str) -> String {
        if self.sensitive {
            format!("{what}: {}", self.window)
        } else {
            format!("{what}: {} – {}", self.window, self.subject)
        }
    }

    fn quoted(&self, message: &str) -> String {
        if self.sensitive {
            "The message is not included in this email because the return is in a \
             sensitive area: sign in to read it.\n"
                .to_owned()
        } else {
            let quoted: String = message.lines().map(|l| format!("> {l}\n")).collect();
            format!("Subject: {}\n\n{quoted}", self.subject)
        }
    }
}

fn email(to: &UserRecord, subject: String, body: String, now: OffsetDateTime) -> NewEmail {
    NewEmail {
        id: MessageId::random(),
        to: to.email.to_string(),
        subject,
        body,
        created_at: now,
    }
}

fn query_raised(
    to: &UserRecord,
    about: &About<'_>,
    by: &str,
    message: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let name = to.display_name();
    let body = format!(
        "Dear {name},\n\n\
         {by} of the Office for Students raised a query on {} about version {} of your\n\
         organisation's return to {}.\n\n\
         {}\n\
         Read and answer it at {}\n\n\
         We are telling you because you can see this return on Provider Portal.\n",
        domain::uk_time::moment(now),
        about.version,
        about.window,
        about.quoted(message),
        about.link,
    );
    email(to, about.subject_line("Query raised"), body, now)
}

fn query_answered(
    to: &UserRecord,
    about: &About<'_>,
    by: &str,
    message: &str,
    now: OffsetDateTime,
) -> NewEmail {
    let name = to.display_name();
    let body = format!(
        "Dear {name},\n\n\
         {by} wrote on {} in the query about version {} of the return to {}.\n\n\
         {}\n\
         Read the thread and reply at {}\n",
        domain::uk_time::moment(now),
        about.version,
        about.window,
        about.quoted(message),
        about.link,
    );
    email(to, about.subject_line("New message on a query"), body, now)
}

fn query_closed(to: &UserRecord, about: &About<'_>, by: &str, now: OffsetDateTime) -> NewEmail {
    let name = to.display_name();
    let subject = if about.sensitive {
        String::new()
    } else {
        format!(" (\"{}\")", about.subject)
    };
    let body = format!(
        "Dear {name},\n\n\
         {by} of the Office for Students closed the query{subject} about version {}\n\
         of your organisation's return to {} on {}. No more messages can be\n\
         written in it.\n\n\
         You can still read it at {}\n",
        about.version,
        about.window,
        domain::uk_time::moment(now),
        about.link,
    );
    email(to, about.subject_line("Query closed"), body, now)
}

/// Whether a regulator user holds an officer role for any area (only
/// officers see queries, by `domain::collection::may`).
fn reviews_any_return(actor: &Principal) -> bool {
    actor
        .roles
        .iter()
        .any(|g| matches!(g.role, domain::Role::RegulatorOfficer(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_messages_are_checked_with_clear_messages() {
        let mut e = FieldErrors::new();
        assert_eq!(check_subject("  Row 12  ", &mut e), "Row 12");
        assert_eq!(check_message("a\r\nb\rc ", &mut e), "a\nb\nc");
        assert!(e.is_empty(), "{e:?}");
        check_subject(" ", &mut e);
        check_message("\n", &mut e);
        assert_eq!(e["subject"], "Enter a subject");
        assert_eq!(e["message"], "Enter a message");
        let mut e = FieldErrors::new();
        check_subject(&"x".repeat(151), &mut e);
        check_message(&"é".repeat(5001), &mut e);
        assert_eq!(e["subject"], "The subject must be 150 characters or fewer");
        assert_eq!(
            e["message"],
            "The message must be 5,000 characters or fewer"
        );
        let mut e = FieldErrors::new();
        check_subject(&"x".repeat(150), &mut e);
        check_message(&"é".repeat(5000), &mut e);
        assert!(e.is_empty(), "{e:?}");
        check_subject("a\nb", &mut e);
        check_message("a\tb\u{7}", &mut e);
        assert!(e["subject"].contains("one line"));
        assert!(e["message"].contains("control characters"));
    }

    #[test]
    fn a_sensitive_areas_emails_leave_the_query_text_out() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let q = QueryRecord {
            id: uuid::Uuid::new_v4(),
            submission_id: uuid::Uuid::new_v4(),
            window_id: uuid::Uuid::new_v4(),
            organisation_id: OrgId(uuid::Uuid::new_v4()),
            subject: "Row 12 of the return".into(),
            raised_by: UserId::random(),
            raised_at: now,
            closed_by: None,
            closed_at: None,
            messages: Vec::new(),
        };
        let mut area = Area {
            slug: domain::AreaSlug::parse("heses").unwrap(),
            name: "HESES".into(),
            kind: domain::role::AreaKind::DataReturn,
            sensitive: false,
        };
        let to = UserRecord {
            id: UserId::random(),
            organisation_id: q.organisation_id,
            title: String::new(),
            first_name: "Hana".into(),
            last_name: "Ito".into(),
            email: domain::EmailAddress::parse("hana@a.example.ac.uk").unwrap(),
            access_enabled: true,
            expires_at: None,
            locked_until: None,
            lock_count: 0,
            failed_sign_ins: 0,
            locked: false,
            password_failures: 0,
            has_password: false,
            last_signed_in_at: None,
            created_at: now,
            created_by: None,
        };
        let open = About::new(&q, "HESES 2026-27", 2, &area, "https://portal.example");
        let mail = query_raised(&to, &open, "Oscar", "Explain the students", now);
        assert!(mail.subject.contains("Row 12 of the return"));
        assert!(mail.body.contains("> Explain the students"));
        assert!(
            mail.body
                .contains(&format!("/submissions/{}#query-{}", q.submission_id, q.id))
        );
        area.sensitive = true;
        let hidden = About::new(&q, "HESES 2026-27", 2, &area, "https://portal.example");
        for mail in [
            query_raised(&to, &hidden, "Oscar", "Explain the students", now),
            query_answered(&to, &hidden, "Oscar", "Explain the students", now),
            query_closed(&to, &hidden, "Oscar", now),
        ] {
            let all = format!("{}\n{}", mail.subject, mail.body);
            assert!(!all.contains("Row 12"), "{all}");
            assert!(!all.contains("Explain the students"), "{all}");
            assert!(all.contains("HESES 2026-27"));
        }
    }
}
