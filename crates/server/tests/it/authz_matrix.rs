//! The whole authorisation table walked through the API: every actor role ×
//! action × target × organisation. The expected answer is written here from
//! PRODUCT §2 on its own, not read from `domain::authz`, so the two check each
//! other. Every refusal must change nothing and leave exactly one audit row.

use std::sync::atomic::{AtomicUsize, Ordering};

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::TestApp;

testkit::both_backends!(
    every_actor_action_and_target_gets_the_documented_answer,
    the_pages_give_the_same_answers_to_hand_made_requests,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    PortalAdmin,
    Delegate,
    Contributor,
    NoRole,
    RegulatorAdmin,
    RegulatorOfficer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    PortalAdmin,
    Delegate,
    Contributor,
    Myself,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    List,
    Add,
    View,
    EditDetails,
    SetAccess,
    GrantContributorRole,
    GrantPortalAdmin,
    GrantDelegate,
    RemoveARole,
    /// `organisations.update`: PATCH /api/v1/organisations/{id} (issue 15).
    UpdateOrganisation,
    /// `users.invitation_resent`: POST /api/v1/users/{id}/resend-invitation.
    ResendInvitation,
}

const ACTORS: [Actor; 6] = [
    Actor::PortalAdmin,
    Actor::Delegate,
    Actor::Contributor,
    Actor::NoRole,
    Actor::RegulatorAdmin,
    Actor::RegulatorOfficer,
];
const USER_ACTIONS: [Action; 7] = [
    Action::View,
    Action::EditDetails,
    Action::SetAccess,
    Action::GrantContributorRole,
    Action::GrantPortalAdmin,
    Action::GrantDelegate,
    Action::RemoveARole,
];

/// PRODUCT §2, rule by rule. `same_org`: the target is at the actor's provider.
fn expected(actor: Actor, action: Action, target: Option<Target>, same_org: bool) -> u16 {
    if action == Action::UpdateOrganisation {
        // PRODUCT §5: the regulator's administrators change providers; to a
        // provider's user another provider is not there at all (rule 1).
        return match actor {
            Actor::RegulatorAdmin => 200,
            Actor::RegulatorOfficer => 403,
            _ if !same_org => 404,
            _ => 403,
        };
    }
    if action == Action::ResendInvitation {
        // By the rules for changing the person, and only to someone who has
        // never signed in: the actor themself has.
        if target == Some(Target::Myself) {
            return 403;
        }
        return match expected(actor, Action::EditDetails, target, same_org) {
            200 => 204,
            refused => refused,
        };
    }
    let ok = match action {
        Action::List | Action::View | Action::EditDetails | Action::SetAccess => 200,
        Action::Add => 202,
        _ => 200,
    };
    if target == Some(Target::Myself) {
        // Rule 3: nobody changes their own roles or access; looking and one's own name are fine,
        // for those who may manage users at all.
        let manages = matches!(
            actor,
            Actor::PortalAdmin | Actor::Delegate | Actor::RegulatorAdmin
        );
        return match action {
            _ if !manages => 403,
            Action::View => ok,
            // Rule 2 by its letter: a delegate may not change the details of a user
            // who holds delegated-portal-admin, themselves included.
            Action::EditDetails if actor == Actor::Delegate => 403,
            Action::EditDetails => ok,
            _ => 403,
        };
    }
    let regulator_admin = actor == Actor::RegulatorAdmin;
    // Rule 1: another organisation is invisible, except to the regulator's administrators.
    if !same_org && !regulator_admin {
        return 404;
    }
    match actor {
        Actor::Contributor | Actor::NoRole => return 403,
        Actor::RegulatorOfficer => return 404,
        _ => {}
    }
    // Rule 2: a delegate leaves administrators alone and grants only contributor roles.
    if actor == Actor::Delegate {
        let admin_target = matches!(target, Some(Target::PortalAdmin | Target::Delegate));
        if admin_target && action != Action::View && action != Action::List && action != Action::Add
        {
            return 403;
        }
        if matches!(action, Action::GrantPortalAdmin | Action::GrantDelegate) {
            return 403;
        }
    }
    ok
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A new user acting as `actor` (provider roles at `provider`); returns their address.
async fn make_actor(app: &TestApp, actor: Actor, provider: &str) -> String {
    let address = email();
    match actor {
        Actor::RegulatorAdmin => app.regulator_user(&address, &["regulator-admin"]).await,
        Actor::RegulatorOfficer => {
            app.regulator_user(&address, &["regulator-officer:heses"])
                .await
        }
        Actor::PortalAdmin => app.user(provider, &address, &["portal-admin"]).await,
        Actor::Delegate => {
            app.user(provider, &address, &["delegated-portal-admin"])
                .await
        }
        Actor::Contributor => {
            app.user(provider, &address, &["data-collection-contributor:heses"])
                .await
        }
        Actor::NoRole => app.user(provider, &address, &[]).await,
    }
}

fn email() -> String {
    format!(
        "person{}@matrix.example.ac.uk",
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn target_roles(t: Target) -> &'static [&'static str] {
    match t {
        Target::PortalAdmin => &["portal-admin"],
        Target::Delegate => &["delegated-portal-admin"],
        Target::Contributor | Target::Myself => &["data-collection-contributor:heses"],
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = app.client();
    let url = app.url(path);
    let req = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PUT" => c.put(url),
        _ => c.patch(url),
    };
    let req = req.bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn every_actor_action_and_target_gets_the_documented_answer(app: TestApp) {
    const MINE: &str = "10000141";
    const THEIRS: &str = "10000142";
    // Each provider keeps a spare Portal Administrator, so rule 4 never applies here
    // (it has tests of its own).
    app.user(MINE, "spare@mine.example.ac.uk", &["portal-admin"])
        .await;
    app.user(THEIRS, "spare@theirs.example.ac.uk", &["portal-admin"])
        .await;
    let mine = app
        .user_record("spare@mine.example.ac.uk")
        .await
        .organisation_id;
    let theirs = app
        .user_record("spare@theirs.example.ac.uk")
        .await
        .organisation_id;
    let mut cases = 0;
    for actor in ACTORS {
        let actor_email = make_actor(&app, actor, MINE).await;
        let token = app.api_sign_in(&actor_email).await;
        let me = app.user_record(&actor_email).await;
        // Organisation-level actions.
        for (org, same) in [(mine, true), (theirs, false)] {
            for action in [Action::List, Action::Add, Action::UpdateOrganisation] {
                let (method, path, body) = match action {
                    Action::List => ("GET", format!("/api/v1/users?organisation_id={org}"), None),
                    Action::UpdateOrganisation => (
                        "PATCH",
                        format!("/api/v1/organisations/{org}"),
                        Some(json!({ "name": format!("Renamed {}", email()) })),
                    ),
                    _ => (
                        "POST",
                        format!("/api/v1/organisations/{org}/users"),
                        Some(
                            json!({ "title": "Dr", "first_name": "New", "last_name": "Person", "email": email() }),
                        ),
                    ),
                };
                check(
                    &app,
                    &token,
                    (actor, action, None, same),
                    method,
                    &path,
                    body,
                )
                .await;
                cases += 1;
            }
        }
        // Actions on one user.
        let mut targets: Vec<(Target, bool)> = Vec::new();
        for t in [Target::PortalAdmin, Target::Delegate, Target::Contributor] {
            targets.push((t, true));
            targets.push((t, false));
        }
        targets.push((Target::Myself, true));
        for (target, same) in targets {
            for action in USER_ACTIONS.into_iter().chain([Action::ResendInvitation]) {
                let (id, current) = if target == Target::Myself {
                    (me.id, app.store().user_roles(me.id).await.unwrap())
                } else {
                    let e = app
                        .user(
                            if same { MINE } else { THEIRS },
                            &email(),
                            target_roles(target),
                        )
                        .await;
                    let u = app.user_record(&e).await;
                    (u.id, app.store().user_roles(u.id).await.unwrap())
                };
                let mut roles: Vec<String> = current.iter().map(|r| r.role.id()).collect();
                let (method, path, body) = match action {
                    Action::View => ("GET", format!("/api/v1/users/{id}"), None),
                    Action::ResendInvitation => (
                        "POST",
                        format!("/api/v1/users/{id}/resend-invitation"),
                        None,
                    ),
                    Action::EditDetails => (
                        "PATCH",
                        format!("/api/v1/users/{id}"),
                        Some(json!({ "first_name": "Renamed" })),
                    ),
                    Action::SetAccess => (
                        "PATCH",
                        format!("/api/v1/users/{id}"),
                        Some(json!({ "access_enabled": false })),
                    ),
                    _ => {
                        match action {
                            Action::GrantContributorRole => {
                                roles.push("data-collection-contributor:prevent".into())
                            }
                            Action::GrantPortalAdmin => roles.push("portal-admin".into()),
                            Action::GrantDelegate => roles.push("delegated-portal-admin".into()),
                            _ => {
                                roles.pop();
                            }
                        }
                        (
                            "PUT",
                            format!("/api/v1/users/{id}/roles"),
                            Some(json!({ "roles": roles })),
                        )
                    }
                };
                check(
                    &app,
                    &token,
                    (actor, action, Some(target), same),
                    method,
                    &path,
                    body,
                )
                .await;
                cases += 1;
            }
        }
    }
    // The invitations resent are sent.
    app.deliver_mail().await;
    assert_eq!(cases, 6 * (2 * 3 + 7 * 8));
}

async fn check(
    app: &TestApp,
    token: &str,
    case: (Actor, Action, Option<Target>, bool),
    method: &str,
    path: &str,
    body: Option<Value>,
) {
    let (actor, action, target, same) = case;
    let want = expected(actor, action, target, same);
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let (got, answer) = send(app, token, method, path, body).await;
    assert_eq!(got, want, "{case:?}: {method} {path} → {answer}");
    if want >= 400 {
        assert_eq!(app.snapshot().await, before, "{case:?} changed something");
        let rows = app.audit_since(seq).await;
        assert_eq!(rows.len(), 1, "{case:?}: one audit row");
        assert_eq!(rows[0].entry.outcome, Outcome::Refused, "{case:?}");
    }
}

/// The same table through the pages, as hand-made requests with a valid form
/// token: what the API allows the pages allow (303 after a change), and what it
/// refuses they refuse with the same status, changing nothing.
async fn the_pages_give_the_same_answers_to_hand_made_requests(app: TestApp) {
    const MINE: &str = "10000143";
    const THEIRS: &str = "10000144";
    app.user(MINE, "spare@pmine.example.ac.uk", &["portal-admin"])
        .await;
    app.user(THEIRS, "spare@ptheirs.example.ac.uk", &["portal-admin"])
        .await;
    let mut cases = 0;
    for actor in ACTORS {
        let actor_email = make_actor(&app, actor, MINE).await;
        let mut b = crate::attacks::page_sign_in(&app, &actor_email).await;
        b.get("/home").await;
        let me = app.user_record(&actor_email).await;
        // The list and Add user pages act on the actor's own provider.
        if !matches!(actor, Actor::RegulatorAdmin | Actor::RegulatorOfficer) {
            for action in [Action::List, Action::Add] {
                let want = expected(actor, action, None, true);
                let before = app.snapshot().await;
                let seq = app.last_audit_seq().await;
                let r = match action {
                    Action::List => b.get("/users").await,
                    _ => {
                        let e = email();
                        b.submit(
                            "/users/add",
                            &[
                                ("title", "Dr"),
                                ("first_name", "New"),
                                ("last_name", "Person"),
                                ("email", &e),
                            ],
                        )
                        .await
                    }
                };
                let page_want = if want >= 400 {
                    want
                } else if action == Action::List {
                    200
                } else {
                    303
                };
                assert_eq!(r.status, page_want, "page {actor:?} {action:?}");
                if want >= 400 {
                    assert_eq!(app.snapshot().await, before);
                    assert_eq!(
                        app.audit_since(seq).await.len(),
                        1,
                        "page {actor:?} {action:?}"
                    );
                }
                b.get("/home").await;
                cases += 1;
            }
        }
        let mut targets: Vec<(Target, bool)> = Vec::new();
        for t in [Target::PortalAdmin, Target::Delegate, Target::Contributor] {
            targets.push((t, true));
            targets.push((t, false));
        }
        targets.push((Target::Myself, true));
        for (target, same) in targets {
            for action in USER_ACTIONS {
                let (user, current) = if target == Target::Myself {
                    (me.clone(), app.store().user_roles(me.id).await.unwrap())
                } else {
                    let e = app
                        .user(
                            if same { MINE } else { THEIRS },
                            &email(),
                            target_roles(target),
                        )
                        .await;
                    let u = app.user_record(&e).await;
                    let roles = app.store().user_roles(u.id).await.unwrap();
                    (u, roles)
                };
                let id = user.id;
                let mut roles: Vec<String> = current.iter().map(|r| r.role.id()).collect();
                match action {
                    Action::GrantContributorRole => {
                        roles.push("data-collection-contributor:prevent".into())
                    }
                    Action::GrantPortalAdmin => roles.push("portal-admin".into()),
                    Action::GrantDelegate => roles.push("delegated-portal-admin".into()),
                    Action::RemoveARole => {
                        roles.pop();
                    }
                    _ => {}
                }
                let want = expected(actor, action, Some(target), same);
                let before = app.snapshot().await;
                let seq = app.last_audit_seq().await;
                let path = format!("/users/{id}");
                let r = match action {
                    Action::View => b.get(&path).await,
                    Action::EditDetails => {
                        b.submit(
                            &format!("{path}/details"),
                            &[
                                ("title", &user.title),
                                ("first_name", "Renamed"),
                                ("last_name", &user.last_name),
                                ("email", user.email.as_str()),
                            ],
                        )
                        .await
                    }
                    _ => {
                        let mut fields: Vec<(&str, &str)> =
                            roles.iter().map(|r| ("role", r.as_str())).collect();
                        if action != Action::SetAccess {
                            fields.push(("access_enabled", "true"));
                        }
                        b.submit(&path, &fields).await
                    }
                };
                let page_want = if want >= 400 {
                    want
                } else if action == Action::View {
                    200
                } else {
                    303
                };
                assert_eq!(
                    r.status, page_want,
                    "page {actor:?} {action:?} {target:?} same={same}"
                );
                if want >= 400 {
                    assert_eq!(
                        app.snapshot().await,
                        before,
                        "page {actor:?} {action:?} {target:?} changed something"
                    );
                    assert_eq!(
                        app.audit_since(seq).await.len(),
                        1,
                        "page {actor:?} {action:?} {target:?}: one audit row"
                    );
                }
                b.get("/home").await;
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 4 * 2 + 6 * 7 * 7);
}
