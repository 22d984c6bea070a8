//! Serving HTTP/1.1 with bounded connections (issue 14): a header timeout, an
//! idle keep-alive timeout, a request (stall) timeout, a cap on connections
//! open at once, and a graceful shutdown with a grace period.
//!
//! `axum::serve` has none of these knobs, so this is its accept loop written
//! out with hyper's HTTP/1 connection builder. Each connection has one
//! watchdog, woken only when its deadline is due or when its state changes
//! (a request's first byte, a request starting, a request ending):
//!
//! * **idle**: no request in flight and no byte of a new one: closed once
//!   nothing moved for `idle_timeout` (a new connection too: it is idle
//!   until its first byte).
//! * **header**: the first byte of a request arrived, its head is not
//!   complete: closed `header_timeout` after that first byte, however
//!   slowly the rest dribbles in.
//! * **request**: a request in flight (from its complete head until the last
//!   byte of the answer is written): closed once no byte moved either way
//!   for `request_timeout`. An upload that keeps sending, or a download the
//!   client keeps reading, is never cut; a stalled one is, and so is a
//!   handler that produces nothing for that long.
//!
//! Over the cap, a new connection is answered `503` with `Retry-After` and
//! closed at once: the client learns quickly, and the connections (so the
//! open files) stay bounded however many a greedy client opens.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};

use crate::Config;

/// The bounds of the public listener, from `PORTAL_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            max_connections: config.max_connections,
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        }
    }
}

/// Why the watchdog closed a connection (the `reason` of
/// `portal_http_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Idle,
    Header,
    Request,
}

impl Due {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle_timeout",
            Self::Header => "header_timeout",
            Self::Request => "request_timeout",
        }
    }
}

/// What one connection is doing: written by its socket (bytes moving) and
/// its requests (start, end), read by its watchdog. Times are milliseconds
/// since `born`.
struct Activity {
    born: Instant,
    last_io: AtomicU64,
    /// When the first byte of a request head arrived, plus one; 0: none yet.
    head_started: AtomicU64,
    in_flight: AtomicUsize,
    /// Wakes the watchdog when the deadline may have moved earlier.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self, bytes: usize) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if bytes > 0
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started.store(now + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Relaxed);
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn request_ended(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// When the connection is due to be closed as things stand, and why.
    fn deadline(&self, limits: &Limits) -> (u64, Due) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_io.load(Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return (
                last.saturating_add(ms(limits.request_timeout)),
                Due::Request,
            );
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => (last.saturating_add(ms(limits.idle_timeout)), Due::Idle),
            started => (
                (started - 1).saturating_add(ms(limits.header_timeout)),
                Due::Header,
            ),
        }
    }
}

/// A socket that tells its connection's [`Activity`] when bytes move.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(_)) = polled {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(_)) = polled {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request in flight: ends when its answer's body is dropped (written to
/// the end, or the connection gone).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.request_started();
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// An answer's body that keeps its request in flight until it is dropped.
struct Answer {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The answer to a connection over the cap.
fn busy_answer() -> Vec<u8> {
    let body = "The portal is busy. Try again in a moment.\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 1\r\ncache-control: no-store\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting, lets the requests in flight finish (at most
/// `limits.shutdown_grace`) and closes idle connections. Handlers see the
/// peer's address as `ConnectInfo<SocketAddr>`. `name` (`public`,
/// `metrics`) labels the listener's connection metrics.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Refusals over the cap linger (to let the client read the 503) only
    // this many at a time; beyond, the socket is answered and dropped.
    let lingering = Arc::new(Semaphore::new(64));
    let busy: Arc<[u8]> = busy_answer().into();
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(name, &e).await;
                    continue;
                }
            },
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let router = router.clone();
                let closing = closing_rx.clone();
                tokio::spawn(async move {
                    let open = metrics::gauge!("portal_http_connections_open", "listener" => name);
                    open.increment(1.0);
                    connection(name, stream, peer, router, limits, closing).await;
                    open.decrement(1.0);
                    drop(permit);
                });
            }
            Err(_) => {
                metrics::counter!("portal_http_connections_refused_total", "listener" => name)
                    .increment(1);
                refuse(stream, &busy, &lingering);
            }
        }
    }
    drop(listener);
    let open = limits.max_connections - permits.available_permits();
    tracing::info!(
        open_connections = open,
        grace_secs = limits.shutdown_grace.as_secs(),
        "stopped accepting connections; finishing the requests in flight"
    );
    let _ = closing_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all)).await {
        Ok(_) => tracing::info!("every connection closed"),
        Err(_) => tracing::warn!(
            still_open = limits.max_connections - permits.available_permits(),
            "the shutdown grace period ran out: cutting the connections still open"
        ),
    }
    Ok(())
}

/// An accept error: a connection that died before it was accepted is
/// nothing; anything else (out of open files) is logged and waited out
/// briefly rather than spun on.
async fn accept_failed(name: &'static str, e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, listener = name, "cannot accept a connection");
    metrics::counter!("portal_http_accept_errors_total", "listener" => name).increment(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers a connection over the cap with `503` and closes it: once the
/// request's head has come (clients take no answer before they asked), at
/// most a second after the connection, and then lingering up to a second
/// more so that closing does not reset the connection before the client
/// has read the answer. At most 64 are answered at a time; beyond that a
/// connection is closed at once, unanswered.
fn refuse(stream: TcpStream, busy: &Arc<[u8]>, lingering: &Arc<Semaphore>) {
    let Ok(permit) = lingering.clone().try_acquire_owned() else {
        drop(stream);
        return;
    };
    let busy = busy.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 2048];
        let read_head = async {
            while head.len() < 8 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            true
        };
        if tokio::time::timeout(Duration::from_secs(1), read_head).await == Ok(true) {
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                stream.write_all(&busy).await?;
                stream.shutdown().await?;
                let mut read = 0usize;
                while read < 64 * 1024 {
                    match stream.read(&mut buf).await? {
                        0 => break,
                        n => read += n,
                    }
                }
                Ok::<_, io::Error>(())
            })
            .await;
        }
        drop(permit);
    });
}

/// One connection, served until the client closes it, its watchdog does, or
/// the shutdown does (after the request in flight, if any).
async fn connection(
    name: &'static str,
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::start(&requests);
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = tower::ServiceExt::oneshot(router.clone(), request);
        async move {
            let response = answer
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(Answer {
                    body,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // The watchdog keeps the header timeout (hyper's would also close idle
    // connections after it, leaving no room for a longer idle timeout).
    http.header_read_timeout(None);
    let mut conn = pin!(http.serve_connection(io, service));
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let (due_ms, _) = activity.deadline(&limits);
        let due = activity.born + Duration::from_millis(due_ms);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(due.into()) => {
                let (due_ms, why) = activity.deadline(&limits);
                if due_ms <= activity.now_ms() {
                    tracing::debug!(%peer, reason = why.label(), "closing a connection");
                    metrics::counter!(
                        "portal_http_connections_closed_total",
                        "listener" => name,
                        "reason" => why.label(),
                    )
                        .increment(1);
                    return;
                }
            }
            changed = closing.changed(), if !shutting_down => {
                // The sender gone means the server is gone: shut down too.
                let _ = changed;
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Warns when the process may open fewer files than the connection cap needs
/// (each connection is one; the database, uploads and logs need more): then
/// the cap cannot protect other clients, and `accept` fails instead.
pub fn warn_if_open_files_too_few(limits: &Limits) {
    let Some(soft) = open_files_limit() else {
        return;
    };
    let needed = u64::try_from(limits.max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(128);
    if soft < needed {
        tracing::warn!(
            open_files_limit = soft,
            max_connections = limits.max_connections,
            "the open-files limit is too low for PORTAL_MAX_CONNECTIONS: raise it (ulimit -n, \
             systemd LimitNOFILE=) to at least {needed}, or lower PORTAL_MAX_CONNECTIONS"
        );
    }
}

/// The soft limit on open files (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
