//! A 100 MB CSV with one error in its very last row, uploaded through the
//! API to a window with column rules, is checked as it arrives (issue 16):
//! the report says exactly that one error, at that row, while the process's
//! peak memory grows by far less than the file. This runs in its own test
//! binary, one backend after the other, so that no other test's allocations
//! are counted in the process's memory; the file is generated as it is sent,
//! never whole in this process either.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use serde_json::{Value, json};
use server::Config;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;

/// The peak resident memory of this process since the last
/// [`reset_peak`], in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Starts the peak over from the memory resident now (Linux: `5` to
/// `clear_refs` resets `VmHWM`).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

const UKPRN: &str = "10000901";
/// Data rows: with the header, a little over 100 MB (100 bytes a row).
const ROWS: u64 = 1_000_000;

/// Data row `i` (from 0), 100 bytes with its line end; the last one's
/// student count is not a number.
fn line(i: u64) -> String {
    let students = if i + 1 == ROWS {
        "many".to_owned()
    } else {
        (i % 5000).to_string()
    };
    let mode = ["FT", "PT", "SW"][(i % 3) as usize];
    let start = format!(
        "{UKPRN},{students:>6},0.{:03},{mode},2026-{:02}-{:02},\"Course {i:>8}, \"\"quoted\"\"",
        i % 1000,
        i % 12 + 1,
        i % 28 + 1
    );
    format!("{start}{}\"\n", " ".repeat(98 - start.len()))
}

/// The CSV, generated a thousand rows at a time as it is sent.
fn csv_stream() -> reqwest::Body {
    let blocks = futures_util::stream::iter((0..ROWS.div_ceil(1000)).map(|block| {
        let mut s = String::with_capacity(100 * 1000 + 100);
        if block == 0 {
            s.push_str("UKPRN,students,fte,mode,census_date,course\n");
        }
        for i in block * 1000..((block + 1) * 1000).min(ROWS) {
            s.push_str(&line(i));
        }
        Ok::<_, std::io::Error>(s)
    }));
    reqwest::Body::wrap_stream(blocks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabyte_csv_is_checked_as_it_arrives_with_memory_bounded() {
    assert_eq!(line(0).len(), 100);
    assert_eq!(line(ROWS - 1).len(), 100);
    checked_with_bounded_memory(Backend::Sqlite).await;
    if testkit::postgres_configured() {
        checked_with_bounded_memory(Backend::Postgres).await;
    }
}

async fn checked_with_bounded_memory(backend: Backend) {
    let config = Config {
        max_upload_mb: 128,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let admin = app.api_sign_in(&admin).await;
    let contributor = app
        .user(
            UKPRN,
            "hana@m.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let token = app.api_sign_in(&contributor).await;
    let at = |hours: i64| {
        app.clock
            .now_plus(time::Duration::hours(hours))
            .format(&Rfc3339)
            .unwrap()
    };
    let columns = json!([
        {"name": "ukprn", "type": "ukprn", "required": true},
        {"name": "students", "type": "integer", "required": true, "min": 0, "max": 100000, "warn_above": 90000},
        {"name": "fte", "type": "number", "min": 0, "max": 1},
        {"name": "mode", "type": "text", "required": true, "allowed": ["FT", "PT", "SW"]},
        {"name": "census_date", "type": "date"},
    ]);
    let (status, window) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&admin),
            Some(
                json!({"area": "heses", "name": "HESES", "opens_at": at(-1), "closes_at": at(24),
                        "file_types": ["csv"], "columns": columns}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{window}");
    let path = format!(
        "/api/v1/collections/{}/submissions",
        window["id"].as_str().unwrap()
    );

    let before = rss();
    reset_peak();
    let started = Instant::now();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::stream(csv_stream()).file_name("heses.csv"),
    );
    let r = app
        .client()
        .post(app.url(&path))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let up: Value = r.json().await.unwrap_or(Value::Null);
    let took = started.elapsed();
    let grown = peak_memory().saturating_sub(before);
    assert_eq!(status, 201, "{up}");
    eprintln!(
        "{}: a {} MB CSV uploaded and checked in {:.2} s; peak memory grew by {:.1} MB",
        app.db.store.backend_name(),
        (ROWS * 100) / 1_000_000,
        took.as_secs_f64(),
        grown as f64 / (1 << 20) as f64
    );
    assert!(
        grown < 64 << 20,
        "{}: peak memory grew by {grown} bytes for a {} byte file",
        app.db.store.backend_name(),
        ROWS * 100
    );
    assert_eq!(up["validation"]["errors"], 1, "{up}");
    assert_eq!(up["validation"]["warnings"], 0, "{up}");
    assert_eq!(up["validation"]["data_rows"], ROWS, "{up}");

    let (status, report) = app
        .call(
            "GET",
            &format!(
                "/api/v1/submissions/{}/validation",
                up["id"].as_str().unwrap()
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(report["warnings"].as_array().unwrap().len(), 0, "{report}");
    // The header is row 1: the last data row is row ROWS + 1.
    assert_eq!(errors[0]["row"], ROWS + 1, "{report}");
    assert_eq!(errors[0]["column"], "students", "{report}");
    assert_eq!(
        errors[0]["message"], "students must be a whole number, like 42, not \"many\"",
        "{report}"
    );
}
