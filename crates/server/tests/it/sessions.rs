//! Sessions you can see and end, sign out everywhere, and personal API tokens
//! (PRODUCT §3, §4, §9; API.md "Sessions and API tokens").

use serde_json::{Value, json};
use testkit::TestApp;
use time::Duration;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    ending_a_session_from_my_account_signs_that_browser_out,
    ending_a_session_through_the_api_makes_its_next_request_401,
    nobody_ends_another_users_session,
    sign_out_everywhere_ends_every_session_and_token_at_once,
    sign_out_everywhere_from_edit_user,
    a_delegate_cannot_sign_out_a_portal_administrator,
    a_token_loses_a_removed_role_on_its_next_request,
    disabling_the_owner_ends_their_tokens_for_good,
    an_expiry_that_passed_ends_tokens_for_good,
    expired_and_revoked_tokens_are_refused,
    the_database_holds_no_token_in_clear,
    token_creation_is_validated,
    token_creation_is_rate_limited,
    a_token_cannot_mint_tokens,
    a_portal_administrator_sees_and_revokes_their_users_tokens,
    a_token_is_created_and_revoked_from_my_account,
);

const UKPRN: &str = "10000701";
const OTHER_UKPRN: &str = "10000702";

fn in_days(app: &TestApp, days: i64) -> String {
    app.clock
        .now_plus(Duration::days(days))
        .format(&Rfc3339)
        .unwrap()
}

async fn user_id(app: &TestApp, email: &str) -> String {
    app.user_record(email).await.id.to_string()
}

/// Creates a token with `session` (a signed-in API session); returns (id, token).
async fn create_token(app: &TestApp, session: &str, name: &str) -> (String, String) {
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/api-tokens",
            Some(session),
            Some(json!({"name": name, "expires_at": in_days(app, 30)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    // Used once, a second later, so that its first use (recorded at once)
    // is behind us.
    app.clock.advance(Duration::seconds(1));
    assert_eq!(status_of(app, &token).await, 200);
    (body["id"].as_str().unwrap().to_owned(), token)
}

async fn status_of(app: &TestApp, token: &str) -> u16 {
    app.call("GET", "/api/v1/me", Some(token), None).await.0
}

async fn my_sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app
        .call("GET", "/api/v1/me/sessions", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// A browser page asks to sign in again (and to return to the page after):
/// the session is over.
async fn signed_out(b: &mut testkit::Browser) -> bool {
    let r = b.get("/account").await;
    r.status == 303 && r.location() == Some("/sign-in?return=%2Faccount")
}

async fn ending_a_session_from_my_account_signs_that_browser_out(app: TestApp) {
    let email = app.user(UKPRN, "two@a.example.ac.uk", &[]).await;
    let mut first = page_sign_in(&app, &email).await;
    app.clock.advance(Duration::minutes(1));
    let mut second = page_sign_in(&app, &email).await;
    app.clock.advance(Duration::minutes(1));
    let api = app.api_sign_in(&email).await;
    // Newest first: this API session, the second browser, the first.
    let list = my_sessions(&app, &api).await;
    let kinds: Vec<&str> = list.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["api", "browser", "browser"]);
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["current"], false);
    assert!(list.iter().all(|s| s.get("token_hash").is_none()));
    let second_id = list[1]["id"].as_str().unwrap().to_owned();

    let page = first.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("This session"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("/account/sessions/{second_id}/end"))
    );
    assert!(page.body.contains("Sign out of all other sessions"));
    // Without the form token, nothing happens.
    let r = first
        .post_raw(&format!("/account/sessions/{second_id}/end"), &[], &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(!signed_out(&mut second).await);
    first.get("/account").await;
    let r = first
        .submit(&format!("/account/sessions/{second_id}/end"), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), Some("/account?done=ended#sessions"));
    let page = first.get("/account?done=ended").await;
    assert!(page.body.contains("The session has been signed out."));
    assert!(signed_out(&mut second).await);
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "sessions.end");
    assert_eq!(last.entry.target.as_deref(), Some(second_id.as_str()));

    // Sign out of all other sessions: the API session ends; this one stays.
    first.get("/account").await;
    let r = first.submit("/account/sessions/end-others", &[]).await;
    assert_eq!(r.location(), Some("/account?done=others#sessions"));
    assert_eq!(status_of(&app, &api).await, 401);
    let page = first.get("/account?done=others").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("All your other sessions have been signed out.")
    );
}

async fn ending_a_session_through_the_api_makes_its_next_request_401(app: TestApp) {
    let email = app.user(UKPRN, "api@a.example.ac.uk", &[]).await;
    let one = app.api_sign_in(&email).await;
    app.clock.advance(Duration::minutes(1));
    let two = app.api_sign_in(&email).await;
    let list = my_sessions(&app, &one).await;
    let two_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_of(&app, &two).await, 200);
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{two_id}"),
            Some(&one),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(status_of(&app, &two).await, 401);
    assert_eq!(status_of(&app, &one).await, 200);
    // Ending it again: it is over, so not found.
    app.refused(
        "DELETE",
        &format!("/api/v1/me/sessions/{two_id}"),
        Some(&one),
        None,
        404,
    )
    .await;
    let list = my_sessions(&app, &one).await;
    assert_eq!(list.len(), 1, "an ended session is not listed");
}

async fn nobody_ends_another_users_session(app: TestApp) {
    let victim = app.user(UKPRN, "victim@a.example.ac.uk", &[]).await;
    let attacker = app
        .user(UKPRN, "attacker@a.example.ac.uk", &["portal-admin"])
        .await;
    let victim_token = app.api_sign_in(&victim).await;
    let victim_id = my_sessions(&app, &victim_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attacker_token = app.api_sign_in(&attacker).await;
    let answer = app
        .refused(
            "DELETE",
            &format!("/api/v1/me/sessions/{victim_id}"),
            Some(&attacker_token),
            None,
            404,
        )
        .await;
    assert_eq!(answer["error"], "not_found");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "sessions.end");
    assert_eq!(last.entry.target.as_deref(), Some(victim_id.as_str()));
    // Nor through the page, with a good form token.
    let mut b = page_sign_in(&app, &attacker).await;
    b.get("/account").await;
    let before = app.snapshot().await;
    let r = b
        .submit(&format!("/account/sessions/{victim_id}/end"), &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(app.snapshot().await, before);
    // A malformed id is not found either.
    app.refused(
        "DELETE",
        "/api/v1/me/sessions/not-an-id",
        Some(&attacker_token),
        None,
        404,
    )
    .await;
    assert_eq!(status_of(&app, &victim_token).await, 200);
}

/// A Portal Administrator of UKPRN and a colleague with a browser session,
/// an API session and an API token.
struct Colleague {
    admin: String,
    id: String,
    browser: testkit::Browser,
    api: String,
    token: String,
}

async fn colleague(app: &TestApp) -> Colleague {
    let admin = app
        .user(UKPRN, "admin@a.example.ac.uk", &["portal-admin"])
        .await;
    let email = app
        .user(UKPRN, "colleague@a.example.ac.uk", &["area-member:heses"])
        .await;
    let browser = page_sign_in(app, &email).await;
    let api = app.api_sign_in(&email).await;
    let (_, token) = create_token(app, &api, "nightly export").await;
    Colleague {
        admin: app.api_sign_in(&admin).await,
        id: user_id(app, &email).await,
        browser,
        api,
        token,
    }
}

async fn sign_out_everywhere_ends_every_session_and_token_at_once(app: TestApp) {
    let mut c = colleague(&app).await;
    assert!(!signed_out(&mut c.browser).await);
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/users/{}/sign-out", c.id),
            Some(&c.admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(status_of(&app, &c.api).await, 401);
    assert_eq!(status_of(&app, &c.token).await, 401);
    assert!(signed_out(&mut c.browser).await);
    assert_eq!(status_of(&app, &c.admin).await, 200);
    assert_eq!(last.entry.action, "users.sign_out_everywhere");
    assert_eq!(last.entry.target.as_deref(), Some(c.id.as_str()));
    assert_eq!(last.entry.detail, "3 sessions and API tokens ended");
    app.deliver_mail().await;
    let mail = app.mailer.sent_to("colleague@a.example.ac.uk");
    let told = mail.last().unwrap();
    assert_eq!(
        told.subject,
        "You have been signed out of Provider Portal everywhere"
    );
    assert!(
        told.body.contains("signed out everywhere by"),
        "{}",
        told.body
    );
    // They may sign in again: their access is unchanged.
    let again = app.api_sign_in("colleague@a.example.ac.uk").await;
    assert_eq!(status_of(&app, &again).await, 200);
}

async fn sign_out_everywhere_from_edit_user(app: TestApp) {
    let c = colleague(&app).await;
    let mut b = page_sign_in(&app, "admin@a.example.ac.uk").await;
    let page = b.get(&format!("/users/{}", c.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out everywhere"), "{}", page.body);
    assert!(page.body.contains("nightly export"));
    // Without the form token: refused, nothing ends.
    let r = b
        .post_raw(&format!("/users/{}/sign-out", c.id), &[], &[])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(status_of(&app, &c.token).await, 200);
    b.get(&format!("/users/{}", c.id)).await;
    let r = b.submit(&format!("/users/{}/sign-out", c.id), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        Some(format!("/users/{}?signed_out=1#sessions", c.id).as_str())
    );
    assert_eq!(status_of(&app, &c.token).await, 401);
    assert_eq!(status_of(&app, &c.api).await, 401);
    let page = b.get(&format!("/users/{}?signed_out=1", c.id)).await;
    assert!(
        page.body
            .contains("The user has been signed out everywhere.")
    );
    assert!(
        !page.body.contains("nightly export"),
        "revoked tokens are not listed"
    );
    app.deliver_mail().await;
}

async fn a_delegate_cannot_sign_out_a_portal_administrator(app: TestApp) {
    let pa = app
        .user(UKPRN, "pa@a.example.ac.uk", &["portal-admin"])
        .await;
    let delegate = app
        .user(
            UKPRN,
            "delegate@a.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let outsider = app
        .user(OTHER_UKPRN, "admin@b.example.ac.uk", &["portal-admin"])
        .await;
    let contributor = app.user(UKPRN, "plain@a.example.ac.uk", &[]).await;
    let pa_api = app.api_sign_in(&pa).await;
    let (pa_token_id, pa_token) = create_token(&app, &pa_api, "quarterly-reports-xyz").await;
    let pa_id = user_id(&app, &pa).await;
    let path = format!("/api/v1/users/{pa_id}/sign-out");
    // As PATCH answers the same delegate.
    let d = app.api_sign_in(&delegate).await;
    let answer = app.refused("POST", &path, Some(&d), None, 403).await;
    let patch = app
        .refused(
            "PATCH",
            &format!("/api/v1/users/{pa_id}"),
            Some(&d),
            Some(json!({"access_enabled": false})),
            403,
        )
        .await;
    assert_eq!(answer["message"], patch["message"]);
    let last = app.audit().await;
    let refusal = last
        .iter()
        .rev()
        .find(|r| r.entry.action == "users.sign_out_everywhere")
        .unwrap();
    assert_eq!(refusal.entry.outcome, domain::audit::Outcome::Refused);
    assert_eq!(refusal.entry.target.as_deref(), Some(pa_id.as_str()));
    // Nor may they list or revoke the administrator's tokens.
    app.refused(
        "GET",
        &format!("/api/v1/users/{pa_id}/api-tokens"),
        Some(&d),
        None,
        403,
    )
    .await;
    app.refused(
        "DELETE",
        &format!("/api/v1/api-tokens/{pa_token_id}"),
        Some(&d),
        None,
        403,
    )
    .await;
    // Another provider's administrator does not even find them.
    let o = app.api_sign_in(&outsider).await;
    app.refused("POST", &path, Some(&o), None, 404).await;
    app.refused(
        "DELETE",
        &format!("/api/v1/api-tokens/{pa_token_id}"),
        Some(&o),
        None,
        404,
    )
    .await;
    let c = app.api_sign_in(&contributor).await;
    app.refused("POST", &path, Some(&c), None, 403).await;
    assert_eq!(status_of(&app, &pa_token).await, 200);
    assert_eq!(status_of(&app, &pa_api).await, 200);
    // The delegate's Edit user page offers no button.
    let mut b = page_sign_in(&app, &delegate).await;
    let page = b.get(&format!("/users/{pa_id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Sign out everywhere"));
    assert!(!page.body.contains("quarterly-reports-xyz"));
    // A delegate may sign out someone they may change.
    let plain_id = user_id(&app, &contributor).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/users/{plain_id}/sign-out"),
            Some(&d),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(status_of(&app, &c).await, 401);
    app.deliver_mail().await;
}

async fn a_token_loses_a_removed_role_on_its_next_request(app: TestApp) {
    let first = app
        .user(UKPRN, "first@a.example.ac.uk", &["portal-admin"])
        .await;
    let second = app
        .user(UKPRN, "second@a.example.ac.uk", &["portal-admin"])
        .await;
    let second_api = app.api_sign_in(&second).await;
    let (_, token) = create_token(&app, &second_api, "admin script").await;
    let (status, _) = app.call("GET", "/api/v1/users", Some(&token), None).await;
    assert_eq!(status, 200);
    let first_api = app.api_sign_in(&first).await;
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", user_id(&app, &second).await),
            Some(&first_api),
            Some(json!({"roles": []})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.call("GET", "/api/v1/users", Some(&token), None).await;
    assert_eq!(status, 403);
    // The token still acts as its owner, with what they hold now.
    assert_eq!(status_of(&app, &token).await, 200);
    app.deliver_mail().await;
}

async fn disabling_the_owner_ends_their_tokens_for_good(app: TestApp) {
    let c = colleague(&app).await;
    let path = format!("/api/v1/users/{}", c.id);
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            Some(&c.admin),
            Some(json!({"access_enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, &c.token).await, 401);
    assert_eq!(status_of(&app, &c.api).await, 401);
    // Access given back: the old token stays dead.
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            Some(&c.admin),
            Some(json!({"access_enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, &c.token).await, 401);
    app.deliver_mail().await;
}

async fn an_expiry_that_passed_ends_tokens_for_good(app: TestApp) {
    let c = colleague(&app).await;
    let path = format!("/api/v1/users/{}", c.id);
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            Some(&c.admin),
            Some(json!({"expires_at": in_days(&app, 1)})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, &c.token).await, 200);
    // The date passes on its own: the token is refused…
    app.clock.advance(Duration::days(2));
    assert_eq!(status_of(&app, &c.token).await, 401);
    // …and stays dead when an administrator lifts the expiry.
    let admin = app.api_sign_in("admin@a.example.ac.uk").await;
    let (status, _) = app
        .call(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, &c.token).await, 401);
    assert_eq!(status_of(&app, &c.api).await, 401);
    app.deliver_mail().await;
}

async fn expired_and_revoked_tokens_are_refused(app: TestApp) {
    let email = app.user(UKPRN, "owner@a.example.ac.uk", &[]).await;
    let api = app.api_sign_in(&email).await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/api-tokens",
            Some(&api),
            Some(json!({"name": "short", "expires_at": in_days(&app, 2)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let short = body["token"].as_str().unwrap().to_owned();
    let (revoked_id, revoked) = create_token(&app, &api, "to revoke").await;
    let (_, long) = create_token(&app, &api, "long").await;
    assert_eq!(status_of(&app, &short).await, 200);
    let (_, listed) = app
        .call("GET", "/api/v1/api-tokens", Some(&api), None)
        .await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none())
    );
    // The tokens are among the caller's sessions too, as kind "token".
    let sessions = my_sessions(&app, &api).await;
    assert_eq!(sessions.iter().filter(|s| s["kind"] == "token").count(), 3);

    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/api-tokens/{revoked_id}"),
            Some(&api),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "api_tokens.revoke");
    assert_eq!(status_of(&app, &revoked).await, 401);

    // Past its expiry (and past every sign-in session's), only the long one works.
    app.clock.advance(Duration::days(3));
    assert_eq!(status_of(&app, &short).await, 401);
    assert_eq!(status_of(&app, &api).await, 401);
    assert_eq!(status_of(&app, &long).await, 200);
    let (_, listed) = app
        .call("GET", "/api/v1/api-tokens", Some(&long), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "long");
}

async fn the_database_holds_no_token_in_clear(app: TestApp) {
    let email = app.user(UKPRN, "secret@a.example.ac.uk", &[]).await;
    let api = app.api_sign_in(&email).await;
    let (_, token) = create_token(&app, &api, "secret").await;
    let everything = format!("{:?} {:?}", app.snapshot().await, app.audit().await);
    assert!(!everything.contains(&token));
    assert!(!everything.contains(&token.to_uppercase()));
    // What is kept is its hash, never what the client sends.
    let (status, _) = app.call("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, 200);
}

async fn token_creation_is_validated(app: TestApp) {
    let email = app.user(UKPRN, "valid@a.example.ac.uk", &[]).await;
    let api = app.api_sign_in(&email).await;
    let cases = [
        (json!({"name": "", "expires_at": in_days(&app, 5)}), "name"),
        (
            json!({"name": "   ", "expires_at": in_days(&app, 5)}),
            "name",
        ),
        (
            json!({"name": "x".repeat(101), "expires_at": in_days(&app, 5)}),
            "name",
        ),
        (
            json!({"name": "a\nb", "expires_at": in_days(&app, 5)}),
            "name",
        ),
        (
            json!({"name": "past", "expires_at": in_days(&app, -1)}),
            "expires_at",
        ),
        (
            json!({"name": "far", "expires_at": in_days(&app, 366)}),
            "expires_at",
        ),
        (
            json!({"name": "bad", "expires_at": "next tuesday"}),
            "expires_at",
        ),
        (json!({"name": "empty", "expires_at": ""}), "expires_at"),
    ];
    for (body, field) in cases {
        let answer = app
            .refused(
                "POST",
                "/api/v1/api-tokens",
                Some(&api),
                Some(body.clone()),
                400,
            )
            .await;
        assert_eq!(answer["error"], "invalid", "{body}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    // A missing field, or one too many.
    app.refused(
        "POST",
        "/api/v1/api-tokens",
        Some(&api),
        Some(json!({"name": "no expiry"})),
        400,
    )
    .await;
    app.refused(
        "POST",
        "/api/v1/api-tokens",
        Some(&api),
        Some(json!({"name": "x", "expires_at": in_days(&app, 5), "roles": ["portal-admin"]})),
        400,
    )
    .await;
    // The limits themselves are fine: 100 characters, 365 days.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/api-tokens",
            Some(&api),
            Some(json!({"name": "y".repeat(100), "expires_at": in_days(&app, 365)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn token_creation_is_rate_limited(app: TestApp) {
    let email = app.user(UKPRN, "busy@a.example.ac.uk", &[]).await;
    let mut api = app.api_sign_in(&email).await;
    let create = |api: String| {
        let client = app.client();
        let url = app.url("/api/v1/api-tokens");
        let body = json!({"name": "t", "expires_at": in_days(&app, 30)});
        async move {
            client
                .post(url)
                .bearer_auth(api)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..10 {
        assert_eq!(create(api.clone()).await.status(), 201);
    }
    let before = app.snapshot().await;
    let refused = create(api.clone()).await;
    assert_eq!(refused.status(), 429);
    let retry: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(app.snapshot().await, before);
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "api_tokens.create");
    assert_eq!(last.entry.outcome, domain::audit::Outcome::Refused);
    // An hour on, ten more; then the cap on live tokens (25) holds.
    for _ in 0..2 {
        app.clock.advance(Duration::minutes(61));
        api = app.api_sign_in(&email).await;
        for _ in 0..10 {
            let r = create(api.clone()).await;
            if r.status() == 429 {
                break;
            }
        }
    }
    let (_, listed) = app
        .call("GET", "/api/v1/api-tokens", Some(&api), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 25);
    app.clock.advance(Duration::minutes(61));
    api = app.api_sign_in(&email).await;
    let refused = create(api.clone()).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

async fn a_token_cannot_mint_tokens(app: TestApp) {
    let email = app.user(UKPRN, "mint@a.example.ac.uk", &[]).await;
    let api = app.api_sign_in(&email).await;
    let (_, token) = create_token(&app, &api, "first").await;
    let answer = app
        .refused(
            "POST",
            "/api/v1/api-tokens",
            Some(&token),
            Some(json!({"name": "second", "expires_at": in_days(&app, 5)})),
            403,
        )
        .await;
    assert_eq!(answer["error"], "forbidden");
    // It may still end itself, as its owner may.
    let (_, list) = app
        .call("GET", "/api/v1/api-tokens", Some(&token), None)
        .await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(status_of(&app, &token).await, 401);
}

async fn a_portal_administrator_sees_and_revokes_their_users_tokens(app: TestApp) {
    let c = colleague(&app).await;
    let (status, listed) = app
        .call(
            "GET",
            &format!("/api/v1/users/{}/api-tokens", c.id),
            Some(&c.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "nightly export");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    // Not another provider's administrator, nor with a session id.
    let outsider = app
        .user(OTHER_UKPRN, "admin@b.example.ac.uk", &["portal-admin"])
        .await;
    let o = app.api_sign_in(&outsider).await;
    app.refused(
        "GET",
        &format!("/api/v1/users/{}/api-tokens", c.id),
        Some(&o),
        None,
        404,
    )
    .await;
    let session_id = my_sessions(&app, &c.api)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.refused(
        "DELETE",
        &format!("/api/v1/api-tokens/{session_id}"),
        Some(&c.admin),
        None,
        404,
    )
    .await;
    // From Edit user.
    let mut b = page_sign_in(&app, "admin@a.example.ac.uk").await;
    b.get(&format!("/users/{}", c.id)).await;
    let r = b
        .submit(&format!("/api-tokens/{id}/revoke"), &[("user", &c.id)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        Some(format!("/users/{}?token_revoked=1#sessions", c.id).as_str())
    );
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "api_tokens.revoke");
    assert_eq!(last.entry.target.as_deref(), Some(id.as_str()));
    assert_eq!(status_of(&app, &c.token).await, 401);
    assert_eq!(status_of(&app, &c.api).await, 200);
}

async fn a_token_is_created_and_revoked_from_my_account(app: TestApp) {
    let email = app.user(UKPRN, "pages@a.example.ac.uk", &[]).await;
    let mut b = page_sign_in(&app, &email).await;
    let page = b.get("/account").await;
    assert!(page.body.contains("You have no API tokens."));
    let form = b.get("/account/api-tokens/new").await;
    assert_eq!(form.status, 200);
    // Nothing given: both fields are said to be wrong, nothing is made.
    let before = app.snapshot().await;
    let r = b.submit("/account/api-tokens/new", &[("name", "")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Enter a name for the token"), "{}", r.body);
    assert!(r.body.contains("Enter the expiry date"), "{}", r.body);
    assert_eq!(app.snapshot().await, before);
    let far = app.clock.now_plus(Duration::days(400)).date();
    let r = b
        .submit(
            "/account/api-tokens/new",
            &[
                ("name", "my script"),
                ("expires_at-day", &far.day().to_string()),
                ("expires_at-month", &u8::from(far.month()).to_string()),
                ("expires_at-year", &far.year().to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("at most a year"), "{}", r.body);
    let soon = app.clock.now_plus(Duration::days(30)).date();
    let r = b
        .submit(
            "/account/api-tokens/new",
            &[
                ("name", "my script"),
                ("expires_at-day", &soon.day().to_string()),
                ("expires_at-month", &u8::from(soon.month()).to_string()),
                ("expires_at-year", &soon.year().to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.body.contains("This is the only time it is shown"));
    let marker = "id=\"api-token\" name=\"api-token\" type=\"text\" value=\"";
    let start = r.body.find(marker).unwrap() + marker.len();
    let token = r.body[start..start + 64].to_owned();
    assert_eq!(status_of(&app, &token).await, 200);
    let page = b.get("/account").await;
    assert!(page.body.contains("my script"));
    assert!(!page.body.contains(&token), "the token is shown only once");
    let marker = "action=\"/account/api-tokens/";
    let start = page.body.find(marker).unwrap() + marker.len();
    let id = page.body[start..start + 36].to_owned();
    let r = b
        .submit(&format!("/account/api-tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.location(), Some("/account?done=revoked#api-tokens"));
    assert_eq!(status_of(&app, &token).await, 401);
    let page = b.get("/account?done=revoked").await;
    assert!(page.body.contains("The API token has been revoked."));
}
