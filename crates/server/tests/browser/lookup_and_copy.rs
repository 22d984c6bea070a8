//! Issue 15, items 1–3 in a real browser, JavaScript on and off, on both
//! databases: the role lookup's "Selected records" with a × for each and a ×
//! to close the dialog; without JavaScript, a search that keeps the ticks and
//! an Undo for a single staged change; copying permissions that lists the
//! roles it skipped and why; an area's users with access through their role.

use fantoccini::Locator;
use testkit::{Backend, Chrome, TestApp};

use crate::{
    appears, arrive, at_both_widths, click, click_link, fill, page_has, press, press_for, signs_in,
};

testkit::both_backends!(
    ;
    raw:
    the_role_lookup_dialog_lists_the_selected_roles_with_a_remove_and_a_close_button,
    without_javascript_a_lookup_search_keeps_the_ticks_and_undo_takes_back_one_change,
    a_copy_lists_the_roles_it_skipped_and_why_with_javascript,
    a_copy_lists_the_roles_it_skipped_and_why_without_javascript,
    an_area_lists_administrators_through_their_role_with_javascript,
    an_area_lists_administrators_through_their_role_without_javascript,
);

const HESES: &str = "Data collection contributor - HESES";
const PREVENT: &str = "Data collection contributor - Prevent";

/// A JavaScript expression's value, as a string.
async fn js(c: &fantoccini::Client, script: &str) -> String {
    let value = c.execute(script, vec![]).await.unwrap();
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Waits (up to 5 s) until `script` answers `want`.
async fn until(c: &fantoccini::Client, script: &str, want: &str) {
    let mut got = String::new();
    for _ in 0..100 {
        got = js(c, script).await;
        if got == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{script}: {got:?}, not {want:?}");
}

/// The words of each × under "Selected records", as a screen reader reads
/// them (the × itself is hidden from it).
const SELECTED: &str = "return JSON.stringify([...document.querySelectorAll('[data-lookup-selected] button')]\
    .map(b => [...b.childNodes].filter(n => !(n.getAttribute && n.getAttribute('aria-hidden') === 'true'))\
    .map(n => n.textContent).join('').trim()))";

const FOCUSED: &str = "return document.activeElement.textContent.trim()";

/// Follows the link whose words (with its visually hidden ones) are `text`.
async fn follow(c: &fantoccini::Client, text: &str) {
    c.find(Locator::XPath(&format!(
        "//main//a[normalize-space()='{text}']"
    )))
    .await
    .unwrap_or_else(|_| panic!("no link {text:?}"))
    .click()
    .await
    .unwrap();
}

async fn tick(c: &fantoccini::Client, scope: &str, label: &str) {
    c.find(Locator::XPath(&format!(
        "{scope}//label[normalize-space()='{label}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
}

async fn colleague(app: &TestApp, ukprn: &str) -> (String, String) {
    let pa = app
        .user(
            ukprn,
            &format!("ada@{ukprn}.example.ac.uk"),
            &["portal-admin"],
        )
        .await;
    let grace = app
        .user(ukprn, &format!("grace@{ukprn}.example.ac.uk"), &[])
        .await;
    let id = app.user_record(&grace).await.id.to_string();
    (pa, id)
}

async fn the_role_lookup_dialog_lists_the_selected_roles_with_a_remove_and_a_close_button(
    backend: Backend,
) {
    let Some(chrome) = Chrome::start(true).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let (pa, grace) = colleague(&app, "10000161").await;
    signs_in(&chrome, &app, true, pa).await;
    let edit = format!("/users/{grace}");
    c.goto(&app.url(&edit)).await.unwrap();
    arrive(c, &edit).await;
    click_link(c, "Add role").await;
    appears(c, "dialog[open] [data-lookup-content]").await;
    assert_eq!(js(c, SELECTED).await, "[]");
    assert!(page_has(c, "None yet.").await);
    // Ticking shows each role under "Selected records", with its own ×.
    tick(c, "//dialog", HESES).await;
    until(c, SELECTED, &format!("[\"Remove {HESES}\"]")).await;
    tick(c, "//dialog", PREVENT).await;
    until(
        c,
        SELECTED,
        &format!("[\"Remove {HESES}\",\"Remove {PREVENT}\"]"),
    )
    .await;
    at_both_widths(&chrome, true, "lookup-dialog-with-selections").await;
    // A × takes that one out (unticked) and focus goes to the next ×.
    click(c, "dialog [data-lookup-selected] button").await;
    until(c, SELECTED, &format!("[\"Remove {PREVENT}\"]")).await;
    assert_eq!(js(c, FOCUSED).await, format!("×Remove {PREVENT}"));
    let ticked = "return [...document.querySelectorAll('dialog input[name=add]')]\
         .filter(b => b.checked).map(b => b.labels[0].textContent.trim()).join('|')";
    assert_eq!(js(c, ticked).await, PREVENT);
    // Searching filters the choices and keeps what is ticked.
    fill(c, "dialog[open] input[name='q']", "hes").await;
    let prevent = c
        .find(Locator::XPath(&format!(
            "//dialog//label[normalize-space()='{PREVENT}']"
        )))
        .await
        .unwrap();
    assert!(!prevent.is_displayed().await.unwrap());
    assert_eq!(js(c, SELECTED).await, format!("[\"Remove {PREVENT}\"]"));
    // The × at the top closes the dialog (its name is "Close"), and focus
    // goes back to "Add role".
    assert_eq!(
        js(c, "return document.querySelector('dialog .portal-dialog__close .govuk-visually-hidden').textContent").await,
        "Close"
    );
    click(c, "dialog .portal-dialog__close").await;
    until(
        c,
        "return String(document.querySelector('dialog[open]') === null)",
        "true",
    )
    .await;
    assert_eq!(js(c, FOCUSED).await, "Add role");
    // Escape closes it too.
    click_link(c, "Add role").await;
    appears(c, "dialog[open] [data-lookup-content]").await;
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    until(
        c,
        "return String(document.querySelector('dialog[open]') === null)",
        "true",
    )
    .await;
    assert_eq!(js(c, FOCUSED).await, "Add role");
    // Add stages the ticked roles on Edit user; Undo takes one back.
    click_link(c, "Add role").await;
    appears(c, "dialog[open] [data-lookup-content]").await;
    tick(c, "//dialog", HESES).await;
    c.find(Locator::XPath("//dialog//button[normalize-space()='Add']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(c, &edit).await;
    appears(c, ".govuk-tag--green").await;
    assert!(page_has(c, "To be added").await);
    c.execute("document.getElementById('roles').scrollIntoView()", vec![])
        .await
        .unwrap();
    at_both_widths(&chrome, true, "edit-user-one-staged-change").await;
    follow(c, &format!("Undo {HESES}")).await;
    arrive(c, &edit).await;
    assert!(!page_has(c, "To be added").await);
    assert!(
        app.store()
            .user_roles(grace.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    chrome.client.clone().close().await.unwrap();
}

async fn without_javascript_a_lookup_search_keeps_the_ticks_and_undo_takes_back_one_change(
    backend: Backend,
) {
    let Some(chrome) = Chrome::start(false).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let (pa, grace) = colleague(&app, "10000162").await;
    signs_in(&chrome, &app, false, pa).await;
    let edit = format!("/users/{grace}");
    let lookup = format!("/users/{grace}/roles/add");
    c.goto(&app.url(&edit)).await.unwrap();
    arrive(c, &edit).await;
    click_link(c, "Add role").await;
    arrive(c, &lookup).await;
    // Tick HESES, then search for Prevent: HESES is kept, under "Selected records".
    tick(c, "//main", HESES).await;
    fill(c, "#q", "prev").await;
    press(c, "Search").await;
    arrive(c, &lookup).await;
    assert_eq!(js(c, SELECTED).await, format!("[\"Remove {HESES}\"]"));
    assert!(!page_has(c, "Capital Funding").await, "the search narrows");
    tick(c, "//main", PREVENT).await;
    at_both_widths(&chrome, false, "lookup-page-after-search").await;
    // A × takes out that one, and keeps Prevent, ticked meanwhile.
    let remove = c
        .find(Locator::Css("[data-lookup-selected] button"))
        .await
        .unwrap();
    crate::submit(c, remove).await;
    arrive(c, &lookup).await;
    assert_eq!(js(c, SELECTED).await, format!("[\"Remove {PREVENT}\"]"));
    // Tick HESES again (searching for it), then Add: both staged.
    fill(c, "#q", "hes").await;
    press(c, "Search").await;
    tick(c, "//main", HESES).await;
    press(c, "Add").await;
    arrive(c, &edit).await;
    assert_eq!(c.source().await.unwrap().matches("To be added").count(), 2);
    // Each Undo takes back its own change; the last one too.
    follow(c, &format!("Undo {HESES}")).await;
    arrive(c, &edit).await;
    assert_eq!(c.source().await.unwrap().matches("To be added").count(), 1);
    c.execute("document.getElementById('roles').scrollIntoView()", vec![])
        .await
        .unwrap();
    at_both_widths(&chrome, false, "edit-user-one-staged-change").await;
    follow(c, &format!("Undo {PREVENT}")).await;
    arrive(c, &edit).await;
    assert!(!page_has(c, "To be added").await);
    assert!(
        app.store()
            .user_roles(grace.parse().unwrap())
            .await
            .unwrap()
            .is_empty(),
        "nothing changes before Submit"
    );
    chrome.client.clone().close().await.unwrap();
}

async fn copy_with_skipped_roles(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
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
    let pa = app
        .user("10000163", "ada@copy163.example.ac.uk", &["portal-admin"])
        .await;
    let sam = app
        .user(
            "10000163",
            "sam@copy163.example.ac.uk",
            &[
                "data-collection-contributor:heses",
                "data-collection-contributor:prevent",
                "area-member:risk-letters",
            ],
        )
        .await;
    let holder = app
        .user(
            "10000163",
            "holder@copy163.example.ac.uk",
            &["area-member:risk-letters"],
        )
        .await;
    let grace = app
        .user(
            "10000163",
            "grace@copy163.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let [sam, holder, grace] = [
        app.user_record(&sam).await.id,
        app.user_record(&holder).await.id,
        app.user_record(&grace).await.id,
    ];
    signs_in(&chrome, &app, javascript, pa).await;
    let to_grace = async |from: domain::UserId| {
        let copy = format!("/users/{from}/copy");
        c.goto(&app.url(&format!("/users/{from}"))).await.unwrap();
        click_link(c, "Copy permissions to another user").await;
        arrive(c, &copy).await;
        fill(c, "#q", "grace").await;
        click(c, "form.portal-filter button").await;
        appears(c, &format!("input[name='to'][value='{grace}']")).await;
        press_for(c, "to", &grace.to_string()).await;
    };
    // What may be copied is; the sensitive area's role is not, and the page says why.
    to_grace(sam).await;
    appears(c, "#not-copied").await;
    assert!(page_has(c, "1 role was not copied").await);
    assert!(page_has(c, "Some permissions have been copied").await);
    let skipped = c
        .find(Locator::Css("#not-copied + p + dl"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(skipped.contains("Area member - Risk letters"), "{skipped}");
    assert!(skipped.contains(domain::authz::SENSITIVE_ROLE), "{skipped}");
    c.execute("document.getElementById('copied').scrollIntoView()", vec![])
        .await
        .unwrap();
    at_both_widths(&chrome, javascript, "copy-result-with-skipped-roles").await;
    let mut roles: Vec<String> = app
        .store()
        .user_roles(grace)
        .await
        .unwrap()
        .iter()
        .map(|g| g.role.id())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            "data-collection-contributor:heses",
            "data-collection-contributor:prevent"
        ]
    );
    // From someone whose only role may not be given: nothing is copied, and why.
    c.goto(&app.url(&format!("/users/{holder}/copy?q=grace")))
        .await
        .unwrap();
    appears(c, &format!("input[name='to'][value='{grace}']")).await;
    press_for(c, "to", &grace.to_string()).await;
    appears(c, ".govuk-error-summary").await;
    assert!(page_has(c, "Nothing has been copied.").await);
    assert!(page_has(c, domain::authz::SENSITIVE_ROLE).await);
    at_both_widths(&chrome, javascript, "copy-refused-nothing-may-be-copied").await;
    app.deliver_mail().await;
    assert_eq!(
        app.mailer
            .sent_to("grace@copy163.example.ac.uk")
            .iter()
            .filter(|m| m.subject == "Your Provider Portal account has changed")
            .count(),
        1,
        "one email, for the copy that gave something"
    );
    chrome.client.clone().close().await.unwrap();
}

async fn a_copy_lists_the_roles_it_skipped_and_why_with_javascript(backend: Backend) {
    copy_with_skipped_roles(backend, true).await;
}

async fn a_copy_lists_the_roles_it_skipped_and_why_without_javascript(backend: Backend) {
    copy_with_skipped_roles(backend, false).await;
}

async fn area_through_role(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let c = &chrome.client;
    let pa = app
        .user("10000164", "ada@area164.example.ac.uk", &["portal-admin"])
        .await;
    app.user(
        "10000164",
        "dev@area164.example.ac.uk",
        &["delegated-portal-admin"],
    )
    .await;
    app.user(
        "10000164",
        "hana@area164.example.ac.uk",
        &["data-collection-contributor:heses"],
    )
    .await;
    signs_in(&chrome, &app, javascript, pa).await;
    click_link(c, "Areas").await;
    arrive(c, "/areas").await;
    click(c, "a[href='/areas/heses']").await;
    arrive(c, "/areas/heses").await;
    let members = c
        .find(Locator::XPath(
            "//h2[@id='members']/following-sibling::table[1]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(members.contains("hana@area164.example.ac.uk"), "{members}");
    assert!(!members.contains("ada@"), "{members}");
    let through = c
        .find(Locator::XPath(
            "//h3[@id='through-role']/following-sibling::table[1]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ada@area164.example.ac.uk",
        "Through their role: Portal Administrator",
        "dev@area164.example.ac.uk",
        "Through their role: Delegated - Portal Administrator",
    ] {
        assert!(through.contains(line), "{line}: {through}");
    }
    assert!(!through.contains("hana@"));
    // Ada may change Dev's roles (Edit), not her own (whom to ask).
    assert!(
        through.contains("This is you: ask another administrator"),
        "{through}"
    );
    let dev = app.user_record("dev@area164.example.ac.uk").await.id;
    c.find(Locator::Css(&format!(
        "#through-role ~ table a[href='/users/{dev}']"
    )))
    .await
    .expect("an Edit link for Dev");
    // (Screenshots show the list, not the top of the page.)
    c.execute(
        "document.getElementById('members').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    at_both_widths(&chrome, javascript, "area-users-through-their-role").await;
    // Someone with no roles: no "Copy permissions" link, and why.
    app.user("10000164", "noor@area164.example.ac.uk", &[])
        .await;
    let noor = app.user_record("noor@area164.example.ac.uk").await.id;
    c.goto(&app.url(&format!("/users/{noor}"))).await.unwrap();
    let why = c
        .find(Locator::Css("#copy-why-not"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(why, "This user has no roles to copy.");
    at_both_widths(&chrome, javascript, "user-no-roles-to-copy").await;
    chrome.client.clone().close().await.unwrap();
}

async fn an_area_lists_administrators_through_their_role_with_javascript(backend: Backend) {
    area_through_role(backend, true).await;
}

async fn an_area_lists_administrators_through_their_role_without_javascript(backend: Backend) {
    area_through_role(backend, false).await;
}
