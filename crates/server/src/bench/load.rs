//! The load generator: `connections` HTTP/1.1 keep-alive connections, each
//! sending one request after another for a fixed time, every latency kept.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// What one scenario at one concurrency did.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted, microseconds.
    latencies: Vec<u32>,
}

impl Measured {
    /// Requests completed per second; `None` when no time was measured.
    pub fn per_second(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (secs > 0.0).then(|| self.completed as f64 / secs)
    }

    /// The latency below which `pct` per cent of requests finished, in ms;
    /// `None` when no request finished.
    pub fn percentile_ms(&self, pct: usize) -> Option<f64> {
        let last = self.latencies.len().checked_sub(1)?;
        let i = (self.latencies.len() * pct / 100).min(last);
        Some(f64::from(self.latencies[i]) / 1000.0)
    }

    /// A measurement as the report's tests need one.
    #[cfg(test)]
    pub fn with(completed: u64, elapsed: Duration, latencies_us: &[u32]) -> Self {
        let mut latencies = latencies_us.to_vec();
        latencies.sort_unstable();
        Self {
            completed,
            elapsed,
            latencies,
            ..Self::default()
        }
    }
}

/// One HTTP/1.1 connection to the portal.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
}

/// A finished exchange: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    pub async fn send(&mut self, call: &Call) -> anyhow::Result<Answer> {
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header("host", "127.0.0.1");
        for (name, value) in &call.headers {
            req = req.header(*name, value.as_str());
        }
        if call.body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(call.body.clone().unwrap_or_default()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn json(method: Method, path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Some(Bytes::from(body.to_string())),
        }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }

    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.headers.push(("cookie", format!("{name}={value}")));
        self
    }
}

/// A scenario: what one connection does for its `n`th iteration. `Ok(false)`
/// means the scenario has run out of work (sign-ins use each person once).
pub trait Scenario: Send + Sync + 'static {
    fn run(
        &self,
        client: &mut Client,
        worker: usize,
        workers: usize,
        n: u64,
    ) -> impl std::future::Future<Output = anyhow::Result<bool>> + Send;
}

/// Runs `scenario` on `connections` connections for `duration`.
pub async fn measure<S: Scenario>(
    addr: SocketAddr,
    scenario: Arc<S>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for worker in 0..connections {
        let scenario = scenario.clone();
        let mut client = Client::connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            let mut out = Measured::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match scenario.run(&mut client, worker, connections, n).await {
                    Ok(true) => {
                        out.completed += 1;
                        let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        out.latencies.push(us);
                    }
                    Ok(false) => break,
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| format!("{e:#}"));
                        // A broken connection is replaced, not retried forever.
                        match Client::connect(addr).await {
                            Ok(c) => client = c,
                            Err(_) => break,
                        }
                    }
                }
                n += 1;
            }
            out
        }));
    }
    let mut all = Measured::default();
    for task in tasks {
        let m = task.await?;
        all.completed += m.completed;
        all.errors += m.errors;
        if all.first_error.is_none() {
            all.first_error = m.first_error;
        }
        all.latencies.extend(m.latencies);
    }
    all.elapsed = started.elapsed();
    all.latencies.sort_unstable();
    Ok(all)
}

/// Hands out the items of a list once each, across connections.
pub struct Once<T> {
    items: Vec<T>,
    next: AtomicUsize,
}

impl<T> Once<T> {
    pub fn new(items: Vec<T>) -> Self {
        Self {
            items,
            next: AtomicUsize::new(0),
        }
    }

    pub fn take(&self) -> Option<&T> {
        self.items.get(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Fails unless the answer has the expected status.
pub fn expect(answer: &Answer, status: StatusCode, what: &str) -> anyhow::Result<()> {
    if answer.status == status {
        Ok(())
    } else {
        anyhow::bail!(
            "{what}: expected {status}, got {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
        )
    }
}
