//! The user-management pages (seed 001), without a browser: list, add, edit
//! with staged roles through the lookup page, and refusals by hand-made posts.

use domain::audit::Outcome;
use testkit::TestApp;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    an_administrator_adds_a_colleague_and_gives_them_heses_through_the_pages,
    a_delegated_admin_cannot_grant_portal_admin_by_a_hand_made_form,
    contributors_do_not_see_user_management,
    the_list_downloads_as_csv_with_formulas_neutralised,
    edit_user_submit_with_a_role_and_disabling_the_last_portal_admin_changes_nothing,
    the_list_says_no_roles_yet_and_counts_one_user_as_one,
    one_submit_changing_roles_and_access_sends_one_email_listing_both,
    error_summaries_list_the_fields_in_the_order_the_form_shows_them,
);

/// The links of a page's error summary, in order.
fn summary_links(body: &str) -> Vec<String> {
    let start = body.find("govuk-error-summary").expect("an error summary");
    let end = start + body[start..].find("</ul>").unwrap();
    body[start..end]
        .split("href=\"#")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// Add user, Change details, Add a provider (issue 15, item 5): the error
/// summary follows the fields, not the alphabet.
async fn error_summaries_list_the_fields_in_the_order_the_form_shows_them(app: TestApp) {
    let pa = app
        .user("10000127", "pa@seven.example.ac.uk", &["portal-admin"])
        .await;
    let colleague = app
        .user("10000127", "colleague@seven.example.ac.uk", &[])
        .await;
    let id = app.user_record(&colleague).await.id;
    let mut b = page_sign_in(&app, &pa).await;
    let person = ["title", "first_name", "last_name", "email"];
    b.get("/users/add").await;
    let r = b
        .submit(
            "/users/add",
            &[
                ("title", ""),
                ("first_name", ""),
                ("last_name", ""),
                ("email", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(summary_links(&r.body), person);
    let r = b
        .submit(
            &format!("/users/{id}/details"),
            &[
                ("title", ""),
                ("first_name", ""),
                ("last_name", ""),
                ("email", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // (A title may be left empty here: the others, in the form's order.)
    assert_eq!(summary_links(&r.body), person[1..]);
    let regulator = app
        .regulator_user("order@ofs.example.org", &["regulator-admin"])
        .await;
    let mut r8 = page_sign_in(&app, &regulator).await;
    r8.get("/organisations/add").await;
    let r = r8
        .submit(
            "/organisations/add",
            &[
                ("name", ""),
                ("ukprn", "1"),
                ("accountable_officer_name", ""),
                ("accountable_officer_email", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let links = summary_links(&r.body);
    let rank = |f: &str| links.iter().position(|l| l == f);
    assert!(rank("name") < rank("ukprn"), "{links:?}");
    assert!(
        rank("ukprn") < rank("accountable_officer_email"),
        "{links:?}"
    );
}

/// Edit user: one Submit that adds a role and turns access off is one change,
/// told in one email listing both (issue 15, item 10).
async fn one_submit_changing_roles_and_access_sends_one_email_listing_both(app: TestApp) {
    let pa = app
        .user("10000126", "pa@six.example.ac.uk", &["portal-admin"])
        .await;
    let colleague = app
        .user("10000126", "colleague@six.example.ac.uk", &[])
        .await;
    let id = app.user_record(&colleague).await.id;
    let mut b = page_sign_in(&app, &pa).await;
    let edit = b.get(&format!("/users/{id}")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    app.deliver_mail().await;
    let before = app.mailer.sent_to(&colleague).len();
    // The final role set with HESES added, and no access_enabled field (unticked).
    let r = b
        .submit(
            &format!("/users/{id}"),
            &[("role", "data-collection-contributor:heses")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!app.user_record(&colleague).await.access_enabled);
    app.deliver_mail().await;
    let told: Vec<_> = app
        .mailer
        .sent_to(&colleague)
        .into_iter()
        .skip(before)
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0]
            .body
            .contains("Role added: Data collection contributor - HESES"),
        "{}",
        told[0].body
    );
    assert!(
        told[0].body.to_lowercase().contains("access"),
        "{}",
        told[0].body
    );
}

async fn the_list_says_no_roles_yet_and_counts_one_user_as_one(app: TestApp) {
    let pa = app
        .user("10000122", "pa@two.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000122", "newcomer@two.example.ac.uk", &[])
        .await;
    let mut b = page_sign_in(&app, &pa).await;
    let one = b.get("/users?q=newcomer").await;
    assert!(one.body.contains("newcomer@two.example.ac.uk"));
    assert!(one.body.contains("No roles yet"), "{}", one.body);
    assert!(
        one.body.contains("Showing 1 to 1 of 1 user</caption>"),
        "{}",
        one.body
    );
    assert!(!one.body.contains("1 users"));
    let both = b.get("/users").await;
    assert!(both.body.contains("of 2 users"));
}

async fn an_administrator_adds_a_colleague_and_gives_them_heses_through_the_pages(app: TestApp) {
    let pa = app
        .user("10000121", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    app.user(
        "10000121",
        "finley@one.example.ac.uk",
        &["data-collection-contributor:annual-financial-return"],
    )
    .await;
    let mut b = page_sign_in(&app, &pa).await;
    let home = b.get("/home").await;
    assert!(
        home.body.contains("href=\"/users\""),
        "the User management link"
    );
    let list = b.get("/users?q=finley").await;
    assert!(
        list.body.contains("finley@one.example.ac.uk")
            && !list.body.contains("pa@one.example.ac.uk")
    );
    assert!(list.body.contains("Never"), "never signed in");

    b.get("/users/add").await;
    let r = b
        .submit(
            "/users/add",
            &[
                ("title", ""),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("email", "grace"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("govuk-error-summary") && r.body.contains("Enter a title"));
    assert!(r.body.contains("value=\"Grace\""), "what was typed is kept");
    let r = b
        .submit(
            "/users/add",
            &[
                ("title", "Dr"),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("email", "grace@one.example.ac.uk"),
            ],
        )
        .await;
    let location = r.location().unwrap().to_owned();
    assert!(location.starts_with("/users?requested="), "{location}");
    assert!(
        b.get(&location)
            .await
            .body
            .contains("Request received for Dr Grace Hopper")
    );
    app.deliver_mail().await;
    let grace = app.user_record("grace@one.example.ac.uk").await;

    let edit = b.get(&format!("/users/{}", grace.id)).await;
    assert!(edit.body.contains("Edit user") && edit.body.contains("Portal Access Enabled"));
    let lookup = b.get(&format!("/users/{}/roles/add?q=hes", grace.id)).await;
    assert!(lookup.body.contains("Data collection contributor - HESES"));
    assert!(
        !lookup
            .body
            .contains("Data collection contributor - Prevent"),
        "search narrows the list"
    );
    // Ticking HESES and choosing Add returns to Edit user with the role pending.
    let staged = b
        .get(&format!(
            "/users/{}?add=data-collection-contributor%3Aheses",
            grace.id
        ))
        .await;
    assert!(staged.body.contains("To be added"));
    assert!(
        app.store().user_roles(grace.id).await.unwrap().is_empty(),
        "nothing changes before Submit"
    );
    let r = b
        .submit(
            &format!("/users/{}", grace.id),
            &[
                ("role", "data-collection-contributor:heses"),
                ("access_enabled", "true"),
            ],
        )
        .await;
    assert_eq!(
        r.location(),
        Some(format!("/users/{}?saved=1", grace.id).as_str())
    );
    assert!(
        b.get(r.location().unwrap())
            .await
            .body
            .contains("Your changes have been saved")
    );
    let roles = app.store().user_roles(grace.id).await.unwrap();
    assert_eq!(roles[0].name(), "Data collection contributor - HESES");
    let token = app.api_sign_in("grace@one.example.ac.uk").await;
    let me: serde_json::Value = app
        .get_with("/api/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"][0]["id"], "data-collection-contributor:heses");
}

async fn a_delegated_admin_cannot_grant_portal_admin_by_a_hand_made_form(app: TestApp) {
    let dpa = app
        .user(
            "10000122",
            "dpa@one.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let c = app.user("10000122", "c@one.example.ac.uk", &[]).await;
    let pa = app
        .user("10000122", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let c_id = app.user_record(&c).await.id;
    let mut b = page_sign_in(&app, &dpa).await;
    // The page never offers it...
    let lookup = b.get(&format!("/users/{c_id}/roles/add")).await;
    assert!(!lookup.body.contains("value=\"portal-admin\""));
    assert!(lookup.body.contains("Data collection contributor - HESES"));
    // ...and a crafted post is refused, audited, and changes nothing.
    b.get(&format!("/users/{c_id}")).await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            &format!("/users/{c_id}"),
            &[("role", "portal-admin"), ("access_enabled", "true")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("can only give or remove Data collection contributor")
    );
    assert_eq!(app.snapshot().await, before);
    let rows = app.audit_since(seq).await;
    assert_eq!((rows.len(), rows[0].entry.outcome), (1, Outcome::Refused));
    // Nor can a delegate disable a Portal Administrator by a crafted post.
    let pa_id = app.user_record(&pa).await.id;
    // Opening the role lookup or the details form for a Portal Administrator
    // is refused and audited too.
    let seq = app.last_audit_seq().await;
    assert_eq!(
        b.get(&format!("/users/{pa_id}/roles/add")).await.status,
        403
    );
    assert_eq!(b.get(&format!("/users/{pa_id}/details")).await.status, 403);
    let rows = app.audit_since(seq).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["users.set_roles", "users.update"]);
    assert!(rows.iter().all(|r| r.entry.outcome == Outcome::Refused));
    let edit = b.get(&format!("/users/{pa_id}")).await;
    assert!(
        !edit.body.contains("Add role") && !edit.body.contains(">Remove<"),
        "no role controls offered"
    );
    assert!(
        !edit.body.contains("id=\"access_enabled\"") && !edit.body.contains(">Submit<"),
        "no access checkbox and no Submit"
    );
    assert!(
        !edit.body.contains("Copy permissions to another user"),
        "no copy link"
    );
    assert!(
        edit.body.contains(domain::authz::DELEGATE_ON_ADMIN),
        "the page says why"
    );
    let before = app.snapshot().await;
    let r = b
        .submit(&format!("/users/{pa_id}"), &[("role", "portal-admin")])
        .await;
    assert_eq!(r.status, 403, "a crafted post to disable them is refused");
    assert_eq!(app.snapshot().await, before);
}

async fn contributors_do_not_see_user_management(app: TestApp) {
    let c = app
        .user(
            "10000123",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let mut b = page_sign_in(&app, &c).await;
    assert!(!b.get("/home").await.body.contains("href=\"/users\""));
    let before = app.snapshot().await;
    let r = b.get("/users").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Portal Administrator"));
    let seq = app.last_audit_seq().await;
    assert_eq!(
        b.get("/users/add").await.status,
        403,
        "the form is only for those who may send it"
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    let r = b
        .submit(
            "/users/add",
            &[
                ("title", "Mr"),
                ("first_name", "A"),
                ("last_name", "B"),
                ("email", "ab@one.example.ac.uk"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.snapshot().await, before);
}

async fn the_list_downloads_as_csv_with_formulas_neutralised(app: TestApp) {
    let pa = app
        .user("10000124", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let evil = serde_json::json!({
        "title": "Mr",
        "first_name": "=HYPERLINK(\"http://evil.example\")",
        "last_name": "@SUM(A1)",
        "email": "evil@one.example.ac.uk"
    });
    let r = app
        .client()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.deliver_mail().await;
    let mut b = page_sign_in(&app, &pa).await;
    let list = b.get("/users").await;
    assert!(list.body.contains("/users.csv?"));
    let csv = b.get("/users.csv").await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        csv.body
            .starts_with("Title,First name,Last name,Email,Roles,Last logged in,Status")
    );
    assert!(
        csv.body
            .contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{}",
        csv.body
    );
    assert!(csv.body.contains("\"'@SUM(A1)\""));
    assert!(csv.body.contains("\"Portal Administrator\""));
    assert_eq!(csv.body.lines().count(), 3, "header and two users");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "users.exported");
    let c = app.user("10000124", "c@one.example.ac.uk", &[]).await;
    let mut other = page_sign_in(&app, &c).await;
    assert_eq!(other.get("/users.csv").await.status, 403);
}

/// Edit user's Submit is one change: adding a role while unticking the access
/// of the provider's only Portal Administrator is refused whole (409), the
/// page says why, and the roles are as before.
async fn edit_user_submit_with_a_role_and_disabling_the_last_portal_admin_changes_nothing(
    app: TestApp,
) {
    let only_pa = app
        .user("10000125", "only@one.example.ac.uk", &["portal-admin"])
        .await;
    let ra = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let id = app.user_record(&only_pa).await.id;
    let mut b = page_sign_in(&app, &ra).await;
    let edit = b.get(&format!("/users/{id}")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    // The final role set with HESES added, and no access_enabled field (unticked).
    let r = b
        .submit(
            &format!("/users/{id}"),
            &[
                ("role", "portal-admin"),
                ("role", "data-collection-contributor:heses"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("at least one Portal Administrator"));
    assert_eq!(app.snapshot().await, before, "nothing changed");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "one audit row");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    let roles = app.store().user_roles(id).await.unwrap();
    let ids: Vec<String> = roles.iter().map(|g| g.role.id()).collect();
    assert_eq!(ids, ["portal-admin"]);
}
