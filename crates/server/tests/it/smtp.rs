//! The SMTP transport (issue 14): our own TCP connection (with `TCP_NODELAY`)
//! under lettre's SMTP client, one connection kept for many emails, a new
//! one when the server went away, and TLS as the URL asks for it, against a
//! real SMTP server (aiosmtpd).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use app::mail::{Mailer, SmtpMailer};
use domain::ids::MessageId;
use store::OutboxMessage;

use crate::process::{free_port, listening};

/// aiosmtpd on `port`, plain (`none`), with implicit TLS (`implicit`) or
/// with STARTTLS required (`starttls`) using `DIR/cert.pem` and `DIR/key.pem`.
/// Each accepted message is written, as received, to
/// `DIR/delivered/<client port>-<random>.eml`: the client port tells the
/// connections apart.
const SERVER: &str = r#"
import os, ssl, sys, time, uuid
from aiosmtpd.controller import Controller

dir, port, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = os.path.join(dir, "delivered")
os.makedirs(out, exist_ok=True)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s.eml" % (session.peer[1], uuid.uuid4().hex)
        tmp = os.path.join(out, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(out, name))
        return "250 OK"

kw = {}
if tls != "none":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(dir, "cert.pem"), os.path.join(dir, "key.pem"))
    if tls == "implicit":
        kw = {"ssl_context": ctx}
    else:
        kw = {"tls_context": ctx, "require_starttls": True}
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kw)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

struct Server {
    child: tokio::process::Child,
    dir: PathBuf,
}

impl Server {
    /// `None` when python3 with aiosmtpd is missing (a failure under `CI=true`).
    async fn start(dir: &Path, port: u16, tls: &str) -> Option<Self> {
        let script = dir.join("smtp_server.py");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&script, SERVER).unwrap();
        let child = tokio::process::Command::new("python3")
            .arg(&script)
            .arg(dir)
            .arg(port.to_string())
            .arg(tls)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        if let Ok(mut child) = child
            && listening(&mut child, port).await
        {
            return Some(Self {
                child,
                dir: dir.join("delivered"),
            });
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: python3 with aiosmtpd must be available (pip install aiosmtpd)"
        );
        eprintln!("python3 with aiosmtpd not available: not run");
        None
    }

    /// The client port of each message accepted so far.
    fn deliveries(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
                    .map(|n| n.split('-').next().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn stop(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

fn email() -> OutboxMessage {
    let now = time::OffsetDateTime::now_utc();
    OutboxMessage {
        id: MessageId::random(),
        to: "someone@smtp.example.ac.uk".into(),
        subject: "A test".into(),
        body: "Hello.\n.\nA line with only a dot, above.\n".into(),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        sent_at: None,
        dead_at: None,
        last_error: None,
    }
}

fn mailer(url: &str) -> SmtpMailer {
    SmtpMailer::from_url(url, "portal@smtp.example.ac.uk".parse().unwrap()).unwrap()
}

#[tokio::test]
async fn one_connection_carries_many_emails_and_a_new_one_replaces_it_when_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(server) = Server::start(dir.path(), port, "none").await else {
        return;
    };
    let smtp = mailer(&format!("smtp://127.0.0.1:{port}"));
    for _ in 0..5 {
        smtp.send(&email()).await.unwrap();
    }
    let first = server.deliveries();
    assert_eq!(first.len(), 5);
    assert!(
        first.iter().all(|p| *p == first[0]),
        "one connection for all: {first:?}"
    );

    // The server goes away and comes back: the kept connection is dead, the
    // next email goes on a new one, which is kept in turn.
    server.stop().await;
    let Some(server) = Server::start(dir.path(), port, "none").await else {
        return;
    };
    smtp.send(&email()).await.unwrap();
    smtp.send(&email()).await.unwrap();
    let all = server.deliveries();
    let later: Vec<_> = all.iter().filter(|p| **p != first[0]).collect();
    assert_eq!(later.len(), 2, "{all:?}");
    assert_eq!(later[0], later[1], "the new connection is kept: {all:?}");

    // With nobody listening, sending fails with the reason, and works again
    // once the server is back.
    server.stop().await;
    let e = smtp.send(&email()).await.unwrap_err().to_string();
    assert!(e.starts_with("SMTP: "), "{e}");
    let Some(server) = Server::start(dir.path(), port, "none").await else {
        return;
    };
    smtp.send(&email()).await.unwrap();
    assert_eq!(server.deliveries().len(), 8);
}

#[tokio::test]
async fn tls_required_sends_nothing_to_a_server_without_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(server) = Server::start(dir.path(), port, "none").await else {
        return;
    };
    let e = mailer(&format!("smtp://127.0.0.1:{port}?tls=required"))
        .send(&email())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("STARTTLS is not supported"), "{e}");
    assert!(server.deliveries().is_empty());
    // Opportunistic TLS goes on in plain text when the server has no STARTTLS.
    mailer(&format!("smtp://127.0.0.1:{port}?tls=opportunistic"))
        .send(&email())
        .await
        .unwrap();
    assert_eq!(server.deliveries().len(), 1);
}

/// A self-signed certificate for 127.0.0.1 in `dir`; `false` when openssl is
/// missing (a failure under `CI=true`).
async fn self_signed(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let made = tokio::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !made {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: openssl must be available"
        );
        eprintln!("openssl not available: not run");
    }
    made
}

/// `smtps://` speaks TLS from the first byte and `tls=required` upgrades with
/// STARTTLS; both check the server's certificate (one nobody vouches for is
/// refused) and send nothing without TLS.
#[tokio::test]
async fn smtps_and_starttls_refuse_a_certificate_nobody_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    if !self_signed(dir.path()).await {
        return;
    }
    for (tls, url) in [
        ("implicit", "smtps://127.0.0.1:{port}"),
        ("starttls", "smtp://127.0.0.1:{port}?tls=required"),
    ] {
        let port = free_port();
        let Some(server) = Server::start(dir.path(), port, tls).await else {
            return;
        };
        let url = url.replace("{port}", &port.to_string());
        let e = mailer(&url).send(&email()).await.unwrap_err().to_string();
        eprintln!("{url}: {e}");
        assert!(e.contains("certificate"), "{url}: {e}");
        assert!(server.deliveries().is_empty());
        server.stop().await;
    }
    // And `smtps://` to a plain-text server fails: no plain SMTP either.
    let port = free_port();
    let Some(server) = Server::start(dir.path(), port, "none").await else {
        return;
    };
    let e = mailer(&format!("smtps://127.0.0.1:{port}"))
        .send(&email())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("smtps:// to a plain-text server: {e}");
    assert!(e.starts_with("SMTP: "), "{e}");
    assert!(server.deliveries().is_empty());
}

#[test]
fn smtp_urls_are_read_as_lettre_reads_them_and_others_refused_at_start_up() {
    let from = || "portal@smtp.example.ac.uk".parse().unwrap();
    for good in [
        "smtp://127.0.0.1:2525",
        "smtp://mail.example.ac.uk",
        "smtp://user:p%40ss@mail.example.ac.uk:587?tls=required",
        "smtp://mail.example.ac.uk?tls=opportunistic",
        "smtps://user:pass@mail.example.ac.uk",
        "smtps://mail.example.ac.uk:465/portal.example.ac.uk",
        "smtp://[::1]:2525",
    ] {
        assert!(SmtpMailer::from_url(good, from()).is_ok(), "{good}");
    }
    for bad in [
        "mail.example.ac.uk:25",
        "http://mail.example.ac.uk",
        "smtp://mail.example.ac.uk?tls=yes",
        "smtp:///nohost",
        "smtp://user:%ff@mail.example.ac.uk",
    ] {
        let e = SmtpMailer::from_url(bad, from()).err().unwrap().to_string();
        assert!(e.starts_with("bad SMTP URL: "), "{bad}: {e}");
    }
}
