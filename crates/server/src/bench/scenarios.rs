//! The benchmark's scenarios (docs/performance.md): the baseline, and the
//! portal's hot paths, each checked for the right answer as well as timed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::load::{Call, Client, Once, Scenario, expect};

/// `GET /healthz`: no database work; the baseline every figure is divided by.
pub struct Healthz;

impl Scenario for Healthz {
    async fn run(&self, c: &mut Client, _: usize, _: usize, _: u64) -> anyhow::Result<bool> {
        expect(
            &c.send(&Call::get("/healthz")).await?,
            StatusCode::OK,
            "healthz",
        )?;
        Ok(true)
    }
}

/// `GET /api/v1/me` with one session after another (session + permissions).
pub struct Me {
    pub tokens: Arc<Vec<String>>,
    /// Each token once, then stop (the live-sessions pass); else round and round.
    pub once: Option<Once<usize>>,
}

impl Scenario for Me {
    async fn run(&self, c: &mut Client, w: usize, ws: usize, n: u64) -> anyhow::Result<bool> {
        let i = match &self.once {
            Some(once) => match once.take() {
                Some(i) => *i,
                None => return Ok(false),
            },
            None => (w + n as usize * ws) % self.tokens.len(),
        };
        let a = c
            .send(&Call::get("/api/v1/me").bearer(&self.tokens[i]))
            .await?;
        expect(&a, StatusCode::OK, "me")?;
        Ok(true)
    }
}

/// The User management page (HTML) of a Portal Administrator.
pub struct UsersPage {
    pub cookie: String,
    pub token: String,
}

impl Scenario for UsersPage {
    async fn run(&self, c: &mut Client, _: usize, _: usize, _: u64) -> anyhow::Result<bool> {
        let a = c
            .send(&Call::get("/users").cookie(&self.cookie, &self.token))
            .await?;
        expect(&a, StatusCode::OK, "users page")?;
        if !a.body.windows(15).any(|w| w == b"User management") {
            anyhow::bail!("users page: not the User management page");
        }
        Ok(true)
    }
}

/// `GET /api/v1/users?q=` by several providers' administrators, over terms
/// that occur in the data.
pub struct Search {
    pub tokens: Vec<String>,
    pub terms: Vec<String>,
}

impl Scenario for Search {
    async fn run(&self, c: &mut Client, w: usize, ws: usize, n: u64) -> anyhow::Result<bool> {
        let i = w + n as usize * ws;
        let token = &self.tokens[i % self.tokens.len()];
        let term = &self.terms[(i / self.tokens.len()) % self.terms.len()];
        let a = c
            .send(&Call::get(format!("/api/v1/users?q={term}")).bearer(token))
            .await?;
        expect(&a, StatusCode::OK, "search")?;
        Ok(true)
    }
}

/// `GET /api/v1/audit` (issue 13): a filtered first page of one provider's
/// trail (the biggest), by its Portal Administrator: a group of actions, one
/// action, and the second page of another, in turn.
pub struct AuditPage {
    pub token: String,
}

impl Scenario for AuditPage {
    async fn run(&self, c: &mut Client, w: usize, ws: usize, n: u64) -> anyhow::Result<bool> {
        const FILTERS: [&str; 3] = [
            "action=users.&per_page=50",
            "action=sign_in.succeeded&per_page=50",
            "action=users.set_roles&per_page=50&page=2",
        ];
        let filter = FILTERS[(w + n as usize * ws) % FILTERS.len()];
        let a = c
            .send(&Call::get(format!("/api/v1/audit?{filter}")).bearer(&self.token))
            .await?;
        expect(&a, StatusCode::OK, "audit page")?;
        if !a.body.starts_with(b"{\"items\":[") {
            anyhow::bail!("audit page: not a page of the trail");
        }
        Ok(true)
    }
}

/// `PUT /api/v1/users/{id}/roles`: an administrator gives a user the Prevent
/// contributor role, then takes it away, and so on. Each connection has its
/// own users, so no two requests change one user at once.
pub struct RoleChange {
    pub token: String,
    /// (user id, roles without Prevent).
    pub targets: Vec<(String, Vec<String>)>,
}

const PREVENT: &str = "data-collection-contributor:prevent";

impl Scenario for RoleChange {
    async fn run(&self, c: &mut Client, w: usize, ws: usize, n: u64) -> anyhow::Result<bool> {
        let mine = self.targets.len() / ws;
        if mine == 0 {
            anyhow::bail!("role change: fewer users than connections");
        }
        let (id, roles) = &self.targets[w * mine + (n as usize % mine)];
        let mut roles = roles.clone();
        // Even rounds over this connection's users add Prevent; odd take it away.
        if (n as usize / mine).is_multiple_of(2) {
            roles.push(PREVENT.to_owned());
        }
        let a = c
            .send(
                &Call::json(
                    Method::PUT,
                    format!("/api/v1/users/{id}/roles"),
                    &json!({ "roles": roles }),
                )
                .bearer(&self.token),
            )
            .await?;
        expect(&a, StatusCode::OK, "role change")?;
        Ok(true)
    }
}

impl RoleChange {
    /// The big provider's users who are neither administrator nor delegate, as
    /// they are now, with Prevent left out (the scenario adds it back in turn).
    pub fn targets(users: &[serde_json::Value]) -> Vec<(String, Vec<String>)> {
        users
            .iter()
            .filter_map(|u| {
                let id = u["id"].as_str()?.to_owned();
                let roles: Vec<String> = u["roles"]
                    .as_array()?
                    .iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned))
                    .collect();
                if roles.iter().any(|r| r.contains("admin")) {
                    return None;
                }
                let roles = roles.into_iter().filter(|r| r != PREVENT).collect();
                Some((id, roles))
            })
            .collect()
    }
}

/// Codes read from the benchmark's capture mail file, by address.
#[derive(Default)]
pub struct Mailbox {
    waiting: Mutex<HashMap<String, oneshot::Sender<String>>>,
}

impl Mailbox {
    fn expect(&self, email: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(email.to_owned(), tx);
        }
        rx
    }

    fn deliver(&self, line: &[u8]) {
        let Ok(mail) = serde_json::from_slice::<serde_json::Value>(line) else {
            return;
        };
        let (Some(to), Some(body)) = (mail["to"].as_str(), mail["body"].as_str()) else {
            return;
        };
        if mail["subject"] != "Your Provider Portal sign-in code" {
            return;
        }
        let code: String = body
            .split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_default()
            .to_owned();
        let waiter = self.waiting.lock().ok().and_then(|mut w| w.remove(to));
        if let Some(tx) = waiter {
            let _ = tx.send(code);
        }
    }

    /// Follows the capture file until the process ends.
    pub fn follow(self: &Arc<Self>, path: PathBuf) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut pending: Vec<u8> = Vec::new();
            let mut file = loop {
                match tokio::fs::File::open(&path).await {
                    Ok(f) => break f,
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            };
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match file.read(&mut buf).await {
                    Ok(0) | Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                            me.deliver(&pending[..end]);
                            pending.drain(..=end);
                        }
                    }
                }
            }
        });
    }
}

/// A complete passcode sign-in: ask for a code, read it from the mail, send
/// it back, get a session. Each address is used once per run (the portal
/// sends an address at most five codes in 15 minutes).
pub struct SignIn {
    pub emails: Arc<Once<String>>,
    pub mailbox: Arc<Mailbox>,
}

impl Scenario for SignIn {
    async fn run(&self, c: &mut Client, _: usize, _: usize, _: u64) -> anyhow::Result<bool> {
        let Some(email) = self.emails.take() else {
            return Ok(false);
        };
        let code = self.mailbox.expect(email);
        let a = c
            .send(&Call::json(
                Method::POST,
                "/api/v1/auth/code",
                &json!({ "email": email }),
            ))
            .await?;
        expect(&a, StatusCode::ACCEPTED, "code request")?;
        let attempt: serde_json::Value = serde_json::from_slice(&a.body)?;
        let code = tokio::time::timeout(Duration::from_secs(30), code)
            .await
            .map_err(|_| anyhow::anyhow!("no sign-in code for {email} within 30 s"))??;
        let a = c
            .send(&Call::json(
                Method::POST,
                "/api/v1/auth/token",
                &json!({ "attempt_id": attempt["attempt_id"], "code": code }),
            ))
            .await?;
        expect(&a, StatusCode::OK, "code verification")?;
        Ok(true)
    }
}
