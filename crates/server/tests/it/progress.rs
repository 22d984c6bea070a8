//! The officers' progress view of a window (issue 16, done-when 5): on 400
//! providers in every state, the page (all its pages), its CSV and
//! `GET /api/v1/collections/{id}/progress` agree row for row, whatever the
//! filter and sort; a provider's people and other areas' officers are refused.

use domain::audit::Outcome;
use domain::collection::{FileKind, SubmissionStatus};
use domain::progress::ProgressState;
use domain::{OrgId, OrganisationKind, Ukprn, UserId};
use serde_json::Value;
use store::{
    FileCheckRecord, FileRecord, NewOrganisation, NewSubmission, QueryMessageRecord, QueryRecord,
    Submit, WindowRecord,
};
use testkit::TestApp;
use time::Duration;
use time::format_description::well_known::Rfc3339;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    page_csv_and_api_agree_on_400_providers,
    only_the_areas_officers_and_administrators_see_progress
);

const PROVIDERS: usize = 400;
/// A provider whose name a spreadsheet would read as a formula.
const FORMULA: &str = "=SUM(1+1) College";
const DRAFT_NAME: &str = "secret-draft-content.csv";

struct World {
    window: String,
    /// API tokens.
    officer: String,
    admin: String,
    officer_email: String,
    admin_email: String,
    pa_email: String,
    other_officer_email: String,
}

/// A file of a version, checked with these counts.
async fn file(
    tx: &mut dyn store::StoreTx,
    submission: uuid::Uuid,
    name: &str,
    errors: u64,
    warnings: u64,
    by: UserId,
    at: time::OffsetDateTime,
) {
    let f = FileRecord {
        id: uuid::Uuid::new_v4(),
        storage_key: uuid::Uuid::new_v4().to_string(),
        filename: name.into(),
        kind: FileKind::Csv,
        size: 10,
        sha256: vec![0; 32],
        uploaded_by: by,
        uploaded_at: at,
    };
    tx.insert_file(&f).await.unwrap();
    tx.attach_file(submission, f.id).await.unwrap();
    let check = FileCheckRecord {
        file_id: f.id,
        rules: Vec::new(),
        data_rows: 1,
        errors,
        warnings,
        rule_counts: Vec::new(),
        checked_at: at,
    };
    tx.insert_file_check(&check, &[]).await.unwrap();
}

/// A HESES window asking for sign-off, and 400 providers: provider `i` is in
/// state `i % 8` (see below). Written straight into the store in one
/// transaction, as the benchmark dataset is.
async fn world(app: &TestApp) -> World {
    let admin_email = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let officer_email = app
        .regulator_user("oscar@ofs.example.org", &["regulator-officer:heses"])
        .await;
    let other_officer_email = app
        .regulator_user("pat@ofs.example.org", &["regulator-officer:prevent"])
        .await;
    let pa_email = app
        .user("10000001", "pa@p.example.ac.uk", &["portal-admin"])
        .await;
    let pa = app.user_record(&pa_email).await.id;
    let officer_id = app.user_record(&officer_email).await.id;
    let now = app.clock.now_plus(Duration::ZERO);
    let window = WindowRecord {
        id: uuid::Uuid::new_v4(),
        area: domain::AreaSlug::parse("heses").unwrap(),
        name: "HESES 2026-27".into(),
        opens_at: now - Duration::days(10),
        closes_at: now + Duration::days(10),
        guidance: String::new(),
        file_types: vec![FileKind::Csv],
        closed_at: None,
        created_by: None,
        created_at: now - Duration::days(11),
        column_rules: Vec::new(),
        sign_off_required: true,
        reminder_days: Vec::new(),
        late_submissions: true,
    };
    let store = app.store();
    let mut tx = store.begin().await.unwrap();
    tx.insert_window(&window).await.unwrap();
    let orgs: Vec<NewOrganisation> = (0..PROVIDERS)
        .map(|i| NewOrganisation {
            id: OrgId::random(),
            kind: OrganisationKind::Provider,
            // Names in another order than UKPRNs, so that the sorts differ.
            name: if i == 5 {
                FORMULA.to_owned()
            } else {
                format!("College {:03}", (i * 37) % PROVIDERS)
            },
            ukprn: Some(Ukprn::parse(&format!("{}", 10_010_000 + i)).unwrap()),
            accountable_officer_name: None,
            accountable_officer_email: None,
            created_at: now - Duration::days(30),
        })
        .collect();
    tx.insert_organisations(&orgs).await.unwrap();
    for (i, org) in orgs.iter().enumerate() {
        let state = i % 8;
        if state == 0 {
            continue; // not started
        }
        // Submitted at different times, so that the sort by time means something.
        let at = now - Duration::minutes(i as i64 * 7 % 1000);
        let version = |v: i64| NewSubmission {
            id: uuid::Uuid::new_v4(),
            window_id: window.id,
            organisation_id: org.id,
            version: v,
            status: SubmissionStatus::Draft,
            note: String::new(),
            created_by: pa,
            created_at: at - Duration::hours(1),
        };
        let v1 = version(1);
        tx.insert_submission(&v1).await.unwrap();
        if state == 1 {
            // A draft with errors: only its counts may show.
            file(&mut *tx, v1.id, DRAFT_NAME, 2, 1, pa, at).await;
            continue;
        }
        let warnings = if state == 3 { 2 } else { 0 };
        file(&mut *tx, v1.id, "heses.csv", 0, warnings, pa, at).await;
        tx.submit(
            v1.id,
            &Submit {
                note: "Our return",
                explanation: (state == 3).then_some("Two new campuses"),
                late_reason: (state == 3).then_some("A flood"),
                by: pa,
                at,
            },
        )
        .await
        .unwrap();
        if state == 4 || state == 6 {
            assert!(tx.sign_off(v1.id, pa, at).await.unwrap());
        }
        let decided = match state {
            5 | 7 => Some(SubmissionStatus::Returned),
            6 => Some(SubmissionStatus::Accepted),
            _ => None,
        };
        if let Some(status) = decided {
            tx.set_submission_status(v1.id, status, "Thanks", officer_id, at)
                .await
                .unwrap();
        }
        if state == 7 {
            // Returned, and a new draft under way.
            let v2 = version(2);
            tx.insert_submission(&v2).await.unwrap();
            file(&mut *tx, v2.id, DRAFT_NAME, 0, 3, pa, at).await;
        }
        if state == 2 || state == 3 {
            let query = QueryRecord {
                id: uuid::Uuid::new_v4(),
                submission_id: v1.id,
                window_id: window.id,
                organisation_id: org.id,
                subject: "Student numbers".into(),
                raised_by: officer_id,
                raised_at: at,
                closed_by: None,
                closed_at: None,
                messages: vec![QueryMessageRecord {
                    id: uuid::Uuid::new_v4(),
                    author: officer_id,
                    body: "Why did they rise?".into(),
                    created_at: at,
                }],
            };
            tx.insert_query(&query).await.unwrap();
            if state == 3 {
                assert!(tx.close_query(query.id, officer_id, at).await.unwrap());
            }
        }
    }
    tx.commit().await.unwrap();
    World {
        window: window.id.to_string(),
        officer: app.api_sign_in(&officer_email).await,
        admin: app.api_sign_in(&admin_email).await,
        officer_email,
        admin_email,
        pa_email,
        other_officer_email,
    }
}

/// A row as every listing shows it: provider, UKPRN, state.
type Line = (String, String, String);

fn code_of(label: &str) -> String {
    ProgressState::ALL
        .into_iter()
        .find(|s| s.label() == label)
        .unwrap_or_else(|| panic!("no state {label:?}"))
        .as_str()
        .to_owned()
}

async fn api_rows(app: &TestApp, token: &str, window: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{window}/progress{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn api_lines(rows: &[Value]) -> Vec<Line> {
    rows.iter()
        .map(|r| {
            (
                r["organisation_name"].as_str().unwrap().to_owned(),
                r["ukprn"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The cells of a CSV written as the portal writes it (every cell quoted).
fn csv_records(body: &str) -> Vec<Vec<String>> {
    body.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        cell.push('"');
                        chars.next();
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(std::mem::take(&mut cell)),
                    (c, _) => cell.push(c),
                }
            }
            cells.push(cell);
            cells
        })
        .collect()
}

fn csv_lines(body: &str) -> Vec<Line> {
    let records = csv_records(body);
    assert_eq!(records[0][0], "Provider");
    assert_eq!(records[0][3], "State code");
    records[1..]
        .iter()
        .map(|r| {
            // A formula-looking name is written with a leading apostrophe.
            let name = r[0].strip_prefix('\'').unwrap_or(&r[0]).to_owned();
            assert_eq!(code_of(&r[2]), r[3]);
            (name, r[1].clone(), r[3].clone())
        })
        .collect()
}

/// The text of some markup, tags and visually hidden text left out.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        if rest[i..].starts_with("<span class=\"govuk-visually-hidden\">") {
            let end = rest[i..].find("</span>").unwrap();
            rest = &rest[i + end + "</span>".len()..];
        } else {
            let end = rest[i..].find('>').unwrap();
            rest = &rest[i + end + 1..];
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The API's submission time of the late provider (UKPRN 10010003).
fn late_api(rows: &[Value]) -> String {
    rows.iter().find(|r| r["ukprn"] == "10010003").unwrap()["submitted_at"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The rows of one page of the view.
fn page_lines(body: &str) -> Vec<Line> {
    let Some(start) = body.find("<tbody class=\"govuk-table__body\">") else {
        return Vec::new();
    };
    let tbody = &body[start..start + body[start..].find("</tbody>").unwrap()];
    tbody
        .split("<tr class=\"govuk-table__row\">")
        .skip(1)
        .map(|tr| {
            let th = &tr[tr.find("<th").unwrap()..tr.find("</th>").unwrap()];
            let th = &th[th.find('>').unwrap() + 1..];
            let cells: Vec<&str> = tr
                .split("<td class=\"govuk-table__cell\">")
                .skip(1)
                .collect();
            let ukprn = text(cells[0]);
            let tag =
                &cells[1][cells[1].find("<strong").unwrap()..cells[1].find("</strong>").unwrap()];
            (text(th), ukprn, code_of(&text(tag)))
        })
        .collect()
}

/// Every page of the view for `query` ("" or "?…"), followed to the end.
async fn all_pages(b: &mut testkit::Browser, window: &str, query: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut n = 1;
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let path = format!("/collections/{window}/progress{query}{sep}page={n}");
        let r = b.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let got = page_lines(&r.body);
        assert!(got.len() <= 100, "{path}: {} rows", got.len());
        lines.extend(got);
        if !r.body.contains("rel=\"next\"") {
            return lines;
        }
        n += 1;
        assert!(n < 20, "the pages never end");
    }
}

async fn csv(b: &mut testkit::Browser, window: &str, query: &str) -> (String, Vec<Line>) {
    let r = b
        .get(&format!("/collections/{window}/progress.csv{query}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let lines = csv_lines(&r.body);
    (r.body, lines)
}

async fn page_csv_and_api_agree_on_400_providers(app: TestApp) {
    let w = world(&app).await;
    let mut b = page_sign_in(&app, &w.officer_email).await;
    // Every provider, in every state, in each listing.
    let rows = api_rows(&app, &w.officer, &w.window, "").await;
    assert_eq!(
        rows.len(),
        PROVIDERS + 1,
        "every provider, and only providers"
    );
    let count = |s: &str| rows.iter().filter(|r| r["state"] == s).count();
    assert_eq!(
        ProgressState::ALL.map(|s| count(s.as_str())),
        [51, 100, 100, 50, 50, 50]
    );
    // What each state carries, for one provider of each kind.
    let by_ukprn = |i: usize| {
        let ukprn = (10_010_000 + i).to_string();
        rows.iter()
            .find(|r| r["ukprn"].as_str() == Some(ukprn.as_str()))
            .unwrap()
            .clone()
    };
    let draft = by_ukprn(1);
    assert_eq!(
        (
            &draft["state"],
            &draft["status"],
            &draft["version"],
            &draft["errors"],
            &draft["warnings"]
        ),
        (
            &"uploaded".into(),
            &"not_submitted".into(),
            &Value::Null,
            &2.into(),
            &1.into()
        )
    );
    let open = by_ukprn(2);
    assert_eq!(
        (
            &open["state"],
            &open["awaiting_sign_off"],
            &open["open_queries"]
        ),
        (&"submitted".into(), &true.into(), &1.into())
    );
    assert!(open["submitted_at"].is_string() && open["signed_off_at"].is_null());
    let explained = by_ukprn(3);
    assert_eq!(
        (
            &explained["warnings_explained"],
            &explained["late"],
            &explained["warnings"],
            &explained["open_queries"]
        ),
        (&true.into(), &true.into(), &2.into(), &0.into())
    );
    let signed = by_ukprn(4);
    assert_eq!(
        (&signed["state"], &signed["awaiting_sign_off"]),
        (&"signed_off".into(), &false.into())
    );
    assert!(signed["signed_off_at"].is_string());
    assert_eq!(by_ukprn(6)["state"], "accepted");
    let again = by_ukprn(7);
    assert_eq!(
        (
            &again["state"],
            &again["status"],
            &again["version"],
            &again["warnings"]
        ),
        (&"uploaded".into(), &"returned".into(), &1.into(), &3.into())
    );
    // The same rows in the same order, for every sort both ways and filters.
    let mut queries = vec![String::new()];
    for key in ["provider", "ukprn", "state", "submitted"] {
        for order in ["ascending", "descending"] {
            queries.push(format!("?sort={key}&order={order}"));
        }
    }
    queries.push("?state=signed_off&sort=submitted&order=descending".into());
    queries.push("?q=college+00&sort=ukprn".into());
    queries.push("?q=1001002&state=uploaded".into());
    queries.push("?sort=nonsense&order=sideways".into());
    for query in &queries {
        let api = api_lines(&api_rows(&app, &w.officer, &w.window, query).await);
        let (_, csv) = csv(&mut b, &w.window, query).await;
        let pages = all_pages(&mut b, &w.window, query).await;
        assert_eq!(csv, api, "CSV and API differ for {query:?}");
        assert_eq!(pages, api, "page and API differ for {query:?}");
    }
    // The orders are the ones asked for.
    let api = |q: &'static str| {
        let app = &app;
        let w = &w;
        async move { api_rows(app, &w.officer, &w.window, q).await }
    };
    let ukprns: Vec<String> = api("?sort=ukprn&order=descending")
        .await
        .iter()
        .map(|r| r["ukprn"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = ukprns.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ukprns, expected);
    let times: Vec<Option<time::OffsetDateTime>> = api("?sort=submitted&order=descending")
        .await
        .iter()
        .map(|r| {
            r["submitted_at"]
                .as_str()
                .map(|t| time::OffsetDateTime::parse(t, &Rfc3339).unwrap())
        })
        .collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "not newest first");
    assert!(times.last().unwrap().is_none(), "never submitted: last");
    let states: Vec<String> = api("?sort=state")
        .await
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_owned())
        .collect();
    let rank = |s: &String| {
        ProgressState::ALL
            .iter()
            .position(|x| x.as_str() == s)
            .unwrap()
    };
    assert!(states.windows(2).all(|p| rank(&p[0]) <= rank(&p[1])));
    let names: Vec<String> = api("")
        .await
        .iter()
        .map(|r| r["organisation_name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(names.windows(2).all(|p| p[0] <= p[1]), "default: by name");
    // Filters: a state, a name, a UKPRN.
    let signed = api("?state=signed_off").await;
    assert_eq!(signed.len(), 50);
    assert!(signed.iter().all(|r| r["state"] == "signed_off"));
    let found = api("?q=COLLEGE%20012").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["organisation_name"], "College 012");
    let found = api("?q=10010394").await;
    assert_eq!(
        api_lines(&found),
        [(
            "College 178".to_owned(),
            "10010394".to_owned(),
            "submitted".to_owned()
        )]
    );
    // An unknown state is refused, said so for the field.
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/collections/{}/progress?state=finished", w.window),
            Some(&w.officer),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["fields"]["state"].is_string(), "{body}");
    // The page: counts, filter, sort links, the CSV link with the same choices.
    let r = b
        .get(&format!(
            "/collections/{}/progress?state=submitted&sort=state&order=descending",
            w.window
        ))
        .await;
    assert!(r.body.contains("<dt class=\"govuk-summary-list__key\">Signed off</dt>\n    <dd class=\"govuk-summary-list__value\">50</dd>"), "{}", r.body);
    assert!(r.body.contains("<option value=\"submitted\" selected>"));
    assert!(r.body.contains(
        "aria-sort=\"descending\"><a class=\"govuk-link portal-sort-link\" href=\"/collections/"
    ));
    let csv_href = format!(
        "href=\"/collections/{}/progress.csv?state=submitted&#38;sort=state&#38;order=descending\"",
        w.window
    );
    assert!(r.body.contains(&csv_href), "{}", r.body);
    assert!(r.body.contains("Warnings explained; awaiting sign-off"));
    assert!(
        r.body.contains("govuk-tag--red"),
        "the late ones are marked"
    );
    // Officers open each provider's newest submitted version.
    let first = b.get(&format!("/collections/{}/progress", w.window)).await;
    let links = first.body.matches("href=\"/submissions/").count();
    assert!(links > 50, "{links} links");
    // A draft's content never shows: only that it exists and its counts.
    assert!(!first.body.contains(DRAFT_NAME));
    let (body, _) = csv(&mut b, &w.window, "").await;
    assert!(!body.contains(DRAFT_NAME));
    assert!(!serde_json::to_string(&rows).unwrap().contains(DRAFT_NAME));
    // The CSV: formulas defused; UK time and ISO 8601.
    assert!(body.contains(&format!("\"'{FORMULA}\"")), "{body}");
    let records = csv_records(&body);
    let late = records.iter().find(|r| r[1] == "10010003").unwrap();
    assert_eq!(late[10], "Yes");
    let iso = time::OffsetDateTime::parse(&late[7], &Rfc3339).unwrap();
    assert_eq!(late[6], domain::uk_time::moment(iso));
    assert_eq!(late[7], late_api(&rows));
    // Every CSV download is audited.
    let downloads = app
        .audit()
        .await
        .iter()
        .filter(|r| r.entry.action == "windows.progress_csv" && r.entry.outcome == Outcome::Success)
        .count();
    assert_eq!(downloads, queries.len() + 1);
    // Regulator administrators see progress, not the returns.
    let mut admin = page_sign_in(&app, &w.admin_email).await;
    let r = admin
        .get(&format!("/collections/{}/progress", w.window))
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("href=\"/submissions/"));
    assert!(r.body.contains(
        "Regulator administrators see where each provider stands, not the returns themselves"
    ));
    assert_eq!(
        api_lines(&api_rows(&app, &w.admin, &w.window, "?sort=state").await),
        api_lines(&api_rows(&app, &w.officer, &w.window, "?sort=state").await)
    );
}

/// `path` fetched by `who` is refused with `status`: nothing changes, and
/// exactly one audit row is written, a refusal of `action`.
async fn refused_once(app: &TestApp, fetch: impl AsyncFnOnce() -> u16, status: u16, action: &str) {
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    assert_eq!(fetch().await, status);
    assert_eq!(app.snapshot().await, before, "a refusal changed something");
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    assert_eq!(rows[0].entry.action, action);
}

async fn only_the_areas_officers_and_administrators_see_progress(app: TestApp) {
    let w = world(&app).await;
    let pa = app.api_sign_in(&w.pa_email).await;
    let other = app.api_sign_in(&w.other_officer_email).await;
    let contributor = app
        .user(
            "10000001",
            "hana@p.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let contributor_token = app.api_sign_in(&contributor).await;
    let api = format!("/api/v1/collections/{}/progress", w.window);
    // A provider's people: the view does not exist for them (404); another
    // area's officer is forbidden (403). Each refusal audited once.
    for (token, status) in [(&pa, 404), (&contributor_token, 404), (&other, 403)] {
        refused_once(
            &app,
            async || app.call("GET", &api, Some(token), None).await.0,
            status,
            "windows.progress",
        )
        .await;
    }
    for (email, status) in [(&w.pa_email, 404), (&w.other_officer_email, 403)] {
        let mut b = page_sign_in(&app, email).await;
        for (path, action) in [
            (
                format!("/collections/{}/progress", w.window),
                "windows.progress",
            ),
            (
                format!("/collections/{}/progress.csv", w.window),
                "windows.progress_csv",
            ),
        ] {
            refused_once(&app, async || b.get(&path).await.status, status, action).await;
        }
    }
    // A window that does not exist, and one that is not an id.
    let missing = format!("/api/v1/collections/{}/progress", uuid::Uuid::new_v4());
    refused_once(
        &app,
        async || app.call("GET", &missing, Some(&w.officer), None).await.0,
        404,
        "windows.progress",
    )
    .await;
    refused_once(
        &app,
        async || {
            app.call(
                "GET",
                "/api/v1/collections/not-an-id/progress",
                Some(&w.admin),
                None,
            )
            .await
            .0
        },
        404,
        "windows.progress",
    )
    .await;
    // Signed out: to the sign-in page, nothing shown.
    let r = app
        .browser()
        .get(&format!("/collections/{}/progress", w.window))
        .await;
    assert_eq!(r.status, 303);
}
