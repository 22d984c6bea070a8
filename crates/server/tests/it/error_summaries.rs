//! Error summaries (issue 15, item 5) of the forms not covered elsewhere:
//! every mistake is reported in one submit, in the order the fields appear,
//! each leading to its field (a date to its first box), GOV.UK wording; and
//! nothing changes but the audit log.

use serde_json::json;
use server::Config;
use testkit::{Backend, Browser, TestApp};

use crate::attacks::page_sign_in;

testkit::both_backends!(
    publishing_with_nothing_filled_in_reports_title_providers_and_file_at_once,
    the_activity_filters_date_errors_lead_to_the_first_box,
    ;
    raw:
    a_new_password_that_does_not_match_also_reports_the_code_and_the_password,
);

/// The links of a page's error summary, in order.
fn summary(html: &str) -> Vec<String> {
    let Some(start) = html.find("govuk-error-summary__list") else {
        return Vec::new();
    };
    let list = &html[start..start + html[start..].find("</ul>").unwrap()];
    list.split("href=\"")
        .skip(1)
        .map(|p| p[..p.find('"').unwrap()].to_owned())
        .collect()
}

/// The messages of a page's error summary, in order.
fn messages(html: &str) -> Vec<String> {
    let start = html.find("govuk-error-summary__list").unwrap();
    let list = &html[start..start + html[start..].find("</ul>").unwrap()];
    let pieces: Vec<&str> = list.split("</a>").collect();
    pieces[..pieces.len() - 1]
        .iter()
        .map(|p| {
            p[p.rfind('>').unwrap() + 1..]
                .trim()
                .replace("&#39;", "'")
                .replace("&#x27;", "'")
        })
        .collect()
}

/// Every `#id` the page links to is on the page.
fn links_lead_somewhere(html: &str) {
    for part in html.split("href=\"#").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "a link to #{id}, which is not on the page"
        );
    }
}

/// Posts a multipart form as the browser's page would.
async fn post_multipart(
    app: &TestApp,
    b: &Browser,
    path: &str,
    form: reqwest::multipart::Form,
) -> (u16, String) {
    let r = app
        .client()
        .post(app.url(path))
        .header(
            "cookie",
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header("sec-fetch-site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Publish a document: with no title, no provider and no file, the first
/// submit said only that the file was missing; the title and the providers
/// came on the next.
async fn publishing_with_nothing_filled_in_reports_title_providers_and_file_at_once(app: TestApp) {
    app.regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let admin = app.api_sign_in("rita@ofs.example.org").await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/areas",
            Some(&admin),
            Some(json!({"slug": "letters", "name": "Letters", "kind": "communication"})),
        )
        .await;
    assert_eq!(status, 201);
    app.user("10000951", "pa@letters.example.ac.uk", &["portal-admin"])
        .await;
    let officer = app
        .regulator_user("comms@ofs.example.org", &["regulator-officer:letters"])
        .await;
    let mut b = page_sign_in(&app, &officer).await;
    assert_eq!(b.get("/documents/publish/letters").await.status, 200);
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    // As a browser sends it: an empty title, no box ticked, no file chosen.
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", b.csrf())
        .text("title", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new())
                .file_name("")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    let (status, body) = post_multipart(&app, &b, "/documents/publish/letters", form).await;
    assert_eq!(status, 400, "{body}");
    let links = summary(&body);
    assert_eq!(links.len(), 3, "{links:?}");
    assert_eq!(links[0], "#title");
    assert!(links[1].starts_with("#recipients-"), "{links:?}");
    assert_eq!(links[2], "#file");
    assert_eq!(
        messages(&body),
        [
            "Enter the document's title",
            "Select at least one provider",
            "Select the document to publish",
        ]
    );
    links_lead_somewhere(&body);
    assert_eq!(app.snapshot().await, before, "nothing was published");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "one refusal: {rows:?}");
    assert_eq!(rows[0].entry.action, "documents.publish");
}

/// The Activity filters: a date's error leads to its first box (GOV.UK's
/// date input), as every other date in the portal does.
async fn the_activity_filters_date_errors_lead_to_the_first_box(app: TestApp) {
    let pa = app
        .user("10000952", "pa@activity.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = page_sign_in(&app, &pa).await;
    let r = b
        .get(
            "/activity?action=nothing-of-the-sort&from-day=31&from-month=2&from-year=2026\
             &to-day=1&to-month=&to-year=2026",
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(summary(&r.body), ["#action", "#from-day", "#to-day"]);
    links_lead_somewhere(&r.body);
}

/// Change your password: when the two passwords differed, only that was
/// said; a missing code and a weak password came on the next submit.
async fn a_new_password_that_does_not_match_also_reports_the_code_and_the_password(
    backend: Backend,
) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            password_sign_in: true,
            password_policy: "modern".into(),
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let email = app.user("10000953", "pw@summary.example.ac.uk", &[]).await;
    let mut b = page_sign_in(&app, &email).await;
    b.get("/account/password").await;
    let form = b.submit("/account/password", &[]).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let attempt = form
        .body
        .split("name=\"attempt\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    app.deliver_mail().await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit(
            "/account/password/new",
            &[
                ("attempt", &attempt),
                ("code", ""),
                ("password", "short"),
                ("confirm", "other"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(summary(&r.body), ["#code", "#password", "#confirm"]);
    let said = messages(&r.body);
    assert_eq!(said[0], "Enter the 6-digit code from the email");
    assert_eq!(said[2], "The passwords do not match");
    links_lead_somewhere(&r.body);
    assert!(!app.user_record(&email).await.has_password);
    assert_eq!(app.snapshot().await, before, "nothing changed");
    assert_eq!(app.audit_since(seq).await.len(), 1, "one refusal");
    // Matching passwords but no code: the code and the password, as before.
    let r = b
        .submit(
            "/account/password/new",
            &[
                ("attempt", &attempt),
                ("code", ""),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(summary(&r.body), ["#code", "#password"]);
}
