//! Journeys in a real browser (headless Chromium), with JavaScript on and off:
//! signing in, managing users (seed 001), and the old portal's user guide
//! (seed 000, steps A1 to E3, with password sign-in), and a data return from
//! opening its window to its acceptance (issue 5). With JavaScript on,
//! axe-core checks every page visited for WCAG 2.2 AA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::Locator;
use server::Config;
use testkit::{Backend, Chrome, TestApp};

mod data_return_checks; // issue 16, Done-when 1
// Issue 15's journeys, one module per part (each uses this file's helpers).
mod lists_and_navigation;
mod lookup_and_copy;
mod regulator_side;
mod service_pages;
mod sign_in_states;
mod uk_time;

testkit::both_backends!(
    ;
    raw:
    a_person_signs_in_and_out_in_a_real_browser_and_every_page_passes_axe,
    the_same_journey_works_with_javascript_off,
    an_administrator_adds_a_colleague_and_grants_heses_in_a_real_browser,
    the_user_management_journey_works_with_javascript_off,
    a_user_administrator_follows_the_old_portals_guide_from_a1_to_e3_and_every_page_passes_axe,
    the_old_portals_guide_works_with_javascript_off,
    a_delegated_administrator_is_told_why_a_change_is_refused_and_nothing_changes,
    a_heses_return_is_opened_submitted_and_accepted_and_every_page_passes_axe,
    the_data_return_journey_works_with_javascript_off,
    pages_offer_only_what_the_actor_may_do_and_say_why,
    my_account_lists_two_sessions_ends_the_other_and_shows_a_new_token_once,
    my_account_sessions_and_tokens_work_with_javascript_off,
    a_delegates_refused_grant_appears_on_activity_filtered_and_exported_with_and_without_javascript,
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

/// Looks at the page the browser shows at 1200 px and at 500 px wide: with
/// JavaScript on, axe checks it at each width; when `PORTAL_SCREENSHOTS` names a
/// directory, a screenshot of each width is saved there as `<name>-<width>.png`
/// to be looked at by eye. Leaves the window 1200 px wide.
#[allow(dead_code)] // used by the issue 15 modules as they land
async fn at_both_widths(chrome: &Chrome, javascript: bool, name: &str) {
    let c = &chrome.client;
    for width in [1200u32, 500] {
        c.set_window_size(width, 900).await.unwrap();
        if javascript {
            assert_accessible(chrome, &format!("{name} at {width} px")).await;
        }
        if let Ok(dir) = std::env::var("PORTAL_SCREENSHOTS") {
            let png = c.screenshot().await.unwrap();
            let js = if javascript { "js" } else { "nojs" };
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/{name}-{js}-{width}.png"), png).unwrap();
        }
    }
    c.set_window_size(1200, 900).await.unwrap();
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
    click(
        c,
        &format!(
            "main form[method='post'][action='/users/{}'] button.govuk-button",
            grace.id
        ),
    )
    .await;
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

/// Clicks a button that submits its form, and waits until the page it was on
/// has gone (the answer may be at the same address, so `arrive` cannot tell).
async fn submit(c: &fantoccini::Client, button: fantoccini::elements::Element) {
    button.click().await.unwrap();
    for _ in 0..200 {
        if button.is_displayed().await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the form was not submitted: {}",
        c.current_url().await.unwrap()
    );
}

/// Submits the form whose button has exactly this text.
async fn press(c: &fantoccini::Client, text: &str) {
    let button = c
        .find(Locator::XPath(&format!(
            "//main//button[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|_| panic!("no button {text:?}"));
    submit(c, button).await;
}

/// Submits the row form that carries `name=value` (Add, Remove, Copy to…).
async fn press_for(c: &fantoccini::Client, name: &str, value: &str) {
    let button = c
        .find(Locator::XPath(&format!(
            "//form[input[@name='{name}' and @value='{value}']]//button"
        )))
        .await
        .unwrap_or_else(|_| panic!("no form with {name}={value}"));
    submit(c, button).await;
}

async fn page_has(c: &fantoccini::Client, text: &str) -> bool {
    c.source().await.unwrap().contains(text)
}

async fn sign_out(c: &fantoccini::Client) {
    c.find(Locator::XPath(
        "//header//button[normalize-space()='Sign out']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(c, "/signed-out").await;
}

/// Fills a GOV.UK date input whose boxes are `<id>-day`, `-month`, `-year`.
async fn fill_date(c: &fantoccini::Client, id: &str, day: &str, month: &str, year: &str) {
    fill(c, &format!("#{id}-day"), day).await;
    fill(c, &format!("#{id}-month"), month).await;
    fill(c, &format!("#{id}-year"), year).await;
}

/// Seed 000, the old portal's guide for user administrators, in its order, in
/// the new portal with password sign-in enabled.
async fn old_portal_guide(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let config = Config {
        password_sign_in: true,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let c = &chrome.client;
    let check = |page: &'static str| {
        let chrome = &chrome;
        async move {
            if javascript {
                assert_accessible(chrome, page).await;
            }
        }
    };

    // The provider and its people before the guide starts: the head of
    // provider (who receives the letter), and two users from the old portal:
    // Sam, with areas and a password, and Leo, who is leaving.
    let meta = app::RequestMeta::operator("test");
    app.user("10000201", "head@barset.example.ac.uk", &["portal-admin"])
        .await;
    let org = app
        .store()
        .organisation_by_ukprn(&domain::Ukprn::parse("10000201").unwrap())
        .await
        .unwrap()
        .unwrap();
    for (first, last, email, roles) in [
        (
            "Sam",
            "Standard",
            "sam@barset.example.ac.uk",
            vec![
                "data-collection-contributor:heses",
                "data-collection-contributor:prevent",
                "data-collection-contributor:annual-financial-return",
            ],
        ),
        (
            "Leo",
            "Leaver",
            "leo@barset.example.ac.uk",
            vec!["data-collection-contributor:capital-funding"],
        ),
    ] {
        app.portal
            .app
            .create_user(
                &app::admin::UserInput {
                    organisation: org.id.to_string(),
                    title: String::new(),
                    first_name: first.into(),
                    last_name: last.into(),
                    email: email.into(),
                    roles: roles.into_iter().map(str::to_owned).collect(),
                },
                &meta,
            )
            .await
            .unwrap();
    }
    app.deliver_mail().await;
    let sam = app.user_record("sam@barset.example.ac.uk").await;
    let leo = app.user_record("leo@barset.example.ac.uk").await;
    // Sam's password from the old portal, then five wrong guesses: locked
    // until a user administrator unlocks the account (B3).
    let mut tx = app.store().begin().await.unwrap();
    let hash = domain::password::hash("Sam's old portal password 1", &mut rand::rngs::OsRng);
    tx.set_password(sam.id, &hash.unwrap()).await.unwrap();
    tx.commit().await.unwrap();
    for _ in 0..5 {
        let wrong = app
            .portal
            .app
            .sign_in_with_password(
                sam.email.as_str(),
                "not it",
                store::SessionKind::Web,
                None,
                &meta,
            )
            .await;
        assert!(wrong.is_err());
    }
    assert!(app.user_record(sam.email.as_str()).await.locked);
    let rita = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;

    // The regulator defines a sensitive area and issues the access keys that
    // are posted to the head of provider.
    sign_in(c, &app, &rita).await;
    check("regulator home").await;
    click_link(c, "Areas").await;
    arrive(c, "/areas").await;
    check("areas, regulator").await;
    fill(c, "#name", "Board papers").await;
    fill(c, "#slug", "Board Papers").await;
    click(c, "label[for='kind-2']").await;
    click(c, "label[for='sensitive']").await;
    press(c, "Add area").await;
    appears(c, ".govuk-error-summary").await;
    check("add an area, with an error").await;
    fill(c, "#slug", "board-papers").await;
    press(c, "Add area").await;
    appears(c, ".govuk-notification-banner--success").await;
    assert!(page_has(c, "The area Board papers has been added.").await);

    click_link(c, "Access keys").await;
    arrive(c, "/access-keys").await;
    check("access keys").await;
    click_link(c, "Issue an access key").await;
    arrive(c, "/access-keys/new").await;
    check("issue an access key").await;
    let new_key_url = app.url("/access-keys/new");
    let org_id = org.id.to_string();
    let issue = |role: &'static str, uses: &'static str, with_date: bool| {
        let (url, org_id) = (new_key_url.clone(), org_id.clone());
        async move {
            c.goto(&url).await.unwrap();
            arrive(c, "/access-keys/new").await;
            let provider = c.find(Locator::Css("#organisation_id")).await.unwrap();
            provider.select_by_value(&org_id).await.unwrap();
            let roles = c.find(Locator::Css("#role")).await.unwrap();
            roles.select_by_value(role).await.unwrap();
            fill(c, "#max_uses", uses).await;
            if with_date {
                fill_date(c, "expires_at", "1", "10", "2026").await;
            }
            press(c, "Issue key").await;
        }
    };
    // The date is forgotten first: the form says so.
    issue("portal-admin", "1", false).await;
    appears(c, ".govuk-error-summary").await;
    assert!(page_has(c, "Enter the expiry date").await);
    check("issue an access key, with an error").await;
    issue("portal-admin", "1", true).await;
    appears(c, ".portal-access-key").await;
    check("access key issued").await;
    assert!(page_has(c, "This is the only time the key is shown").await);
    let admin_key = c
        .find(Locator::Css(".portal-access-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Reloading shows the key's details, not the key, and issues nothing.
    let keys_before = app.store().access_keys(None).await.unwrap().len();
    c.refresh().await.unwrap();
    appears(c, ".govuk-inset-text").await;
    assert!(!shows(c, ".portal-access-key").await);
    assert!(page_has(c, "cannot be shown again").await);
    assert_eq!(
        app.store().access_keys(None).await.unwrap().len(),
        keys_before
    );
    issue("area-member:board-papers", "5", true).await;
    appears(c, ".portal-access-key").await;
    let board_key = c
        .find(Locator::Css(".portal-access-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // A key issued by mistake is revoked.
    issue("data-collection-contributor:heses", "20", true).await;
    appears(c, ".portal-access-key").await;
    click_link(c, "Return to access keys").await;
    arrive(c, "/access-keys").await;
    let mistake = app
        .store()
        .access_keys(None)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.role.id() == "data-collection-contributor:heses")
        .unwrap();
    let revoke = c
        .find(Locator::Css(&format!(
            "form[action='/access-keys/{}/revoke'] button",
            mistake.id
        )))
        .await
        .unwrap();
    submit(c, revoke).await;
    appears(c, ".govuk-notification-banner--success").await;
    check("access key revoked").await;
    sign_out(c).await;

    // Join the user administrator area: "Create an account" on the sign-in
    // page, name, email, password and access key, "Register".
    c.goto(&app.url("/sign-in")).await.unwrap();
    check("sign in, with password sign-in enabled").await;
    click_link(c, "Create an account").await;
    arrive(c, "/register").await;
    check("create an account").await;
    let ada = "ada@barset.example.ac.uk";
    fill(c, "#title", "Dr").await;
    fill(c, "#first_name", "Ada").await;
    fill(c, "#last_name", "Lovelace").await;
    fill(c, "#email", ada).await;
    fill(c, "#password", "short").await;
    fill(c, "#access_key", &admin_key.to_lowercase()).await;
    press(c, "Register").await;
    appears(c, ".govuk-error-summary").await;
    assert!(page_has(c, "at least 12 characters").await);
    check("create an account, with an error").await;
    fill(c, "#password", "correct horse battery staple").await;
    press(c, "Register").await;
    // "You will be informed whether the registration was successful."
    appears(c, ".govuk-panel").await;
    assert!(page_has(c, "Registration successful").await);
    assert!(page_has(c, "Portal Administrator").await);
    check("registration successful").await;

    // Log in with the standard username and password.
    c.find(Locator::XPath("//main//a[normalize-space()='Sign in']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, "/sign-in/password").await;
    check("sign in with a password").await;
    fill(c, "#email", ada).await;
    fill(c, "#password", "correct horse battery stable").await;
    press(c, "Sign in").await;
    appears(c, ".govuk-error-summary").await;
    check("sign in with a wrong password").await;
    fill(c, "#password", "correct horse battery staple").await;
    press(c, "Sign in").await;
    arrive(c, "/home").await;
    check("home, user administrator").await;

    // Already registered: "My account", then "Activate an access key".
    click_link(c, "My account").await;
    arrive(c, "/account").await;
    check("my account").await;
    click_link(c, "Activate an access key").await;
    arrive(c, "/account/access-key").await;
    check("activate an access key").await;
    fill(c, "#key", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23").await;
    press(c, "Activate").await;
    appears(c, "#key-error").await;
    check("activate an access key, wrong key").await;
    fill(c, "#key", &board_key).await;
    press(c, "Activate").await;
    arrive(c, "/account").await;
    assert!(page_has(c, "You now have the role Area member - Board papers").await);
    check("access key activated").await;
    // And the password can be changed with a code sent by email.
    click_link(c, "Change your password").await;
    arrive(c, "/account/password").await;
    check("change your password").await;
    press(c, "Email me a code").await;
    appears(c, "#code").await;
    check("enter the code and a new password").await;
    app.deliver_mail().await;
    let mail = app.mailer.sent_to(ada);
    let code = mail
        .iter()
        .rev()
        .find(|m| m.subject.contains("set your password"))
        .and_then(|m| testkit::only_six_digit_number(&m.body))
        .unwrap();
    fill(c, "#code", &code).await;
    fill(c, "#password", "a new passphrase for Ada").await;
    fill(c, "#confirm", "a new passphrase for Ada").await;
    press(c, "Change password").await;
    arrive(c, "/account").await;
    assert!(page_has(c, "Your password has been changed.").await);

    // A1. From the User administration homepage, "Create user" (Add user).
    click_link(c, "User management").await;
    arrive(c, "/users").await;
    check("user management").await;
    click_link(c, "Add user").await;
    arrive(c, "/users/add").await;
    check("add user").await;
    // A2. Complete user details and Save (Submit).
    fill(c, "#title", "Mx").await;
    fill(c, "#first_name", "Grace").await;
    fill(c, "#last_name", "Hopper").await;
    fill(c, "#email", "grace@barset.example.ac.uk").await;
    press(c, "Submit").await;
    // A3. The confirmation, back on the User administration page.
    arrive(c, "/users").await;
    assert!(page_has(c, "Request received for Mx Grace Hopper").await);
    check("request received").await;
    app.deliver_mail().await;
    let grace = app.user_record("grace@barset.example.ac.uk").await;

    // B1. Find a user with the "Search" box.
    fill(c, "#q", "grace").await;
    click(c, "form.portal-filter button").await;
    appears(c, &format!("a[href='/users/{}']", grace.id)).await;
    check("user management, searched").await;
    // B2. "View/edit" (Edit) the user, and change their details.
    click(c, &format!("a[href='/users/{}']", grace.id)).await;
    arrive(c, &format!("/users/{}", grace.id)).await;
    check("edit user").await;
    click(c, &format!("a[href='/users/{}/details']", grace.id)).await;
    arrive(c, &format!("/users/{}/details", grace.id)).await;
    check("change user details").await;
    fill(c, "#last_name", "Brewster Hopper").await;
    press(c, "Save").await;
    appears(c, ".govuk-notification-banner--success").await;
    assert!(page_has(c, "Mx Grace Brewster Hopper").await);

    // B3. A locked account: find it and Edit.
    c.goto(&app.url("/users?q=sam")).await.unwrap();
    arrive(c, "/users").await;
    assert!(page_has(c, "Locked").await);
    click(c, &format!("a[href='/users/{}']", sam.id)).await;
    arrive(c, &format!("/users/{}", sam.id)).await;
    check("edit user, locked").await;
    // B4. Unlock the account, and change the expiry date.
    press(c, "Unlock account").await;
    appears(c, ".govuk-notification-banner--success").await;
    assert!(page_has(c, "The account has been unlocked").await);
    check("edit user, unlocked").await;
    assert!(!app.user_record(sam.email.as_str()).await.locked);
    click(c, &format!("a[href='/users/{}/expiry']", sam.id)).await;
    arrive(c, &format!("/users/{}/expiry", sam.id)).await;
    check("expiry date").await;
    fill_date(c, "expires_at", "31", "2", "2027").await;
    press(c, "Save").await;
    appears(c, "#expires_at-error").await;
    check("expiry date, not a real date").await;
    fill_date(c, "expires_at", "31", "12", "2027").await;
    press(c, "Save").await;
    arrive(c, &format!("/users/{}", sam.id)).await;
    assert!(page_has(c, "Until the end of 31 December 2027").await);

    // B5. Remove the user's access to an area: "Remove" next to the area's
    // role, then Submit.
    c.find(Locator::XPath(
        "//tr[td[contains(., 'Data collection contributor - Prevent')]]//a[starts-with(normalize-space(), 'Remove')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    appears(c, ".govuk-tag--red").await;
    check("edit user, area to be removed").await;
    press(c, "Submit").await;
    appears(c, ".govuk-notification-banner--success").await;
    let store = app.store();
    let roles = |id| {
        let store = store.clone();
        async move {
            let mut names: Vec<String> = store
                .user_roles(id)
                .await
                .unwrap()
                .iter()
                .map(|g| g.role.id())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        roles(sam.id).await,
        [
            "data-collection-contributor:annual-financial-return",
            "data-collection-contributor:heses"
        ]
    );

    // B6. An account cannot be deleted, but it cannot be used after its
    // expiry date: Leo has left, so his expiry date goes into the past.
    c.goto(&app.url("/users?q=leo")).await.unwrap();
    click(c, &format!("a[href='/users/{}']", leo.id)).await;
    arrive(c, &format!("/users/{}", leo.id)).await;
    click(c, &format!("a[href='/users/{}/expiry']", leo.id)).await;
    arrive(c, &format!("/users/{}/expiry", leo.id)).await;
    fill_date(c, "expires_at", "31", "8", "2026").await;
    press(c, "Save").await;
    arrive(c, &format!("/users/{}", leo.id)).await;
    assert!(page_has(c, "Expired").await);
    check("edit user, expired").await;
    // Leo can no longer sign in: asked for a code, the portal sends none.
    let answer = app
        .post_json(
            "/api/v1/auth/code",
            serde_json::json!({ "email": leo.email }),
        )
        .await;
    assert!(
        answer.status().is_success(),
        "the same answer as for anyone"
    );
    assert_eq!(app.last_code_for(leo.email.as_str()).await, None);

    // C1. Find a user with "Search", then "View/edit".
    c.goto(&app.url("/users")).await.unwrap();
    fill(c, "#q", "grace").await;
    click(c, "form.portal-filter button").await;
    appears(c, &format!("a[href='/users/{}']", grace.id)).await;
    click(c, &format!("a[href='/users/{}']", grace.id)).await;
    arrive(c, &format!("/users/{}", grace.id)).await;
    // C2. In the Areas section (Assigned Portal Roles), "Add permissions" (Add role).
    click_link(c, "Add role").await;
    let scope = if javascript {
        appears(c, "dialog[open] [data-lookup-content]").await;
        check("role lookup dialog").await;
        "//dialog"
    } else {
        arrive(c, &format!("/users/{}/roles/add", grace.id)).await;
        "//main"
    };
    // C3. Select the area, then "Add".
    c.find(Locator::XPath(&format!(
        "{scope}//label[normalize-space()='Data collection contributor - Capital Funding']"
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
    // C4. The user is added to the area once submitted; then back to the user.
    arrive(c, &format!("/users/{}", grace.id)).await;
    assert!(page_has(c, "To be added").await);
    check("edit user, area to be added").await;
    press(c, "Submit").await;
    appears(c, ".govuk-notification-banner--success").await;
    check("edit user, area added").await;
    assert_eq!(
        roles(grace.id).await,
        ["data-collection-contributor:capital-funding"]
    );

    // D1. From View user, "Copy permissions to another user".
    c.goto(&app.url(&format!("/users/{}", sam.id)))
        .await
        .unwrap();
    arrive(c, &format!("/users/{}", sam.id)).await;
    click_link(c, "Copy permissions to another user").await;
    arrive(c, &format!("/users/{}/copy", sam.id)).await;
    check("copy permissions").await;
    fill(c, "#q", "grace").await;
    click(c, "form.portal-filter button").await;
    appears(c, &format!("input[name='to'][value='{}']", grace.id)).await;
    check("copy permissions, searched").await;
    // D2. "Copy to" the user: every area is copied.
    press_for(c, "to", &grace.id.to_string()).await;
    // D3. The confirmation, then "Back" to View user.
    appears(c, ".govuk-panel").await;
    assert!(page_has(c, "The permissions have been copied").await);
    check("permissions copied").await;
    assert_eq!(
        roles(grace.id).await,
        [
            "data-collection-contributor:annual-financial-return",
            "data-collection-contributor:capital-funding",
            "data-collection-contributor:heses"
        ]
    );
    click_link(c, "Back").await;
    arrive(c, &format!("/users/{}", sam.id)).await;
    // D4. Grace does not need HESES: removed as in B5.
    c.goto(&app.url(&format!("/users/{}", grace.id)))
        .await
        .unwrap();
    c.find(Locator::XPath(
        "//tr[td[contains(., 'Data collection contributor - HESES')]]//a[starts-with(normalize-space(), 'Remove')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    appears(c, ".govuk-tag--red").await;
    press(c, "Submit").await;
    appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(
        roles(grace.id).await,
        [
            "data-collection-contributor:annual-financial-return",
            "data-collection-contributor:capital-funding"
        ]
    );

    // E1. "Areas", then "View" beside the area. A sensitive area shows who
    // has it, and that only an access key adds anyone.
    click_link(c, "Areas").await;
    arrive(c, "/areas").await;
    assert!(page_has(c, "Sensitive: access key only").await);
    check("areas").await;
    click(c, "a[href='/areas/board-papers']").await;
    arrive(c, "/areas/board-papers").await;
    assert!(page_has(c, "only with an access key").await);
    assert!(page_has(c, "ada@barset.example.ac.uk").await);
    assert!(c.find(Locator::LinkText("Add users")).await.is_err());
    check("sensitive area").await;
    click_link(c, "Return to areas").await;
    arrive(c, "/areas").await;
    click(c, "a[href='/areas/annual-fee-information']").await;
    arrive(c, "/areas/annual-fee-information").await;
    check("area").await;
    // E2. "Add users".
    click_link(c, "Add users").await;
    arrive(c, "/areas/annual-fee-information/add").await;
    check("add users to an area").await;
    // E3. Search, select the user, "Add"; again for another; then "Return".
    for (q, who) in [("grace", &grace), ("sam", &sam)] {
        fill(c, "#q", q).await;
        click(c, "form.portal-filter button").await;
        appears(c, &format!("input[name='user_id'][value='{}']", who.id)).await;
        press_for(c, "user_id", &who.id.to_string()).await;
        appears(c, ".govuk-notification-banner--success").await;
        assert!(page_has(c, "has been added to Annual Fee Information").await);
    }
    check("user added to an area").await;
    click_link(c, "Return").await;
    arrive(c, "/areas/annual-fee-information").await;
    assert!(page_has(c, "grace@barset.example.ac.uk").await);
    assert!(page_has(c, "sam@barset.example.ac.uk").await);
    check("area with its users").await;
    // And "Remove" takes someone out of the area again.
    press_for(c, "user_id", &sam.id.to_string()).await;
    appears(c, ".govuk-notification-banner--success").await;
    assert!(page_has(c, "Sam Standard has been removed from this area.").await);
    check("user removed from an area").await;
    assert!(
        !roles(sam.id)
            .await
            .contains(&"data-collection-contributor:annual-fee-information".to_owned())
    );
    assert!(
        roles(grace.id)
            .await
            .contains(&"data-collection-contributor:annual-fee-information".to_owned())
    );
    // The people whose accounts changed are told.
    app.deliver_mail().await;
    chrome.client.clone().close().await.unwrap();
}

async fn a_user_administrator_follows_the_old_portals_guide_from_a1_to_e3_and_every_page_passes_axe(
    backend: Backend,
) {
    old_portal_guide(backend, true).await;
}

async fn the_old_portals_guide_works_with_javascript_off(backend: Backend) {
    old_portal_guide(backend, false).await;
}

/// What the old portal's pages refuse, in a real browser: each refusal is
/// explained on the page it came from, changes nothing and is audited. Password
/// sign-in is off here, so its pages are not there at all.
async fn a_delegated_administrator_is_told_why_a_change_is_refused_and_nothing_changes(
    backend: Backend,
) {
    let Some(chrome) = Chrome::start(true).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let meta = app::RequestMeta::operator("test");
    app.portal
        .app
        .define_area(
            &app::areas::AreaInput {
                slug: "board-papers".into(),
                name: "Board papers".into(),
                kind: "communication".into(),
                sensitive: true,
            },
            &meta,
        )
        .await
        .unwrap();
    let pat = app
        .user(
            "10000301",
            "pat@wessex.example.ac.uk",
            &["portal-admin", "data-collection-contributor:heses"],
        )
        .await;
    let dev = app
        .user(
            "10000301",
            "dev@wessex.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let finn = app
        .user(
            "10000301",
            "finn@wessex.example.ac.uk",
            &["data-collection-contributor:prevent"],
        )
        .await;
    let pat = app.user_record(&pat).await;
    let finn = app.user_record(&finn).await;
    let roles_of = |id| {
        let store = app.store();
        async move {
            let mut r: Vec<String> = store
                .user_roles(id)
                .await
                .unwrap()
                .iter()
                .map(|g| g.role.id())
                .collect();
            r.sort();
            r
        }
    };
    let refused = |action: &'static str| {
        let store = app.store();
        async move {
            store
                .audit_after(0, 1_000_000)
                .await
                .unwrap()
                .iter()
                .any(|r| {
                    r.entry.action == action && r.entry.outcome == domain::audit::Outcome::Refused
                })
        }
    };

    // Without password sign-in there is no "Create an account" and no password page.
    c.goto(&app.url("/sign-in")).await.unwrap();
    assert!(
        c.find(Locator::LinkText("Create an account"))
            .await
            .is_err()
    );
    for path in ["/register", "/sign-in/password"] {
        c.goto(&app.url(path)).await.unwrap();
        assert!(page_has(c, "Page not found").await, "{path}");
    }
    sign_in(c, &app, &dev).await;
    c.goto(&app.url("/account/password")).await.unwrap();
    assert!(page_has(c, "Page not found").await);
    c.goto(&app.url("/account")).await.unwrap();
    assert!(
        c.find(Locator::LinkText("Change your password"))
            .await
            .is_err()
    );

    // Copying a Portal Administrator's permissions: a delegated administrator
    // cannot give that role, so it is not copied, and the page says why; the
    // contributor role they may give is (issue 15, item 2).
    c.goto(&app.url(&format!("/users/{}/copy?q=finn", pat.id)))
        .await
        .unwrap();
    appears(c, &format!("input[name='to'][value='{}']", finn.id)).await;
    press_for(c, "to", &finn.id.to_string()).await;
    appears(c, "#not-copied").await;
    assert!(page_has(c, domain::authz::DELEGATE_ROLE).await);
    assert_accessible(&chrome, "copy partly refused").await;
    assert_eq!(
        roles_of(finn.id).await,
        [
            "data-collection-contributor:heses",
            "data-collection-contributor:prevent"
        ]
    );
    app.deliver_mail().await;
    assert!(app.mailer.sent_to(finn.email.as_str()).iter().any(|m| {
        m.body
            .contains("Role added: Data collection contributor - HESES")
    }));

    // Nor can they take a Portal Administrator out of an area.
    c.goto(&app.url("/areas/heses")).await.unwrap();
    press_for(c, "user_id", &pat.id.to_string()).await;
    appears(c, ".govuk-error-summary").await;
    assert!(page_has(c, domain::authz::DELEGATE_ON_ADMIN).await);
    assert_accessible(&chrome, "area removal refused").await;
    assert!(
        roles_of(pat.id)
            .await
            .contains(&"data-collection-contributor:heses".to_owned())
    );
    assert!(refused("areas.remove_user").await);

    // Nobody is added to a sensitive area by an administrator.
    c.goto(&app.url("/areas/board-papers")).await.unwrap();
    assert!(c.find(Locator::LinkText("Add users")).await.is_err());
    c.goto(&app.url("/areas/board-papers/add")).await.unwrap();
    assert!(page_has(c, domain::authz::SENSITIVE_ROLE).await);
    assert_accessible(&chrome, "sensitive area refused").await;
    assert!(refused("areas.add_user").await);

    // A Portal Administrator's expiry date is not a delegated administrator's.
    c.goto(&app.url(&format!("/users/{}", pat.id)))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css(&format!("a[href='/users/{}/expiry']", pat.id)))
            .await
            .is_err()
    );
    c.goto(&app.url(&format!("/users/{}/expiry", pat.id)))
        .await
        .unwrap();
    assert!(page_has(c, "You cannot do this").await);
    assert!(
        app.user_record(pat.email.as_str())
            .await
            .expires_at
            .is_none()
    );

    // Wrong access keys are refused by the field, and after five the person
    // is told to wait.
    c.goto(&app.url("/account/access-key")).await.unwrap();
    for _ in 0..5 {
        fill(c, "#key", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23").await;
        press(c, "Activate").await;
        appears(c, "#key-error").await;
    }
    assert!(page_has(c, "This access key is not valid").await);
    fill(c, "#key", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23").await;
    press(c, "Activate").await;
    appears(c, "#key-error").await;
    assert!(page_has(c, "Wait 15 minutes, then try again").await);
    assert_accessible(&chrome, "too many access keys").await;
    assert!(refused("access_keys.throttled").await);
    chrome.client.clone().close().await.unwrap();
}

/// Every link of the error summary leads to an element of the page, and the
/// summary lists `expected` (its links' targets, in order).
async fn summary_leads_to(c: &fantoccini::Client, expected: &[&str]) {
    let mut hrefs = Vec::new();
    for a in c
        .find_all(Locator::Css(".govuk-error-summary__list a"))
        .await
        .unwrap()
    {
        let href = a.attr("href").await.unwrap().unwrap();
        assert!(
            c.find(Locator::Css(&href)).await.is_ok(),
            "the error summary links to {href}, which is not on the page"
        );
        hrefs.push(href);
    }
    assert_eq!(hrefs, expected);
}

/// Signs someone in through the pages with the emailed code; with
/// JavaScript, axe checks both sign-in pages and home.
async fn signs_in(chrome: &Chrome, app: &TestApp, javascript: bool, email: String) {
    let c = &chrome.client;
    c.goto(&app.url("/sign-in")).await.unwrap();
    arrive(c, "/sign-in").await;
    if javascript {
        assert_accessible(chrome, "sign-in").await;
    }
    fill(c, "#email", &email).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/sign-in/code").await;
    if javascript {
        assert_accessible(chrome, "enter code").await;
    }
    let code = app.last_code_for(&email).await.unwrap();
    fill(c, "#code", &code).await;
    click(c, "main button.govuk-button").await;
    arrive(c, "/home").await;
    if javascript {
        assert_accessible(chrome, "home").await;
    }
}

/// The status tags of the submissions the window's page shows.
async fn statuses(c: &fantoccini::Client) -> Vec<String> {
    let mut tags = Vec::new();
    for t in c
        .find_all(Locator::Css(".govuk-summary-card .govuk-tag"))
        .await
        .unwrap()
    {
        tags.push(t.text().await.unwrap().trim().to_owned());
    }
    tags
}

/// Done-when 1 of issue 5: the regulator opens a HESES window, a contributor
/// uploads a CSV and submits, a colleague sees it, a Prevent-only colleague
/// does not, the regulator's officer downloads it and accepts it, and the
/// contributors see the outcome and have the email; then feedback is given
/// and read.
/// Where the journey's files are kept: the default directory, or a real
/// S3-compatible server (issue 14).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Files {
    Directory,
    S3,
}

async fn data_return(backend: Backend, javascript: bool) {
    data_return_keeping(backend, javascript, Files::Directory).await;
}

async fn data_return_keeping(backend: Backend, javascript: bool, files: Files) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    const BUCKET: &str = "journey";
    let moto = match files {
        Files::S3 => match testkit::s3::Moto::start(BUCKET).await {
            Some(moto) => Some(moto),
            None => return,
        },
        Files::Directory => None,
    };
    let app = TestApp::spawn_with_files(backend, testkit::test_config(), |dir| {
        let moto = moto.as_ref()?;
        let store: std::sync::Arc<dyn app::files::FileStore> =
            moto.file_store(BUCKET, "portal", &dir.join("incoming"));
        Some(store)
    })
    .await
    .unwrap();
    let c = &chrome.client;
    let check = |page: &'static str| {
        let chrome = &chrome;
        async move {
            if javascript {
                assert_accessible(chrome, page).await;
            }
        }
    };
    // The people: the regulator's administrator and HESES officer, and three
    // contributors of provider A (two for HESES, one for Prevent only).
    let rita = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let oscar = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let hana = app
        .user(
            "10000801",
            "hana@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let harry = app
        .user(
            "10000801",
            "harry@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let priya = app
        .user(
            "10000801",
            "priya@a.example.ac.uk",
            &["data-collection-contributor:prevent"],
        )
        .await;
    let enter = |email: String| signs_in(&chrome, &app, javascript, email);

    // 1. The regulator administrator opens Data returns, then Open a collection window.
    enter(rita.clone()).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    check("data returns, regulator administrator").await;
    click_link(c, "Open a collection window").await;
    arrive(c, "/collections/new").await;
    check("open a collection window").await;

    // 2. A date that does not exist is explained in the error summary, whose
    //    link leads to the date's first box; what was typed is kept.
    let today = app::Clock::now(app.clock.as_ref()).date();
    let (day, month, year) = (
        today.day().to_string(),
        u8::from(today.month()).to_string(),
        today.year().to_string(),
    );
    c.find(Locator::Css("#area"))
        .await
        .unwrap()
        .select_by_value("heses")
        .await
        .unwrap();
    fill(c, "#name", "HESES 2026-27").await;
    fill_date(c, "opens_at", "31", "2", &year).await;
    fill_date(c, "closes_at", "30", "9", &year).await;
    fill(c, "#guidance", "Send the HESES return as a CSV file.").await;
    press(c, "Open the window").await;
    arrive(c, "/collections/new").await;
    appears(c, ".govuk-error-summary").await;
    summary_leads_to(c, &["#opens_at-day"]).await;
    assert!(page_has(c, "value=\"HESES 2026-27\"").await);
    check("open a collection window, with an error").await;

    // 3. Opening today: the window is open at once.
    fill_date(c, "opens_at", &day, &month, &year).await;
    press(c, "Open the window").await;
    let window = c.current_url().await.unwrap().path().to_owned();
    assert!(
        window.starts_with("/collections/") && window != "/collections/new",
        "{window}"
    );
    arrive(c, &window).await;
    appears(c, ".govuk-notification-banner--success").await;
    assert!(page_has(c, "HESES 2026-27").await);
    assert_eq!(
        c.find(Locator::Css("main .govuk-summary-list .govuk-tag"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Open"
    );
    check("the window, just opened").await;
    sign_out(c).await;
    check("signed out").await;
    // 3b. Its HESES contributors are told it has opened, once; the Prevent-only
    //     contributor is not (issue 15, item 9).
    app.portal.app.announce_opened_windows().await.unwrap();
    app.deliver_mail().await;
    let opened = |to: &str| {
        app.mailer
            .sent_to(to)
            .into_iter()
            .filter(|m| m.subject == "HESES 2026-27 is open for your return")
            .count()
    };
    assert_eq!((opened(&hana), opened(&harry), opened(&priya)), (1, 1, 0));

    // 4. A HESES contributor of provider A finds the window and uploads a CSV.
    let csv = b"ukprn,students\n10000801,1234\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heses-2026.csv");
    std::fs::write(&path, csv).unwrap();
    enter(hana.clone()).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    check("data returns, contributor").await;
    click_link(c, "HESES 2026-27").await;
    arrive(c, &window).await;
    check("the window, before uploading").await;
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    press(c, "Upload").await;
    arrive(c, &window).await;
    appears(c, ".govuk-notification-banner--success").await;

    // 5. The draft is shown with the file; a note, then Submit.
    assert_eq!(statuses(c).await, ["Draft"]);
    assert!(page_has(c, "heses-2026.csv").await);
    check("the window, with a draft").await;
    fill(c, "#note", "Our first HESES return.").await;
    press(c, "Submit").await;
    arrive(c, &window).await;
    appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(statuses(c).await, ["Submitted"]);
    assert!(page_has(c, "Our first HESES return.").await);
    check("the window, submitted").await;
    sign_out(c).await;
    // 5b. The regulator's HESES officer is told, once; its administrator, who
    //     does not review returns, is not (issue 15, item 9).
    app.deliver_mail().await;
    let submitted = |to: &str| {
        app.mailer
            .sent_to(to)
            .into_iter()
            .filter(|m| {
                m.subject
                    .contains("has submitted its return to HESES 2026-27")
            })
            .count()
    };
    assert_eq!((submitted(&oscar), submitted(&rita)), (1, 0));

    // 6. The second HESES contributor of A sees the submission, Submitted.
    enter(harry.clone()).await;
    c.goto(&app.url(&window)).await.unwrap();
    arrive(c, &window).await;
    assert_eq!(statuses(c).await, ["Submitted"]);
    assert!(page_has(c, "heses-2026.csv").await);
    assert!(page_has(c, "Our first HESES return.").await);
    check("the window, seen by a colleague").await;
    sign_out(c).await;

    // 7. A Prevent-only contributor of A does not see the window, and its
    //    address is a page that does not exist.
    enter(priya.clone()).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    assert!(!page_has(c, "HESES 2026-27").await);
    check("data returns, Prevent only").await;
    c.goto(&app.url(&window)).await.unwrap();
    arrive(c, &window).await;
    assert!(page_has(c, "Page not found").await);
    assert!(!page_has(c, "heses-2026.csv").await);
    check("the window, not found for Prevent").await;
    sign_out(c).await;

    // 8. The regulator's HESES officer opens the window: the SHA-256 shown is the file's.
    enter(oscar.clone()).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    check("data returns, officer").await;
    click_link(c, "HESES 2026-27").await;
    arrive(c, &window).await;
    check("the window, for review").await;
    let shown = c
        .find(Locator::Css(".govuk-summary-card code.portal-checksum"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(shown.trim(), hex::encode(sha2::Sha256::digest(csv)));

    // 9. The file downloads byte for byte: fetched by the page itself with
    //    JavaScript, with the browser's session cookie without.
    let href = c
        .find(Locator::Css(".govuk-summary-card a[download]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let downloaded: Vec<u8> = if javascript {
        let text = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
                vec![serde_json::json!(href)],
            )
            .await
            .unwrap();
        text.as_str().unwrap().as_bytes().to_vec()
    } else {
        let cookies = c
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|k| format!("{}={}", k.name(), k.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let r = app
            .client()
            .get(app.url(&href))
            .header("cookie", cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        r.bytes().await.unwrap().to_vec()
    };
    assert_eq!(downloaded, csv);

    // 10. Returning it without saying why is explained beside the comment;
    //     then the officer marks it Accepted with a comment.
    let action = c
        .find(Locator::Css("form[action$='/status']"))
        .await
        .unwrap()
        .attr("action")
        .await
        .unwrap()
        .unwrap();
    let submission = action.split('/').nth(2).unwrap().to_owned();
    c.find(Locator::XPath(
        "//main//label[normalize-space()='Returned for amendment']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    press(c, "Save outcome").await;
    arrive(c, &action).await;
    appears(c, ".govuk-error-summary").await;
    summary_leads_to(c, &[format!("#comment-{submission}").as_str()]).await;
    assert_eq!(statuses(c).await, ["Submitted"]);
    check("the window, an outcome without its comment").await;
    c.find(Locator::XPath(
        "//main//label[normalize-space()='Accepted']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    fill(
        c,
        ".govuk-summary-card textarea[name='comment']",
        "Thank you: accepted.",
    )
    .await;
    press(c, "Save outcome").await;
    arrive(c, &window).await;
    appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(statuses(c).await, ["Accepted"]);
    check("the window, reviewed").await;
    sign_out(c).await;

    // 11. Both contributors see Accepted with the comment, and have the email.
    for (who, page) in [
        (&hana, "the window, accepted"),
        (&harry, "the window, accepted, colleague"),
    ] {
        enter(who.clone()).await;
        c.goto(&app.url(&window)).await.unwrap();
        arrive(c, &window).await;
        assert_eq!(statuses(c).await, ["Accepted"]);
        assert!(page_has(c, "Thank you: accepted.").await);
        check(page).await;
        sign_out(c).await;
    }
    // 12. A contributor gives feedback from the footer link: nothing typed is
    //     explained first; then thanks.
    enter(hana.clone()).await;
    c.find(Locator::XPath("//footer//a[normalize-space()='Feedback']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, "/feedback").await;
    check("feedback").await;
    press(c, "Send feedback").await;
    arrive(c, "/feedback").await;
    appears(c, ".govuk-error-summary").await;
    summary_leads_to(c, &["#feedback"]).await;
    check("feedback with an error").await;
    fill(c, "#feedback", "Submitting the return was quick.").await;
    press(c, "Send feedback").await;
    arrive(c, "/feedback").await;
    appears(c, ".govuk-notification-banner--success").await;
    check("feedback sent").await;
    sign_out(c).await;

    // 13. The regulator administrator reads it, with who sent it, on their
    // own Feedback page (issue 15, item 8), reached from the navigation.
    enter(rita.clone()).await;
    click(c, ".govuk-service-navigation a[href='/feedback/received']").await;
    arrive(c, "/feedback/received").await;
    assert!(page_has(c, "Submitting the return was quick.").await);
    check("feedback received").await;

    app.deliver_mail().await;
    for who in [&hana, &harry] {
        let mail = app.mailer.sent_to(who);
        assert!(
            mail.iter().any(|m| m.subject == "HESES 2026-27: Accepted"
                && m.body.contains("Thank you: accepted.")),
            "{who} has the outcome email"
        );
    }
    assert!(
        app.mailer
            .sent_to(&priya)
            .iter()
            .all(|m| !m.subject.contains("HESES")),
        "the Prevent contributor is not told"
    );
    if let Some(moto) = &moto {
        // The upload is in the bucket, and nothing was kept on this machine.
        assert_eq!(moto.keys(BUCKET, "portal").await.len(), 1);
        assert!(!app.files.path().join("objects").exists());
    }
    chrome.client.clone().close().await.unwrap();
}

async fn a_heses_return_is_opened_submitted_and_accepted_and_every_page_passes_axe(
    backend: Backend,
) {
    data_return(backend, true).await;
}

async fn the_data_return_journey_works_with_javascript_off(backend: Backend) {
    data_return(backend, false).await;
}

/// The same journey with `PORTAL_FILES_URL=s3://…` (one database is enough:
/// the files do not depend on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_return_journey_keeps_its_files_in_an_s3_compatible_store() {
    data_return_keeping(Backend::Sqlite, true, Files::S3).await;
}

/// Whether the page shows an element matching `css`.
async fn shows(c: &fantoccini::Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.is_ok()
}

/// Whether the page's main part has a link or button with exactly this text
/// (ignoring text hidden for screen readers after it, as in "Remove <role>").
async fn offers(c: &fantoccini::Client, element: &str, text: &str) -> bool {
    c.find(Locator::XPath(&format!(
        "//main//{element}[normalize-space(text()[1])='{text}' or normalize-space()='{text}']"
    )))
    .await
    .is_ok()
}

/// The values of the hidden `name` inputs of the page's row forms.
async fn values_of(c: &fantoccini::Client, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for input in c
        .find_all(Locator::Css(&format!("main form input[name='{name}']")))
        .await
        .unwrap()
    {
        values.push(input.attr("value").await.unwrap().unwrap_or_default());
    }
    values
}

/// The pages offer only the controls the authorisation rules allow, and say
/// why an expected one is missing: a delegated administrator looking at a
/// Portal Administrator (or another delegate), the colleagues offered for
/// copying a contributor's permissions, Add user for a contributor, and the
/// regulator's invite form beside a sensitive area. Axe checks every page.
async fn pages_offer_only_what_the_actor_may_do_and_say_why(backend: Backend) {
    let Some(chrome) = Chrome::start(true).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let meta = app::RequestMeta::operator("test");
    app.portal
        .app
        .define_area(
            &app::areas::AreaInput {
                slug: "risk-letters".into(),
                name: "Risk letters".into(),
                kind: "communication".into(),
                sensitive: true,
            },
            &meta,
        )
        .await
        .unwrap();
    let ukprn = "10000901";
    let ada = app
        .user(ukprn, "ada@nine.example.ac.uk", &["portal-admin"])
        .await;
    let pat = app
        .user(
            ukprn,
            "pat@nine.example.ac.uk",
            &["portal-admin", "data-collection-contributor:heses"],
        )
        .await;
    let dev = app
        .user(ukprn, "dev@nine.example.ac.uk", &["delegated-portal-admin"])
        .await;
    let dee = app
        .user(
            ukprn,
            "dee@nine.example.ac.uk",
            &[
                "delegated-portal-admin",
                "data-collection-contributor:prevent",
            ],
        )
        .await;
    let hana = app
        .user(
            ukprn,
            "hana@nine.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let finn = app
        .user(
            ukprn,
            "finn@nine.example.ac.uk",
            &["data-collection-contributor:prevent"],
        )
        .await;
    let rita = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let id = |email: String| {
        let app = &app;
        async move { app.user_record(&email).await.id.to_string() }
    };
    let (ada_id, pat_id, dev_id, dee_id, hana_id, finn_id) = (
        id(ada).await,
        id(pat).await,
        id(dev.clone()).await,
        id(dee).await,
        id(hana.clone()).await,
        id(finn).await,
    );
    let enter = |email: String| signs_in(&chrome, &app, true, email);

    // 1. A delegated administrator on a Portal Administrator's (and another
    //    delegate's) Edit user page: nothing to press, and the reason.
    enter(dev.clone()).await;
    for (who, target) in [
        ("a Portal Administrator", &pat_id),
        ("another delegate", &dee_id),
    ] {
        let path = format!("/users/{target}");
        c.goto(&app.url(&path)).await.unwrap();
        arrive(c, &path).await;
        assert!(
            page_has(c, domain::authz::DELEGATE_ON_ADMIN).await,
            "{who}: the reason is given"
        );
        assert!(!offers(c, "a", "Add role").await, "{who}: Add role");
        assert!(!shows(c, "[data-role-lookup]").await, "{who}: the lookup");
        assert!(!offers(c, "a", "Remove").await, "{who}: Remove");
        assert!(!offers(c, "button", "Submit").await, "{who}: Submit");
        assert!(!shows(c, "#access_enabled").await, "{who}: access");
        // Copy permissions reads this user and gives others what the delegate
        // may give, so it is offered on the same basis as the copy itself
        // (issue 15: it/lookup_and_copy.rs
        // `the_copy_link_is_offered_on_the_basis_the_copy_uses`).
        assert!(
            !shows(c, &format!("a[href='/users/{target}/expiry']")).await,
            "{who}: expiry"
        );
        assert!(page_has(c, "Portal access: enabled.").await, "{who}");
        assert_accessible(&chrome, &format!("edit user, {who}, as a delegate")).await;
    }

    // 2. A contributor, whose roles the delegate may give: the controls are
    //    there, with copying, and the colleagues offered are only those whose
    //    roles the delegate may change (not themself, not the source).
    let path = format!("/users/{hana_id}");
    c.goto(&app.url(&path)).await.unwrap();
    arrive(c, &path).await;
    assert!(!page_has(c, domain::authz::DELEGATE_ON_ADMIN).await);
    assert!(offers(c, "a", "Add role").await);
    assert!(offers(c, "a", "Remove").await);
    assert!(offers(c, "button", "Submit").await);
    assert!(shows(c, "#access_enabled").await);
    assert_accessible(&chrome, "edit user, a contributor, as a delegate").await;
    click_link(c, "Copy permissions to another user").await;
    let copy = format!("/users/{hana_id}/copy");
    arrive(c, &copy).await;
    assert_accessible(&chrome, "copy permissions, as a delegate").await;
    let targets = values_of(c, "to").await;
    assert!(
        targets.contains(&finn_id),
        "another contributor: {targets:?}"
    );
    for (who, not) in [
        ("the delegate themself", &dev_id),
        ("the source", &hana_id),
        ("a Portal Administrator", &ada_id),
        ("a Portal Administrator with a contributor role", &pat_id),
        ("another delegate", &dee_id),
    ] {
        assert!(!targets.contains(not), "{who} is offered: {targets:?}");
    }
    sign_out(c).await;
    assert_accessible(&chrome, "signed out").await;

    // 3. A contributor asking for Add user is refused, and told why.
    enter(hana.clone()).await;
    c.goto(&app.url("/users/add")).await.unwrap();
    arrive(c, "/users/add").await;
    assert!(page_has(c, "You cannot do this").await);
    assert!(page_has(c, domain::authz::NOT_AN_ADMIN).await);
    assert!(!shows(c, "#email").await, "no form to fill in");
    assert_accessible(&chrome, "add user, refused").await;
    let status = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/users/add', { credentials: 'same-origin' })
               .then(r => done(r.status), e => done('failed: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, serde_json::json!(403));
    sign_out(c).await;

    // 4. The regulator's invite form offers the roles it may give: a
    //    sensitive area's only comes with an access key.
    let org = app
        .store()
        .organisation_by_ukprn(&domain::Ukprn::parse(ukprn).unwrap())
        .await
        .unwrap()
        .unwrap();
    enter(rita).await;
    let path = format!("/organisations/{}", org.id);
    c.goto(&app.url(&path)).await.unwrap();
    arrive(c, &path).await;
    assert_accessible(&chrome, "a provider, with the invite form").await;
    let mut choices = Vec::new();
    for option in c.find_all(Locator::Css("#role option")).await.unwrap() {
        let value = option.attr("value").await.unwrap().unwrap_or_default();
        choices.push((value, option.text().await.unwrap().trim().to_owned()));
    }
    let has = |name: &str| choices.iter().any(|(_, n)| n == name);
    assert!(has("Portal Administrator"), "{choices:?}");
    assert!(has("Data collection contributor - HESES"), "{choices:?}");
    assert!(!has("Area member - Risk letters"), "{choices:?}");
    assert!(
        choices.iter().all(|(v, _)| v != "area-member:risk-letters"),
        "{choices:?}"
    );
    chrome.client.clone().close().await.unwrap();
}

/// My account (issue 13): two sessions listed, this one marked; the other
/// ended; an API token created and shown once. Axe checks every page.
async fn sessions_and_tokens(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let email = app.user("10000141", "sam@one.example.ac.uk", &[]).await;
    // The other session: signed in to the API a minute before the browser.
    let other = app.api_sign_in(&email).await;
    app.clock.advance(time::Duration::minutes(1));
    signs_in(&chrome, &app, javascript, email.clone()).await;
    c.goto(&app.url("/account")).await.unwrap();
    arrive(c, "/account").await;
    if javascript {
        assert_accessible(&chrome, "my account, two sessions").await;
    }
    let rows = c
        .find_all(Locator::XPath(
            "//h2[@id='sessions']/following-sibling::table[1]//tbody/tr",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(page_has(c, "This session").await);
    assert!(page_has(c, "API sign-in").await);
    let end = c
        .find(Locator::XPath(
            "//form[starts-with(@action, '/account/sessions/') and contains(@action, '/end')]//button",
        ))
        .await
        .unwrap();
    submit(c, end).await;
    arrive(c, "/account").await;
    assert!(page_has(c, "The session has been signed out.").await);
    if javascript {
        assert_accessible(&chrome, "my account, the other session ended").await;
    }
    let rows = c
        .find_all(Locator::XPath(
            "//h2[@id='sessions']/following-sibling::table[1]//tbody/tr",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (status, _) = app.call("GET", "/api/v1/me", Some(&other), None).await;
    assert_eq!(status, 401, "the ended session stops working at once");

    click_link(c, "Create an API token").await;
    arrive(c, "/account/api-tokens/new").await;
    if javascript {
        assert_accessible(&chrome, "create an API token").await;
    }
    // Nothing filled in: told what to fix, on the same page.
    press(c, "Create token").await;
    arrive(c, "/account/api-tokens/new").await;
    assert!(page_has(c, "Enter a name for the token").await);
    if javascript {
        assert_accessible(&chrome, "create an API token, with errors").await;
    }
    let expiry = app.clock.now_plus(time::Duration::days(30)).date();
    fill(c, "#name", "Nightly export").await;
    fill_date(
        c,
        "expires_at",
        &expiry.day().to_string(),
        &u8::from(expiry.month()).to_string(),
        &expiry.year().to_string(),
    )
    .await;
    press(c, "Create token").await;
    arrive(c, "/account/api-tokens/new").await;
    assert!(page_has(c, "This is the only time it is shown").await);
    if javascript {
        assert_accessible(&chrome, "API token created").await;
    }
    let token = c
        .find(Locator::Css("#api-token"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.len(), 64);
    let (status, _) = app.call("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, 200);
    click_link(c, "Return to My account").await;
    arrive(c, "/account").await;
    assert!(page_has(c, "Nightly export").await);
    assert!(!page_has(c, &token).await, "the token is shown once only");
    if javascript {
        assert_accessible(&chrome, "my account, with a token").await;
    }
    chrome.client.clone().close().await.unwrap();
}

async fn my_account_lists_two_sessions_ends_the_other_and_shows_a_new_token_once(backend: Backend) {
    sessions_and_tokens(backend, true).await;
}

async fn my_account_sessions_and_tokens_work_with_javascript_off(backend: Backend) {
    sessions_and_tokens(backend, false).await;
}

/// Issue 13: as a Portal Administrator, the Activity page shows a delegated
/// administrator's refused attempt to grant Portal Administrator as a sentence
/// marked refused; filtering by that person and by date finds it; the CSV
/// download holds the same rows; another provider's events never appear.
/// With JavaScript on, axe checks every page; with it off, the same journey works.
async fn activity_journey(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let ada = app
        .user("10000501", "ada@act.example.ac.uk", &["portal-admin"])
        .await;
    let dee = app
        .user(
            "10000501",
            "dee@act.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    app.user("10000501", "hana@act.example.ac.uk", &[]).await;
    let bob = app
        .user("10000502", "bob@other.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000502", "zed@other.example.ac.uk", &[]).await;
    let id = |email: &'static str| {
        let app = &app;
        async move { app.user_record(email).await.id.to_string() }
    };
    let rename = |token: String, user: String, first: &'static str, last: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(
                    "PATCH",
                    &format!("/api/v1/users/{user}"),
                    Some(&token),
                    Some(serde_json::json!({"first_name": first, "last_name": last})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    let ada_api = app.api_sign_in(&ada).await;
    let bob_api = app.api_sign_in(&bob).await;
    rename(
        ada_api.clone(),
        id("dee@act.example.ac.uk").await,
        "Dee",
        "Delegate",
    )
    .await;
    rename(ada_api, id("hana@act.example.ac.uk").await, "Hana", "Heses").await;
    rename(bob_api, id("zed@other.example.ac.uk").await, "Zed", "Zulu").await;
    let dee_api = app.api_sign_in(&dee).await;
    let hana = id("hana@act.example.ac.uk").await;
    app.refused(
        "PUT",
        &format!("/api/v1/users/{hana}/roles"),
        Some(&dee_api),
        Some(serde_json::json!({"roles": ["portal-admin"]})),
        403,
    )
    .await;
    app.deliver_mail().await;
    let c = &chrome.client;
    let check = |page: &'static str| {
        let chrome = &chrome;
        async move {
            if javascript {
                assert_accessible(chrome, page).await;
            }
        }
    };
    let refused = "Dee Delegate tried to give Hana Heses the role Portal Administrator (refused";

    signs_in(&chrome, &app, javascript, ada).await;
    click_link(c, "Activity").await;
    arrive(c, "/activity").await;
    check("activity").await;
    assert!(page_has(c, refused).await);
    assert!(page_has(c, "govuk-tag--red").await, "marked refused");
    assert!(!page_has(c, "Zed Zulu").await, "never another provider's");

    // By person and by today's date (in the UK).
    let now = app.clock.now_plus(time::Duration::ZERO);
    let next = now.date().next_day().unwrap();
    let today = if app::activity::uk_midnight(next) <= now {
        next
    } else {
        now.date()
    };
    let (d, m, y) = (
        today.day().to_string(),
        u8::from(today.month()).to_string(),
        today.year().to_string(),
    );
    fill(c, "#person", &dee).await;
    fill_date(c, "from", &d, &m, &y).await;
    fill_date(c, "to", &d, &m, &y).await;
    click(c, "form.portal-filter button.govuk-button").await;
    arrive(c, "/activity").await;
    appears(c, "a[href^='/activity.csv?person=']").await;
    check("activity filtered by person and date").await;
    assert!(page_has(c, refused).await);
    assert!(
        !page_has(c, "changed the account of Dee Delegate").await,
        "only what Dee did"
    );
    let mut shown = Vec::new();
    for link in c
        .find_all(Locator::Css("table a[href^='/activity/']"))
        .await
        .unwrap()
    {
        let href = link.attr("href").await.unwrap().unwrap();
        shown.push(href.trim_start_matches("/activity/").to_owned());
    }
    assert!(!shown.is_empty());

    // The CSV download holds the same rows.
    let href = c
        .find(Locator::Css("a[href^='/activity.csv']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = if javascript {
        c.execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
    } else {
        let cookies = c
            .get_all_cookies()
            .await
            .unwrap()
            .iter()
            .map(|k| format!("{}={}", k.name(), k.value()))
            .collect::<Vec<_>>()
            .join("; ");
        let r = app
            .client()
            .get(app.url(&href))
            .header("cookie", cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let exported: Vec<String> = csv
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap().trim_matches('"').to_owned())
        .collect();
    assert_eq!(exported, shown, "{csv}");
    assert!(csv.contains(refused), "{csv}");

    // The refused row's details.
    let refused_row = c
        .find(Locator::XPath(
            "//tr[td[starts-with(normalize-space(), 'Dee Delegate tried')]]//a",
        ))
        .await
        .unwrap();
    refused_row.click().await.unwrap();
    appears(c, "dl.govuk-summary-list").await;
    check("an event's details").await;
    for text in ["Refused", "Dee Delegate", "Hana Heses", "Request ID"] {
        assert!(page_has(c, text).await, "{text}");
    }
    chrome.client.clone().close().await.unwrap();
}

async fn a_delegates_refused_grant_appears_on_activity_filtered_and_exported_with_and_without_javascript(
    backend: Backend,
) {
    activity_journey(backend, true).await;
    activity_journey(backend, false).await;
}
