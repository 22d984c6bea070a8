//! The regulator's side (issue 15, items 8 and 9): changing a provider and its
//! accountable officer, resending an invitation to someone who has never
//! signed in, the regulator's own Feedback page, and the notices a data
//! collection needs (a window's opening to contributors, a submission to the
//! officers). Every refusal changes nothing and is audited once.

use std::sync::Arc;

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::{Browser, TestApp};
use time::Duration;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_regulator_administrator_changes_a_provider_and_its_accountable_officer,
    only_regulator_administrators_change_a_provider,
    an_invitation_is_resent_only_to_someone_who_never_signed_in_and_a_few_times_a_day,
    attackers_cannot_resend_an_invitation,
    regulator_administrators_read_feedback_with_its_sender_on_a_page_of_their_own,
    contributors_are_told_once_when_a_window_opens_even_by_two_replicas,
    the_officers_of_a_return_are_told_once_when_a_provider_submits,
    the_api_changes_a_provider_and_resends_an_invitation_by_the_same_rules,
    benchmark_data_leaves_no_window_waiting_for_its_opening_notice,
    a_window_moved_to_open_later_is_announced_again_when_it_opens,
    two_api_changes_to_different_fields_of_a_provider_both_hold,
    administrators_are_told_a_sensitive_areas_role_comes_only_with_an_access_key,
);

/// The targets of an error summary's links, in order.
fn summary_links(body: &str) -> Vec<String> {
    let start = body.find("govuk-error-summary").expect("an error summary");
    let end = start + body[start..].find("</ul>").unwrap();
    body[start..end]
        .split("href=\"#")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// Adds a provider through the regulator's page; its id.
async fn add_provider(b: &mut Browser, name: &str, ukprn: &str, officer: (&str, &str)) -> String {
    b.get("/organisations/add").await;
    let r = b
        .submit(
            "/organisations/add",
            &[
                ("name", name),
                ("ukprn", ukprn),
                ("accountable_officer_name", officer.0),
                ("accountable_officer_email", officer.1),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.location().unwrap();
    at.trim_start_matches("/organisations/")
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// A request that must be refused with `status`: nothing changes, and exactly
/// one audit row, a refusal, records it. The answer's body.
async fn refused(
    app: &TestApp,
    b: &mut Browser,
    path: &str,
    form: Option<&[(&str, &str)]>,
    status: u16,
) -> String {
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = match form {
        Some(fields) => b.submit(path, fields).await,
        None => b.get(path).await,
    };
    assert_eq!(r.status, status, "{path}: {}", r.body);
    assert_eq!(app.snapshot().await, before, "{path} changed something");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{path}: {rows:?}");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused, "{path}");
    r.body
}

async fn a_regulator_administrator_changes_a_provider_and_its_accountable_officer(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let mut b = page_sign_in(&app, &admin).await;
    let org = add_provider(
        &mut b,
        "University of Wessex",
        "10000151",
        ("Prof Vee Chancellor", "vc@wessex.example.ac.uk"),
    )
    .await;
    add_provider(
        &mut b,
        "Mercia College",
        "10000152",
        ("Dr Mo Mercia", "mo@mercia.example.ac.uk"),
    )
    .await;
    let page = format!("/organisations/{org}");
    let edit = format!("/organisations/{org}/edit");
    let shown = b.get(&page).await;
    for field in ["name", "ukprn", "accountable_officer_email"] {
        assert!(
            shown.body.contains(&format!("href=\"{edit}#{field}\"")),
            "{field}: {}",
            shown.body
        );
    }
    let form = b.get(&edit).await;
    assert_eq!(form.status, 200);
    for value in [
        "University of Wessex",
        "10000151",
        "Prof Vee Chancellor",
        "vc@wessex.example.ac.uk",
    ] {
        assert!(form.body.contains(&format!("value=\"{value}\"")), "{value}");
    }

    // Every problem at once, listed in the order of the fields; nothing changes.
    let bad = [
        ("name", ""),
        ("ukprn", "1000015"),
        ("accountable_officer_name", ""),
        ("accountable_officer_email", "not an address"),
    ];
    let body = refused(&app, &mut b, &edit, Some(&bad), 400).await;
    assert_eq!(
        summary_links(&body),
        [
            "name",
            "ukprn",
            "accountable_officer_name",
            "accountable_officer_email"
        ]
    );
    assert!(body.contains("value=\"not an address\""));
    assert!(body.contains("<title>Error: Change University of Wessex"));
    // Another provider's UKPRN is said on its field.
    b.get(&edit).await;
    let taken = [
        ("name", "University of Wessex"),
        ("ukprn", "10000152"),
        ("accountable_officer_name", "Prof Vee Chancellor"),
        ("accountable_officer_email", "vc@wessex.example.ac.uk"),
    ];
    let body = refused(&app, &mut b, &edit, Some(&taken), 400).await;
    assert_eq!(summary_links(&body), ["ukprn"]);
    assert!(body.contains("already exists"), "{body}");

    // A new name and a new accountable officer, in one change.
    b.get(&edit).await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            &edit,
            &[
                ("name", "Wessex University"),
                ("ukprn", "10000151"),
                ("accountable_officer_name", "Dr Nia Newhead"),
                ("accountable_officer_email", "nia@wessex.example.ac.uk"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some(format!("{page}?changed=1").as_str()));
    let shown = b.get(r.location().unwrap()).await;
    assert!(
        shown
            .body
            .contains("Wessex University’s details have been changed"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Dr Nia Newhead"));
    // The new officer has no account yet: the invitation is ready for them.
    assert!(shown.body.contains("value=\"nia@wessex.example.ac.uk\""));
    let rows = app.audit_since(seq).await;
    let update: Vec<_> = rows
        .iter()
        .filter(|r| r.entry.action == "organisations.update")
        .collect();
    assert_eq!(update.len(), 1, "{rows:?}");
    assert_eq!(update[0].entry.outcome, Outcome::Success);
    assert_eq!(update[0].entry.target.as_deref(), Some(org.as_str()));
    assert_eq!(
        update[0].entry.detail,
        "name: University of Wessex -> Wessex University; accountable officer: \
         Prof Vee Chancellor <vc@wessex.example.ac.uk> -> Dr Nia Newhead <nia@wessex.example.ac.uk>"
    );
    // The address that loses the role is told, and the one that gains it.
    app.deliver_mail().await;
    let old = app.mailer.sent_to("vc@wessex.example.ac.uk");
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(
        old[0].subject,
        "You are no longer University of Wessex's accountable officer on Provider Portal"
    );
    assert!(old[0].body.contains("1 September 2026 at 10am (UK time)"));
    let new = app.mailer.sent_to("nia@wessex.example.ac.uk");
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(
        new[0]
            .subject
            .starts_with("You are now Wessex University's")
    );
    // No invitation is sent by itself: the email does not promise one.
    assert!(
        !new[0].body.contains("separate invitation") && new[0].body.contains("can invite you"),
        "{}",
        new[0].body
    );

    // A change of name alone tells nobody.
    let sent = app.mailer.count();
    b.get(&edit).await;
    let r = b
        .submit(
            &edit,
            &[
                ("name", "Wessex University Trust"),
                ("ukprn", "10000151"),
                ("accountable_officer_name", "Dr Nia Newhead"),
                ("accountable_officer_email", "NIA@wessex.example.ac.uk"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), sent);
    let o = app
        .portal
        .app
        .organisation(org.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.name, "Wessex University Trust");
    assert_eq!(
        o.accountable_officer_email.unwrap().as_str(),
        "NIA@wessex.example.ac.uk"
    );
}

async fn only_regulator_administrators_change_a_provider(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let mut b = page_sign_in(&app, &admin).await;
    let org = add_provider(
        &mut b,
        "University of Wessex",
        "10000153",
        ("Prof Vee Chancellor", "vc@wessex.example.ac.uk"),
    )
    .await;
    let own_pa = app
        .user("10000153", "pa@wessex.example.ac.uk", &["portal-admin"])
        .await;
    let other_pa = app
        .user("10000154", "pa@mercia.example.ac.uk", &["portal-admin"])
        .await;
    let edit = format!("/organisations/{org}/edit");
    let change = [
        ("name", "Taken Over"),
        ("ukprn", "10000153"),
        ("accountable_officer_name", "Mallory"),
        ("accountable_officer_email", "mallory@evil.example"),
    ];
    for who in [&own_pa, &officer] {
        let mut x = page_sign_in(&app, who).await;
        let body = refused(&app, &mut x, &edit, None, 403).await;
        assert!(
            body.contains("Only the regulator")
                && body.contains("administrators manage organisations"),
            "{who}: {body}"
        );
        x.get("/home").await;
        refused(&app, &mut x, &edit, Some(&change), 403).await;
        // Nor is the page they see offering to.
        assert!(!x.get("/home").await.body.contains(&edit));
    }
    // Another provider's user is not told the organisation exists: it is
    // refused exactly as one that does not exist.
    let missing = "/organisations/00000000-0000-4000-8000-000000000000/edit";
    let mut x = page_sign_in(&app, &other_pa).await;
    for path in [edit.as_str(), missing] {
        let body = refused(&app, &mut x, path, None, 404).await;
        assert!(!body.contains("University of Wessex"), "{body}");
        x.get("/home").await;
        refused(&app, &mut x, path, Some(&change), 404).await;
    }
    assert!(!x.get("/home").await.body.contains(&edit));
    // The regulator's own record is not a provider's.
    let regulator = app.user_record(&admin).await.organisation_id;
    let own = format!("/organisations/{regulator}/edit");
    let body = refused(&app, &mut b, &own, None, 403).await;
    assert!(body.contains("Only a provider"), "{body}");
    b.get("/home").await;
    refused(&app, &mut b, &own, Some(&change), 403).await;
    // Nothing of the attempts reached the record or anyone's mailbox.
    let o = app
        .portal
        .app
        .organisation(org.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.name, "University of Wessex");
    app.deliver_mail().await;
    assert!(app.mailer.sent_to("mallory@evil.example").is_empty());
}

async fn an_invitation_is_resent_only_to_someone_who_never_signed_in_and_a_few_times_a_day(
    app: TestApp,
) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let pa = app
        .user("10000161", "pa@res.example.ac.uk", &["portal-admin"])
        .await;
    drop(page_sign_in(&app, &pa).await);
    let newbie = app
        .user(
            "10000161",
            "new@res.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let off = app
        .user(
            "10000161",
            "off@res.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email = 'off@res.example.ac.uk'")
        .await;
    let org = app.user_record(&pa).await.organisation_id;
    let (pa_id, new_id, off_id) = (
        app.user_record(&pa).await.id,
        app.user_record(&newbie).await.id,
        app.user_record(&off).await.id,
    );
    let page = format!("/organisations/{org}");
    let resend = format!("{page}/resend-invitation");
    let mut b = page_sign_in(&app, &admin).await;
    let shown = b.get(&page).await;
    // Offered for the one who never signed in and could; why not, for the other.
    assert!(shown.body.contains(&format!("id=\"resend-{new_id}\"")));
    assert!(!shown.body.contains(&format!("id=\"resend-{pa_id}\"")));
    assert!(!shown.body.contains(&format!("id=\"resend-{off_id}\"")));
    assert!(shown.body.contains("Their access is disabled"));
    let welcome = |app: &TestApp| {
        app.mailer
            .sent_to(&newbie)
            .iter()
            .filter(|m| m.subject == "You have a Provider Portal account")
            .count()
    };
    assert_eq!(welcome(&app), 1);

    let seq = app.last_audit_seq().await;
    let r = b.submit(&resend, &[("user_id", &new_id.to_string())]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let back = b.get(r.location().unwrap()).await;
    assert!(
        back.body
            .contains("We have sent Test Person their invitation again."),
        "{}",
        back.body
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].entry.action, "users.invitation_resent");
    assert_eq!(rows[0].entry.outcome, Outcome::Success);
    assert_eq!(rows[0].entry.target, Some(new_id.to_string()));
    app.deliver_mail().await;
    assert_eq!(welcome(&app), 2);

    // Someone who has signed in, or could not: refused, saying why.
    let body = refused(
        &app,
        &mut b,
        &resend,
        Some(&[("user_id", &pa_id.to_string())]),
        403,
    )
    .await;
    assert!(body.contains("They have already signed in"), "{body}");
    assert!(body.contains(&format!("href=\"#member-{pa_id}\"")));
    // Someone not on the page shown: said, but with no link to a missing row.
    let away = app
        .user("10000162", "pa@away.example.ac.uk", &["portal-admin"])
        .await;
    drop(page_sign_in(&app, &away).await);
    let away_id = app.user_record(&away).await.id;
    let body = refused(
        &app,
        &mut b,
        &resend,
        Some(&[("user_id", &away_id.to_string())]),
        403,
    )
    .await;
    assert!(body.contains("They have already signed in"), "{body}");
    assert!(!body.contains(&format!("#member-{away_id}")), "{body}");
    let body = refused(
        &app,
        &mut b,
        &resend,
        Some(&[("user_id", &off_id.to_string())]),
        403,
    )
    .await;
    assert!(body.contains("Their access is disabled"), "{body}");

    // Three a day: two more go, the fourth waits for the next day.
    for _ in 0..2 {
        let r = b.submit(&resend, &[("user_id", &new_id.to_string())]).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let body = refused(
        &app,
        &mut b,
        &resend,
        Some(&[("user_id", &new_id.to_string())]),
        429,
    )
    .await;
    assert!(
        body.contains("3 times in 24 hours")
            && body.contains("again from 2 September 2026 at 10am"),
        "{body}"
    );
    app.deliver_mail().await;
    assert_eq!(welcome(&app), 4);
    app.clock.advance(Duration::hours(24));
    let mut b = page_sign_in(&app, &admin).await;
    b.get(&page).await;
    let r = b.submit(&resend, &[("user_id", &new_id.to_string())]).await;
    assert_eq!(
        r.location(),
        Some(format!("{page}?resent={new_id}").as_str())
    );
    assert!(
        b.get(r.location().unwrap())
            .await
            .body
            .contains("We have sent Test Person their invitation again")
    );
    // The banner's name comes from the record: a link's own words, or
    // someone of another organisation, show none.
    let crafted = b
        .get(&format!("{page}?resent=Your+account+is+closed"))
        .await;
    assert!(!crafted.body.contains("Your account is closed"));
    assert!(!crafted.body.contains("their invitation again"));
    let elsewhere = app
        .user("10000299", "else@else.example.ac.uk", &["portal-admin"])
        .await;
    let elsewhere = app.user_record(&elsewhere).await.id;
    let other = b.get(&format!("{page}?resent={elsewhere}")).await;
    assert!(!other.body.contains("their invitation again"));
    app.deliver_mail().await;
    assert_eq!(welcome(&app), 5);
    // Once they have signed in, it is no longer offered.
    drop(page_sign_in(&app, &newbie).await);
    assert!(
        !b.get(&page)
            .await
            .body
            .contains(&format!("id=\"resend-{new_id}\""))
    );
}

async fn attackers_cannot_resend_an_invitation(app: TestApp) {
    let pa = app
        .user("10000171", "pa@a.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000171",
            "dpa@a.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let contributor = app
        .user(
            "10000171",
            "c@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let new_admin = app
        .user("10000171", "newpa@a.example.ac.uk", &["portal-admin"])
        .await;
    let newbie = app
        .user(
            "10000171",
            "new@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let other_pa = app
        .user("10000172", "pa@b.example.ac.uk", &["portal-admin"])
        .await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let (new_id, new_admin_id) = (
        app.user_record(&newbie).await.id,
        app.user_record(&new_admin).await.id,
    );
    let for_user = |id: domain::UserId| format!("/users/{id}/resend-invitation");
    for (who, target, status) in [
        (&contributor, new_id, 403),
        (&other_pa, new_id, 404),
        (&officer, new_id, 404),
        (&dpa, new_admin_id, 403),
    ] {
        let mut x = page_sign_in(&app, who).await;
        x.get("/home").await;
        refused(&app, &mut x, &for_user(target), Some(&[]), status).await;
        // The regulator's route is no way round.
        let org = app.user_record(&newbie).await.organisation_id;
        x.get("/home").await;
        refused(
            &app,
            &mut x,
            &format!("/organisations/{org}/resend-invitation"),
            Some(&[("user_id", &target.to_string())]),
            status,
        )
        .await;
    }
    // What a provider's administrators may do: their own people who never
    // signed in, a delegate only those who are not administrators.
    for who in [&pa, &dpa] {
        let mut x = page_sign_in(&app, who).await;
        // Edit user offers it, from the same decision.
        let edit = x.get(&format!("/users/{new_id}")).await;
        assert!(
            edit.body
                .contains(&format!("action=\"{}\"", for_user(new_id))),
            "{}",
            edit.body
        );
        let r = x.submit(&for_user(new_id), &[]).await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(
            r.location(),
            Some(format!("/users/{new_id}?resent=1").as_str())
        );
        let back = x.get(r.location().unwrap()).await;
        assert!(back.body.contains("We have sent their invitation again."));
        // Not for someone who has signed in (they have), nor, for a
        // delegate, an administrator.
        let own = app.user_record(who).await.id;
        let pa_page = x.get(&format!("/users/{own}")).await;
        assert!(!pa_page.body.contains("resend-invitation"));
    }
    let mut x = page_sign_in(&app, &dpa).await;
    let admin_page = x.get(&format!("/users/{new_admin_id}")).await;
    assert_eq!(admin_page.status, 200);
    assert!(!admin_page.body.contains("resend-invitation"));
    app.deliver_mail().await;
    let welcomes = app
        .mailer
        .sent_to(&newbie)
        .iter()
        .filter(|m| m.subject == "You have a Provider Portal account")
        .count();
    assert_eq!(welcomes, 3);
    assert_eq!(app.mailer.sent_to(&new_admin).len(), 1);
}

async fn regulator_administrators_read_feedback_with_its_sender_on_a_page_of_their_own(
    app: TestApp,
) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let pa = app
        .user("10000181", "ann@f.example.ac.uk", &["portal-admin"])
        .await;
    let mut p = page_sign_in(&app, &pa).await;
    p.get("/feedback").await;
    let r = p
        .submit("/feedback", &[("feedback", "The upload page is slow.")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    let mut r = page_sign_in(&app, &admin).await;
    let home = r.get("/home").await;
    assert!(home.body.contains("href=\"/feedback/received\""));
    // The form is only a form, for the regulator too.
    let form = r.get("/feedback").await;
    assert_eq!(form.status, 200);
    assert!(
        !form.body.contains("The upload page is slow."),
        "{}",
        form.body
    );
    let inbox = r.get("/feedback/received").await;
    assert_eq!(inbox.status, 200);
    for shown in [
        "Test Person",
        "ann@f.example.ac.uk",
        "Provider 10000181",
        "1 September 2026 at 10am",
        "The upload page is slow.",
        "aria-current=\"page\"",
    ] {
        assert!(inbox.body.contains(shown), "{shown}: {}", inbox.body);
    }

    // Nobody else reads it, nor is offered it.
    assert!(!p.get("/home").await.body.contains("/feedback/received"));
    refused(&app, &mut p, "/feedback/received", None, 403).await;
    let mut o = page_sign_in(&app, &officer).await;
    assert!(!o.get("/home").await.body.contains("/feedback/received"));
    refused(&app, &mut o, "/feedback/received", None, 403).await;

    // A page at a time, numbered.
    p.get("/feedback").await;
    for i in 0..30 {
        // One a second: the newest first is then their order.
        app.clock.advance(Duration::seconds(1));
        let text = format!("Idea number {i}");
        let r = p.submit("/feedback", &[("feedback", &text)]).await;
        assert_eq!(r.status, 303);
    }
    let cards = |body: &str| body.matches("class=\"govuk-summary-card\"").count();
    let first = r.get("/feedback/received").await;
    assert_eq!(cards(&first.body), 25);
    assert!(first.body.contains("31 messages"));
    assert!(first.body.contains("href=\"/feedback/received?page=2\""));
    assert!(first.body.contains("Idea number 29"));
    let second = r.get("/feedback/received?page=2").await;
    assert_eq!(cards(&second.body), 6);
    assert!(second.body.contains("The upload page is slow."));
    // Past the end: the last page, not "no feedback yet".
    let beyond = r.get("/feedback/received?page=99").await;
    assert_eq!(beyond.status, 303);
    assert_eq!(beyond.location(), Some("/feedback/received?page=2"));
}

/// A HESES window named `name`, from `opens` to `closes` hours from now; its id.
async fn window(app: &TestApp, admin: &str, name: &str, opens: i64, closes: i64) -> String {
    let at = |h: i64| {
        app.clock
            .now_plus(Duration::hours(h))
            .format(&Rfc3339)
            .unwrap()
    };
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(admin),
            Some(json!({"area": "heses", "name": name, "opens_at": at(opens),
                "closes_at": at(closes), "guidance": "", "file_types": ["csv"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A second portal on the same database: another replica.
async fn second_replica(app: &TestApp) -> server::Portal {
    let store = Arc::new(app.db.another_store().await);
    server::open_audit_chain(&store, &app.config).await.unwrap();
    let files = server::storage::file_store(&app.config).unwrap();
    server::Portal::assemble_with_files(
        &app.config,
        store,
        app.clock.clone(),
        app.mailer.clone(),
        files,
    )
    .unwrap()
}

async fn contributors_are_told_once_when_a_window_opens_even_by_two_replicas(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let heses = &["data-collection-contributor:heses"];
    let prevent = &["data-collection-contributor:prevent"];
    // Provider A: HESES contributors (one disabled), another return's, and
    // its Portal Administrator; provider B: nobody with the HESES role.
    let hana = app.user("10000191", "hana@a.example.ac.uk", heses).await;
    let hal = app.user("10000191", "hal@a.example.ac.uk", heses).await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email = 'hal@a.example.ac.uk'")
        .await;
    let priya = app.user("10000191", "priya@a.example.ac.uk", prevent).await;
    let ada = app
        .user("10000191", "ada@a.example.ac.uk", &["portal-admin"])
        .await;
    let bea = app
        .user("10000192", "bea@b.example.ac.uk", &["portal-admin"])
        .await;
    let bob = app.user("10000192", "bob@b.example.ac.uk", prevent).await;
    let token = app.api_sign_in(&admin).await;
    let sent = app.mailer.count();
    let id = window(&app, &token, "HESES 2026-27", 24, 24 * 30).await;

    // Not before it opens.
    let jobs = &app.portal.app;
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), sent);

    // Two replicas run the job at the same moment: the window is announced once.
    app.clock.advance(Duration::hours(25));
    let other = second_replica(&app).await;
    let (a, b) = tokio::join!(
        jobs.announce_opened_windows(),
        other.app.announce_opened_windows()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 0);
    assert_eq!(other.app.announce_opened_windows().await.unwrap(), 0);
    app.deliver_mail().await;
    let opened = |email: &str| {
        app.mailer
            .sent_to(email)
            .into_iter()
            .filter(|m| m.subject == "HESES 2026-27 is open for your return")
            .collect::<Vec<_>>()
    };
    assert_eq!(opened(&hana).len(), 1);
    assert_eq!(opened(&bea).len(), 1);
    for nobody in [&hal, &priya, &ada, &bob, &officer, &admin] {
        assert!(opened(nobody).is_empty(), "{nobody} was told");
    }
    let to_hana = &opened(&hana)[0].body;
    assert!(
        to_hana.contains("Provider 10000191's return")
            && to_hana.contains("It closes on 1 October 2026 at 10am (UK time)")
            && to_hana.contains("you are a Data collection contributor - HESES"),
        "{to_hana}"
    );
    assert!(
        opened(&bea)[0]
            .body
            .contains("Portal Administrator of Provider 10000192, and nobody there"),
        "{}",
        opened(&bea)[0].body
    );
    let notices: Vec<_> = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.entry.action == "windows.opened_notice")
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].entry.target.as_deref(), Some(id.as_str()));

    // A window opened at once is announced at the next round; one closed
    // before it opened, never.
    let token = app.api_sign_in(&admin).await;
    window(&app, &token, "HESES extra", -1, 48).await;
    let early = window(&app, &token, "HESES early close", 2, 48).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/collections/{early}/close"),
            Some(&token),
            None,
        )
        .await;
    assert!(status < 300, "{status}");
    app.clock.advance(Duration::hours(3));
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 1);
    app.deliver_mail().await;
    let subjects: Vec<String> = app
        .mailer
        .sent_to(&hana)
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| s.contains(" is open for your return"))
        .collect();
    assert_eq!(
        subjects,
        [
            "HESES 2026-27 is open for your return",
            "HESES extra is open for your return"
        ]
    );
}

async fn the_officers_of_a_return_are_told_once_when_a_provider_submits(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let oscar = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let olga = app
        .regulator_user("olga@ofs.example.org", &["regulator-officer:heses"])
        .await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email = 'olga@ofs.example.org'")
        .await;
    let pat = app
        .regulator_user("pat@ofs.example.org", &["regulator-officer:prevent"])
        .await;
    let hana = app
        .user(
            "10000201",
            "hana@s.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let token = app.api_sign_in(&admin).await;
    let id = window(&app, &token, "HESES 2026-27", -1, 48).await;
    app.portal.app.announce_opened_windows().await.unwrap();
    app.deliver_mail().await;
    let hana_token = app.api_sign_in(&hana).await;
    let upload = async || -> Value {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"ukprn,students\n10000201,12\n".to_vec())
                .file_name("heses.csv"),
        );
        let r = app
            .client()
            .post(app.url(&format!("/api/v1/collections/{id}/submissions")))
            .bearer_auth(&hana_token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    };
    let first = upload().await;
    assert_eq!(first["status"], "submitted");
    app.deliver_mail().await;
    let to_review = |email: &str| {
        app.mailer
            .sent_to(email)
            .into_iter()
            .filter(|m| m.subject == "Provider 10000201 has submitted its return to HESES 2026-27")
            .collect::<Vec<_>>()
    };
    let told = to_review(&oscar);
    assert_eq!(told.len(), 1);
    assert!(
        told[0].body.contains("submitted version 1")
            && told[0].body.contains(&format!("/collections/{id}"))
            && told[0].body.contains("1 September 2026 at 10am (UK time)"),
        "{}",
        told[0].body
    );
    for nobody in [&olga, &pat, &admin, &hana] {
        assert!(to_review(nobody).is_empty(), "{nobody} was told");
    }
    // Each submission once.
    upload().await;
    app.deliver_mail().await;
    assert_eq!(to_review(&oscar).len(), 2);
}

async fn the_api_changes_a_provider_and_resends_an_invitation_by_the_same_rules(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let pa = app
        .user("10000211", "pa@api.example.ac.uk", &["portal-admin"])
        .await;
    let newbie = app
        .user(
            "10000211",
            "new@api.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let other = app
        .user("10000212", "pa@other.example.ac.uk", &["portal-admin"])
        .await;
    let org = app.user_record(&pa).await.organisation_id;
    let new_id = app.user_record(&newbie).await.id;
    let (admin_t, pa_t, other_t) = (
        app.api_sign_in(&admin).await,
        app.api_sign_in(&pa).await,
        app.api_sign_in(&other).await,
    );
    let path = format!("/api/v1/organisations/{org}");
    // A provider's administrator cannot change their own provider's record;
    // another provider's is, to them, as one that does not exist.
    app.refused(
        "PATCH",
        &path,
        Some(&pa_t),
        Some(json!({"name": "Renamed"})),
        403,
    )
    .await;
    let missing = "/api/v1/organisations/00000000-0000-4000-8000-000000000000";
    for p in [path.as_str(), missing] {
        app.refused(
            "PATCH",
            p,
            Some(&other_t),
            Some(json!({"name": "Renamed"})),
            404,
        )
        .await;
    }
    app.refused(
        "PATCH",
        &path,
        Some(&admin_t),
        Some(json!({"name": "Renamed", "kind": "regulator"})),
        400,
    )
    .await;
    let answer = app
        .refused(
            "PATCH",
            &path,
            Some(&admin_t),
            Some(json!({"accountable_officer_email": "vc@api.example.ac.uk"})),
            400,
        )
        .await;
    assert_eq!(
        answer["fields"]["accountable_officer_name"],
        "Enter the accountable officer's name"
    );
    let (status, body) = app
        .call(
            "PATCH",
            &path,
            Some(&admin_t),
            Some(
                json!({"name": "Renamed University", "accountable_officer_name": "Vee",
                "accountable_officer_email": "vc@api.example.ac.uk"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Renamed University");
    assert_eq!(body["ukprn"], "10000211");
    assert_eq!(body["accountable_officer_email"], "vc@api.example.ac.uk");

    // Resending: another provider's administrator finds no such person.
    let resend = format!("/api/v1/users/{new_id}/resend-invitation");
    app.refused("POST", &resend, Some(&other_t), None, 404)
        .await;
    let pa_id = app.user_record(&pa).await.id;
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/users/{pa_id}/resend-invitation"),
            Some(&admin_t),
            None,
            403,
        )
        .await;
    assert_eq!(
        answer["message"],
        "They have already signed in, so there is no invitation to resend"
    );
    for _ in 0..3 {
        let (status, _) = app.call("POST", &resend, Some(&pa_t), None).await;
        assert_eq!(status, 204);
    }
    app.refused("POST", &resend, Some(&admin_t), None, 429)
        .await;
    app.deliver_mail().await;
    let welcomes = app
        .mailer
        .sent_to(&newbie)
        .iter()
        .filter(|m| m.subject == "You have a Provider Portal account")
        .count();
    assert_eq!(welcomes, 4);
}

/// `portal bench-data` opens its windows a fortnight before "now": they were
/// announced then, so the worker emails nobody during the benchmark.
async fn benchmark_data_leaves_no_window_waiting_for_its_opening_notice(app: TestApp) {
    let scale = app::bench_data::Scale {
        providers: 3,
        users: 12,
        sessions: 4,
        audit_events: 12,
        seed: 7,
    };
    app.portal
        .app
        .generate_bench_data(&scale, &app::legacy_import::NoProgress)
        .await
        .unwrap();
    let now = app.clock.now_plus(Duration::ZERO);
    assert!(!app.store().window_awaiting_notice(now).await.unwrap());
    // (What the data itself queued goes first.)
    app.deliver_mail().await;
    let sent = app.mailer.count();
    assert_eq!(app.portal.app.announce_opened_windows().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(app.mailer.count(), sent);
}

/// A window announced and then moved to open later is announced again when
/// it opens (its mark is cleared in the change that moves it).
async fn a_window_moved_to_open_later_is_announced_again_when_it_opens(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let hana = app
        .user(
            "10000191",
            "hana@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let token = app.api_sign_in(&admin).await;
    let id = window(&app, &token, "HESES 2026-27", 0, 24 * 30).await;
    let jobs = &app.portal.app;
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 1);
    // Moved to open in a day's time, then that day passes.
    let at = |h: i64| {
        app.clock
            .now_plus(Duration::hours(h))
            .format(&Rfc3339)
            .unwrap()
    };
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/collections/{id}"),
            Some(&token),
            Some(
                json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(24),
                "closes_at": at(24 * 30), "guidance": "", "file_types": ["csv"]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 0);
    app.clock.advance(Duration::hours(25));
    assert_eq!(jobs.announce_opened_windows().await.unwrap(), 1);
    app.deliver_mail().await;
    let told = app
        .mailer
        .sent_to(&hana)
        .into_iter()
        .filter(|m| m.subject == "HESES 2026-27 is open for your return")
        .count();
    assert_eq!(told, 2);
}

/// Two changes to different fields of the same provider, at once: each fills
/// what it leaves out from the record as it is when locked, so neither
/// reverts the other.
async fn two_api_changes_to_different_fields_of_a_provider_both_hold(app: TestApp) {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let pa = app
        .user("10000221", "pa@race.example.ac.uk", &["portal-admin"])
        .await;
    let org = app.user_record(&pa).await.organisation_id;
    let token = app.api_sign_in(&admin).await;
    let path = format!("/api/v1/organisations/{org}");
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app.call(
                "PATCH",
                &path,
                Some(&token),
                Some(json!({"name": "Race University"}))
            ),
            app.call(
                "PATCH",
                &path,
                Some(&token),
                Some(json!({"accountable_officer_name": "Vee", "accountable_officer_email": "vc@race.example.ac.uk"}))
            ),
        );
        assert_eq!(a.0, 200, "{}", a.1);
        assert_eq!(b.0, 200, "{}", b.1);
        let o = app.portal.app.organisation(org).await.unwrap().unwrap();
        assert_eq!(o.name, "Race University");
        assert_eq!(
            o.accountable_officer_email
                .map(|e| e.to_string())
                .as_deref(),
            Some("vc@race.example.ac.uk")
        );
        // Back as it was, for the next round.
        let (status, body) = app
            .call(
                "PATCH",
                &path,
                Some(&token),
                Some(json!({"name": "Old Name", "accountable_officer_name": "", "accountable_officer_email": ""})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // The officer's address was told each time it was recorded and dropped.
    app.deliver_mail().await;
    assert_eq!(app.mailer.sent_to("vc@race.example.ac.uk").len(), 6);
}

/// Where nobody at a provider has the role, its Portal Administrators are
/// told; for a sensitive area, that the role comes only with an access key
/// (PRODUCT §2 rule 5), not that they can give it.
async fn administrators_are_told_a_sensitive_areas_role_comes_only_with_an_access_key(
    app: TestApp,
) {
    app.sql("UPDATE areas SET sensitive = TRUE WHERE slug = 'heses'")
        .await;
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let bea = app
        .user("10000192", "bea@b.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&admin).await;
    window(&app, &token, "HESES 2026-27", 0, 24 * 30).await;
    assert_eq!(app.portal.app.announce_opened_windows().await.unwrap(), 1);
    app.deliver_mail().await;
    let told: Vec<_> = app
        .mailer
        .sent_to(&bea)
        .into_iter()
        .filter(|m| m.subject == "HESES 2026-27 is open for your return")
        .collect();
    assert_eq!(told.len(), 1);
    assert!(
        told[0].body.contains("access key") && !told[0].body.contains("User management"),
        "{}",
        told[0].body
    );
}
