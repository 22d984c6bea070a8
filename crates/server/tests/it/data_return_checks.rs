//! Data-return checks and sign-off through the API and the pages (issue 16,
//! Done-when 2): the validation report, submit refusals, sign-off rules,
//! accepting before sign-off, late submissions, the UKPRN check, the report
//! download and the amendment diff. Every refusal changes nothing and is
//! audited.

use serde_json::{Value, json};
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    the_report_blocks_errors_and_asks_for_an_explanation_of_warnings,
    only_the_providers_portal_administrator_signs_off_after_submission,
    late_submissions_need_the_window_setting_and_a_reason,
    the_report_downloads_as_safe_csv_and_the_page_shows_the_changes,
    a_corrected_file_on_the_same_window_replaces_a_draft_with_errors,
);

const BAD: &[u8] = b"ukprn,name\n10000701,=cmd\n";
const WARN: &[u8] = b"ukprn,students,name\n10000701,900,Alpha\n";
const CLEAN: &[u8] = b"ukprn,students,name\n10000701,100,Alpha\n";

struct World {
    admin: String,
    officer: String,
    c1: String,
    pa: String,
    dpa: String,
    other_pa: String,
}

async fn world(app: &TestApp) -> World {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let officer = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let c1 = app
        .user(
            "10000701",
            "hana@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let pa = app
        .user("10000701", "paula@a.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000701",
            "dan@a.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let other_pa = app
        .user("10000702", "pat@b.example.ac.uk", &["portal-admin"])
        .await;
    World {
        admin: app.api_sign_in(&admin).await,
        officer: app.api_sign_in(&officer).await,
        c1: app.api_sign_in(&c1).await,
        pa: app.api_sign_in(&pa).await,
        dpa: app.api_sign_in(&dpa).await,
        other_pa: app.api_sign_in(&other_pa).await,
    }
}

fn at(app: &TestApp, hours: i64) -> String {
    app.clock
        .now_plus(time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

/// A HESES window with rules: a required `ukprn` (the provider's), a
/// required whole `students` with a warning above 500, an optional `name`.
async fn window(app: &TestApp, admin: &str, closes: i64, extra: Value) -> String {
    let mut body = json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(app, -1),
    "closes_at": at(app, closes), "file_types": ["csv", "xlsx", "pdf"],
    "columns": [
        {"name": "ukprn", "type": "ukprn", "required": true},
        {"name": "students", "type": "integer", "required": true, "min": 0, "warn_above": 500},
        {"name": "name", "type": "text", "required": false}
    ]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, answer) = app
        .call("POST", "/api/v1/collections", Some(admin), Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

async fn upload(
    app: &TestApp,
    token: &str,
    window: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("heses.csv"),
    );
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/collections/{window}/submissions")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn the_report_blocks_errors_and_asks_for_an_explanation_of_warnings(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, 24, json!({})).await;
    // A missing required column: kept as a draft with its report.
    let (status, s) = upload(&app, &w.c1, &id, BAD, &[]).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["status"], "draft");
    assert!(s["validation"]["errors"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["not_submitted"].is_string());
    let sid = s["id"].as_str().unwrap().to_owned();
    let (status, report) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{sid}/validation"),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["column"] == "students" && e["row"] == 1),
        "{report}"
    );
    for e in errors {
        assert!(e["message"].is_string() && e.get("row").is_some());
    }
    assert_eq!(report["warnings"], json!([]));
    // Another provider's administrator never learns it exists.
    app.refused(
        "GET",
        &format!("/api/v1/submissions/{sid}/validation"),
        Some(&w.other_pa),
        None,
        404,
    )
    .await;
    // Submit is refused while there are errors.
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{sid}/submit"),
        Some(&w.c1),
        Some(json!({})),
        409,
    )
    .await;
    // A workbook is not checked: refused with a clear message.
    let xlsx_like = b"PK\x03\x04";
    let (status, _) = upload(&app, &w.c1, &id, xlsx_like, &[]).await;
    assert!(status == 400 || status == 415, "{status}");

    // A new window: a UKPRN that is not the provider's is an error.
    let id2 = window(&app, &w.admin, 24, json!({})).await;
    let (_, s) = upload(&app, &w.c1, &id2, b"ukprn,students\n10000702,5\n", &[]).await;
    assert_eq!(s["status"], "draft", "{s}");
    let sid2 = s["id"].as_str().unwrap();
    let (_, report) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{sid2}/validation"),
            Some(&w.c1),
            None,
        )
        .await;
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["column"] == "ukprn" && e["row"] == 2),
        "{report}"
    );

    // One warning: submitting needs an explanation.
    let id3 = window(&app, &w.admin, 24, json!({})).await;
    let (_, s) = upload(&app, &w.c1, &id3, WARN, &[]).await;
    assert_eq!(s["status"], "draft", "{s}");
    assert_eq!(s["validation"]["warnings"], 1);
    let sid3 = s["id"].as_str().unwrap().to_owned();
    let (_, report) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{sid3}/validation"),
            Some(&w.officer),
            None,
        )
        .await;
    assert_eq!(report["error"], "not_found", "officers never see drafts");
    let (_, report) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{sid3}/validation"),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(report["warnings"][0]["row"], 2, "{report}");
    assert_eq!(report["warnings"][0]["column"], "students");
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{sid3}/submit"),
        Some(&w.c1),
        Some(json!({"note": "v1"})),
        409,
    )
    .await;
    let long = "x".repeat(2001);
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{sid3}/submit"),
        Some(&w.c1),
        Some(json!({"explanation": long})),
        400,
    )
    .await;
    let (status, done) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{sid3}/submit"),
            Some(&w.c1),
            Some(json!({"note": "v1", "explanation": "A new campus opened."})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "submitted");
    assert_eq!(done["explanation"], "A new campus opened.");
    assert_eq!(done["warnings"], 1);
    assert_eq!(done["late"], false);
    // A clean file with upload-and-submit is submitted at once.
    let id4 = window(&app, &w.admin, 24, json!({})).await;
    let (_, s) = upload(&app, &w.c1, &id4, CLEAN, &[]).await;
    assert_eq!(s["status"], "submitted", "{s}");
    app.deliver_mail().await;
}

async fn only_the_providers_portal_administrator_signs_off_after_submission(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, 24, json!({"sign_off_required": true})).await;
    let (_, s) = upload(&app, &w.c1, &id, CLEAN, &[("draft", "true")]).await;
    let sid = s["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/submissions/{sid}/sign-off");
    let yes = || Some(json!({"declaration": true}));
    // Only after submit.
    app.refused("POST", &path, Some(&w.pa), yes(), 409).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{sid}/submit"),
            Some(&w.c1),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    // Not a contributor, not a delegated administrator, not an officer;
    // another provider's administrator does not see it.
    let answer = app.refused("POST", &path, Some(&w.c1), yes(), 403).await;
    assert_eq!(answer["error"], "forbidden");
    app.refused("POST", &path, Some(&w.dpa), yes(), 403).await;
    app.refused("POST", &path, Some(&w.officer), yes(), 403)
        .await;
    app.refused("POST", &path, Some(&w.other_pa), yes(), 404)
        .await;
    // The officer cannot accept before the sign-off; returning stays possible.
    let status_path = format!("/api/v1/submissions/{sid}/status");
    let answer = app
        .refused(
            "POST",
            &status_path,
            Some(&w.officer),
            Some(json!({"status": "accepted"})),
            409,
        )
        .await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("signed it off"),
        "{answer}"
    );
    // The declaration must be confirmed.
    let answer = app
        .refused(
            "POST",
            &path,
            Some(&w.pa),
            Some(json!({"declaration": false})),
            400,
        )
        .await;
    assert!(answer["fields"]["declaration"].is_string(), "{answer}");
    let (status, signed) = app.call("POST", &path, Some(&w.pa), yes()).await;
    assert_eq!(status, 200, "{signed}");
    assert!(signed["signed_off_at"].is_string());
    assert!(signed["signed_off_by"].is_string());
    assert!(
        app.audit()
            .await
            .iter()
            .any(|r| r.entry.action == "submissions.sign_off"
                && r.entry.outcome == domain::audit::Outcome::Success)
    );
    // Once only.
    app.refused("POST", &path, Some(&w.pa), yes(), 409).await;
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to("oscar@ofs.example.org")
            .iter()
            .any(|m| m.subject.contains("signed off")),
        "the officer is told"
    );
    let (status, body) = app
        .call(
            "POST",
            &status_path,
            Some(&w.officer),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
}

async fn late_submissions_need_the_window_setting_and_a_reason(app: TestApp) {
    let w = world(&app).await;
    let strict = window(&app, &w.admin, 1, json!({})).await;
    let late = window(&app, &w.admin, 1, json!({"late_submissions": true})).await;
    app.clock.advance(time::Duration::hours(2));
    // Sessions idle that long have ended: sign in again.
    let w = World {
        c1: app.api_sign_in("hana@a.example.ac.uk").await,
        admin: app.api_sign_in("rita@ofs.example.org").await,
        ..w
    };
    // Without the setting: refused as before.
    let (status, answer) = upload(&app, &w.c1, &strict, CLEAN, &[]).await;
    assert_eq!(status, 409, "{answer}");
    // With it: a draft may be uploaded; submitting needs a reason.
    let (status, s) = upload(&app, &w.c1, &late, CLEAN, &[("draft", "true")]).await;
    assert_eq!(status, 201, "{s}");
    let sid = s["id"].as_str().unwrap().to_owned();
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/submissions/{sid}/submit"),
            Some(&w.c1),
            Some(json!({})),
            400,
        )
        .await;
    assert!(answer["fields"]["late_reason"].is_string(), "{answer}");
    let (status, done) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{sid}/submit"),
            Some(&w.c1),
            Some(json!({"late_reason": "Our finance system failed."})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["late"], true);
    assert_eq!(done["late_reason"], "Our finance system failed.");
    // Once the administrator closes the window, nothing more is taken.
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/collections/{late}/close"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, answer) = upload(&app, &w.c1, &late, CLEAN, &[]).await;
    assert_eq!(status, 409, "{answer}");
    app.deliver_mail().await;
}

async fn the_report_downloads_as_safe_csv_and_the_page_shows_the_changes(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, 24, json!({})).await;
    let (_, s) = upload(&app, &w.c1, &id, BAD, &[]).await;
    let v1 = s["id"].as_str().unwrap().to_owned();
    // The officer's rules change later: the report keeps the upload's rules.
    let (status, body) = app
        .call(
            "PUT",
            &format!("/api/v1/collections/{id}"),
            Some(&w.admin),
            Some(json!({"columns": []})),
        )
        .await;
    assert!(status == 200 || status == 400, "{body}");
    let seq = app.last_audit_seq().await;
    let r = app
        .client()
        .get(app.url(&format!("/api/v1/submissions/{v1}/validation.csv")))
        .bearer_auth(&w.c1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("File,Row,Column,Severity,Rule,Message"),
        "{csv}"
    );
    assert!(csv.contains("\"students\""), "{csv}");
    assert!(!csv.contains(",\"=cmd"), "no formula cells: {csv}");
    let rows = app.audit_since(seq).await;
    assert!(
        rows.iter()
            .any(|r| r.entry.action == "submissions.report_download")
    );
    app.refused(
        "GET",
        &format!("/api/v1/submissions/{v1}/validation.csv"),
        Some(&w.other_pa),
        None,
        404,
    )
    .await;

    // The page: the report, no Submit while there are errors.
    let mut b = page_sign_in(&app, "hana@a.example.ac.uk").await;
    let page = b.get(&format!("/submissions/{v1}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Validation report"));
    assert!(
        page.body
            .contains("Correct the errors and upload the file again")
    );
    assert!(
        !page
            .body
            .contains(&format!("action=\"/submissions/{v1}/submit\""))
    );
    let csv = b.get(&format!("/submissions/{v1}/report.csv")).await;
    assert_eq!(csv.status, 200);
    // A corrected file in the same draft, then a new version after return.
    let id2 = window(&app, &w.admin, 24, json!({})).await;
    let (_, s) = upload(&app, &w.c1, &id2, CLEAN, &[]).await;
    assert_eq!(s["status"], "submitted", "{s}");
    let first = s["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{first}/status"),
            Some(&w.officer),
            Some(json!({"status": "returned", "comment": "Check the numbers"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, s) = upload(&app, &w.c1, &id2, WARN, &[]).await;
    assert_eq!(s["version"], 2);
    let second = s["id"].as_str().unwrap().to_owned();
    let page = b.get(&format!("/submissions/{second}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Changes from version 1"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Explain the warnings"));
    // The page's submit form with an explanation.
    let r = b
        .submit(
            &format!("/submissions/{second}/submit"),
            &[
                ("from", "submission"),
                ("note", ""),
                ("explanation", "More students."),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The PA signs off on the page.
    let mut pa = page_sign_in(&app, "paula@a.example.ac.uk").await;
    let page = pa.get(&format!("/submissions/{second}")).await;
    assert!(
        page.body
            .contains("I confirm that this return is accurate and complete")
    );
    let r = pa
        .submit(
            &format!("/submissions/{second}/sign-off"),
            &[("declaration", "confirmed")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    app.deliver_mail().await;
}

/// Review fix: a draft whose file has errors is not a dead end. A corrected
/// file uploaded to the same window starts a new version with its own report;
/// the earlier draft can no longer be submitted in its place; control
/// characters in the explanation are bad input, refused before anything is
/// written.
async fn a_corrected_file_on_the_same_window_replaces_a_draft_with_errors(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, 24, json!({})).await;
    let (status, bad) = upload(&app, &w.c1, &id, BAD, &[]).await;
    assert_eq!(status, 201, "{bad}");
    assert_eq!(
        (bad["status"].as_str(), bad["version"].as_i64()),
        (Some("draft"), Some(1))
    );
    let (status, good) = upload(&app, &w.c1, &id, WARN, &[("draft", "true")]).await;
    assert_eq!(status, 201, "{good}");
    assert_eq!(
        good["version"], 2,
        "a new version with its own report: {good}"
    );
    let (v1, v2) = (bad["id"].as_str().unwrap(), good["id"].as_str().unwrap());
    let (_, report) = app
        .call(
            "GET",
            &format!("/api/v1/submissions/{v2}/validation"),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert_eq!(
        report["warnings"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    // The older draft is refused in favour of the newer one, nothing changed.
    let before = app.snapshot().await;
    let (status, answer) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{v1}/submit"),
            Some(&w.c1),
            Some(json!({"explanation": "Checked"})),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.to_string().contains("Version 2"), "{answer}");
    assert_eq!(app.snapshot().await, before);
    // A control character in the explanation: 400 naming the field.
    let (status, answer) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{v2}/submit"),
            Some(&w.c1),
            Some(json!({"explanation": "Checked\u{0}"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("explanation"), "{answer}");
    assert_eq!(app.snapshot().await, before);
    let (status, answer) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{v2}/submit"),
            Some(&w.c1),
            Some(json!({"explanation": "900 students is right: a new campus opened."})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "submitted");
    app.deliver_mail().await;
}
