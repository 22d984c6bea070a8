//! The one way to obtain the right to act (PRODUCT §2).
//!
//! `domain::authz` and `domain::collection` decide; this module applies their
//! decisions. Each function here asks the domain and answers either a
//! [`Permit`] — proof that the actor passed — or a [`Refusal`], which says what
//! to audit and what to answer. A `Permit` has private fields and is made only
//! here, so a use case that never asked cannot hold one, and without one it
//! cannot finish a unit of work ([`crate::work::Work::done`]).
//!
//! ```compile_fail
//! // A permit cannot be made outside this module.
//! let forged: app::permit::Permit<()> = app::permit::Permit { on: (), action: "users.set_roles", org: None };
//! ```
//!
//! A refusal is turned into the person's answer, after its audit row is
//! written in a transaction of its own, in one place: [`crate::App::refused`]
//! (for a unit of work, after it has rolled back).

use domain::authz::{self, Action, Denial, RegulatorTask, Subject};
use domain::collection::{self, Work as Task};
use domain::role::Area;
use domain::{OrgId, OrganisationKind, Role, UserId};
use store::UserRecord;

use crate::{AppError, Principal};

/// The right to do one thing, given by passing the decision. `on` is what was
/// decided about (a user, an organisation, a window…), kept so the use case
/// acts on exactly that.
#[derive(Debug)]
pub struct Permit<T> {
    on: T,
    action: &'static str,
    org: Option<OrgId>,
}

impl<T> Permit<T> {
    fn grant(on: T, action: &'static str, org: Option<OrgId>) -> Self {
        Self { on, action, org }
    }

    /// The same permit, its action done in organisation `org` (known only
    /// once the unit has read what it acts on).
    pub(crate) fn for_organisation(mut self, org: OrgId) -> Self {
        self.org = Some(org);
        self
    }

    /// What the permit is for.
    pub fn on(&self) -> &T {
        &self.on
    }

    pub fn into_inner(self) -> T {
        self.on
    }

    /// The action, as written in the audit log.
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The organisation acted in (the audit row's organisation), when it is
    /// not the actor's own.
    pub fn organisation(&self) -> Option<OrgId> {
        self.org
    }
}

/// Why something is not done: what the audit log records and what the person
/// is told. Anyone may refuse; only [`crate::App::refused`] answers one.
#[derive(Debug)]
pub struct Refusal {
    pub(crate) action: String,
    pub(crate) target: Option<String>,
    pub(crate) detail: String,
    pub(crate) answer: AppError,
}

impl Refusal {
    /// A refusal the domain decided.
    pub fn denied(action: &str, target: Option<String>, denial: Denial) -> Self {
        let answer = match &denial {
            Denial::NotFound => AppError::NotFound,
            Denial::Forbidden(why) => AppError::Forbidden((*why).to_owned()),
            Denial::LastPortalAdmin => AppError::Conflict(denial.reason().to_owned()),
        };
        Self {
            action: action.to_owned(),
            target,
            detail: denial.reason().to_owned(),
            answer,
        }
    }

    /// A refusal for a reason of the use case's own (a closed window, a wrong
    /// key, a malformed form), audited with `detail` and answered with `answer`.
    pub fn because(action: &str, detail: impl Into<String>, answer: AppError) -> Self {
        Self {
            action: action.to_owned(),
            target: None,
            detail: detail.into(),
            answer,
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
}

impl From<Refusal> for AppError {
    /// Inside a unit of work: the unit rolls back and then audits it.
    fn from(r: Refusal) -> Self {
        AppError::Refused(Box::new(r))
    }
}

/// The actor as the domain's rules see them.
pub(crate) fn subject<'a>(actor: &Principal, roles: &'a [Role]) -> Subject<'a> {
    Subject {
        user: actor.user.id,
        org: actor.organisation.id,
        org_kind: actor.organisation.kind,
        roles,
    }
}

// --- People and their accounts ------------------------------------------------

/// The organisation whose users are listed or added to.
#[derive(Debug, Clone, Copy)]
pub struct OrgUsers(pub OrgId);

/// `ListUsers` or `AddUser` in `org`.
pub(crate) fn org_users(
    actor: &Principal,
    what: Action,
    org: OrgId,
    action: &'static str,
) -> Result<Permit<OrgUsers>, Refusal> {
    let roles = actor.role_list();
    authz::decide(&subject(actor, &roles), what, org, None)
        .map(|()| Permit::grant(OrgUsers(org), action, Some(org)))
        .map_err(|d| Refusal::denied(action, Some(org.to_string()), d))
}

/// A user as a change sees them: read (and on PostgreSQL locked) in the
/// change's own transaction.
#[derive(Debug, Clone)]
pub struct TargetUser {
    pub(crate) user: UserRecord,
    pub(crate) kind: OrganisationKind,
    pub(crate) roles: Vec<Role>,
}

impl TargetUser {
    fn subject(&self) -> Subject<'_> {
        Subject {
            user: self.user.id,
            org: self.user.organisation_id,
            org_kind: self.kind,
            roles: &self.roles,
        }
    }
}

/// Each of `actions` (and seeing the user) to `target`.
pub(crate) fn user(
    actor: &Principal,
    target: TargetUser,
    actions: &[Action],
    action: &'static str,
) -> Result<Permit<TargetUser>, Refusal> {
    let roles = actor.role_list();
    let me = subject(actor, &roles);
    let org = target.user.organisation_id;
    let decision = std::iter::once(&Action::ViewUser)
        .chain(actions)
        .try_for_each(|a| authz::decide(&me, *a, org, Some(&target.subject())));
    match decision {
        Ok(()) => Ok(Permit::grant(target, action, Some(org))),
        Err(d) => Err(Refusal::denied(action, Some(target.user.id.to_string()), d)),
    }
}

/// What `actor` may do to `target` (which controls a page offers).
pub(crate) fn user_actions(actor: &Principal, target: &TargetUser) -> Vec<Action> {
    let roles = actor.role_list();
    let me = subject(actor, &roles);
    Action::ALL
        .into_iter()
        .filter(|a| {
            authz::decide(
                &me,
                *a,
                target.user.organisation_id,
                Some(&target.subject()),
            )
            .is_ok()
        })
        .collect()
}

/// Why `actor` may not do `action` to `target`, in words for the page.
pub(crate) fn user_refusal(
    actor: &Principal,
    target: &TargetUser,
    action: Action,
) -> Option<&'static str> {
    let roles = actor.role_list();
    let me = subject(actor, &roles);
    authz::decide(
        &me,
        action,
        target.user.organisation_id,
        Some(&target.subject()),
    )
    .err()
    .map(|d| d.reason())
}

/// Sending `target` their welcome email again (issue 15): by the rules for
/// changing their account, and only while they have never signed in and
/// could sign in at `now`.
pub(crate) fn resend_invitation(
    actor: &Principal,
    target: TargetUser,
    now: time::OffsetDateTime,
    action: &'static str,
) -> Result<Permit<TargetUser>, Refusal> {
    match resend_refusal(actor, &target, now) {
        None => {
            let org = target.user.organisation_id;
            Ok(Permit::grant(target, action, Some(org)))
        }
        Some(d) => Err(Refusal::denied(action, Some(target.user.id.to_string()), d)),
    }
}

/// Why `actor` may not resend `target`'s invitation at `now` (`None`: they
/// may): what a page offers, from the decision the action uses.
pub(crate) fn resend_refusal(
    actor: &Principal,
    target: &TargetUser,
    now: time::OffsetDateTime,
) -> Option<Denial> {
    let roles = actor.role_list();
    authz::may_resend_invitation(
        &subject(actor, &roles),
        target.user.organisation_id,
        &target.subject(),
        &target.user.account_state(),
        now,
    )
    .err()
}

/// Every role added to or removed from the permitted user must be one the
/// actor may grant (`areas` says which are sensitive). Removing a sensitive
/// area's role is an ordinary change: ending access needs no key.
pub(crate) fn roles(
    actor: &Principal,
    permit: &Permit<TargetUser>,
    added: &[Role],
    removed: &[Role],
    areas: &[Area],
) -> Result<(), Refusal> {
    let roles = actor.role_list();
    let me = subject(actor, &roles);
    let them = permit.on.subject();
    let changed = added
        .iter()
        .map(|r| (r, true))
        .chain(removed.iter().map(|r| (r, false)));
    for (role, adding) in changed {
        let sensitive = adding && crate::users::area_of(areas, role).is_some_and(|a| a.sensitive);
        authz::may_grant(&me, &them, role, sensitive).map_err(|d| {
            // The trail says which role was asked for, as a change's row does.
            let mut refusal =
                Refusal::denied(permit.action, Some(permit.on.user.id.to_string()), d);
            let (added, removed) = if adding {
                (role.id(), String::new())
            } else {
                (String::new(), role.id())
            };
            refusal.detail = format!("added=[{added}] removed=[{removed}]; {}", refusal.detail);
            refusal
        })?;
    }
    Ok(())
}

/// For a change that gives what it may and reports the rest (copying
/// permissions): each of `roles`, with whether the actor may give it to the
/// permitted user or the denial saying why not (`areas` says which are
/// sensitive). [`roles`] must still pass for the ones given.
pub(crate) fn role_decisions(
    actor: &Principal,
    permit: &Permit<TargetUser>,
    roles: &[Role],
    areas: &[Area],
) -> Vec<(Role, Result<(), Denial>)> {
    let mine = actor.role_list();
    let me = subject(actor, &mine);
    let them = permit.on.subject();
    roles
        .iter()
        .map(|role| {
            let sensitive = crate::users::area_of(areas, role).is_some_and(|a| a.sensitive);
            (role.clone(), authz::may_grant(&me, &them, role, sensitive))
        })
        .collect()
}

/// The roles among `roles` that, each on its own, let someone of the actor's
/// organisation into `area` (see its returns, or read its documents in a
/// communication area), as [`collection::may`] decides: "Users with access"
/// lists the people who hold them (a provider's administrators see every
/// return).
pub(crate) fn roles_opening_area(actor: &Principal, area: &Area, roles: &[Role]) -> Vec<Role> {
    let task = match area.kind {
        domain::role::AreaKind::DataReturn => Task::SeeReturns,
        domain::role::AreaKind::Communication => Task::ReadDocuments,
    };
    let org = actor.organisation.id;
    roles
        .iter()
        .filter(|role| {
            let held = [(*role).clone()];
            let someone = Subject {
                user: UserId::random(),
                org,
                org_kind: actor.organisation.kind,
                roles: &held,
            };
            collection::may(&someone, task, &area.slug, area.sensitive, org).is_ok()
        })
        .cloned()
        .collect()
}

/// Whether `actor` may give `role` to someone of `org` (of `kind`) who holds
/// nothing yet: a newcomer, or the catalogue's `grantable`.
pub(crate) fn may_grant_newcomer(
    actor: &Principal,
    org: OrgId,
    kind: OrganisationKind,
    role: &Role,
    sensitive: bool,
) -> Result<(), Denial> {
    let roles = actor.role_list();
    let newcomer = Subject {
        user: UserId::random(),
        org,
        org_kind: kind,
        roles: &[],
    };
    authz::may_grant(&subject(actor, &roles), &newcomer, role, sensitive)
}

/// Rule 4: after the change the provider has `remaining` Portal Administrators with access.
pub(crate) fn keeps_a_portal_admin(
    permit: &Permit<TargetUser>,
    remaining: i64,
) -> Result<(), Refusal> {
    authz::keeps_a_portal_admin(permit.on.kind, remaining)
        .map_err(|d| Refusal::denied(permit.action, Some(permit.on.user.id.to_string()), d))
}

// --- The regulator's own work -------------------------------------------------

/// One of the regulator administrators' tasks.
pub(crate) fn regulator_task(
    actor: &Principal,
    task: RegulatorTask,
    action: &'static str,
) -> Result<Permit<RegulatorTask>, Refusal> {
    authz::may_do_regulator_task(actor.organisation.kind, &actor.role_list(), task)
        .map(|()| Permit::grant(task, action, None))
        .map_err(|d| Refusal::denied(action, None, d))
}

/// Whether `actor` may do `task` (for menus and pages).
pub fn may_do(actor: &Principal, task: RegulatorTask) -> bool {
    authz::may_do_regulator_task(actor.organisation.kind, &actor.role_list(), task).is_ok()
}

/// Changing an organisation's details and accountable officer (issue 15):
/// the organisation as the change's transaction read it.
pub(crate) fn edit_organisation(
    actor: &Principal,
    org: store::OrganisationRecord,
    action: &'static str,
) -> Result<Permit<store::OrganisationRecord>, Refusal> {
    match authz::may_edit_organisation(actor.organisation.kind, &actor.role_list(), org.kind) {
        Ok(()) => {
            let id = org.id;
            Ok(Permit::grant(org, action, Some(id)))
        }
        Err(d) => Err(Refusal::denied(action, Some(org.id.to_string()), d)),
    }
}

/// Before organisation `id` is looked up to be changed: refused as not found
/// for a provider's user unless it is their own (a refusal that is the same
/// whether or not it exists); their own is then refused on its record.
pub(crate) fn organisation_to_edit(
    actor: &Principal,
    id: OrgId,
    action: &'static str,
) -> Result<(), Refusal> {
    authz::may_look_up_organisation(actor.organisation.kind, actor.organisation.id, id)
        .map_err(|d| Refusal::denied(action, Some(id.to_string()), d))
}

/// Whether `actor` may change an organisation of `kind` (the page's Change links).
pub fn may_edit_organisation(actor: &Principal, kind: OrganisationKind) -> bool {
    authz::may_edit_organisation(actor.organisation.kind, &actor.role_list(), kind).is_ok()
}

// --- Reading the audit trail (issue 13) ----------------------------------------

/// Whose audit trail may be read: one organisation's, or (`None`) every one's.
#[derive(Debug, Clone, Copy)]
pub struct AuditScope(pub Option<OrgId>);

/// Reading the audit trail (the Activity page, `GET /api/v1/audit`).
pub(crate) fn audit_reader(
    actor: &Principal,
    action: &'static str,
) -> Result<Permit<AuditScope>, Refusal> {
    let roles = actor.role_list();
    authz::audit_reach(&subject(actor, &roles))
        .map(|reach| Permit::grant(AuditScope(reach), action, reach))
        .map_err(|d| Refusal::denied(action, None, d))
}

/// Whether `actor` may read any audit trail (for the navigation).
pub fn may_read_audit(actor: &Principal) -> bool {
    let roles = actor.role_list();
    authz::audit_reach(&subject(actor, &roles)).is_ok()
}

// --- Data returns and documents -------------------------------------------------

/// Work in an area for an organisation: any one of `tasks` must be allowed.
#[derive(Debug, Clone)]
pub struct AreaWork {
    pub area: Area,
    pub org: OrgId,
    /// The first of the asked tasks that is allowed.
    pub task: Task,
}

/// Any of `tasks` in `area` for organisation `org`; `target` names what was
/// asked for in the audit log.
pub(crate) fn area_work(
    actor: &Principal,
    area: &Area,
    org: OrgId,
    tasks: &[Task],
    action: &'static str,
    target: Option<String>,
) -> Result<Permit<AreaWork>, Refusal> {
    let roles = actor.role_list();
    let me = subject(actor, &roles);
    let mut denial = Denial::NotFound;
    for task in tasks {
        match collection::may(&me, *task, &area.slug, area.sensitive, org) {
            Ok(()) => {
                let work = AreaWork {
                    area: area.clone(),
                    org,
                    task: *task,
                };
                return Ok(Permit::grant(work, action, Some(org)));
            }
            Err(d) => denial = d,
        }
    }
    Err(Refusal::denied(action, target, denial))
}

/// Whether `actor` may do `task` in `area` for `org` (lists and menus).
pub fn may_work(actor: &Principal, area: &Area, org: OrgId, task: Task) -> bool {
    let roles = actor.role_list();
    collection::may(
        &subject(actor, &roles),
        task,
        &area.slug,
        area.sensitive,
        org,
    )
    .is_ok()
}

// --- Acting for oneself, for anyone, or as the portal itself --------------------

/// A signed-in person acting on their own account (sign out, a password, an
/// access key, feedback): the session is the check.
#[derive(Debug, Clone, Copy)]
pub struct OwnAccount(pub UserId);

pub(crate) fn own_account(actor: &Principal, action: &'static str) -> Permit<OwnAccount> {
    Permit::grant(OwnAccount(actor.user.id), action, None)
}

/// A request to sign in (a code, a code entered, a password, a registration,
/// a password code) that the per-address limit let through: anyone may try.
#[derive(Debug, Clone, Copy)]
pub struct SignInRequest;

/// The per-address limit's answer (`Err` with the seconds to wait) as a
/// permit to try signing in.
pub(crate) fn sign_in_request(
    limit: Result<(), u64>,
    action: &'static str,
) -> Result<Permit<SignInRequest>, Refusal> {
    match limit {
        Ok(()) => Ok(Permit::grant(SignInRequest, action, None)),
        Err(retry) => Err(Refusal::because(
            action,
            "too many requests from this address",
            AppError::RateLimited {
                retry_after_secs: retry,
            },
        )),
    }
}

/// A session for `user`, whose code or password has just been checked.
pub(crate) fn session_for(
    user: &UserRecord,
    _checked: &Permit<SignInRequest>,
) -> Permit<OwnAccount> {
    Permit::grant(
        OwnAccount(user.id),
        "sign_in.succeeded",
        Some(user.organisation_id),
    )
}

/// The portal's own work: the background workers and the operator's command
/// line (whoever runs `portal` on the server is the operator).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

pub(crate) fn operator(action: &'static str, org: Option<OrgId>) -> Permit<Operator> {
    Permit::grant(Operator, action, org)
}

/// The operator at the command line does the regulator administrators' work
/// (creating organisations, issuing access keys) without an account.
pub(crate) fn operator_task(task: RegulatorTask, action: &'static str) -> Permit<RegulatorTask> {
    Permit::grant(task, action, None)
}

// --- Access keys ----------------------------------------------------------------

/// An access key that may be used now by someone of `org` (rule 5: its role
/// is granted at the key's provider only). Every way a key can be wrong is
/// audited with its reason and answered with the same words.
pub(crate) fn access_key(
    key: store::AccessKeyRecord,
    org: OrgId,
    now: time::OffsetDateTime,
    action: &'static str,
) -> Result<Permit<store::AccessKeyRecord>, Refusal> {
    match authz::access_key_refusal(
        key.organisation_id,
        org,
        key.is_expired(now),
        key.is_used_up(),
        key.revoked_at.is_some(),
    ) {
        None => {
            let org = key.organisation_id;
            Ok(Permit::grant(key, action, Some(org)))
        }
        Some(why) => Err(Refusal::because(
            action,
            why,
            AppError::invalid("key", domain::access_key::KEY_REFUSED),
        )
        .with_target(key.id.to_string())),
    }
}

/// Sending one upload to an open window: which kinds of file are accepted,
/// and how large one may be. Given before the body is read.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The area the file goes to.
    pub area: Area,
    /// The window the upload is for (none for a document the regulator publishes).
    pub window: Option<store::WindowRecord>,
    pub accepted: Vec<domain::collection::FileKind>,
    pub limit: u64,
}

/// An upload to the window the actor may submit to, while it is open.
pub(crate) fn upload(
    work: Permit<AreaWork>,
    window: store::WindowRecord,
    now: time::OffsetDateTime,
    limit: u64,
    closed: impl FnOnce(&store::WindowRecord) -> Option<String>,
) -> Result<Permit<Upload>, Refusal> {
    if let Some(why) = closed(&window) {
        let detail = format!("window {}: not open", window.id);
        return Err(Refusal::because(
            work.action,
            detail,
            AppError::Conflict(why),
        ));
    }
    // `closed` decided: the window is open, or late on one that takes late returns.
    let _ = now;
    let upload = Upload {
        area: work.on.area,
        accepted: window.file_types.clone(),
        window: Some(window),
        limit,
    };
    Ok(Permit::grant(upload, work.action, work.org))
}

/// A document's file, for an officer who may publish in a communication area.
pub(crate) fn publish(
    actor: &Principal,
    area: &Area,
    limit: u64,
    action: &'static str,
) -> Result<Permit<Upload>, Refusal> {
    if area.kind != domain::role::AreaKind::Communication {
        let denial = Denial::Forbidden("Documents are published in communication areas");
        return Err(Refusal::denied(action, Some(area.slug.to_string()), denial));
    }
    let org = actor.organisation.id;
    let target = Some(area.slug.to_string());
    let work = area_work(actor, area, org, &[Task::Publish], action, target)?;
    let upload = Upload {
        area: work.on.area,
        window: None,
        // A document may be any kind of file the portal accepts.
        accepted: domain::collection::FileKind::ALL.to_vec(),
        limit,
    };
    Ok(Permit::grant(upload, action, None))
}

/// Reading a document: shared with the actor's organisation (the regulator
/// reads all) in an area they may read.
pub(crate) fn read_document(
    actor: &Principal,
    area: &Area,
    document: &store::DocumentRecord,
    action: &'static str,
) -> Result<Permit<AreaWork>, Refusal> {
    let org = actor.organisation.id;
    let target = Some(document.id.to_string());
    let shared = actor.organisation.kind == OrganisationKind::Regulator
        || document.recipients.contains(&org);
    if !shared {
        return Err(Refusal::denied(action, target, Denial::NotFound));
    }
    area_work(actor, area, org, &[Task::ReadDocuments], action, target)
}

/// `task` on a submission: in its area, for its organisation; the regulator
/// never sees a provider's drafts.
pub(crate) fn submission(
    actor: &Principal,
    area: &Area,
    s: &store::SubmissionRecord,
    task: Task,
    action: &'static str,
    target: Option<String>,
) -> Result<Permit<AreaWork>, Refusal> {
    let permit = area_work(
        actor,
        area,
        s.organisation_id,
        &[task],
        action,
        target.clone(),
    )?;
    if actor.organisation.kind == OrganisationKind::Regulator
        && s.status == domain::collection::SubmissionStatus::Draft
    {
        return Err(Refusal::denied(action, target, Denial::NotFound));
    }
    Ok(permit)
}

/// Submitting a version, for a unit that already holds the permit to upload
/// or to submit (its receipt and audit row are written as `submissions.submit`).
pub(crate) fn submitting(actor: &Principal) -> Permit<OwnAccount> {
    Permit::grant(
        OwnAccount(actor.user.id),
        "submissions.submit",
        Some(actor.organisation.id),
    )
}
