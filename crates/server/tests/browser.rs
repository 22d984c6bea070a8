//! The sign-in journey in a real browser (headless Chromium), with JavaScript
//! on and off; axe-core checks every page visited for WCAG 2.2 AA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::Locator;
use testkit::{Backend, Chrome, TestApp};

testkit::both_backends!(
    ;
    raw:
    a_person_signs_in_and_out_in_a_real_browser_and_every_page_passes_axe,
    the_same_journey_works_with_javascript_off,
    an_administrator_adds_a_colleague_and_grants_heses_in_a_real_browser,
    the_user_management_journey_works_with_javascript_off,
);

/// Waits (up to 10 s) until the browser shows `path` with the page fully there
/// (its footer parsed): clicks return before a navigation completes.
async fn arrive(c: &fantoccini::Client, path: &str) {
    for _ in 0..200 {
        let here = c.current_url().await.unwrap();
        if here.path() == path && c.find(Locator::Css("footer .govuk-footer")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the browser did not reach {path}: it shows {}",
        c.current_url().await.unwrap()
    );
}

/// Waits (up to 10 s) for an element to appear.
async fn appears(c: &fantoccini::Client, css: &str) {
    for _ in 0..200 {
        if c.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{css} did not appear");
}

/// Fails with every violation found on the page the browser shows.
async fn assert_accessible(chrome: &Chrome, page: &str) {
    let violations = chrome.axe().await;
    assert!(violations.is_empty(), "{page}: {violations:#?}");
}

async fn journey(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let email = app
        .user(
            "10000071",
            "browser@example.ac.uk",
            &["portal-admin", "data-collection-contributor:heses"],
        )
        .await;
    let c = &chrome.client;
    let check = |page: &'static str| {
        let chrome = &chrome;
        async move {
            if javascript {
                assert_accessible(chrome, page).await;
            }
        }
    };

    c.goto(&app.url("/")).await.unwrap();
    check("start").await;
    click(c, "main a.govuk-button").await;
    arrive(c, "/sign-in").await;
    check("sign-in").await;

    // A mistake is explained, in the error summary and beside the field.
    fill(c, "#email", "not an address").await;
    click(c, "main button.govuk-button").await;
    appears(c, ".govuk-error-summary").await;
    check("sign-in with an error").await;

    let field = c.find(Locator::Css("#email")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&email).await.unwrap();
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    check("enter code").await;

    click_link(c, "Not received a code?").await;
    arrive(c, "/sign-in/resend").await;
    check("not received a code").await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;

    // The code from the newest email, pasted with a space in the middle.
    let code = app.last_code_for(&email).await.unwrap();
    let pasted = format!("{} {}", &code[..3], &code[3..]);
    fill(c, "#code", &pasted).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/home").await;
    let home = c.source().await.unwrap();
    for text in [
        "Test Person",
        "Provider 10000071",
        "Portal Administrator",
        "Data collection contributor - HESES",
    ] {
        assert!(home.contains(text), "{text} missing from home");
    }
    check("home").await;
    if javascript {
        let body_class: String = c
            .execute("return document.body.className", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            body_class.contains("govuk-frontend-supported"),
            "GOV.UK Frontend ran: {body_class}"
        );
    }

    click(c, "button.portal-link-button").await;
    arrive(c, "/signed-out").await;
    check("signed out").await;
    c.goto(&app.url("/home")).await.unwrap();
    arrive(c, "/sign-in").await;

    c.goto(&app.url("/no-such-page")).await.unwrap();
    check("page not found").await;
    chrome.client.clone().close().await.unwrap();
}

async fn a_person_signs_in_and_out_in_a_real_browser_and_every_page_passes_axe(backend: Backend) {
    journey(backend, true).await;
}

async fn the_same_journey_works_with_javascript_off(backend: Backend) {
    journey(backend, false).await;
}

async fn click(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn click_link(c: &fantoccini::Client, text: &str) {
    c.find(Locator::LinkText(text))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn fill(c: &fantoccini::Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn sign_in(c: &fantoccini::Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/sign-in")).await.unwrap();
    fill(c, "#email", email).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    let code = app.last_code_for(email).await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/home").await;
}

async fn user_management(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let pa = app
        .user("10000131", "ada@one.example.ac.uk", &["portal-admin"])
        .await;
    app.user(
        "10000131",
        "finley@one.example.ac.uk",
        &["data-collection-contributor:annual-financial-return"],
    )
    .await;
    let c = &chrome.client;
    let check = |page: &'static str| {
        let chrome = &chrome;
        async move {
            if javascript {
                assert_accessible(chrome, page).await;
            }
        }
    };
    sign_in(c, &app, &pa).await;
    click_link(c, "User management").await;
    arrive(c, "/users").await;
    check("user management").await;
    // Find a user by search.
    fill(c, "#q", "finley").await;
    click(c, "form.portal-filter button").await;
    appears(c, "a[href^='/users/']").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("finley@one.example.ac.uk")
    );
    check("user management, searched").await;
    // Add a colleague: first with mistakes, then properly.
    c.goto(&app.url("/users")).await.unwrap();
    click_link(c, "Add user").await;
    arrive(c, "/users/add").await;
    check("add user").await;
    fill(c, "#first_name", "Grace").await;
    fill(c, "#email", "grace").await;
    click(c, "main form button.govuk-button").await;
    appears(c, ".govuk-error-summary").await;
    check("add user with errors").await;
    fill(c, "#title", "Dr").await;
    fill(c, "#last_name", "Hopper").await;
    fill(c, "#email", "grace@one.example.ac.uk").await;
    click(c, "main form button.govuk-button").await;
    appears(c, ".govuk-notification-banner").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("Request received for Dr Grace Hopper")
    );
    check("request received").await;
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to("grace@one.example.ac.uk")
            .iter()
            .any(|m| m.subject.contains("You have a Provider Portal account"))
    );
    assert!(
        app.mailer
            .sent_to(&pa)
            .iter()
            .any(|m| m.subject == "User added to Provider Portal")
    );
    // Edit the colleague: Add role, tick HESES, Add, see it pending, Submit.
    c.goto(&app.url("/users?q=grace")).await.unwrap();
    let grace = app.user_record("grace@one.example.ac.uk").await;
    c.find(Locator::Css(&format!("a[href='/users/{}']", grace.id)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, &format!("/users/{}", grace.id)).await;
    check("edit user").await;
    click_link(c, "Add role").await;
    // With JavaScript the lookup opens as a dialog over Edit user; without, as its own page.
    let scope = if javascript {
        appears(c, "dialog[open] [data-lookup-content]").await;
        check("role lookup dialog open").await;
        // Keyboard: Escape closes the dialog and focus goes back to "Add role".
        let focused = c.active_element().await.unwrap();
        focused.send_keys("\u{E00C}").await.unwrap();
        for _ in 0..100 {
            if c.find(Locator::Css("dialog[open]")).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            c.find(Locator::Css("dialog[open]")).await.is_err(),
            "Escape closes the dialog"
        );
        let back: String = c
            .execute("return document.activeElement.textContent.trim()", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(back, "Add role");
        click_link(c, "Add role").await;
        appears(c, "dialog[open] [data-lookup-content]").await;
        // Typing in the search narrows the choices in place.
        fill(c, "dialog[open] input[name='q']", "hes").await;
        let prevent = c
            .find(Locator::XPath(
                "//dialog//label[normalize-space()='Data collection contributor - Prevent']",
            ))
            .await
            .unwrap();
        assert!(
            !prevent.is_displayed().await.unwrap(),
            "Prevent is filtered out"
        );
        "//dialog"
    } else {
        arrive(c, &format!("/users/{}/roles/add", grace.id)).await;
        "//main"
    };
    c.find(Locator::XPath(&format!(
        "{scope}//label[normalize-space()='Data collection contributor - HESES']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.find(Locator::XPath(&format!(
        "{scope}//button[normalize-space()='Add']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(c, &format!("/users/{}", grace.id)).await;
    assert!(c.source().await.unwrap().contains("To be added"));
    check("edit user with a pending role").await;
    click(c, "main form[method='post'] button.govuk-button").await;
    appears(c, ".govuk-notification-banner--success").await;
    check("edit user saved").await;
    let roles = app.store().user_roles(grace.id).await.unwrap();
    assert_eq!(
        roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["Data collection contributor - HESES"]
    );
    c.goto(&app.url("/users/roles-guidance")).await.unwrap();
    check("portal roles guidance").await;
    // The colleague, signing in, holds the role.
    click(c, "button.portal-link-button").await;
    arrive(c, "/signed-out").await;
    sign_in(c, &app, "grace@one.example.ac.uk").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("Data collection contributor - HESES")
    );
    chrome.client.clone().close().await.unwrap();
}

async fn an_administrator_adds_a_colleague_and_grants_heses_in_a_real_browser(backend: Backend) {
    user_management(backend, true).await;
}

async fn the_user_management_journey_works_with_javascript_off(backend: Backend) {
    user_management(backend, false).await;
}
