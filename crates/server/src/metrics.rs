//! Prometheus metrics (issue 14): recorded with the `metrics` crate, rendered
//! by `metrics-exporter-prometheus` on `PORTAL_METRICS_LISTEN` only (its own
//! listener, never the public one). The exporter's own HTTP server is not
//! used: `GET /metrics` is a tiny router here, so the listener is bounded
//! like the public one.
//!
//! Without `PORTAL_METRICS_LISTEN` no recorder is installed and every
//! `metrics::counter!` in the code is a no-op.
//!
//! The metrics and their meaning are listed in docs/decisions.md ("Bounded
//! connections, graceful shutdown, metrics") and the README's "Operating".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use store_sql::SqlStore;
use tokio::net::TcpListener;

use crate::connections::{self, Limits};

/// The version, and the git commit when the build could see one (build.rs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_SHA: Option<&str> = option_env!("PORTAL_BUILD_GIT_SHA");

/// Seconds: from a fast page to a slow upload.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds a transaction waited to start.
const WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// Units of work one SQLite commit covered (at most 64).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// Installs the process's recorder (once, before serving) and keeps its
/// histograms drained.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("portal_http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("portal_db_begin_wait_seconds".into()),
            WAIT_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("portal_db_group_commit_units".into()),
            GROUP_BUCKETS,
        )?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot start recording metrics: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    describe();
    metrics::gauge!(
        "portal_build_info",
        "version" => VERSION,
        "git_sha" => GIT_SHA.unwrap_or("unknown"),
    )
    .set(1.0);
    Ok(handle)
}

/// HELP lines: what each metric means, in the scrape itself.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "portal_http_requests_total",
        "HTTP requests answered, by route template (\"unmatched\" for none), method and status"
    );
    describe_histogram!(
        "portal_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's head to its answer's head, by route template and method"
    );
    describe_gauge!(
        "portal_http_connections_open",
        "Connections open on the public listener"
    );
    describe_counter!(
        "portal_http_connections_refused_total",
        "Connections answered 503 and closed because PORTAL_MAX_CONNECTIONS were open"
    );
    describe_counter!(
        "portal_http_connections_closed_total",
        "Connections the portal closed: header_timeout, idle_timeout or request_timeout"
    );
    describe_counter!(
        "portal_http_accept_errors_total",
        "Failures to accept a connection (e.g. out of open files)"
    );
    describe_counter!(
        "portal_sign_ins_total",
        "Sign-in steps by outcome: code_requested, signed_in, rejected, rate_limited"
    );
    describe_counter!(
        "portal_refusals_total",
        "Refused requests (audited), by area of the action and kind of answer"
    );
    describe_gauge!(
        "portal_outbox_queued",
        "Emails waiting to be sent (including those being sent now)"
    );
    describe_gauge!(
        "portal_outbox_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest email waiting to be sent; 0 when none waits"
    );
    describe_gauge!(
        "portal_outbox_dead_letters",
        "Emails given up on after every retry"
    );
    describe_gauge!(
        "portal_database_up",
        "1 if the database answered this scrape's queries, else 0"
    );
    describe_counter!(
        "portal_db_group_commits_total",
        "SQLite: commits of the writer (each one sync of the log), each covering a group of units"
    );
    describe_histogram!(
        "portal_db_group_commit_units",
        "SQLite: units of work (write transactions) one commit covered"
    );
    describe_gauge!(
        "portal_db_connections",
        "Database pool connections by pool and state (in_use, idle)"
    );
    describe_gauge!(
        "portal_db_connections_max",
        "Database pool size limit by pool"
    );
    describe_histogram!(
        "portal_db_begin_wait_seconds",
        Unit::Seconds,
        "Time a transaction waited to start: for a pool connection, and on SQLite the write lock"
    );
    describe_gauge!(
        "portal_uptime_seconds",
        Unit::Seconds,
        "Seconds since this process started serving"
    );
    describe_gauge!(
        "portal_build_info",
        "1, labelled with the version and the git commit it was built from"
    );
}

/// Records every request of `router`: counted by route template, method and
/// status, and timed. The template comes from axum's `MatchedPath` (never
/// the raw path: ids would make a series each).
pub fn track(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(record))
}

async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_str().to_owned();
    metrics::counter!(
        "portal_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status,
    )
    .increment(1);
    metrics::histogram!(
        "portal_http_request_duration_seconds",
        "route" => route,
        "method" => method,
    )
    .record(elapsed);
    response
}

/// Methods as labels: the standard ones, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    app: app::App,
    store: Arc<SqlStore>,
    started: Instant,
}

/// Serves `GET /metrics` on `listener` (a task of its own, for the life of
/// the process). Gauges that describe the database are read at each scrape.
pub fn spawn(listener: TcpListener, handle: PrometheusHandle, app: app::App, store: Arc<SqlStore>) {
    let scrape = Scrape {
        handle,
        app,
        store,
        started: Instant::now(),
    };
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(scrape);
    // Bounded like the public listener, for the few scrapers there are.
    let limits = Limits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
        max_connections: 16,
        shutdown_grace: Duration::ZERO,
    };
    tokio::spawn(async move {
        if let Err(e) =
            connections::serve("metrics", listener, router, limits, std::future::pending()).await
        {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
}

/// Binds `PORTAL_METRICS_LISTEN`.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on PORTAL_METRICS_LISTEN={addr}: {e}"))
}

async fn metrics(State(s): State<Scrape>) -> impl IntoResponse {
    s.refresh().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.handle.render(),
    )
}

impl Scrape {
    /// The gauges read at scrape time: uptime, pools, the outbox.
    async fn refresh(&self) {
        use store::Store;
        metrics::gauge!("portal_uptime_seconds").set(self.started.elapsed().as_secs_f64());
        for pool in self.store.pool_stats() {
            let in_use = f64::from(pool.in_use());
            let idle = f64::from(pool.idle);
            metrics::gauge!("portal_db_connections", "pool" => pool.pool, "state" => "in_use")
                .set(in_use);
            metrics::gauge!("portal_db_connections", "pool" => pool.pool, "state" => "idle")
                .set(idle);
            metrics::gauge!("portal_db_connections_max", "pool" => pool.pool)
                .set(f64::from(pool.max));
        }
        let stats = tokio::time::timeout(Duration::from_secs(5), self.store.outbox_stats()).await;
        match stats {
            Ok(Ok(stats)) => {
                let now = self.app.clock.now();
                let age = stats
                    .oldest_queued_at
                    .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
                metrics::gauge!("portal_outbox_queued").set(stats.queued as f64);
                metrics::gauge!("portal_outbox_oldest_age_seconds").set(age);
                metrics::gauge!("portal_outbox_dead_letters").set(stats.dead as f64);
                metrics::gauge!("portal_database_up").set(1.0);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "metrics: cannot read the outbox");
                metrics::gauge!("portal_database_up").set(0.0);
            }
            Err(_) => {
                tracing::warn!("metrics: reading the outbox took over 5 s");
                metrics::gauge!("portal_database_up").set(0.0);
            }
        }
    }
}
