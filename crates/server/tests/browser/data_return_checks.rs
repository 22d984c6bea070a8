//! Issue 16, Done-when 1, in a real browser with JavaScript on and off: the
//! regulator administrator opens HESES with column rules (a bad rule first, its
//! error summary leading to the field); a contributor uploads a file missing a
//! required column, whose report shows the error and whose page offers no
//! Submit and says why (the API refuses a forced submit with 409); a corrected
//! file with one warning must be explained, then is submitted; the provider's
//! Portal Administrator signs it off (a contributor is told who does); the
//! HESES officer sees it Signed off on the window's progress, raises a query,
//! the contributor answers (each side emailed, each seeing it on Open queries),
//! and the officer closes it and accepts the return. With JavaScript on, axe
//! checks every page at 1200 and 500 px.

use fantoccini::Locator;
use serde_json::json;
use testkit::{Backend, Chrome, TestApp};

use crate::{
    arrive, at_both_widths, click, click_link, fill, fill_date, press, sign_out, signs_in,
    summary_leads_to,
};

testkit::both_backends!(
    ;
    raw:
    a_heses_return_is_checked_explained_signed_off_queried_and_accepted_with_javascript,
    a_heses_return_is_checked_explained_signed_off_queried_and_accepted_without_javascript,
);

async fn a_heses_return_is_checked_explained_signed_off_queried_and_accepted_with_javascript(
    backend: Backend,
) {
    checked_return(backend, true).await;
}

async fn a_heses_return_is_checked_explained_signed_off_queried_and_accepted_without_javascript(
    backend: Backend,
) {
    checked_return(backend, false).await;
}

const WINDOW: &str = "HESES 2026-27";
const PROVIDER: &str = "Provider 10000801";
const SUBJECT: &str = "Full-time student numbers";

/// The people of the journey.
struct People {
    rita: String,
    oscar: String,
    hana: String,
    paula: String,
}

async fn people(app: &TestApp) -> People {
    People {
        rita: app
            .regulator_user("rita@ofs.example.org", &["regulator-admin"])
            .await,
        oscar: app
            .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
            .await,
        hana: app
            .user(
                "10000801",
                "hana@a.example.ac.uk",
                &["data-collection-contributor:heses"],
            )
            .await,
        paula: app
            .user("10000801", "paula@a.example.ac.uk", &["portal-admin"])
            .await,
    }
}

async fn checked_return(backend: Backend, javascript: bool) {
    let Some(chrome) = Chrome::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    let who = people(&app).await;
    let c = &chrome.client;
    let look = |name: &'static str| at_both_widths(&chrome, javascript, name);
    let enter = |email: &String| signs_in(&chrome, &app, javascript, email.clone());

    // 1. The regulator administrator opens HESES with column rules.
    enter(&who.rita).await;
    let window = open_window_with_rules(c, &app, javascript, &chrome).await;
    sign_out(c).await;
    look("signed out").await;

    // 2. A file missing the required `students` column: the report shows the
    //    error, Submit is not offered and the page says why; the API refuses
    //    a forced submit, changing nothing.
    let token = app.api_sign_in(&who.hana).await;
    enter(&who.hana).await;
    c.goto(&app.url(&window)).await.unwrap();
    arrive(c, &window).await;
    look("the window, before uploading").await;
    let first = upload(c, "heses-missing.csv", b"ukprn,mode\n10000801,FT\n").await;
    assert!(says(c, "Your file has been uploaded and checked").await);
    assert_eq!(
        cells(c, "Findings by rule").await,
        [["students: required column missing", "Error", "1", "1"]]
    );
    let finding = &cells(c, "finding").await[0];
    assert_eq!(
        (
            finding[1].as_str(),
            finding[2].as_str(),
            finding[3].as_str()
        ),
        ("1", "students", "Error")
    );
    assert!(finding[4].contains("The file has no column named \"students\""));
    assert!(!offers_submit(c).await, "no Submit with an error");
    assert!(
        says(
            c,
            "Correct the errors and upload the file again: a version with errors cannot be submitted."
        )
        .await
    );
    look("the submission, with an error").await;
    let id = id_of(&first);
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{id}/submit"),
        Some(&token),
        Some(json!({})),
        409,
    )
    .await;

    // 3. A corrected file with one warning: Submit without an explanation is
    //    explained beside the field; with one, the return is submitted.
    click_link(c, "Back to the window").await;
    arrive(c, &window).await;
    look("the window, with a draft that has errors").await;
    let csv = b"ukprn,students,mode\n10000801,6200,FT\n10000801,1200,PT\n";
    let second = upload(c, "heses-corrected.csv", csv).await;
    // The corrected file's report alone: the missing column is gone, so the
    // version may be submitted (whether it is a new version or the draft with
    // its file replaced is the product's choice).
    assert_eq!(
        cells(c, "Findings by rule").await,
        [["students: above 5000", "Warning", "1", "2"]],
        "the version at {second} still carries the first file's error"
    );
    assert!(says(c, "2 data rows checked: 0 errors and 1 warning.").await);
    assert!(offers_submit(c).await);
    look("the submission, with a warning").await;
    fill(c, "#note", "Our HESES return.").await;
    press(c, "Submit").await;
    // A refused form is shown again at the address it was posted to.
    arrive(c, &format!("{second}/submit")).await;
    crate::appears(c, ".govuk-error-summary").await;
    summary_leads_to(c, &["#explanation"]).await;
    assert_eq!(status(c).await, "Draft");
    assert_eq!(
        value(c, "#note").await,
        "Our HESES return.",
        "the note is kept"
    );
    look("the submission, a warning not explained").await;
    fill(
        c,
        "#explanation",
        "A new full-time medicine course began this year.",
    )
    .await;
    press(c, "Submit").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(status(c).await, "Submitted");
    assert!(says(c, "A new full-time medicine course began this year.").await);

    // 4. A contributor is not offered the sign-off and is told who does it.
    assert!(!signs_off_here(c).await);
    assert!(
        says(
            c,
            &format!("The return is signed off by a Portal Administrator of {PROVIDER}.")
        )
        .await
    );
    look("the submission, submitted").await;
    sign_out(c).await;

    //    The Portal Administrator signs it off: the declaration first.
    enter(&who.paula).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    look("data returns, Portal Administrator").await;
    c.goto(&app.url(&second)).await.unwrap();
    arrive(c, &second).await;
    assert!(signs_off_here(c).await);
    assert!(!offers_submit(c).await);
    look("the submission, to sign off").await;
    press(c, "Sign off this return").await;
    arrive(c, &format!("{second}/sign-off")).await;
    crate::appears(c, ".govuk-error-summary").await;
    summary_leads_to(c, &["#declaration"]).await;
    look("the submission, sign-off without the declaration").await;
    click(c, "label[for='declaration']").await;
    press(c, "Sign off this return").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert!(says(c, "Signed off by Test Person").await);
    assert!(!signs_off_here(c).await);
    look("the submission, signed off").await;
    sign_out(c).await;

    // 5. The HESES officer sees it Signed off on the window's progress, opens
    //    it and raises a query; Open queries lists it.
    enter(&who.oscar).await;
    c.goto(&app.url(&window)).await.unwrap();
    arrive(c, &window).await;
    look("the window, for the officer").await;
    click_link(c, "See every provider's progress").await;
    arrive(c, &format!("{window}/progress")).await;
    assert_eq!(progress_state(c, PROVIDER).await, "Signed off");
    look("progress").await;
    c.find(Locator::XPath(&format!(
        "//main//table//th[@scope='row']/a[starts-with(normalize-space(), '{PROVIDER}')]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(c, &second).await;
    assert!(says(c, "Signed off by Test Person").await);
    assert!(says(c, "A new full-time medicine course began this year.").await);
    look("the submission, for the officer").await;
    fill(c, "#query-subject", SUBJECT).await;
    fill(
        c,
        "#query-message",
        "Please confirm the 6200 full-time students.",
    )
    .await;
    press(c, "Raise query").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert!(says(c, "Your query has been raised").await);
    look("the submission, query raised").await;
    open_queries_list(c, javascript, &chrome, "open queries, officer").await;
    sign_out(c).await;

    //    The contributor is emailed, finds it on Open queries and answers.
    app.deliver_mail().await;
    let told = |to: &str, what: &str| {
        app.mailer
            .sent_to(to)
            .iter()
            .filter(|m| m.subject == format!("{what}: {WINDOW} – {SUBJECT}"))
            .count()
    };
    assert_eq!(told(&who.hana, "Query raised"), 1);
    enter(&who.hana).await;
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    look("data returns, contributor with an open query").await;
    click_link(c, "Open queries on returns").await;
    open_queries_list(c, javascript, &chrome, "open queries, contributor").await;
    click_link(c, SUBJECT).await;
    arrive(c, &second).await;
    look("the submission, an open query").await;
    let reply = c
        .find(Locator::Css("main form[action$='/answer'] textarea"))
        .await
        .unwrap();
    reply
        .send_keys("Confirmed: 6200, after the new course.")
        .await
        .unwrap();
    press(c, "Send").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert!(says(c, "Confirmed: 6200, after the new course.").await);
    look("the submission, query answered").await;
    sign_out(c).await;

    //    The officer is emailed, closes the query and accepts the return.
    app.deliver_mail().await;
    assert_eq!(told(&who.oscar, "New message on a query"), 1);
    enter(&who.oscar).await;
    c.goto(&app.url(&second)).await.unwrap();
    arrive(c, &second).await;
    press(c, "Close query").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert!(says(c, "The query has been closed").await);
    assert!(!says(c, "Close query").await);
    look("the submission, query closed").await;
    click(
        c,
        &format!("label[for='status-{}-accepted']", id_of(&second)),
    )
    .await;
    fill(
        c,
        &format!("#comment-{}", id_of(&second)),
        "Thank you: accepted.",
    )
    .await;
    press(c, "Save outcome").await;
    arrive(c, &second).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(status(c).await, "Accepted");
    assert!(says(c, "Thank you: accepted.").await);
    look("the submission, accepted").await;
    c.goto(&app.url("/queries")).await.unwrap();
    arrive(c, "/queries").await;
    assert!(says(c, "There are no open queries.").await);
    look("open queries, none left").await;
    // The contributor is told the query was closed and the return accepted.
    app.deliver_mail().await;
    assert_eq!(told(&who.hana, "Query closed"), 1);
    assert!(
        app.mailer
            .sent_to(&who.hana)
            .iter()
            .any(|m| m.subject == format!("{WINDOW}: Accepted")
                && m.body.contains("Thank you: accepted."))
    );
    chrome.client.clone().close().await.unwrap();
}

/// Opens HESES from the form with three column rules, sign-off required and
/// reminders; a maximum below the minimum is explained first. Returns the
/// window's path, its page showing the rules.
async fn open_window_with_rules(
    c: &fantoccini::Client,
    app: &TestApp,
    javascript: bool,
    chrome: &Chrome,
) -> String {
    click_link(c, "Data returns").await;
    arrive(c, "/collections").await;
    at_both_widths(chrome, javascript, "data returns, regulator administrator").await;
    click_link(c, "Open a collection window").await;
    arrive(c, "/collections/new").await;
    at_both_widths(chrome, javascript, "open a window with rules").await;
    c.find(Locator::Css("#area"))
        .await
        .unwrap()
        .select_by_value("heses")
        .await
        .unwrap();
    fill(c, "#name", WINDOW).await;
    let today = app::Clock::now(app.clock.as_ref()).date();
    let (day, month, year) = (
        today.day().to_string(),
        u8::from(today.month()).to_string(),
        today.year().to_string(),
    );
    fill_date(c, "opens_at", &day, &month, &year).await;
    fill_date(c, "closes_at", "30", "9", &year).await;
    rule(c, 1, "ukprn", "ukprn", true).await;
    rule(c, 2, "students", "integer", true).await;
    fill(c, "#columns-2-min", "10").await;
    fill(c, "#columns-2-max", "5").await;
    fill(c, "#columns-2-warn_above", "5000").await;
    rule(c, 3, "mode", "text", false).await;
    fill(c, "#columns-3-allowed", "FT\nPT").await;
    click(c, "label[for='sign_off_required']").await;
    fill(c, "#reminder_days", "14, 7, 1").await;
    press(c, "Open the window").await;
    arrive(c, "/collections/new").await;
    crate::appears(c, ".govuk-error-summary").await;
    // Each mistake leads to its field, in the form's order.
    summary_leads_to(c, &["#columns-2-min", "#columns-2-warn_above"]).await;
    assert!(says(c, "the minimum must not be above the maximum").await);
    assert!(says(c, "the warning level must not be above the maximum").await);
    // What was typed is kept.
    assert_eq!(value(c, "#columns-3-allowed").await, "FT\nPT");
    assert_eq!(value(c, "#reminder_days").await, "14, 7, 1");
    assert!(
        c.find(Locator::Css("#sign_off_required"))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap()
    );
    at_both_widths(chrome, javascript, "open a window, a bad rule").await;
    fill(c, "#columns-2-min", "0").await;
    fill(c, "#columns-2-max", "").await;
    press(c, "Open the window").await;
    let window = c.current_url().await.unwrap().path().to_owned();
    assert!(
        window.starts_with("/collections/") && window != "/collections/new",
        "{window}"
    );
    arrive(c, &window).await;
    crate::appears(c, ".govuk-notification-banner--success").await;
    assert_eq!(
        cells(c, "Column rules").await,
        [
            ["ukprn", "UKPRN, required"],
            [
                "students",
                "Whole number, required; at least 0; a warning above 5000"
            ],
            ["mode", "Text, optional; one of: FT, PT"],
        ]
    );
    assert!(says(c, "Required before the regulator accepts a return").await);
    assert!(says(c, "14, 7, 1 days before closing").await);
    at_both_widths(chrome, javascript, "the window, with its rules").await;
    window
}

/// Fills row `n` of the column rules: name, type and whether it is required.
async fn rule(c: &fantoccini::Client, n: usize, name: &str, kind: &str, required: bool) {
    fill(c, &format!("#columns-{n}-name"), name).await;
    c.find(Locator::Css(&format!("#columns-{n}-type")))
        .await
        .unwrap()
        .select_by_value(kind)
        .await
        .unwrap();
    if required {
        click(c, &format!("label[for='columns-{n}-required']")).await;
    }
}

/// The value of a form field as the browser holds it.
async fn value(c: &fantoccini::Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Uploads `content` as `name` from the window's page; returns the path of
/// the version's own page, where the browser lands.
async fn upload(c: &fantoccini::Client, name: &str, content: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    press(c, "Upload").await;
    for _ in 0..200 {
        let here = c.current_url().await.unwrap().path().to_owned();
        if here.starts_with("/submissions/") {
            arrive(c, &here).await;
            assert!(says(c, name).await, "{name} is on its version's page");
            return here;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the upload did not lead to its version's page: {}",
        c.current_url().await.unwrap()
    );
}

/// The submission's id, from its page's path.
fn id_of(path: &str) -> &str {
    path.trim_start_matches("/submissions/")
}

/// The body cells' text of the table whose caption contains `caption`.
async fn cells(c: &fantoccini::Client, caption: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for tr in c
        .find_all(Locator::XPath(&format!(
            "//main//table[caption[contains(., '{caption}')]]/tbody/tr"
        )))
        .await
        .unwrap()
    {
        let mut row = Vec::new();
        for cell in tr.find_all(Locator::XPath("./th|./td")).await.unwrap() {
            row.push(cell.text().await.unwrap().trim().to_owned());
        }
        rows.push(row);
    }
    rows
}

/// The submission page's status tag.
async fn status(c: &fantoccini::Client) -> String {
    c.find(Locator::XPath(
        "//main//dl/div[dt[normalize-space()='Status']]//strong[contains(@class, 'govuk-tag')]",
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
    .trim()
    .to_owned()
}

/// Whether the page offers the submit form.
async fn offers_submit(c: &fantoccini::Client) -> bool {
    c.find(Locator::Css("main form[action$='/submit'] button"))
        .await
        .is_ok()
}

/// Whether the page offers the sign-off form.
async fn signs_off_here(c: &fantoccini::Client) -> bool {
    c.find(Locator::Css("main form[action$='/sign-off'] #declaration"))
        .await
        .is_ok()
}

/// The state the progress view shows for a provider.
async fn progress_state(c: &fantoccini::Client, provider: &str) -> String {
    c.find(Locator::XPath(&format!(
        "//main//table/tbody/tr[th[starts-with(normalize-space(), '{provider}')]]/td[2]/strong"
    )))
    .await
    .unwrap_or_else(|_| panic!("{provider} is not on the progress view"))
    .text()
    .await
    .unwrap()
    .trim()
    .to_owned()
}

/// Opens `/queries` (unless the browser is there) and checks it lists the
/// query, open.
async fn open_queries_list(c: &fantoccini::Client, javascript: bool, chrome: &Chrome, name: &str) {
    if c.current_url().await.unwrap().path() != "/queries" {
        let here = c.current_url().await.unwrap();
        c.goto(here.join("/queries").unwrap().as_str())
            .await
            .unwrap();
    }
    arrive(c, "/queries").await;
    let rows = cells(c, "open query").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], SUBJECT);
    assert!(rows.iter().flatten().any(|cell| cell.contains(WINDOW)));
    at_both_widths(chrome, javascript, name).await;
}

/// Whether the text of the page's main part contains `text` (as people read
/// it, so quotes and apostrophes are themselves).
async fn says(c: &fantoccini::Client, text: &str) -> bool {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains(text)
}
