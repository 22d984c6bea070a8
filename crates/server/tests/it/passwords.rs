//! Password sign-in (PRODUCT §3, seed 000) through the API: registration with
//! an access key under both policies, argon2id without truncation, and the
//! lock that five wrong passwords set until an administrator unlocks it.

use serde_json::{Value, json};
use server::Config;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(
    ;
    raw:
    the_modern_policy_holds_at_its_boundaries,
    the_legacy_policy_holds_at_its_boundaries,
    five_wrong_passwords_lock_the_account_until_an_administrator_unlocks_it,
    long_passwords_are_not_truncated_and_hashes_are_argon2id,
    password_routes_do_not_exist_unless_enabled,
    a_signed_in_person_sets_a_password_with_an_emailed_code,
    registration_is_refused_for_a_bad_key_or_a_taken_address,
);

async fn spawn(backend: Backend, policy: &str) -> Option<TestApp> {
    TestApp::spawn_with(
        backend,
        Config {
            password_sign_in: true,
            password_policy: policy.into(),
            ..testkit::test_config()
        },
    )
    .await
}

/// A provider with a Portal Administrator (token) and a 1,000-use contributor key.
async fn provider_with_key(app: &TestApp) -> (String, String) {
    let regulator = app
        .regulator_user("pw@ofs.example.org", &["regulator-admin"])
        .await;
    let regulator = app.api_sign_in(&regulator).await;
    let admin = app
        .user("10000401", "admin@pw.example.ac.uk", &["portal-admin"])
        .await;
    let org = app.user_record(&admin).await.organisation_id;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys",
            Some(&regulator),
            Some(json!({
                "organisation_id": org.to_string(),
                "role": "data-collection-contributor:heses",
                "max_uses": 1000,
                "expires_at": app.clock.now_plus(time::Duration::days(30)).format(&Rfc3339).unwrap(),
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        app.api_sign_in(&admin).await,
        body["key"].as_str().unwrap().to_owned(),
    )
}

async fn register(app: &TestApp, key: &str, email: &str, password: &str) -> (u16, Value) {
    app.call(
        "POST",
        "/api/v1/register",
        None,
        Some(json!({
            "title": "Ms", "first_name": "Reg", "last_name": "Istrant",
            "email": email, "password": password, "access_key": key,
        })),
    )
    .await
}

async fn password_sign_in(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    app.call(
        "POST",
        "/api/v1/auth/password",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

/// Mixed case and digits, so that only the length decides.
fn of(n: usize) -> String {
    "Ab1xyzqwmnbv".chars().cycle().take(n).collect()
}

/// Registers with `password`, expecting `accepted`; a refusal stores nothing.
async fn expect(app: &TestApp, key: &str, n: &mut usize, password: &str, accepted: bool) {
    *n += 1;
    let email = format!("person{n}@pw.example.ac.uk");
    if accepted {
        let (status, body) = register(app, key, &email, password).await;
        assert_eq!(status, 201, "{password:?} should be accepted: {body}");
        assert_eq!(body["roles"][0]["id"], "data-collection-contributor:heses");
        let (status, _) = password_sign_in(app, &email, password).await;
        assert_eq!(status, 200);
        app.deliver_mail().await;
        assert!(
            app.mailer
                .sent_to(&email)
                .iter()
                .any(|m| m.subject.contains("registration was successful"))
        );
    } else {
        let answer = app
            .refused(
                "POST",
                "/api/v1/register",
                None,
                Some(json!({
                    "title": "Ms", "first_name": "Reg", "last_name": "Istrant",
                    "email": email, "password": password, "access_key": key,
                })),
                400,
            )
            .await;
        assert!(answer["fields"]["password"].is_string(), "{answer}");
    }
}

async fn the_modern_policy_holds_at_its_boundaries(backend: Backend) {
    let Some(app) = spawn(backend, "modern").await else {
        return;
    };
    let (_, key) = provider_with_key(&app).await;
    let n = &mut 0;
    for (len, ok) in [
        (7, false),
        (8, false),
        (11, false),
        (12, true),
        (128, true),
        (129, false),
    ] {
        expect(&app, &key, n, &of(len), ok).await;
    }
    // No composition rules; common passwords refused.
    expect(&app, &key, n, "correct horse battery staple", true).await;
    expect(&app, &key, n, "alllowercaseletters", true).await;
    expect(&app, &key, n, "Password1234", false).await;
    expect(&app, &key, n, "qwertyuiop123", false).await;
}

async fn the_legacy_policy_holds_at_its_boundaries(backend: Backend) {
    let Some(app) = spawn(backend, "legacy").await else {
        return;
    };
    let (_, key) = provider_with_key(&app).await;
    let n = &mut 0;
    for (len, ok) in [
        (7, false),
        (8, true),
        (11, true),
        (12, true),
        (128, true),
        (129, false),
    ] {
        expect(&app, &key, n, &of(len), ok).await;
    }
    // Seed 000: upper-case, lower-case and numbers, all three.
    expect(&app, &key, n, "abcdefg1", false).await;
    expect(&app, &key, n, "ABCDEFG1", false).await;
    expect(&app, &key, n, "Abcdefgh", false).await;
    expect(&app, &key, n, "Abcdefg1", true).await;
}

async fn five_wrong_passwords_lock_the_account_until_an_administrator_unlocks_it(backend: Backend) {
    let Some(app) = spawn(backend, "modern").await else {
        return;
    };
    let (admin, key) = provider_with_key(&app).await;
    let email = "locked@pw.example.ac.uk";
    let password = "a long and memorable password";
    assert_eq!(register(&app, &key, email, password).await.0, 201);
    let (status, session) = password_sign_in(&app, email, password).await;
    assert_eq!(status, 200);
    let live = session["token"].as_str().unwrap().to_owned();
    // An unknown address gets exactly the answer a wrong password gets.
    let (_, unknown) = password_sign_in(&app, "nobody@pw.example.ac.uk", "whatever it is").await;
    for _ in 0..5 {
        let (status, body) = password_sign_in(&app, email, "not the password at all").await;
        assert_eq!(status, 401);
        assert_eq!(body, unknown);
    }
    // The sixth attempt is refused even with the right password.
    let answer = app
        .refused(
            "POST",
            "/api/v1/auth/password",
            None,
            Some(json!({ "email": email, "password": password })),
            401,
        )
        .await;
    assert_eq!(answer, unknown);
    // The lock ended the live session, and shuts the passcode path too.
    let (status, _) = app.call("GET", "/api/v1/me", Some(&live), None).await;
    assert_eq!(status, 401);
    app.deliver_mail().await;
    let mails = app.mailer.sent_to(email).len();
    app.post_json("/api/v1/auth/code", json!({ "email": email }))
        .await;
    app.deliver_mail().await;
    assert_eq!(
        app.mailer.sent_to(email).len(),
        mails,
        "no code for a locked account"
    );
    let user = app.user_record(email).await;
    assert!(user.locked);
    let (_, listed) = app
        .call(
            "GET",
            &format!("/api/v1/users/{}", user.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(listed["status"], "locked");
    assert_eq!(listed["locked"], true);
    // An administrator unlocks (seed 000 B3-B4); the right password works again.
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", user.id),
            Some(&admin),
            Some(json!({ "locked": false })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["locked"], false);
    assert_eq!(password_sign_in(&app, email, password).await.0, 200);
    // And the count starts again from nothing.
    let user = app.user_record(email).await;
    assert_eq!(user.password_failures, 0);
    // The unlocking is emailed to the person unlocked.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(email)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn long_passwords_are_not_truncated_and_hashes_are_argon2id(backend: Backend) {
    let Some(app) = spawn(backend, "modern").await else {
        return;
    };
    let (_, key) = provider_with_key(&app).await;
    let email = "long@pw.example.ac.uk";
    let long = of(100);
    assert_eq!(register(&app, &key, email, &long).await.0, 201);
    assert_eq!(password_sign_in(&app, email, &long[..72]).await.0, 401);
    assert_eq!(password_sign_in(&app, email, &long[..99]).await.0, 401);
    assert_eq!(password_sign_in(&app, email, &long).await.0, 200);
    let users = &app.snapshot().await["users"];
    let line = users.iter().find(|u| u.contains(email)).unwrap();
    assert!(line.contains("password_hash: Some(\"$argon2id$"), "{line}");
    assert!(!line.contains(&long));
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(email)
            .iter()
            .any(|m| m.subject.contains("registration was successful"))
    );
}

async fn password_routes_do_not_exist_unless_enabled(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (status, _) = register(
        &app,
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23",
        "x@y.example.ac.uk",
        &of(20),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = password_sign_in(&app, "x@y.example.ac.uk", &of(20)).await;
    assert_eq!(status, 404);
}

async fn a_signed_in_person_sets_a_password_with_an_emailed_code(backend: Backend) {
    let Some(app) = spawn(backend, "modern").await else {
        return;
    };
    let email = app.user("10000402", "setter@pw.example.ac.uk", &[]).await;
    // Someone who has only signed in with codes is offered to set a password.
    let mut b = crate::attacks::page_sign_in(&app, &email).await;
    let account = b.get("/account").await;
    assert!(
        account.body.contains(">Set a password</a>"),
        "{}",
        account.body
    );
    assert!(!account.body.contains("Change your password"));
    assert!(
        b.get("/account/password")
            .await
            .body
            .contains(">Set a password</h1>")
    );
    let token = app.api_sign_in(&email).await;
    let (status, body) = app
        .call("POST", "/api/v1/me/password/code", Some(&token), None)
        .await;
    assert_eq!(status, 202);
    let attempt = body["attempt_id"].as_str().unwrap().to_owned();
    app.deliver_mail().await;
    let mail = app.mailer.sent_to(&email).pop().unwrap();
    assert_eq!(
        mail.subject,
        "Your Provider Portal code to set your password"
    );
    let code = testkit::only_six_digit_number(&mail.body).unwrap();
    // A weak password uses up nothing and changes nothing.
    app.refused(
        "PUT",
        "/api/v1/me/password",
        Some(&token),
        Some(json!({ "attempt_id": attempt, "code": code, "password": "short" })),
        400,
    )
    .await;
    // A wrong code is refused and audited; it uses up one of the code's guesses.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let seq = app.last_audit_seq().await;
    let (status, _) = app
        .call(
            "PUT",
            "/api/v1/me/password",
            Some(&token),
            Some(json!({ "attempt_id": attempt, "code": wrong, "password": "a perfectly fine password" })),
        )
        .await;
    assert_eq!(status, 401);
    assert!(!app.user_record(&email).await.has_password);
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.action, "password.changed");
    assert_eq!(rows[0].entry.outcome, domain::audit::Outcome::Refused);
    let (status, _) = app
        .call(
            "PUT",
            "/api/v1/me/password",
            Some(&token),
            Some(json!({ "attempt_id": attempt, "code": code, "password": "a perfectly fine password" })),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        password_sign_in(&app, &email, "a perfectly fine password")
            .await
            .0,
        200
    );
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&email)
            .iter()
            .any(|m| m.subject.contains("password has been changed"))
    );
    // With a password, it is changed.
    let account = b.get("/account").await;
    assert!(account.body.contains(">Change your password</a>"));
    assert!(!account.body.contains("Set a password"));
}

async fn registration_is_refused_for_a_bad_key_or_a_taken_address(backend: Backend) {
    let Some(app) = spawn(backend, "modern").await else {
        return;
    };
    let (_, key) = provider_with_key(&app).await;
    let body = |email: &str, key: &str| {
        Some(json!({
            "title": "Ms", "first_name": "Reg", "last_name": "Istrant",
            "email": email, "password": "a long and memorable password", "access_key": key,
        }))
    };
    // A key that does not exist: the same words as any refused key, nothing stored.
    let answer = app
        .refused(
            "POST",
            "/api/v1/register",
            None,
            body("new@pw.example.ac.uk", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23"),
            400,
        )
        .await;
    assert!(
        answer["fields"]["access_key"]
            .as_str()
            .unwrap()
            .contains("not valid")
    );
    // An address that already has an account, with a live key: told to sign in instead.
    let answer = app
        .refused(
            "POST",
            "/api/v1/register",
            None,
            body("admin@pw.example.ac.uk", &key),
            409,
        )
        .await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("Activate an access key"),
        "{answer}"
    );
}
