//! A 2 GB upload without a declared length is refused with 413 while memory
//! stays flat. This runs in its own test binary, one backend after the other,
//! so that no other test's allocations are counted in the process's memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use server::Config;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gigabyte_upload_is_refused_while_memory_stays_flat() {
    refused_with_flat_memory(Backend::Sqlite).await;
    if testkit::postgres_configured() {
        refused_with_flat_memory(Backend::Postgres).await;
    }
}

async fn refused_with_flat_memory(backend: Backend) {
    let config = Config {
        max_upload_mb: 1,
        ..testkit::test_config()
    };
    let app = TestApp::spawn_with(backend, config).await.unwrap();
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let admin = app.api_sign_in(&admin).await;
    let contributor = app
        .user(
            "10000901",
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
    let (status, window) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&admin),
            Some(
                json!({"area": "heses", "name": "HESES", "opens_at": at(-1), "closes_at": at(24)}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let path = format!(
        "/api/v1/collections/{}/submissions",
        window["id"].as_str().unwrap()
    );
    let before = rss();
    let (reply, sent) = app.upload_without_length(&path, &token, 2 << 30).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(sent < 256 << 20, "the server went on reading: {sent} bytes");
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "{}: memory grew by {grown} bytes",
        app.db.store.backend_name()
    );
}
