//! The sign-in pages as a person uses them (no JavaScript needed).

use testkit::TestApp;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_person_signs_in_sees_who_they_are_and_signs_out,
    mistakes_are_explained_beside_the_field,
    not_received_a_code_sends_a_new_one,
    signed_in_pages_are_not_cached_and_carry_security_headers,
);

async fn a_person_signs_in_sees_who_they_are_and_signs_out(app: TestApp) {
    let email = app
        .user(
            "10000031",
            "ada@example.ac.uk",
            &["portal-admin", "data-collection-contributor:heses"],
        )
        .await;
    let mut b = app.browser();
    let start = b.get("/").await;
    assert!(start.body.contains("href=\"/sign-in\""));
    let form = b.get("/sign-in").await;
    assert!(form.body.contains("autocomplete=\"email\""));
    b.submit("/sign-in", &[("email", &email)]).await;
    let code_page = b.get("/sign-in/code").await;
    assert!(code_page.body.contains("autocomplete=\"one-time-code\""));
    assert!(code_page.body.contains("Not received a code?"));
    assert!(code_page.body.contains("ada@example.ac.uk"));
    let code = app.last_code_for(&email).await.unwrap();
    // People paste codes with spaces.
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let r = b.submit("/sign-in/code", &[("code", &spaced)]).await;
    assert_eq!(r.location(), Some("/home"));
    let home = b.get("/home").await;
    assert_eq!(home.status, 200);
    for text in [
        "Test Person",
        "Provider 10000031",
        "10000031",
        "Portal Administrator",
        "Data collection contributor - HESES",
        "Sign out",
    ] {
        assert!(home.body.contains(text), "{text} missing");
    }
    let r = b.submit("/sign-out", &[]).await;
    assert_eq!(r.location(), Some("/signed-out"));
    assert!(
        b.get("/signed-out")
            .await
            .body
            .contains("You have signed out")
    );
    assert_eq!(b.get("/home").await.location(), Some("/sign-in"));
}

async fn mistakes_are_explained_beside_the_field(app: TestApp) {
    let email = app.user("10000032", "typo@example.ac.uk", &[]).await;
    let mut b = app.browser();
    b.get("/sign-in").await;
    let before = app.snapshot().await;
    let r = b.submit("/sign-in", &[("email", "not an address")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("govuk-error-summary"));
    assert!(r.body.contains("href=\"#email\""));
    assert!(r.body.contains("govuk-error-message"));
    assert!(
        r.body
            .contains("<title>Error: Sign in - Provider Portal</title>")
    );
    assert!(
        r.body.contains("value=\"not an address\""),
        "what was typed is kept"
    );
    assert_eq!(app.snapshot().await, before);
    b.submit("/sign-in", &[("email", &email)]).await;
    b.get("/sign-in/code").await;
    let r = b.submit("/sign-in/code", &[("code", "12ab")]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Enter the 6-digit code"));
    let r = b.submit("/sign-in/code", &[("code", "000000")]).await;
    let code = app.last_code_for(&email).await.unwrap();
    if code != "000000" {
        assert_eq!(r.status, 400);
        assert!(r.body.contains("The code is not correct or has expired"));
    }
}

async fn not_received_a_code_sends_a_new_one(app: TestApp) {
    let email = app.user("10000033", "resend@example.ac.uk", &[]).await;
    let mut b = app.browser();
    b.get("/sign-in").await;
    b.submit("/sign-in", &[("email", &email)]).await;
    let first = app.last_code_for(&email).await.unwrap();
    let page = b.get("/sign-in/resend").await;
    assert!(page.body.contains("Not received a code?"));
    let r = b.submit("/sign-in/resend", &[]).await;
    assert_eq!(r.location(), Some("/sign-in/code"));
    app.deliver_mail().await;
    let codes = app
        .mailer
        .sent_to(&email)
        .into_iter()
        .filter(|m| m.subject.contains("code"))
        .count();
    assert_eq!(codes, 2);
    let second = app.last_code_for(&email).await.unwrap();
    b.get("/sign-in/code").await;
    if first != second {
        let r = b.submit("/sign-in/code", &[("code", &first)]).await;
        assert_eq!(r.status, 400, "the first code belongs to the first attempt");
    }
    let r = b.submit("/sign-in/code", &[("code", &second)]).await;
    assert_eq!(r.location(), Some("/home"));
}

async fn signed_in_pages_are_not_cached_and_carry_security_headers(app: TestApp) {
    let email = app.user("10000034", "headers@example.ac.uk", &[]).await;
    let mut b = page_sign_in(&app, &email).await;
    let r = b.get("/home").await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("script-src 'self' 'sha256-"));
    assert!(!csp.contains("unsafe-inline"));
    assert!(r.header("referrer-policy").is_some());
    assert!(
        r.header("strict-transport-security").is_none(),
        "HSTS only in production"
    );
    let css = b.get("/assets/portal.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("cache-control").unwrap().starts_with("public"));
    let missing = b.get("/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Page not found"));
}
