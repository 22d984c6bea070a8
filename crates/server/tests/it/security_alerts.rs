//! Security alerts (PRODUCT §8, issue 13): a provider's Portal Administrators
//! are emailed, through the outbox and in the change's own transaction, when
//! an administrator role is given or removed there, an access key is activated
//! there, or a user's email address changes; the old address is told too.

use serde_json::{Value, json};
use server::Config;
use store::OutboxMessage;
use testkit::{Backend, TestApp};

use crate::attacks::page_sign_in;
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(
    granting_portal_admin_emails_every_portal_admin_of_that_provider_and_no_other,
    removing_delegated_emails_the_portal_admins,
    a_portal_admin_who_loses_the_role_is_told_once_at_their_own_address,
    activating_an_access_key_emails_the_portal_admins,
    an_email_change_tells_the_old_address_the_new_address_and_the_admins,
    a_refused_grant_sends_no_alert,
    a_change_that_rolls_back_sends_no_alert,
    a_new_user_made_portal_admin_is_announced_to_the_admins,
    a_regulator_administrators_change_names_the_regulator,
    other_role_and_detail_changes_send_no_alert;
    raw:
    registering_with_an_access_key_emails_the_portal_admins,
);

const A: &str = "10000131";
const B: &str = "10000132";
/// The test clock's time (2026-09-01 09:00 UTC), in British Summer Time.
const WHEN: &str = "1 September 2026 at 10am (UK time)";

/// Security alerts sent so far to `to`.
fn alerts(app: &TestApp, to: &str) -> Vec<OutboxMessage> {
    app.mailer
        .sent_to(to)
        .into_iter()
        .filter(|m| m.subject.starts_with("Security alert:"))
        .collect()
}

/// Every security alert sent so far, to anyone.
fn all_alerts(app: &TestApp) -> Vec<OutboxMessage> {
    let sent = app.mailer.sent.lock().unwrap();
    sent.iter()
        .filter(|m| m.subject.starts_with("Security alert:"))
        .cloned()
        .collect()
}

/// Provider A with three Portal Administrators and a colleague, provider B with
/// one Portal Administrator. Mail from setting it up is delivered.
async fn two_providers(app: &TestApp) -> [String; 5] {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let a2 = app.user(A, "pa2@a.example.ac.uk", &["portal-admin"]).await;
    let a3 = app.user(A, "pa3@a.example.ac.uk", &["portal-admin"]).await;
    let colleague = app.user(A, "colleague@a.example.ac.uk", &[]).await;
    let b1 = app.user(B, "pa@b.example.ac.uk", &["portal-admin"]).await;
    [a1, a2, a3, colleague, b1]
}

async fn put_roles(app: &TestApp, token: &str, email: &str, roles: &[&str]) -> (u16, Value) {
    let id = app.user_record(email).await.id;
    app.call(
        "PUT",
        &format!("/api/v1/users/{id}/roles"),
        Some(token),
        Some(json!({ "roles": roles })),
    )
    .await
}

async fn granting_portal_admin_emails_every_portal_admin_of_that_provider_and_no_other(
    app: TestApp,
) {
    let [a1, a2, a3, colleague, b1] = two_providers(&app).await;
    let token = app.api_sign_in(&a1).await;
    let before = all_alerts(&app).len();
    let (status, body) = put_roles(&app, &token, &colleague, &["portal-admin"]).await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let new: Vec<OutboxMessage> = all_alerts(&app).into_iter().skip(before).collect();
    assert_eq!(
        new.len(),
        3,
        "one alert to each of A's three administrators"
    );
    for pa in [&a1, &a2, &a3] {
        let got: Vec<_> = new.iter().filter(|m| &m.to == pa).collect();
        assert_eq!(got.len(), 1, "{pa} is alerted once");
        let m = got[0];
        assert_eq!(
            m.subject,
            "Security alert: administrator role changed at Provider 10000131"
        );
        assert!(
            m.body.contains(&format!(
                "Test Person changed the account of Test Person (colleague@a.example.ac.uk) on {WHEN}:"
            )),
            "{}",
            m.body
        );
        assert!(m.body.contains("  - Role given: Portal Administrator\n"));
        assert!(m.body.contains("portal@officeforstudents.org.uk"));
    }
    assert!(
        alerts(&app, &b1).is_empty(),
        "another provider hears nothing"
    );
    // The new administrator hears of it in their own email, not as an alert.
    assert!(alerts(&app, &colleague).is_empty());
    assert!(app.mailer.sent_to(&colleague).iter().any(|m| {
        m.subject == "Your Provider Portal account has changed"
            && m.body.contains("Role added: Portal Administrator")
    }));
}

async fn removing_delegated_emails_the_portal_admins(app: TestApp) {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let a2 = app.user(A, "pa2@a.example.ac.uk", &["portal-admin"]).await;
    let delegated = app
        .user(A, "delegated@a.example.ac.uk", &["delegated-portal-admin"])
        .await;
    let b1 = app.user(B, "pa@b.example.ac.uk", &["portal-admin"]).await;
    let token = app.api_sign_in(&a1).await;
    let before = all_alerts(&app).len();
    let (status, body) = put_roles(&app, &token, &delegated, &[]).await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let new: Vec<OutboxMessage> = all_alerts(&app).into_iter().skip(before).collect();
    let mut to: Vec<&str> = new.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, [a1.as_str(), a2.as_str()]);
    for m in &new {
        assert!(
            m.body
                .contains("  - Role removed: Delegated - Portal Administrator\n"),
            "{}",
            m.body
        );
    }
    assert!(alerts(&app, &b1).is_empty());
    assert!(alerts(&app, &delegated).is_empty());
    assert!(app.mailer.sent_to(&delegated).iter().any(|m| {
        m.body
            .contains("Role removed: Delegated - Portal Administrator")
    }));
}

async fn a_portal_admin_who_loses_the_role_is_told_once_at_their_own_address(app: TestApp) {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let a2 = app.user(A, "pa2@a.example.ac.uk", &["portal-admin"]).await;
    let token = app.api_sign_in(&a1).await;
    let mails_before = app.mailer.sent_to(&a2).len();
    let alerts_before = alerts(&app, &a1).len();
    let (status, body) = put_roles(&app, &token, &a2, &[]).await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let told: Vec<_> = app
        .mailer
        .sent_to(&a2)
        .into_iter()
        .skip(mails_before)
        .collect();
    assert_eq!(told.len(), 1, "one email to the person who lost the role");
    assert!(told[0].body.contains("Role removed: Portal Administrator"));
    let a1_alerts: Vec<_> = alerts(&app, &a1).into_iter().skip(alerts_before).collect();
    assert_eq!(a1_alerts.len(), 1, "the remaining administrator is alerted");
    assert!(
        a1_alerts[0]
            .body
            .contains("  - Role removed: Portal Administrator\n")
    );
}

/// A regulator administrator's token and a 30-day key for `role` at provider
/// `org` (an id).
async fn key_for(app: &TestApp, org: &str, role: &str) -> String {
    let regulator = app
        .regulator_user("keys@ofs.example.org", &["regulator-admin"])
        .await;
    let token = app.api_sign_in(&regulator).await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys",
            Some(&token),
            Some(json!({
                "organisation_id": org,
                "role": role,
                "max_uses": 5,
                "expires_at": app.clock.now_plus(time::Duration::days(30)).format(&Rfc3339).unwrap(),
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

async fn activating_an_access_key_emails_the_portal_admins(app: TestApp) {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let a2 = app.user(A, "pa2@a.example.ac.uk", &["portal-admin"]).await;
    let b1 = app.user(B, "pa@b.example.ac.uk", &["portal-admin"]).await;
    let newcomer = app.user(A, "newcomer@a.example.ac.uk", &[]).await;
    let org = app.user_record(&a1).await.organisation_id.to_string();
    let key = key_for(&app, &org, "data-collection-contributor:heses").await;
    let token = app.api_sign_in(&newcomer).await;
    let before = all_alerts(&app).len();
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let new: Vec<OutboxMessage> = all_alerts(&app).into_iter().skip(before).collect();
    let mut to: Vec<&str> = new.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, [a1.as_str(), a2.as_str()]);
    for m in &new {
        assert_eq!(
            m.subject,
            "Security alert: access key activated at Provider 10000131"
        );
        assert!(m.body.contains(&format!(
            "Test Person (newcomer@a.example.ac.uk) activated an access key on {WHEN}:"
        )));
        assert!(
            m.body
                .contains("  - Role given: Data collection contributor - HESES\n")
        );
    }
    assert!(alerts(&app, &b1).is_empty());
    assert!(alerts(&app, &newcomer).is_empty());
    // Entering the same key again gives nothing and counts no use: no alert.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, 200);
    app.deliver_mail().await;
    assert_eq!(all_alerts(&app).len(), before + 2);
}

async fn registering_with_an_access_key_emails_the_portal_admins(backend: Backend) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            password_sign_in: true,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let b1 = app.user(B, "pa@b.example.ac.uk", &["portal-admin"]).await;
    let org = app.user_record(&a1).await.organisation_id.to_string();
    let key = key_for(&app, &org, "delegated-portal-admin").await;
    let before = alerts(&app, &a1).len();
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/register",
            None,
            Some(json!({
                "title": "Ms", "first_name": "Reg", "last_name": "Istrant",
                "email": "reg@a.example.ac.uk", "password": "Correct-horse-battery-9",
                "access_key": key,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.deliver_mail().await;
    let new: Vec<_> = alerts(&app, &a1).into_iter().skip(before).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(
        new[0].body.contains(
            "Ms Reg Istrant (reg@a.example.ac.uk) registered a new account with an access key"
        ),
        "{}",
        new[0].body
    );
    assert!(
        new[0]
            .body
            .contains("  - Role given: Delegated - Portal Administrator\n")
    );
    assert!(alerts(&app, &b1).is_empty());
    assert!(alerts(&app, "reg@a.example.ac.uk").is_empty());
}

async fn an_email_change_tells_the_old_address_the_new_address_and_the_admins(app: TestApp) {
    let [a1, a2, a3, colleague, b1] = two_providers(&app).await;
    let token = app.api_sign_in(&a1).await;
    let id = app.user_record(&colleague).await.id;
    let before = all_alerts(&app).len();
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&token),
            Some(json!({ "email": "new.address@elsewhere.example.com" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    // The old address: told where the account went (masked), and how to report it.
    let old: Vec<_> = app
        .mailer
        .sent_to(&colleague)
        .into_iter()
        .filter(|m| m.subject == "Your Provider Portal email address has been changed")
        .collect();
    assert_eq!(old.len(), 1);
    let body = &old[0].body;
    assert!(
        body.contains("changed from this address to n***@elsewhere.example.com by Test Person"),
        "{body}"
    );
    assert!(body.contains(WHEN), "{body}");
    assert!(body.contains("report it at once to\nportal@officeforstudents.org.uk"));
    assert!(
        !body.contains("new.address"),
        "the old mailbox does not learn the new address"
    );
    // The new address: its usual notice.
    assert!(
        app.mailer
            .sent_to("new.address@elsewhere.example.com")
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
    // Every administrator of A, in full; nobody at B.
    let new: Vec<OutboxMessage> = all_alerts(&app).into_iter().skip(before).collect();
    let mut to: Vec<&str> = new.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, [a1.as_str(), a2.as_str(), a3.as_str()]);
    for m in &new {
        assert_eq!(
            m.subject,
            "Security alert: email address changed at Provider 10000131"
        );
        assert!(m.body.contains(
            "  - Email address changed from colleague@a.example.ac.uk to new.address@elsewhere.example.com\n"
        ));
    }
    assert!(alerts(&app, &b1).is_empty());
}

async fn a_refused_grant_sends_no_alert(app: TestApp) {
    let [_, _, _, colleague, _] = two_providers(&app).await;
    let delegated = app
        .user(A, "delegated@a.example.ac.uk", &["delegated-portal-admin"])
        .await;
    let token = app.api_sign_in(&delegated).await;
    let id = app.user_record(&colleague).await.id;
    app.refused(
        "PUT",
        &format!("/api/v1/users/{id}/roles"),
        Some(&token),
        Some(json!({ "roles": ["portal-admin"] })),
        403,
    )
    .await;
    assert_eq!(app.deliver_mail().await, 0, "nothing was queued");
}

/// The alerts are in the change's transaction: a change that fails after they
/// were queued (here the old address's notice, which is queued after them,
/// cannot be written) rolls them back with it.
async fn a_change_that_rolls_back_sends_no_alert(app: TestApp) {
    let [a1, _, _, colleague, _] = two_providers(&app).await;
    let token = app.api_sign_in(&a1).await;
    let id = app.user_record(&colleague).await.id;
    let trigger = match app.backend {
        Backend::Sqlite => "CREATE TRIGGER refuse_old_address BEFORE INSERT ON outbox \
             WHEN NEW.to_address = 'colleague@a.example.ac.uk' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            .to_owned(),
        Backend::Postgres => "CREATE FUNCTION refuse_old_address() RETURNS trigger AS $$ \
             BEGIN IF NEW.to_address = 'colleague@a.example.ac.uk' THEN \
             RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_old_address BEFORE INSERT ON outbox \
             FOR EACH ROW EXECUTE FUNCTION refuse_old_address();"
            .to_owned(),
    };
    app.sql(&trigger).await;
    let outbox_before = app.store().outbox().await.unwrap().len();
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&token),
            Some(
                json!({ "email": "new.address@elsewhere.example.com", "roles": ["portal-admin"] }),
            ),
        )
        .await;
    assert_eq!(status, 500);
    assert_eq!(app.store().outbox().await.unwrap().len(), outbox_before);
    assert_eq!(app.deliver_mail().await, 0, "no alert went out");
    let user = app.user_record(&colleague).await;
    assert_eq!(user.email.as_str(), colleague, "nothing changed");
    assert!(
        app.store().user_roles(id).await.unwrap().is_empty(),
        "no role was given"
    );
}

async fn a_new_user_made_portal_admin_is_announced_to_the_admins(app: TestApp) {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    // The operator's `user create` of a second administrator alerts the first.
    let a2 = app.user(A, "pa2@a.example.ac.uk", &["portal-admin"]).await;
    let bootstrap = alerts(&app, &a1);
    assert_eq!(bootstrap.len(), 1);
    assert!(bootstrap[0].body.contains(
        "The Provider Portal operator (at the server's command line) added a new user, \
         Test Person (pa2@a.example.ac.uk)"
    ));
    assert!(
        alerts(&app, &a2).is_empty(),
        "the new administrator is welcomed instead"
    );
    // The regulator's invitation with the role, once the request is processed.
    let regulator = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let org = app.user_record(&a1).await.organisation_id;
    let mut b = page_sign_in(&app, &regulator).await;
    let page = format!("/organisations/{org}");
    b.get(&page).await;
    let r = b
        .submit(
            &page,
            &[
                ("title", "Dr"),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("email", "grace@a.example.ac.uk"),
                ("role", "portal-admin"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    app.deliver_mail().await;
    for pa in [&a1, &a2] {
        let got = alerts(&app, pa);
        let m = got.last().unwrap();
        assert_eq!(
            m.subject,
            "Security alert: administrator role given at Provider 10000131"
        );
        assert!(
            m.body.contains(&format!(
                "Regulator User (Office for Students) added a new user, \
                 Dr Grace Hopper (grace@a.example.ac.uk) on {WHEN}:"
            )),
            "{}",
            m.body
        );
        assert!(m.body.contains("  - Role given: Portal Administrator\n"));
    }
    assert!(alerts(&app, "grace@a.example.ac.uk").is_empty());
}

async fn a_regulator_administrators_change_names_the_regulator(app: TestApp) {
    let a1 = app.user(A, "pa1@a.example.ac.uk", &["portal-admin"]).await;
    let colleague = app.user(A, "colleague@a.example.ac.uk", &[]).await;
    let regulator = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let token = app.api_sign_in(&regulator).await;
    let (status, body) = put_roles(&app, &token, &colleague, &["delegated-portal-admin"]).await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let got = alerts(&app, &a1);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].body.contains(
            "Regulator User (Office for Students) changed the account of Test Person (colleague@a.example.ac.uk)"
        ),
        "{}",
        got[0].body
    );
    // The regulator has no Portal Administrators: nobody there is alerted.
    assert!(alerts(&app, &regulator).is_empty());
}

async fn other_role_and_detail_changes_send_no_alert(app: TestApp) {
    let [a1, _, _, colleague, _] = two_providers(&app).await;
    let token = app.api_sign_in(&a1).await;
    let before = all_alerts(&app).len();
    let (status, body) = put_roles(
        &app,
        &token,
        &colleague,
        &["data-collection-contributor:heses"],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = app.user_record(&colleague).await.id;
    // A name, and the same address in capitals: not a new address.
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&token),
            Some(json!({ "first_name": "Renamed", "email": "COLLEAGUE@A.example.ac.uk" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    assert_eq!(all_alerts(&app).len(), before, "no security alert");
    assert!(
        !app.mailer
            .sent_to(&colleague)
            .iter()
            .any(|m| m.subject.contains("email address has been changed"))
    );
}
