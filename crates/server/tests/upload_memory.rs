//! A 2 GB upload without a declared length is refused with 413 while memory
//! stays flat. This runs in its own test binary, one backend after the other,
//! so that no other test's allocations are counted in the process's memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use server::Config;
use testkit::{Backend, TestApp};
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        let start =
            b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n";
        let mut frame = format!("{:x}\r\n", start.len()).into_bytes();
        frame.extend_from_slice(start);
        frame.extend_from_slice(b"\r\n");
        let mut sent = 0u64;
        if wr.write_all(&frame).await.is_err() {
            return sent;
        }
        let chunk = vec![b'a'; 64 * 1024];
        while sent < 2 * 1024 * 1024 * 1024 {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if wr.write_all(&frame).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let answered = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "no answer while the body kept coming");
    let reply = String::from_utf8_lossy(&got).into_owned();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    drop(rd);
    let sent = tokio::time::timeout(std::time::Duration::from_secs(60), writer)
        .await
        .expect("the server stopped taking the body")
        .unwrap();
    assert!(
        sent < 256 * 1024 * 1024,
        "the server went on reading: {sent} bytes"
    );
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "{}: memory grew by {grown} bytes",
        app.db.store.backend_name()
    );
}
