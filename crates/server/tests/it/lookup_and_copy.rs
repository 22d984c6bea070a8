//! Issue 15, items 1–3, without a browser: the role lookup keeps its ticks
//! through a search and a single staged change can be undone (item 1);
//! copying permissions gives what may be given and says what was not and why
//! (item 2); an area's "Users with access" includes those who have it through
//! their role (item 3). Attackers' copies are refused and change nothing.

use domain::audit::Outcome;
use testkit::{Browser, TestApp};

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_copy_gives_what_may_be_given_and_lists_what_was_skipped_and_why,
    a_delegate_copies_the_contributor_roles_and_skips_the_administrators,
    the_copy_link_is_offered_on_the_basis_the_copy_uses,
    a_copy_where_nothing_may_be_given_says_so_and_changes_nothing,
    a_copy_where_nothing_may_be_given_is_counted_as_a_refusal,
    copies_an_attacker_asks_for_are_refused_and_change_nothing,
    a_search_in_the_lookup_keeps_the_ticks_already_made,
    undo_takes_back_exactly_one_staged_change,
    an_areas_users_with_access_include_administrators_through_their_role,
    through_their_role_rows_link_to_edit_only_where_the_actor_may_change_roles,
);

const HESES: &str = "data-collection-contributor:heses";
const PREVENT: &str = "data-collection-contributor:prevent";
const RISK: &str = "area-member:risk-letters";

/// Defines a sensitive communication area ("Risk letters") and an ordinary one ("Board papers").
async fn define_areas(app: &TestApp) {
    let meta = app::RequestMeta::operator("test");
    for (slug, name, sensitive) in [
        ("risk-letters", "Risk letters", true),
        ("board-papers", "Board papers", false),
    ] {
        app.portal
            .app
            .define_area(
                &app::areas::AreaInput {
                    slug: slug.into(),
                    name: name.into(),
                    kind: "communication".into(),
                    sensitive,
                },
                &meta,
            )
            .await
            .unwrap();
    }
}

async fn roles_of(app: &TestApp, email: &str) -> Vec<String> {
    let id = app.user_record(email).await.id;
    let mut roles: Vec<String> = app
        .store()
        .user_roles(id)
        .await
        .unwrap()
        .iter()
        .map(|g| g.role.id())
        .collect();
    roles.sort();
    roles
}

async fn id_of(app: &TestApp, email: &str) -> String {
    app.user_record(email).await.id.to_string()
}

/// The part of `body` from the element with `id` to the next element with
/// an id among `then` (or the end).
fn section<'a>(body: &'a str, id: &str, then: &[&str]) -> &'a str {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[start..];
    let end = then
        .iter()
        .filter_map(|t| rest.find(&format!("id=\"{t}\"")))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The `<form …>…</form>` of `body` that contains `needle`.
fn form_with<'a>(body: &'a str, needle: &str) -> &'a str {
    let at = body
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {body}"));
    let start = body[..at].rfind("<form").expect("inside a form");
    let end = at + body[at..].find("</form>").expect("a closed form");
    assert!(
        !body[start..at].contains("</form>"),
        "{needle} is not inside a form"
    );
    &body[start..end]
}

/// Posts "Copy to" on the copy page as the browser would.
async fn copy(b: &mut Browser, from: &str, to: &str) -> testkit::Reply {
    b.get(&format!("/users/{from}/copy")).await;
    b.submit(&format!("/users/{from}/copy"), &[("to", to), ("q", "")])
        .await
}

async fn a_copy_gives_what_may_be_given_and_lists_what_was_skipped_and_why(app: TestApp) {
    define_areas(&app).await;
    let pa = app
        .user("10000151", "pa@copy151.example.ac.uk", &["portal-admin"])
        .await;
    let source = app
        .user(
            "10000151",
            "source@copy151.example.ac.uk",
            &[HESES, PREVENT, RISK],
        )
        .await;
    let target = app
        .user("10000151", "target@copy151.example.ac.uk", &[HESES])
        .await;
    let (source_id, target_id) = (id_of(&app, &source).await, id_of(&app, &target).await);
    let mut b = page_sign_in(&app, &pa).await;
    b.get(&format!("/users/{source_id}/copy")).await;
    app.deliver_mail().await;
    let mails_before = app.mailer.sent_to(&target).len();
    let seq = app.last_audit_seq().await;
    let r = copy(&mut b, &source_id, &target_id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Some permissions have been copied"));
    // What was copied, what was not and why, and what they already had.
    let copied = section(&r.body, "copied", &["not-copied", "already", "now"]);
    assert!(copied.contains("Data collection contributor - Prevent"));
    assert!(!copied.contains("Risk letters") && !copied.contains("HESES"));
    let skipped = section(&r.body, "not-copied", &["already", "now"]);
    assert!(skipped.contains("Area member - Risk letters"), "{skipped}");
    assert!(skipped.contains(domain::authz::SENSITIVE_ROLE), "{skipped}");
    assert!(!skipped.contains("Prevent"));
    let already = section(&r.body, "already", &["now"]);
    assert!(already.contains("Data collection contributor - HESES"));
    assert_eq!(roles_of(&app, &target).await, [HESES, PREVENT]);
    assert_eq!(roles_of(&app, &source).await, [RISK, HESES, PREVENT]);
    // One audit row, saying both.
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0].entry;
    assert_eq!(
        (row.action.as_str(), row.outcome),
        ("users.copy_roles", Outcome::Success)
    );
    assert!(
        row.detail.contains(&format!("added=[{PREVENT}]")),
        "{row:?}"
    );
    assert!(
        row.detail
            .contains("Not copied: Area member - Risk letters")
    );
    assert!(row.detail.contains(domain::authz::SENSITIVE_ROLE));
    // One email to the person, listing what they were given.
    app.deliver_mail().await;
    let mails = app.mailer.sent_to(&target);
    assert_eq!(mails.len(), mails_before + 1);
    let mail = mails.last().unwrap();
    assert!(mail.body.contains("Data collection contributor - Prevent"));
    assert!(!mail.body.contains("Risk letters"));
}

async fn a_delegate_copies_the_contributor_roles_and_skips_the_administrators(app: TestApp) {
    let pa = app
        .user(
            "10000152",
            "pa@copy152.example.ac.uk",
            &["portal-admin", HESES],
        )
        .await;
    let dpa = app
        .user(
            "10000152",
            "dpa@copy152.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let target = app
        .user("10000152", "target@copy152.example.ac.uk", &[])
        .await;
    let (pa_id, target_id) = (id_of(&app, &pa).await, id_of(&app, &target).await);
    let mut b = page_sign_in(&app, &dpa).await;
    let seq = app.last_audit_seq().await;
    let r = copy(&mut b, &pa_id, &target_id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let skipped = section(&r.body, "not-copied", &["already", "now"]);
    assert!(skipped.contains("Portal Administrator"));
    assert!(skipped.contains(domain::authz::DELEGATE_ROLE), "{skipped}");
    assert_eq!(roles_of(&app, &target).await, [HESES]);
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.outcome, Outcome::Success);
    assert!(
        rows[0]
            .entry
            .detail
            .contains("Not copied: Portal Administrator")
    );
    app.deliver_mail().await;
    let mail = app.mailer.sent_to(&target);
    assert!(mail.last().unwrap().body.contains("HESES"));
}

/// Whether a user's page offers "Copy permissions" (and if not, why).
fn copy_offered(body: &str) -> (bool, Option<String>) {
    let why = body.find("id=\"copy-why-not\"").map(|at| {
        let rest = &body[at..];
        rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()].to_owned()
    });
    (body.contains("Copy permissions to another user"), why)
}

async fn the_copy_link_is_offered_on_the_basis_the_copy_uses(app: TestApp) {
    let pa = app
        .user(
            "10000156",
            "pa@copy156.example.ac.uk",
            &["portal-admin", HESES],
        )
        .await;
    let dpa = app
        .user(
            "10000156",
            "dpa@copy156.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let (pa_id, dpa_id) = (id_of(&app, &pa).await, id_of(&app, &dpa).await);
    // A delegate may not change a Portal Administrator's roles, but may copy
    // their HESES role to a colleague: the page offers what the copy does.
    app.user("10000156", "plain@copy156.example.ac.uk", &[])
        .await;
    let mut delegate = page_sign_in(&app, &dpa).await;
    let r = delegate.get(&format!("/users/{pa_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(copy_offered(&r.body), (true, None));
    // The colleague has HESES now: nothing is left that a copy could give
    // (the other administrator is not the delegate's to change), so no link,
    // and the delegate is told why.
    let plain_id = id_of(&app, "plain@copy156.example.ac.uk").await;
    assert_eq!(copy(&mut delegate, &pa_id, &plain_id).await.status, 200);
    let r = delegate.get(&format!("/users/{pa_id}")).await;
    let (offered, why) = copy_offered(&r.body);
    assert!(!offered, "{}", r.body);
    assert!(
        why.as_deref()
            .is_some_and(|w| w.contains("cannot be copied")),
        "{why:?}"
    );
    // The administrator may still copy the delegate's role to the colleague.
    let mut admin = page_sign_in(&app, &pa).await;
    let r = admin.get(&format!("/users/{dpa_id}")).await;
    assert_eq!(copy_offered(&r.body), (true, None));
    // Someone with no roles: nothing to copy, and said so.
    let r = admin.get(&format!("/users/{plain_id}")).await;
    assert_eq!(copy_offered(&r.body), (true, None));
    let r = admin
        .get(&format!(
            "/users/{}",
            id_of(
                &app,
                &app.user("10000156", "none@copy156.example.ac.uk", &[])
                    .await
            )
            .await
        ))
        .await;
    let (offered, why) = copy_offered(&r.body);
    assert!(!offered);
    assert_eq!(why.as_deref(), Some("This user has no roles to copy."));
}

async fn a_copy_where_nothing_may_be_given_says_so_and_changes_nothing(app: TestApp) {
    define_areas(&app).await;
    let pa = app
        .user("10000153", "pa@copy153.example.ac.uk", &["portal-admin"])
        .await;
    let holder = app
        .user("10000153", "holder@copy153.example.ac.uk", &[RISK, HESES])
        .await;
    let target = app
        .user("10000153", "target@copy153.example.ac.uk", &[HESES])
        .await;
    let (holder_id, target_id) = (id_of(&app, &holder).await, id_of(&app, &target).await);
    let mut b = page_sign_in(&app, &pa).await;
    b.get(&format!("/users/{holder_id}/copy")).await;
    app.deliver_mail().await;
    let mails = app.mailer.count();
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            &format!("/users/{holder_id}/copy"),
            &[("to", &target_id), ("q", "")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Nothing has been copied"));
    assert!(r.body.contains("Area member - Risk letters"));
    assert!(r.body.contains(domain::authz::SENSITIVE_ROLE));
    assert_eq!(app.snapshot().await, before);
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(
        (rows[0].entry.action.as_str(), rows[0].entry.outcome),
        ("users.copy_roles", Outcome::Refused)
    );
    assert!(rows[0].entry.detail.contains(RISK));
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), mails, "nobody is emailed");
}

/// Posts a copy that must be refused with `status`: nothing changes and one
/// refused audit row is written. Answers the page.
async fn refused_copy(app: &TestApp, b: &mut Browser, from: &str, to: &str, status: u16) -> String {
    b.get("/home").await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(&format!("/users/{from}/copy"), &[("to", to), ("q", "")])
        .await;
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused copy changed something"
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    assert_eq!(rows[0].entry.action, "users.copy_roles");
    r.body
}

async fn copies_an_attacker_asks_for_are_refused_and_change_nothing(app: TestApp) {
    let pa = app
        .user("10000154", "pa@copy154.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000154",
            "dpa@copy154.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let contributor = app
        .user("10000154", "c@copy154.example.ac.uk", &[HESES])
        .await;
    let source = app
        .user(
            "10000154",
            "source@copy154.example.ac.uk",
            &[HESES, PREVENT],
        )
        .await;
    let target = app
        .user("10000154", "target@copy154.example.ac.uk", &[])
        .await;
    let second_pa = app
        .user("10000154", "pa2@copy154.example.ac.uk", &["portal-admin"])
        .await;
    let theirs = app
        .user(
            "10000155",
            "theirs@copy155.example.ac.uk",
            &[HESES, PREVENT],
        )
        .await;
    let [pa_id, source_id, target_id, second_pa_id, theirs_id] = [
        id_of(&app, &pa).await,
        id_of(&app, &source).await,
        id_of(&app, &target).await,
        id_of(&app, &second_pa).await,
        id_of(&app, &theirs).await,
    ];
    let mut admin = page_sign_in(&app, &pa).await;
    // Another organisation's user, as the source or as the target, does not exist.
    refused_copy(&app, &mut admin, &theirs_id, &target_id, 404).await;
    refused_copy(&app, &mut admin, &source_id, &theirs_id, 404).await;
    // Nobody copies onto themselves.
    refused_copy(&app, &mut admin, &source_id, &pa_id, 403).await;
    // A delegate gives only what they may give: a source with nothing else
    // is refused whole, and an administrator is not theirs to change.
    let mut delegate = page_sign_in(&app, &dpa).await;
    let body = refused_copy(&app, &mut delegate, &second_pa_id, &target_id, 403).await;
    assert!(body.contains("Nothing has been copied"));
    assert!(body.contains(domain::authz::DELEGATE_ROLE));
    let body = refused_copy(&app, &mut delegate, &source_id, &second_pa_id, 403).await;
    assert!(body.contains(domain::authz::DELEGATE_ON_ADMIN));
    // Someone who manages nobody copies nothing.
    let mut c = page_sign_in(&app, &contributor).await;
    refused_copy(&app, &mut c, &source_id, &target_id, 403).await;
    assert!(roles_of(&app, &target).await.is_empty());
    assert_eq!(roles_of(&app, &theirs).await, [HESES, PREVENT]);
    assert_eq!(roles_of(&app, &second_pa).await, ["portal-admin"]);
}

async fn a_search_in_the_lookup_keeps_the_ticks_already_made(app: TestApp) {
    let pa = app
        .user("10000156", "pa@lookup156.example.ac.uk", &["portal-admin"])
        .await;
    let grace = app
        .user("10000156", "grace@lookup156.example.ac.uk", &[])
        .await;
    let id = id_of(&app, &grace).await;
    let mut b = page_sign_in(&app, &pa).await;
    let page = b.get(&format!("/users/{id}/roles/add")).await;
    assert_eq!(page.status, 200);
    // Search is a button of the form that holds the ticks, so what is ticked
    // goes with the search.
    let form = form_with(&page.body, "name=\"q\"");
    assert!(
        form.contains("type=\"checkbox\"") && form.contains(&format!("value=\"{HESES}\"")),
        "{form}"
    );
    assert!(form.contains(&format!("action=\"/users/{id}/roles/add\"")));
    // HESES ticked, then a search for Prevent: HESES stays selected (with a
    // way to take it out again) and goes with Add.
    let r = b
        .get(&format!(
            "/users/{id}/roles/add?lookup=1&add=data-collection-contributor%3Aheses&q=prevent"
        ))
        .await;
    assert_eq!(r.status, 200);
    let selected = section(&r.body, "selected-records", &[]);
    assert!(selected.contains("Data collection contributor - HESES"));
    assert!(selected.contains("Remove Data collection contributor - HESES"));
    assert!(!selected.contains("None yet"));
    let add = form_with(&r.body, "name=\"q\"");
    assert!(
        add.contains(&format!("name=\"add\" value=\"{HESES}\"")),
        "{add}"
    );
    assert!(add.contains("Data collection contributor - Prevent"));
    assert!(
        !add.contains("Capital Funding"),
        "the search narrows the choices"
    );
    // A × takes out that one and keeps the other ticks.
    let r = b
        .get(&format!(
            "/users/{id}/roles/add?lookup=1&add=data-collection-contributor%3Aheses\
             &add=data-collection-contributor%3Aprevent&q=&drop=data-collection-contributor%3Aheses"
        ))
        .await;
    let selected = section(&r.body, "selected-records", &[]);
    assert!(selected.contains("Remove Data collection contributor - Prevent"));
    assert!(!selected.contains("Remove Data collection contributor - HESES"));
    // Add: both are staged on Edit user; nothing is changed until Submit.
    let before = app.snapshot().await;
    let r = b
        .get(&format!(
            "/users/{id}/roles/add?lookup=1&add=data-collection-contributor%3Aheses\
             &q=prevent&add=data-collection-contributor%3Aprevent&done=add"
        ))
        .await;
    let edit = format!(
        "/users/{id}?add=data-collection-contributor%3Aheses&add=data-collection-contributor%3Aprevent"
    );
    assert_eq!(r.location(), Some(edit.as_str()));
    let edit = b.get(&edit).await;
    assert_eq!(edit.body.matches("To be added").count(), 2);
    assert_eq!(app.snapshot().await, before);
}

async fn undo_takes_back_exactly_one_staged_change(app: TestApp) {
    let pa = app
        .user("10000157", "pa@undo157.example.ac.uk", &["portal-admin"])
        .await;
    let grace = app
        .user("10000157", "grace@undo157.example.ac.uk", &[PREVENT])
        .await;
    let id = id_of(&app, &grace).await;
    let mut b = page_sign_in(&app, &pa).await;
    // One staged change: its Undo leads to Edit user with nothing staged.
    let one = b
        .get(&format!(
            "/users/{id}?add=data-collection-contributor%3Aheses"
        ))
        .await;
    let undo = format!(
        "href=\"/users/{id}\">Undo<span class=\"govuk-visually-hidden\"> Data collection contributor - HESES</span>"
    );
    assert!(one.body.contains(&undo), "{}", one.body);
    let after = b.get(&format!("/users/{id}")).await;
    assert!(!after.body.contains("To be added") && !after.body.contains("Undo"));
    // Two: each Undo takes back its own and keeps the other.
    let two = b
        .get(&format!(
            "/users/{id}?add=data-collection-contributor%3Aheses&remove=data-collection-contributor%3Aprevent"
        ))
        .await;
    assert!(two.body.contains(&format!(
        "href=\"/users/{id}?remove=data-collection-contributor%3Aprevent\">Undo<span class=\"govuk-visually-hidden\"> Data collection contributor - HESES"
    )));
    assert!(two.body.contains(&format!(
        "href=\"/users/{id}?add=data-collection-contributor%3Aheses\">Undo<span class=\"govuk-visually-hidden\"> Data collection contributor - Prevent"
    )));
    assert_eq!(roles_of(&app, &grace).await, [PREVENT]);
}

async fn an_areas_users_with_access_include_administrators_through_their_role(app: TestApp) {
    define_areas(&app).await;
    let pa = app
        .user("10000158", "pa@area158.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000158",
            "dpa@area158.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let heses = app
        .user("10000158", "heses@area158.example.ac.uk", &[HESES])
        .await;
    let prevent = app
        .user("10000158", "prevent@area158.example.ac.uk", &[PREVENT])
        .await;
    let theirs = app
        .user("10000159", "pa@area159.example.ac.uk", &["portal-admin"])
        .await;
    // An address as the page shows it, alone in its element.
    let [pa, dpa, heses, prevent, theirs] =
        [pa, dpa, heses, prevent, theirs].map(|e| format!(">{e}<"));
    let mut b = page_sign_in(&app, "pa@area158.example.ac.uk").await;
    let r = b.get("/areas/heses").await;
    assert_eq!(r.status, 200);
    let members = section(&r.body, "members", &["through-role"]);
    assert!(members.contains(&heses));
    assert!(!members.contains(&pa) && !members.contains(&dpa));
    let through = section(&r.body, "through-role", &[]);
    for (who, role) in [
        (&pa, "Portal Administrator"),
        (&dpa, "Delegated - Portal Administrator"),
    ] {
        let row = &through[through.find(who.as_str()).expect("listed")..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("Through their role: {role}")),
            "{row}"
        );
    }
    assert!(!through.contains(&prevent) && !through.contains(&theirs));
    assert!(!through.contains(&heses), "a member is listed once");
    // An ordinary communication area's documents are theirs to read too…
    let r = b.get("/areas/board-papers").await;
    assert!(section(&r.body, "through-role", &[]).contains(&dpa));
    // …but a sensitive area's only with its key-granted role.
    let r = b.get("/areas/risk-letters").await;
    assert!(!r.body.contains("Through their role"));
    // The regulator's administrators run windows but do not see returns.
    let regulator = app
        .regulator_user("admin@area.ofs.example.org", &["regulator-admin"])
        .await;
    let mut r8 = page_sign_in(&app, &regulator).await;
    let r = r8.get("/areas/heses").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("Through their role"));
}

/// The "Through their role" row of the user whose address is `email`.
fn through_row<'a>(body: &'a str, email: &str) -> &'a str {
    let through = section(body, "through-role", &[]);
    let row = &through[through
        .find(&format!(">{email}<"))
        .unwrap_or_else(|| panic!("{email} not listed in {through}"))..];
    &row[..row.find("</tr>").unwrap()]
}

async fn through_their_role_rows_link_to_edit_only_where_the_actor_may_change_roles(app: TestApp) {
    let pa = app
        .user("10000160", "pa@area160.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000160",
            "dpa@area160.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let dpa_id = id_of(&app, &dpa).await;
    // The administrator may change the delegate's roles: Edit, to their page.
    let mut admin = page_sign_in(&app, &pa).await;
    let body = admin.get("/areas/heses").await.body;
    assert!(
        !body.contains("on Edit user"),
        "no pointer to a missing link"
    );
    let row = through_row(&body, &dpa);
    assert!(row.contains(&format!("href=\"/users/{dpa_id}\"")), "{row}");
    assert!(row.contains(">Edit<"), "{row}");
    // Their own row: no link, ask another administrator.
    let row = through_row(&body, &pa);
    assert!(!row.contains("href="), "{row}");
    assert!(row.contains("ask another administrator"), "{row}");
    // The delegate may not change a Portal Administrator: no link, and whom to ask.
    let mut delegate = page_sign_in(&app, &dpa).await;
    let body = delegate.get("/areas/heses").await.body;
    let row = through_row(&body, &pa);
    assert!(!row.contains("href="), "{row}");
    assert!(
        row.contains("Ask a Portal Administrator to change their role"),
        "{row}"
    );
    // The same decision as the change: their page offers the delegate no change.
    let pa_id = id_of(&app, &pa).await;
    let r = delegate.get(&format!("/users/{pa_id}")).await;
    assert!(!r.body.contains(&format!("action=\"/users/{pa_id}\"")));
}

async fn a_copy_where_nothing_may_be_given_is_counted_as_a_refusal(app: TestApp) {
    define_areas(&app).await;
    let pa = app
        .user("10000161", "pa@copy161.example.ac.uk", &["portal-admin"])
        .await;
    let holder = app
        .user("10000161", "holder@copy161.example.ac.uk", &[RISK, HESES])
        .await;
    let target = app
        .user("10000161", "target@copy161.example.ac.uk", &[HESES])
        .await;
    let token = app.api_sign_in(&pa).await;
    let actor = app
        .portal
        .app
        .resolve_session(&token, store::SessionKind::Api)
        .await
        .unwrap()
        .expect("signed in");
    let (from, to) = (
        app.user_record(&holder).await.id,
        app.user_record(&target).await.id,
    );
    // This test's own recorder, on this thread (where the use case's future
    // is polled): other tests' refusals are not counted in it.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let seq = app.last_audit_seq().await;
    let outcome = {
        let _local = metrics::set_default_local_recorder(&recorder);
        app.portal
            .app
            .copy_permissions(&actor, from, to, &app::RequestMeta::operator("test"))
            .await
            .unwrap()
    };
    assert!(outcome.copied.is_empty() && !outcome.skipped.is_empty());
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l == "portal_refusals_total{area=\"users\",kind=\"forbidden\"} 1"),
        "{text}"
    );
}
