//! Bounded connections, graceful shutdown and metrics (issue 14), on the
//! real `portal serve` process: slow, stalled, idle and greedy clients over
//! raw TCP; SIGTERM under load; `/metrics` on its own listener.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{Backend, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{portal, run};
use crate::process::{free_port, serve_ready};

testkit::both_backends!(
    ;
    raw:
    metrics_move_under_load_on_their_own_listener_and_the_public_one_has_none,
);

/// Connection handling does not depend on the database: SQLite only.
mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_stalled_and_idle_clients_are_cut_off_at_their_timeouts() {
        super::slow_stalled_and_idle_clients_are_cut_off_at_their_timeouts().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_connection_cap_clients_are_refused_quickly_and_served_once_the_greedy_one_goes()
     {
        super::over_the_connection_cap_clients_are_refused_quickly_and_served_once_the_greedy_one_goes()
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_finishes_the_requests_in_flight_and_exits_zero() {
        super::sigterm_finishes_the_requests_in_flight_and_exits_zero().await;
    }
}

/// A client that never keeps a connection (each request its own), so that
/// the test's own requests do not count against a small connection cap.
fn one_shot_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A running `portal serve` on a fresh database of `backend`.
struct Serving {
    child: tokio::process::Child,
    base: String,
    port: u16,
    db: TestDb,
    dir: tempfile::TempDir,
}

async fn serve(backend: Backend, settings: &[(&str, String)]) -> Serving {
    let db = TestDb::new(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = portal();
    c.env("PORTAL_DATABASE_URL", db.process_url())
        .env("PORTAL_MAIL_DIR", dir.path().join("mail"))
        .env("PORTAL_FILES_DIR", dir.path().join("files"))
        .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTAL_DEMO", "false")
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())));
    let base = format!("http://127.0.0.1:{port}");
    let child = serve_ready(c, Stdio::null(), &one_shot_client(), &base).await;
    Serving {
        child,
        base,
        port,
        db,
        dir,
    }
}

impl Serving {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }
}

/// Reads until the server closes the connection (or resets it), at most
/// `within`; returns what was read and how long it took, or `None` if the
/// connection was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Duration)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all).await.ok()?;
    Some((got, started.elapsed()))
}

/// One complete HTTP/1.1 response on a kept-alive connection: its status line.
async fn request_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: portal.test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a content-length");
            if body.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
    }
}

async fn slow_stalled_and_idle_clients_are_cut_off_at_their_timeouts() {
    let metrics_port = free_port();
    let s = serve(
        Backend::Sqlite,
        &[
            ("PORTAL_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
            ("PORTAL_HEADER_TIMEOUT_SECS", "1".into()),
            ("PORTAL_IDLE_TIMEOUT_SECS", "4".into()),
            ("PORTAL_REQUEST_TIMEOUT_SECS", "2".into()),
        ],
    )
    .await;

    // Headers dribbled a byte at a time, each well inside every timeout:
    // cut off 1 s after the first byte all the same.
    let slow_header = async {
        let mut stream = s.connect().await;
        let started = Instant::now();
        let head = b"GET /healthz HTTP/1.1\r\nHost: portal.test\r\nX-Slow: ";
        stream.write_all(&head[..4]).await.unwrap();
        let mut closed = false;
        for byte in head[4..]
            .iter()
            .chain(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .cycle()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            let mut probe = [0u8; 512];
            if let Ok(r) =
                tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
            {
                assert!(matches!(r, Ok(0) | Err(_)), "no answer to a half-sent head");
                closed = true;
                break;
            }
            if started.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        let took = started.elapsed();
        assert!(
            closed,
            "a dribbling client was still connected after {took:?}"
        );
        assert!(
            took >= Duration::from_millis(900),
            "cut off before the header timeout: {took:?}"
        );
    };

    // A request whose body stops coming: cut off after the request timeout.
    let stalled_body = async {
        let mut stream = s.connect().await;
        stream
            .write_all(
                b"POST /api/v1/auth/code HTTP/1.1\r\nHost: portal.test\r\n\
                  Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"email\":",
            )
            .await
            .unwrap();
        let started = Instant::now();
        let (answer, took) = closed_within(&mut stream, Duration::from_secs(8))
            .await
            .expect("a stalled upload is cut off within 8 s");
        assert!(took >= Duration::from_millis(1900), "too early: {took:?}");
        assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
        started
    };

    // A body that keeps coming, slowly (each gap under the request timeout,
    // the whole longer than it): answered.
    let steady_body = async {
        let client = one_shot_client();
        let chunks = vec!["{\"email\"", ": \"steady", "@example.ac.uk\"", "}"];
        let r = client
            .post(format!("{}/api/v1/auth/code", s.base))
            .header("content-type", "application/json")
            .body(paced(chunks, Duration::from_millis(900)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "a slow but steady upload is answered");
    };

    // A fresh connection that sends nothing is idle, not a slow header: still
    // open after the header timeout, and served; then, kept alive with
    // nothing more to do, closed after the idle timeout.
    let idle = async {
        let mut stream = s.connect().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(request_on(&mut stream, "/healthz").await, "HTTP/1.1 200 OK");
        let (rest, took) = closed_within(&mut stream, Duration::from_secs(10))
            .await
            .expect("an idle connection is closed within 10 s");
        assert!(rest.is_empty());
        assert!(
            took >= Duration::from_millis(3900),
            "closed too early: {took:?}"
        );
    };

    tokio::join!(slow_header, stalled_body, steady_body, idle);
    // Each closing is counted by its reason.
    let (scraped, text) = scrape(metrics_port).await;
    for reason in ["header_timeout", "request_timeout", "idle_timeout"] {
        let closed = value(
            &scraped,
            "portal_http_connections_closed_total",
            &[("listener", "public"), ("reason", reason)],
        );
        assert!(closed >= 1.0, "{reason}: {text}");
    }
    // Still serving everyone else.
    let r = one_shot_client()
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `chunks`, one every `gap`, as a request body.
fn paced(chunks: Vec<&'static str>, gap: Duration) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures_util::stream::unfold(
        chunks.into_iter(),
        move |mut rest| async move {
            let next = rest.next()?;
            tokio::time::sleep(gap).await;
            Some((Ok::<_, std::io::Error>(next.as_bytes().to_vec()), rest))
        },
    ))
}

async fn over_the_connection_cap_clients_are_refused_quickly_and_served_once_the_greedy_one_goes() {
    let metrics_port = free_port();
    let s = serve(
        Backend::Sqlite,
        &[
            ("PORTAL_MAX_CONNECTIONS", "5".into()),
            ("PORTAL_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
            ("PORTAL_IDLE_TIMEOUT_SECS", "600".into()),
            ("PORTAL_HEADER_TIMEOUT_SECS", "600".into()),
        ],
    )
    .await;
    // The greedy client: five kept-alive connections, each shown to be
    // accepted and served.
    let mut greedy = Vec::new();
    for _ in 0..5 {
        // (A connection the test's readiness check just closed may not be
        // closed on the server's side yet: then this one is refused; retry.)
        for attempt in 0.. {
            let mut stream = s.connect().await;
            if request_on(&mut stream, "/healthz").await == "HTTP/1.1 200 OK" {
                greedy.push(stream);
                break;
            }
            assert!(attempt < 50, "a free slot is served");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Everyone else is refused, quickly and clearly, however many try.
    let client = one_shot_client();
    for _ in 0..20 {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            client.get(format!("{}/healthz", s.base)).send(),
        )
        .await
        .expect("refused within 5 s, not left hanging")
        .unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
    }
    // Counted, on the metrics listener (which has its own cap).
    let (scraped, text) = scrape(metrics_port).await;
    let refused = value(
        &scraped,
        "portal_http_connections_refused_total",
        &[("listener", "public")],
    );
    assert!(refused >= 20.0, "{text}");
    let open = value(
        &scraped,
        "portal_http_connections_open",
        &[("listener", "public")],
    );
    assert_eq!(open, 5.0, "{text}");
    // The greedy connections are untouched.
    assert_eq!(
        request_on(&mut greedy[0], "/healthz").await,
        "HTTP/1.1 200 OK"
    );
    // Once the greedy client goes, others are served.
    drop(greedy);
    let mut served = false;
    for _ in 0..50 {
        let r = client.get(format!("{}/healthz", s.base)).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "served within 5 s of the greedy client leaving");
}

async fn sigterm_finishes_the_requests_in_flight_and_exits_zero() {
    let metrics_port = free_port();
    let mut s = serve(
        Backend::Sqlite,
        &[
            ("PORTAL_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
            ("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "1000".into()),
            ("PORTAL_SHUTDOWN_GRACE_SECS", "20".into()),
        ],
    )
    .await;
    // Twenty uploads, each taking about 1.5 s to send its body.
    let client = one_shot_client();
    let uploads: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/api/v1/auth/code", s.base);
            tokio::spawn(async move {
                let chunks = vec!["{\"email\"", ": \"in-flight", "@example.ac.uk\"", "}"];
                let body = paced(chunks, Duration::from_millis(500));
                let r = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = r.status();
                let body: serde_json::Value = r.json().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
        })
        .collect();
    // Every upload's head has arrived (the server has taken each on) before
    // the signal: wait until twenty connections are open (each client sends
    // its head as soon as it is connected), then a little more.
    let mut open = 0.0;
    for _ in 0..100 {
        let (scraped, _) = scrape(metrics_port).await;
        open = value(
            &scraped,
            "portal_http_connections_open",
            &[("listener", "public")],
        );
        if open >= 20.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open >= 20.0, "only {open} connections open");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = s.child.id().unwrap().to_string();
    let signalled = Instant::now();
    let (code, _, err) = run({
        let mut c = tokio::process::Command::new("kill");
        c.args(["-TERM", &pid]);
        c
    })
    .await;
    assert_eq!(code, 0, "{err}");
    // It stops accepting at once...
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", s.port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "new connections are refused after SIGTERM");
    // ...every request in flight gets its whole answer...
    for upload in uploads {
        let (status, body) = upload.await.unwrap().expect("a complete answer");
        assert_eq!(status, 202, "{body}");
        assert!(body["attempt_id"].is_string(), "{body}");
    }
    // ...and the process exits 0, well inside the grace period.
    let status = tokio::time::timeout(Duration::from_secs(15), s.child.wait())
        .await
        .expect("exits within 15 s of SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(15));
}

type Scraped = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// `GET /metrics` on the metrics listener: parsed, and as text.
async fn scrape(metrics_port: u16) -> (Scraped, String) {
    let r = one_shot_client()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    (parse_scrape(&text), text)
}

/// A scrape as `series → value`, each series its name and sorted labels.
fn parse_scrape(text: &str) -> Scraped {
    let mut all = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap();
                let labels = rest
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        all.insert((name, labels), value.parse::<f64>().unwrap());
    }
    all
}

/// The sum of `name`'s series that carry every label of `with`.
fn value(scrape: &Scraped, name: &str, with: &[(&str, &str)]) -> f64 {
    scrape
        .iter()
        .filter(|((n, labels), _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| labels.get(*k).is_some_and(|l| l == v))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn metrics_move_under_load_on_their_own_listener_and_the_public_one_has_none(
    backend: Backend,
) {
    let metrics_port = free_port();
    // Email cannot leave (nothing listens on the SMTP port): what is queued
    // stays queued, for the outbox gauges.
    let s = serve(
        backend,
        &[
            ("PORTAL_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
            (
                "PORTAL_SMTP_URL",
                format!("smtp://127.0.0.1:{}", free_port()),
            ),
        ],
    )
    .await;
    let client = one_shot_client();
    let (before, _) = scrape(metrics_port).await;
    let requests = |b: &BTreeMap<_, f64>, status: &str| {
        value(
            b,
            "portal_http_requests_total",
            &[
                ("route", "/api/v1/auth/code"),
                ("method", "POST"),
                ("status", status),
            ],
        )
    };

    // A short load: an account (its welcome email is queued), three code
    // requests, a page, a refused code, a path that matches no route.
    let cli = || {
        let mut c = portal();
        c.env("PORTAL_DATABASE_URL", s.db.process_url())
            .env("PORTAL_MAIL_DIR", s.dir.path().join("mail"));
        c
    };
    let mut c = cli();
    c.args([
        "org",
        "create",
        "--name",
        "Metrics University",
        "--kind",
        "provider",
    ])
    .args(["--ukprn", "10000071"]);
    let (code, _, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let mut c = cli();
    c.args([
        "user",
        "create",
        "--org",
        "10000071",
        "--email",
        "m@metrics.example.ac.uk",
    ])
    .args([
        "--first-name",
        "M",
        "--last-name",
        "Etrics",
        "--role",
        "portal-admin",
    ]);
    let (code, _, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    for email in [
        "m@metrics.example.ac.uk",
        "nobody@metrics.example.ac.uk",
        "x@y.example",
    ] {
        let r = client
            .post(format!("{}/api/v1/auth/code", s.base))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = client
        .get(format!("{}/sign-in", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{}/api/v1/auth/token", s.base))
        .json(&json!({ "attempt_id": "nonsense", "code": "not a code" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = client
        .get(format!("{}/no-such-page-7f3a9c", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The public listener has no metrics.
    let r = client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // And the metrics listener nothing else.
    let r = client
        .get(format!("http://127.0.0.1:{metrics_port}/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // One connection kept open, for the connections gauge.
    let mut kept = s.connect().await;
    assert_eq!(request_on(&mut kept, "/healthz").await, "HTTP/1.1 200 OK");
    let (after, text) = scrape(metrics_port).await;
    assert_eq!(
        requests(&after, "202") - requests(&before, "202"),
        3.0,
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "portal_http_request_duration_seconds_count",
            &[("route", "/api/v1/auth/code"), ("method", "POST")]
        ) - value(
            &before,
            "portal_http_request_duration_seconds_count",
            &[("route", "/api/v1/auth/code"), ("method", "POST")]
        ),
        3.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "portal_http_request_duration_seconds_bucket",
            &[("route", "/api/v1/auth/code"), ("le", "+Inf")]
        ) >= 3.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "portal_http_requests_total",
            &[("route", "/sign-in"), ("status", "200")]
        ) >= 1.0
    );
    // A path that matches no route is one series, never the raw path.
    assert!(
        value(
            &after,
            "portal_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 2.0,
        "{text}"
    );
    assert!(!text.contains("no-such-page"), "raw paths are never labels");
    let delta =
        |name: &str, with: &[(&str, &str)]| value(&after, name, with) - value(&before, name, with);
    assert_eq!(
        delta("portal_sign_ins_total", &[("outcome", "code_requested")]),
        3.0,
        "{text}"
    );
    assert_eq!(
        delta("portal_sign_ins_total", &[("outcome", "rejected")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        delta(
            "portal_refusals_total",
            &[("area", "sign_in"), ("kind", "invalid")]
        ),
        1.0,
        "{text}"
    );
    // The outbox: the welcome email and one code wait (SMTP is down).
    assert!(value(&after, "portal_outbox_queued", &[]) >= 2.0, "{text}");
    assert!(
        value(&after, "portal_outbox_oldest_age_seconds", &[]) > 0.0,
        "{text}"
    );
    assert_eq!(
        value(&after, "portal_outbox_dead_letters", &[]),
        0.0,
        "{text}"
    );
    assert_eq!(value(&after, "portal_database_up", &[]), 1.0, "{text}");
    // The pools, and the time transactions waited for them.
    let pool = match backend {
        Backend::Sqlite => "write",
        Backend::Postgres => "main",
    };
    assert!(
        value(&after, "portal_db_connections_max", &[("pool", pool)]) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "portal_db_connections",
            &[("pool", pool), ("state", "idle")]
        ) + value(
            &after,
            "portal_db_connections",
            &[("pool", pool), ("state", "in_use")]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        delta("portal_db_begin_wait_seconds_count", &[("pool", pool)]) >= 3.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "portal_http_connections_open",
            &[("listener", "public")]
        ) >= 1.0,
        "{text}"
    );
    assert!(value(&after, "portal_uptime_seconds", &[]) > 0.0);
    assert!(
        value(&after, "portal_uptime_seconds", &[]) > value(&before, "portal_uptime_seconds", &[])
    );
    assert_eq!(
        value(
            &after,
            "portal_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0,
        "{text}"
    );
}
