//! The pages every GOV.UK service has (issue 15, item 13): Help, the
//! accessibility statement, the cookies page and the privacy notice, open
//! signed in and out and linked from every page's footer; the cookies page
//! names exactly the cookies the portal sets, as a real sign-in sees them.

use std::collections::BTreeMap;

use server::Environment;
use testkit::{Backend, TestApp, test_config};

use crate::attacks::page_sign_in;

testkit::both_backends!(
    each_page_answers_signed_in_and_out_and_every_page_links_them_in_its_footer,
    help_says_how_to_get_a_code_and_what_every_role_is_for,
    the_statement_and_the_notice_say_what_the_issue_asks_and_who_to_contact,
    ;
    raw:
    the_cookies_page_names_exactly_the_cookies_a_real_sign_in_sets,
);

/// The four pages, with a words each must show.
const PAGES: [(&str, &str); 4] = [
    ("/help", "<h1 class=\"govuk-heading-l\">Help</h1>"),
    (
        "/accessibility",
        "<h1 class=\"govuk-heading-l\">Accessibility statement for Provider Portal</h1>",
    ),
    ("/cookies", "<h1 class=\"govuk-heading-l\">Cookies</h1>"),
    (
        "/privacy",
        "<h1 class=\"govuk-heading-l\">Privacy notice</h1>",
    ),
];

/// The `<footer>` of a page.
fn footer(body: &str) -> &str {
    let start = body.find("<footer").expect("a footer");
    let end = start + body[start..].find("</footer>").expect("the footer's end");
    &body[start..end]
}

fn assert_footer_links(path: &str, body: &str, signed_in: bool) {
    let footer = footer(body);
    for (href, text) in [
        ("/help", "Help"),
        ("/accessibility", "Accessibility statement"),
        ("/cookies", "Cookies"),
        ("/privacy", "Privacy notice"),
    ] {
        let link = format!("<a class=\"govuk-footer__link\" href=\"{href}\">{text}</a>");
        assert!(footer.contains(&link), "{path}: no {link} in {footer}");
    }
    assert_eq!(
        footer.contains("href=\"/feedback\""),
        signed_in,
        "{path}: Feedback is for people signed in"
    );
}

async fn each_page_answers_signed_in_and_out_and_every_page_links_them_in_its_footer(app: TestApp) {
    // Signed out: the four pages, and every other page a visitor can reach.
    let mut visitor = app.browser();
    for (path, heading) in PAGES {
        let r = visitor.get(path).await;
        assert_eq!(r.status, 200, "{path} signed out");
        assert!(r.body.contains(heading), "{path}: {}", r.body);
        assert!(!r.body.contains("Signed in as"), "{path}");
        assert_footer_links(path, &r.body, false);
    }
    for (path, status) in [
        ("/", 200),
        ("/sign-in", 200),
        ("/signed-out", 200),
        ("/no-such-page", 404),
    ] {
        let r = visitor.get(path).await;
        assert_eq!(r.status, status, "{path}");
        assert_footer_links(path, &r.body, false);
    }
    // Signed in, as a provider's administrator and as the regulator's.
    let pa = app
        .user("10000401", "pa@service.example.ac.uk", &["portal-admin"])
        .await;
    let regulator = app
        .regulator_user("admin@service.example.org", &["regulator-admin"])
        .await;
    for (email, extra) in [
        (&pa, &["/users", "/areas"][..]),
        (&regulator, &["/organisations", "/access-keys"][..]),
    ] {
        let mut b = page_sign_in(&app, email).await;
        for (path, heading) in PAGES {
            let r = b.get(path).await;
            assert_eq!(r.status, 200, "{path} signed in as {email}");
            assert!(r.body.contains(heading), "{path}");
            assert!(r.body.contains("Signed in as"), "{path}: the header knows");
            assert_footer_links(path, &r.body, true);
        }
        let common = [
            "/home",
            "/account",
            "/collections",
            "/documents",
            "/activity",
            "/feedback",
        ];
        for path in common.iter().chain(extra) {
            let r = b.get(path).await;
            assert_eq!(r.status, 200, "{path} as {email}");
            assert_footer_links(path, &r.body, true);
        }
        let r = b.get("/no-such-page").await;
        assert_eq!(r.status, 404);
        assert_footer_links("/no-such-page", &r.body, true);
    }
}

async fn help_says_how_to_get_a_code_and_what_every_role_is_for(app: TestApp) {
    // Apostrophes as the text has them, however the template escaped them.
    let body = app
        .browser()
        .get("/help")
        .await
        .body
        .replace("&#x27;", "'")
        .replace("&#39;", "'");
    // The limits are the ones sign-in applies (domain::otp).
    for text in [
        "within 10 minutes",
        "at most 5 codes to an address in 15 minutes",
        "paused for 15 minutes after 10 wrong codes in a row",
        "up to 24 hours",
        "Not received a code?",
        "spam or junk folder",
        "mailto:portal@officeforstudents.org.uk",
        "contact a Portal Administrator at your provider",
    ] {
        assert!(body.contains(text), "{text:?} missing from {body}");
    }
    // Every role, named and described as the domain does, in the right table.
    let provider = &body[body
        .find("Roles for people who work for a provider")
        .unwrap()..];
    let (provider, regulator) = provider.split_at(
        provider
            .find("Roles for people who work for the regulator")
            .unwrap(),
    );
    for (table, name, description) in [
        (
            provider,
            "Portal Administrator",
            "Full access to all features of the portal for your provider, including users and roles",
        ),
        (
            provider,
            "Delegated - Portal Administrator",
            "Can administer the portal and view all collection submission categories",
        ),
        (
            provider,
            "Data collection contributor - [name of the data return]",
            "Can make and edit collection submissions for that data return",
        ),
        (
            provider,
            "Area member - [name of the area]",
            "Can read documents shared in that area",
        ),
        (
            regulator,
            "Regulator administrator",
            "Manages organisations, areas, collection windows and access keys, and supports provider accounts",
        ),
        (
            regulator,
            "Regulator officer - [name of the area]",
            "Can see every provider's submissions for that area and publish documents to it",
        ),
    ] {
        let key = format!("<dt class=\"govuk-summary-list__key\">\n      {name}\n    </dt>");
        let at = table.find(&key).unwrap_or_else(|| panic!("{name} missing"));
        let value = &table[at + key.len()..];
        let value = &value[..value.find("</dd>").unwrap()];
        assert!(value.contains(description), "{name}: {value}");
    }
    assert!(body.contains(domain::authz::DELEGATE_ROLE));
    // Password sign-in is off here: the page does not offer it.
    assert!(!body.contains("/register"));
}

async fn the_statement_and_the_notice_say_what_the_issue_asks_and_who_to_contact(app: TestApp) {
    let mut b = app.browser();
    let home = b.get("/").await.body;
    let contact = "mailto:portal@officeforstudents.org.uk";
    assert!(footer(&home).contains(contact), "the footer's address");
    let statement = b.get("/accessibility").await.body;
    for text in [
        "Web Content Accessibility Guidelines (WCAG) version 2.2 at level AA",
        "wcag2a, wcag2aa, wcag21aa and wcag22aa",
        "1200 pixels wide and at 500 pixels wide",
        "with JavaScript turned off",
        "with the keyboard alone",
        "Reporting accessibility problems with this service",
        "Enforcement procedure",
        "Equality and Human Rights Commission (EHRC)",
        "Equality Advisory and Support Service (EASS)",
        "This statement was prepared on 3 December 2026.",
        contact,
    ] {
        assert!(
            statement.contains(text),
            "{text:?} missing from the statement"
        );
    }
    let notice = b.get("/privacy").await.body;
    for text in [
        "The Office for Students runs Provider Portal and is the data controller",
        "your title, first name, last name and email address",
        "when you last signed in",
        "the IP address it came from",
        "Accounts are never deleted",
        "The audit trail is never changed or deleted",
        "Your rights",
        "Information Commissioner’s Office (ICO)",
        "href=\"/cookies\"",
        contact,
    ] {
        assert!(notice.contains(text), "{text:?} missing from the notice");
    }
    // No password is held by anyone here: the notice does not say one is.
    assert!(!notice.contains("hash of it"), "password sign-in is off");
}

/// A cookie as a response set it: its name and `Max-Age` (none: until the
/// browser closes; 0: cleared).
fn set_cookies(seen: &mut BTreeMap<String, Option<i64>>, reply: &testkit::Reply) {
    for c in reply.set_cookies() {
        let name = c.split('=').next().unwrap().to_owned();
        let max_age = c
            .split("; ")
            .find_map(|a| a.strip_prefix("Max-Age="))
            .map(|v| v.parse::<i64>().unwrap());
        // A cookie cleared keeps the lifetime it was set with.
        if max_age != Some(0) || !seen.contains_key(&name) {
            seen.insert(name, max_age);
        }
    }
}

/// "10 minutes", "5 minutes", "2 hours", as the cookies page says a lifetime.
fn said(secs: i64) -> String {
    if secs % 3600 == 0 {
        format!("{} hours", secs / 3600)
    } else {
        format!("{} minutes", secs / 60)
    }
}

/// The cookies page's cookies: name → what the page says of it.
fn listed(body: &str) -> BTreeMap<String, String> {
    let list = &body[body.find("id=\"essential-cookies\"").expect("the list")..];
    list.split("<code class=\"portal-cookie-name\">")
        .skip(1)
        .map(|card| {
            let (name, rest) = card.split_once("</code>").unwrap();
            let text = &rest[..rest.find("</dl>").unwrap()];
            (name.to_owned(), text.to_owned())
        })
        .collect()
}

/// Signs in through the pages from a visitor's first page (one that needs a
/// session), uses the portal, issues an access key when `regulator`, and
/// signs out, keeping every cookie any response set.
async fn every_cookie_set(
    app: &TestApp,
    email: &str,
    regulator: bool,
) -> BTreeMap<String, Option<i64>> {
    let mut seen = BTreeMap::new();
    let mut b = app.browser();
    for path in ["/account", "/sign-in"] {
        let r = b.get(path).await;
        set_cookies(&mut seen, &r);
    }
    let r = b.submit("/sign-in", &[("email", email)]).await;
    set_cookies(&mut seen, &r);
    let code = app.last_code_for(email).await.unwrap();
    let r = b.get("/sign-in/code").await;
    set_cookies(&mut seen, &r);
    let r = b.submit("/sign-in/code", &[("code", &code)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    set_cookies(&mut seen, &r);
    let r = b.get(r.location().unwrap()).await;
    set_cookies(&mut seen, &r);
    if regulator {
        let provider = app
            .user_record("pa@cookies.example.ac.uk")
            .await
            .organisation_id
            .to_string();
        let r = b.get("/access-keys/new").await;
        set_cookies(&mut seen, &r);
        let r = b
            .submit(
                "/access-keys/new",
                &[
                    ("organisation_id", &provider),
                    ("role", "data-collection-contributor:heses"),
                    ("max_uses", "1"),
                    ("expires_at-day", "1"),
                    ("expires_at-month", "10"),
                    ("expires_at-year", "2026"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        set_cookies(&mut seen, &r);
        let r = b.get(r.location().unwrap()).await;
        set_cookies(&mut seen, &r);
    }
    b.get("/home").await;
    let r = b.submit("/sign-out", &[]).await;
    set_cookies(&mut seen, &r);
    seen
}

async fn cookies_page_matches_what_is_set(app: &TestApp, prefix: &str) {
    let pa = app
        .user("10000402", "pa@cookies.example.ac.uk", &["portal-admin"])
        .await;
    let regulator = app
        .regulator_user("keys@cookies.example.org", &["regulator-admin"])
        .await;
    let mut seen = every_cookie_set(app, &pa, false).await;
    seen.extend(every_cookie_set(app, &regulator, true).await);
    assert!(
        seen.keys().all(|n| n.starts_with(prefix)),
        "{prefix}: {seen:?}"
    );
    for (signed_in, email) in [(false, None), (true, Some(&pa))] {
        let mut b = match email {
            Some(e) => page_sign_in(app, e).await,
            None => app.browser(),
        };
        let page = b.get("/cookies").await;
        assert_eq!(page.status, 200);
        let rows = listed(&page.body);
        let names: Vec<&String> = rows.keys().collect();
        let set: Vec<&String> = seen.keys().collect();
        assert_eq!(
            names, set,
            "signed in: {signed_in}: the page lists exactly what is set"
        );
        for (name, max_age) in &seen {
            let row = &rows[name];
            match max_age {
                Some(secs) => assert!(
                    row.contains(&format!("After {}", said(*secs))),
                    "{name}: {row}"
                ),
                None => assert!(row.contains("When you close your browser"), "{name}: {row}"),
            }
        }
    }
}

async fn the_cookies_page_names_exactly_the_cookies_a_real_sign_in_sets(backend: Backend) {
    let app = TestApp::spawn(backend).await.unwrap();
    cookies_page_matches_what_is_set(&app, "portal_").await;
    app.deliver_mail().await;
    drop(app);
    // In production every name carries the `__Host-` prefix, and the page says so.
    let mut config = test_config();
    config.env = Environment::Production;
    config.secret_key = Some("a-production-secret-key-of-enough-length-0123456789".into());
    config.smtp_url = Some("smtp://127.0.0.1:2525".into());
    config.mail_dir = None;
    let app = TestApp::spawn_with(backend, config.checked().unwrap())
        .await
        .unwrap();
    cookies_page_matches_what_is_set(&app, "__Host-portal_").await;
    app.deliver_mail().await;
}
