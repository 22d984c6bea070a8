//! Data returns through the API (PRODUCT §6): windows, uploads checked by
//! content, versions, the regulator's review, downloads, documents and
//! feedback; every refusal audited and changing nothing.

use std::io::Write;

use serde_json::{Value, json};
use server::Config;
use sha2::Digest;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

testkit::both_backends!(
    a_contributor_submits_and_the_regulator_accepts_it,
    other_providers_and_other_returns_see_nothing,
    uploads_outside_an_open_window_are_refused_clearly,
    files_are_checked_by_content_and_named_safely,
    a_document_reaches_only_the_providers_it_was_sent_to,
    feedback_is_sent_audited_and_read_by_the_regulator;
    raw:
    the_size_limit_is_enforced_before_the_body_is_read,
);

const CSV: &[u8] = b"ukprn,students\n10000701,1234\n";

struct World {
    admin: String,
    officer: String,
    c1: String,
    c2: String,
    prevent: String,
    other: String,
    a_id: String,
    b_id: String,
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
    let c2 = app
        .user(
            "10000701",
            "harry@a.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let prevent = app
        .user(
            "10000701",
            "priya@a.example.ac.uk",
            &["data-collection-contributor:prevent"],
        )
        .await;
    let other = app
        .user(
            "10000702",
            "hugo@b.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let a_id = app.user_record(&c1).await.organisation_id.to_string();
    let b_id = app.user_record(&other).await.organisation_id.to_string();
    World {
        admin: app.api_sign_in(&admin).await,
        officer: app.api_sign_in(&officer).await,
        c1: app.api_sign_in(&c1).await,
        c2: app.api_sign_in(&c2).await,
        prevent: app.api_sign_in(&prevent).await,
        other: app.api_sign_in(&other).await,
        a_id,
        b_id,
    }
}

fn at(app: &TestApp, hours: i64) -> String {
    app.clock
        .now_plus(time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

/// A HESES window from `opens` to `closes` hours from now; its id.
async fn window(app: &TestApp, admin: &str, opens: i64, closes: i64) -> String {
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(admin),
            Some(
                json!({"area": "heses", "name": "HESES 2026-27", "opens_at": at(app, opens),
                        "closes_at": at(app, closes), "guidance": "Send the HESES workbook.",
                        "file_types": ["csv", "xlsx"]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["area"], "heses");
    body["id"].as_str().unwrap().to_owned()
}

/// Uploads `bytes` as `name`; the status and the answer.
async fn upload(
    app: &TestApp,
    token: &str,
    window: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("note", "First return")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
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

/// An upload that must be refused: the status, nothing changed but the audit
/// log, and no file left behind.
async fn refused_upload(
    app: &TestApp,
    token: &str,
    window: &str,
    name: &str,
    bytes: &[u8],
    status: u16,
) -> Value {
    let before = app.snapshot().await;
    let objects = stored_objects(app);
    let seq = app.last_audit_seq().await;
    let (got, answer) = upload(app, token, window, name, bytes).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused upload changed something"
    );
    let rows = app.audit_since(seq).await;
    assert!(!rows.is_empty(), "the refusal was not audited");
    assert!(
        rows.iter()
            .all(|r| r.entry.outcome == domain::audit::Outcome::Refused)
    );
    assert_eq!(stored_objects(app), objects, "a refused file was kept");
    answer
}

fn stored_objects(app: &TestApp) -> usize {
    let leftovers = std::fs::read_dir(app.files.path().join("incoming"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "scratch files were left behind");
    std::fs::read_dir(app.files.path().join("objects"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn a_contributor_submits_and_the_regulator_accepts_it(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, -1, 24 * 7).await;
    // The return is listed, open, for the HESES contributors only.
    let (_, windows) = app
        .call("GET", "/api/v1/collections", Some(&w.c1), None)
        .await;
    assert_eq!(windows[0]["id"], id);
    assert_eq!(windows[0]["state"], "open");
    let (_, none) = app
        .call("GET", "/api/v1/collections", Some(&w.prevent), None)
        .await;
    assert_eq!(none, json!([]));
    // A contributor uploads and submits.
    let (status, s) = upload(&app, &w.c1, &id, "heses.csv", CSV).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["version"], 1);
    assert_eq!(s["status"], "submitted");
    assert_eq!(s["filename"], "heses.csv");
    let sha = hex::encode(sha2::Sha256::digest(CSV));
    assert_eq!(s["sha256"], sha);
    let submission = s["id"].as_str().unwrap().to_owned();
    // The second contributor of the same provider sees it.
    let (status, list) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{id}/submissions"),
            Some(&w.c2),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], submission);
    // The officer downloads the very bytes, with safe headers.
    let r = app
        .client()
        .get(app.url(&format!("/api/v1/submissions/{submission}/file")))
        .bearer_auth(&w.officer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"heses.csv\"")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(r.bytes().await.unwrap().as_ref(), CSV);
    assert!(
        app.audit()
            .await
            .iter()
            .any(|r| r.entry.action == "submissions.download")
    );
    // Returning it needs a reason; a submitted version cannot be submitted again.
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/submissions/{submission}/status"),
            Some(&w.officer),
            Some(json!({"status": "returned"})),
            400,
        )
        .await;
    assert!(answer["fields"]["comment"].is_string(), "{answer}");
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{submission}/submit"),
        Some(&w.c1),
        Some(json!({"note": "again"})),
        409,
    )
    .await;
    // An officer of another area reviews nothing here.
    let prevent_officer = app
        .regulator_user("pat@ofs.example.org", &["regulator-officer:prevent"])
        .await;
    let prevent_officer = app.api_sign_in(&prevent_officer).await;
    app.refused(
        "POST",
        &format!("/api/v1/submissions/{submission}/status"),
        Some(&prevent_officer),
        Some(json!({"status": "accepted"})),
        403,
    )
    .await;
    // The officer accepts it; everyone sees "accepted" and is told.
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/submissions/{submission}/status"),
            Some(&w.officer),
            Some(json!({"status": "accepted", "comment": "Thank you"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{id}/submissions"),
            Some(&w.c2),
            None,
        )
        .await;
    assert_eq!(list[0]["status"], "accepted");
    app.deliver_mail().await;
    for who in ["hana@a.example.ac.uk", "harry@a.example.ac.uk"] {
        let subjects: Vec<String> = app
            .mailer
            .sent_to(who)
            .iter()
            .map(|m| m.subject.clone())
            .collect();
        assert!(
            subjects.contains(&"Submission received: HESES 2026-27".to_owned()),
            "{who}: {subjects:?}"
        );
        assert!(
            subjects.contains(&"HESES 2026-27: Accepted".to_owned()),
            "{who}: {subjects:?}"
        );
    }
    assert!(
        app.mailer
            .sent_to("priya@a.example.ac.uk")
            .iter()
            .all(|m| !m.subject.contains("HESES"))
    );
    // A second upload is version 2; the first is kept.
    let (_, s2) = upload(
        &app,
        &w.c2,
        &id,
        "heses-v2.csv",
        b"ukprn,students\n10000701,1240\n",
    )
    .await;
    assert_eq!(s2["version"], 2);
    let (_, list) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{id}/submissions"),
            Some(&w.c1),
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The regulator's administrator sees who has not submitted.
    let (status, progress) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{id}/progress"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{progress}");
    let status_of = |org: &str| {
        progress
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["organisation_id"] == org)
            .map(|p| p["status"].clone())
            .unwrap()
    };
    assert_eq!(status_of(&w.a_id), "submitted");
    assert_eq!(status_of(&w.b_id), "not_submitted");
    // The receipts its uploads queued go out.
    app.deliver_mail().await;
}

async fn other_providers_and_other_returns_see_nothing(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, -1, 24).await;
    let (_, s) = upload(&app, &w.c1, &id, "heses.csv", CSV).await;
    let submission = s["id"].as_str().unwrap().to_owned();
    // Another provider: the submission and its file do not exist.
    for path in [
        format!("/api/v1/submissions/{submission}"),
        format!("/api/v1/submissions/{submission}/file"),
    ] {
        app.refused("GET", &path, Some(&w.other), None, 404).await;
    }
    let (status, list) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{id}/submissions"),
            Some(&w.other),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([]),
        "another provider sees none of A's submissions"
    );
    // A contributor of another return at the same provider: not found.
    app.refused(
        "GET",
        &format!("/api/v1/collections/{id}/submissions"),
        Some(&w.prevent),
        None,
        404,
    )
    .await;
    app.refused(
        "GET",
        &format!("/api/v1/submissions/{submission}/file"),
        Some(&w.prevent),
        None,
        404,
    )
    .await;
    refused_upload(&app, &w.prevent, &id, "x.csv", CSV, 404).await;
    // A provider's user cannot set a status.
    for token in [&w.c1, &w.other] {
        let answer = app
            .refused(
                "POST",
                &format!("/api/v1/submissions/{submission}/status"),
                Some(token),
                Some(json!({"status": "accepted"})),
                if token == &w.c1 { 403 } else { 404 },
            )
            .await;
        assert!(answer["error"] == "forbidden" || answer["error"] == "not_found");
    }
    // Nor can the regulator upload, or an officer of another area review.
    refused_upload(&app, &w.officer, &id, "x.csv", CSV, 403).await;
    app.refused(
        "POST",
        "/api/v1/collections",
        Some(&w.officer),
        Some(json!({"area": "heses", "name": "X", "opens_at": at(&app, 0), "closes_at": at(&app, 1)})),
        403,
    )
    .await;
    // The receipts its uploads queued go out.
    app.deliver_mail().await;
}

async fn uploads_outside_an_open_window_are_refused_clearly(app: TestApp) {
    let w = world(&app).await;
    let upcoming = window(&app, &w.admin, 24, 48).await;
    let answer = refused_upload(&app, &w.c1, &upcoming, "heses.csv", CSV, 409).await;
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("is not open yet: it opens on"),
        "{answer}"
    );
    let closing = window(&app, &w.admin, -2, 1).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/collections/{closing}/close"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let answer = refused_upload(&app, &w.c1, &closing, "heses.csv", CSV, 409).await;
    assert!(
        answer["message"].as_str().unwrap().contains("is closed"),
        "{answer}"
    );
    let (_, windows) = app
        .call("GET", "/api/v1/collections", Some(&w.c1), None)
        .await;
    let states: Vec<&str> = windows
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["upcoming", "closed"]);
    // Bad windows are refused field by field.
    let answer = app
        .refused(
            "POST",
            "/api/v1/collections",
            Some(&w.admin),
            Some(json!({"area": "nowhere", "name": "", "opens_at": at(&app, 5), "closes_at": at(&app, 1), "file_types": ["exe"]})),
            400,
        )
        .await;
    for field in ["area", "name", "closes_at", "file_types"] {
        assert!(answer["fields"][field].is_string(), "{field}: {answer}");
    }
}

/// A workbook zip with the parts an XLSX has, one of them `inflated` bytes of zeros.
fn workbook(inflated: usize) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(inflated > u32::MAX as usize / 2);
    zip.start_file("[Content_Types].xml", opts).unwrap();
    zip.write_all(b"<Types/>").unwrap();
    zip.start_file("xl/workbook.xml", opts).unwrap();
    zip.write_all(b"<workbook/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let block = vec![0u8; 1024 * 1024];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(block.len());
        zip.write_all(&block[..n]).unwrap();
        left -= n;
    }
    zip.finish().unwrap();
    out.into_inner()
}

async fn files_are_checked_by_content_and_named_safely(app: TestApp) {
    let w = world(&app).await;
    let id = window(&app, &w.admin, -1, 24).await;
    // Named .csv, but a web page or a program.
    let answer = refused_upload(
        &app,
        &w.c1,
        &id,
        "returns.csv",
        b"<!DOCTYPE html><html><script>alert(1)</script>",
        400,
    )
    .await;
    assert!(answer["fields"]["file"].is_string(), "{answer}");
    refused_upload(
        &app,
        &w.c1,
        &id,
        "returns.csv",
        b"\x7fELF\x02\x01\x01\x00\x00\x00binary",
        400,
    )
    .await;
    refused_upload(
        &app,
        &w.c1,
        &id,
        "returns.csv",
        b"MZ\x90\x00\x03\x00\x00\x00",
        400,
    )
    .await;
    refused_upload(
        &app,
        &w.c1,
        &id,
        "latin1.csv",
        b"name\nUniversit\xe9\n",
        400,
    )
    .await;
    // A PDF where the window takes CSV and XLSX only.
    let answer = refused_upload(&app, &w.c1, &id, "returns.csv", b"%PDF-1.7\n%%EOF\n", 400).await;
    assert!(
        answer["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("accepts"),
        "{answer}"
    );
    // A zip bomb dressed as a workbook: 300 MB of zeros in a few hundred KB.
    let bomb = workbook(300 * 1024 * 1024);
    assert!(bomb.len() < 2 * 1024 * 1024, "{}", bomb.len());
    let answer = refused_upload(&app, &w.c1, &id, "heses.xlsx", &bomb, 400).await;
    assert!(
        answer["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("expands"),
        "{answer}"
    );
    // A real (small) workbook is accepted.
    let (status, s) = upload(&app, &w.c1, &id, "heses.xlsx", &workbook(1000)).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["files"][0]["kind"], "xlsx");
    // Names are kept for showing only, cleaned of paths and control characters.
    for (given, shown) in [
        ("../../x", ".._.._x"),
        ("CON", "CON"),
        ("a\"b;c.csv", "a\"b;c.csv"),
    ] {
        let (status, s) = upload(&app, &w.c1, &id, given, CSV).await;
        assert_eq!(status, 201, "{s}");
        assert_eq!(s["filename"], shown);
        let r = app
            .client()
            .get(app.url(&format!(
                "/api/v1/submissions/{}/file",
                s["id"].as_str().unwrap()
            )))
            .bearer_auth(&w.c1)
            .send()
            .await
            .unwrap();
        let d = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            d.starts_with("attachment; filename=\"") && !d.contains('/'),
            "{d}"
        );
    }
    // A NUL or a line break cannot travel inside a multipart header: such a
    // part is refused as unreadable, and nothing is stored.
    for bad_name in [&b"a\0b.csv"[..], b"a\r\nX-Injected: 1\r\n.csv"] {
        let mut body =
            b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
        body.extend_from_slice(bad_name);
        body.extend_from_slice(b"\"\r\n\r\n");
        body.extend_from_slice(CSV);
        body.extend_from_slice(b"\r\n--xyz--\r\n");
        let before = app.snapshot().await;
        let r = app
            .client()
            .post(app.url(&format!("/api/v1/collections/{id}/submissions")))
            .bearer_auth(&w.c1)
            .header("content-type", "multipart/form-data; boundary=xyz")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad_name:?}");
        assert_eq!(app.snapshot().await, before);
    }
    // Every stored file is under a server-made name inside the store.
    let objects = std::fs::read_dir(app.files.path().join("objects")).unwrap();
    for o in objects {
        let name = o.unwrap().file_name().into_string().unwrap();
        assert!(uuid::Uuid::parse_str(&name).is_ok(), "{name}");
    }
    assert!(!app.files.path().join("x").exists());
    // The receipts its uploads queued go out.
    app.deliver_mail().await;
}

async fn a_document_reaches_only_the_providers_it_was_sent_to(app: TestApp) {
    let w = world(&app).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/areas",
            Some(&w.admin),
            Some(
                json!({"slug": "consultations", "name": "Consultations", "kind": "communication"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let officer = app
        .regulator_user(
            "comms@ofs.example.org",
            &["regulator-officer:consultations"],
        )
        .await;
    let officer = app.api_sign_in(&officer).await;
    let pa = app
        .user("10000701", "pa@a.example.ac.uk", &["portal-admin"])
        .await;
    let pa_b = app
        .user("10000702", "pa@b.example.ac.uk", &["portal-admin"])
        .await;
    let pa = app.api_sign_in(&pa).await;
    let pa_b = app.api_sign_in(&pa_b).await;
    let form = reqwest::multipart::Form::new()
        .text("title", "Consultation response")
        .text("recipients", w.a_id.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.4\nletter\n%%EOF\n".to_vec())
                .file_name("letter.pdf"),
        );
    let r = app
        .client()
        .post(app.url("/api/v1/areas/consultations/documents"))
        .bearer_auth(&officer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    let id = doc["id"].as_str().unwrap();
    let (_, listed) = app.call("GET", "/api/v1/documents", Some(&pa), None).await;
    assert_eq!(listed[0]["id"], id);
    let r = app
        .client()
        .get(app.url(&format!("/api/v1/documents/{id}/file")))
        .bearer_auth(&pa)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let (_, listed) = app
        .call("GET", "/api/v1/documents", Some(&pa_b), None)
        .await;
    assert_eq!(listed, json!([]));
    app.refused(
        "GET",
        &format!("/api/v1/documents/{id}/file"),
        Some(&pa_b),
        None,
        404,
    )
    .await;
    // A provider's user cannot publish.
    let form = reqwest::multipart::Form::new().text("title", "x").part(
        "file",
        reqwest::multipart::Part::bytes(CSV.to_vec()).file_name("x.csv"),
    );
    let before = app.snapshot().await;
    let r = app
        .client()
        .post(app.url("/api/v1/areas/consultations/documents"))
        .bearer_auth(&pa)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.snapshot().await, before);
}

async fn feedback_is_sent_audited_and_read_by_the_regulator(app: TestApp) {
    let w = world(&app).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/feedback",
            Some(&w.c1),
            Some(json!({"feedback": "The new portal is much clearer."})),
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        app.audit()
            .await
            .iter()
            .any(|r| r.entry.action == "feedback.sent")
    );
    app.refused(
        "POST",
        "/api/v1/feedback",
        Some(&w.c1),
        Some(json!({"feedback": "   "})),
        400,
    )
    .await;
    let (status, items) = app
        .call("GET", "/api/v1/feedback", Some(&w.admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(items[0]["feedback"], "The new portal is much clearer.");
    app.refused("GET", "/api/v1/feedback", Some(&w.c1), None, 403)
        .await;
}

async fn the_size_limit_is_enforced_before_the_body_is_read(backend: Backend) {
    let Some(app) = TestApp::spawn_with(
        backend,
        Config {
            max_upload_mb: 1,
            ..testkit::test_config()
        },
    )
    .await
    else {
        return;
    };
    let w = world(&app).await;
    let id = window(&app, &w.admin, -1, 24).await;
    let limit = 1024 * 1024;
    let line = b"ukprn,students\n";
    let mut exactly: Vec<u8> = line.iter().copied().cycle().take(limit).collect();
    let (status, body) = upload(&app, &w.c1, &id, "full.csv", &exactly).await;
    assert_eq!(status, 201, "{body}");
    exactly.push(b'\n');
    let answer = refused_upload(&app, &w.c1, &id, "over.csv", &exactly, 413).await;
    assert_eq!(answer["error"], "too_large");
    // 2 GB announced: answered 413 although not one byte of the body is sent.
    // (That memory stays flat is measured alone, in tests/upload_memory.rs.)
    let path = format!("/api/v1/collections/{id}/submissions");
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 2147483648\r\n\r\n",
        app.addr, w.c1
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut reply))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // 2 GB sent without a length (chunked): reading stops at the limit.
    let (reply, sent) = app.upload_without_length(&path, &w.c1, 2 << 30).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(sent < 256 << 20, "the server went on reading: {sent} bytes");
    assert_eq!(
        stored_objects(&app),
        1,
        "only the file within the limit was kept"
    );
    // The receipts its uploads queued go out.
    app.deliver_mail().await;
}
