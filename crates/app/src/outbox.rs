//! The background worker: announces collection windows whose opening time
//! has come (`collections::notices`), processes add-user requests, and sends
//! what use cases queued in the outbox, at least once.
//!
//! A message is leased before sending and marked sent right after the transport
//! accepted it, one commit per message. If the worker dies in between, the lease
//! runs out and that message is sent again (with the same Message-ID): at most
//! [`SEND_LANES`] duplicates per worker crash, one per lane whose mark had not
//! committed (in practice none or one). Failures are retried with
//! exponential back-off; after [`MAX_ATTEMPTS`] the message is dead-lettered.
//! A failing message never blocks the others: it waits, they go on.

use std::sync::Arc;

use time::Duration;

use crate::App;
use crate::mail::Mailer;
use futures_util::StreamExt;
use store::OutboxMessage;

pub const MAX_ATTEMPTS: i64 = 8;
/// How long a worker owns a message it is sending, unless configured
/// otherwise (`PORTAL_OUTBOX_LEASE_SECS`, [`App::with_outbox_lease`]). After a
/// crash, the messages the dead worker had claimed but not sent wait this long.
pub const LEASE: Duration = Duration::minutes(2);

/// What one step of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionOutcome {
    EmptyQueue,
    Sent,
    WillRetry,
    DeadLettered,
}

/// Back-off after the `attempts`th failure: 30 s, 1 min, 2 min, … at most 1 hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 12) - 1;
    Duration::seconds(30 * (1_i64 << exp)).min(Duration::hours(1))
}

/// Claims one due message and tries to send it.
pub async fn try_execute_task(
    app: &App,
    mailer: &dyn Mailer,
) -> Result<ExecutionOutcome, store::StoreError> {
    let done = send_due(app, mailer, 1).await?;
    Ok(done
        .first()
        .copied()
        .unwrap_or(ExecutionOutcome::EmptyQueue))
}

/// Claims up to `limit` due messages and tries to send each; one recipient's
/// messages go in the order they were queued. Each one the transport accepted
/// is marked sent at once, while the next lane hands over its next: a worker
/// that dies between the transport's acceptance and that commit sends the
/// message again after the lease (SMTP cannot be exactly-once) — at most one
/// message a lane. The batch stops when half the lease has gone (a slow transport),
/// so that no other worker claims a message this one is still sending; the
/// rest wait for the lease to run out. Returns what happened to each message
/// tried (nothing: the queue was empty).
pub async fn send_due(
    app: &App,
    mailer: &dyn Mailer,
    limit: usize,
) -> Result<Vec<ExecutionOutcome>, store::StoreError> {
    let lease = app.outbox_lease();
    let claimed_at = app.clock.now();
    let messages = app.store.claim_emails(claimed_at, lease, limit).await?;
    let claimed = messages.len();
    // One lane per recipient, in the order claimed, so that a person's emails
    // arrive in the order they were queued; lanes are sent side by side, so
    // that their "sent" marks are committed together (SQLite's group commit)
    // rather than one sync after another.
    let mut lanes: Vec<Vec<(usize, OutboxMessage)>> = Vec::new();
    let mut lane_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, message) in messages.into_iter().enumerate() {
        let lane = *lane_of.entry(message.to.clone()).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push((i, message));
    }
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let gate = Gate::default();
    let results: Vec<Result<Vec<(usize, ExecutionOutcome)>, store::StoreError>> =
        futures_util::stream::iter(lanes)
            .map(|lane| {
                let (sent, gate) = (&sent, &gate);
                async move {
                    let mut done = Vec::with_capacity(lane.len());
                    for (i, message) in lane {
                        let outcome =
                            send_one(app, mailer, message, claimed_at, lease, claimed, sent, gate)
                                .await
                                .inspect_err(|_| {
                                    gate.stop.store(true, std::sync::atomic::Ordering::SeqCst)
                                })?;
                        match outcome {
                            Some(outcome) => done.push((i, outcome)),
                            None => break,
                        }
                    }
                    Ok(done)
                }
            })
            .buffer_unordered(SEND_LANES)
            .collect()
            .await;
    let mut outcomes = Vec::with_capacity(claimed);
    let mut failed = None;
    for r in results {
        match r {
            Ok(done) => outcomes.extend(done),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// Emails being handled at once by one worker (different recipients): also
/// the most a crash can send twice.
pub const SEND_LANES: usize = 8;

/// What the lanes share: one email is handed to the transport at a time (so
/// the lease is checked just before each hand-over, as one after another
/// did), and a database error stops every lane before its next hand-over.
#[derive(Default)]
struct Gate {
    send: tokio::sync::Mutex<()>,
    stop: std::sync::atomic::AtomicBool,
}

#[allow(clippy::too_many_arguments)] // the batch's state, shared by its lanes
/// Sends one claimed email and records the outcome; `None` when the batch's
/// lease is half gone (the rest are sent after the lease).
async fn send_one(
    app: &App,
    mailer: &dyn Mailer,
    mut message: OutboxMessage,
    claimed_at: time::OffsetDateTime,
    lease: Duration,
    claimed: usize,
    sent: &std::sync::atomic::AtomicUsize,
    gate: &Gate,
) -> Result<Option<ExecutionOutcome>, store::StoreError> {
    // Only the hand-over to the transport is one at a time; recording the
    // outcome overlaps with the next lane's hand-over.
    let turn = gate.send.lock().await;
    if gate.stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(None);
    }
    if app.clock.now() - claimed_at > lease / 2 {
        tracing::warn!(
            left = claimed - sent.load(std::sync::atomic::Ordering::Relaxed),
            "outbox batch stopped: half its lease has gone; the rest are sent after the lease"
        );
        return Ok(None);
    }
    let Some(body) = crate::sealed::open(&app.key, message.id, &message.body) else {
        // Sealed with another key (or not by us): no retry can help.
        app.store
            .mark_email_failed(
                message.id,
                "body cannot be opened with this server's key",
                None,
                app.clock.now(),
            )
            .await?;
        tracing::error!(message_id = %message.id, "email dead-lettered: body cannot be opened");
        return Ok(Some(ExecutionOutcome::DeadLettered));
    };
    message.body = body;
    let handed_over = mailer.send(&message).await;
    drop(turn);
    match handed_over {
        Ok(()) => {
            // The window in which a crash means a second delivery: from
            // the transport's acceptance to this commit.
            app.store
                .mark_emails_sent(&[message.id], app.clock.now())
                .await?;
            tracing::info!(message_id = %message.id, attempts = message.attempts, "email sent");
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(ExecutionOutcome::Sent))
        }
        Err(e) if message.attempts >= MAX_ATTEMPTS => {
            app.store
                .mark_email_failed(message.id, &e.0, None, app.clock.now())
                .await?;
            tracing::error!(message_id = %message.id, error = %e, "email dead-lettered");
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(ExecutionOutcome::DeadLettered))
        }
        Err(e) => {
            let now = app.clock.now();
            let retry_at = now + backoff(message.attempts);
            app.store
                .mark_email_failed(message.id, &e.0, Some(retry_at), now)
                .await?;
            tracing::warn!(message_id = %message.id, attempts = message.attempts, error = %e, "email will be retried");
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(ExecutionOutcome::WillRetry))
        }
    }
}

/// Emails claimed at once, between two looks for add-user requests. Each claim
/// and each look takes the database's write lock (SQLite has one writer) and a
/// commit, so a busy queue is not claimed one email at a time; a request waits
/// for at most this many emails.
const EMAILS_PER_ROUND: usize = 32;

/// How often the worker looks for windows to announce and reminders due.
const WINDOW_LOOKS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs until `shutdown` resolves: handles add-user requests, sends what is
/// due, then waits to be woken (a use case queued mail) or for a second to
/// pass (retries fall due).
pub async fn run_worker(
    app: App,
    mailer: Arc<dyn Mailer>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut last_look = None;
    loop {
        // A busy queue holds a shutdown up by one round at most: what is
        // left is sent by another process, or this one's successor.
        if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
            return;
        }
        // Windows whose opening time has come, and add-user requests, first:
        // they queue the emails sent just below. The windows' notices are
        // due by the clock, so they are looked for once a second at most,
        // not on every round a busy queue makes (each look takes the
        // writer on SQLite).
        if last_look.is_none_or(|at: std::time::Instant| at.elapsed() >= WINDOW_LOOKS_EVERY) {
            last_look = Some(std::time::Instant::now());
            if let Err(e) = app.announce_opened_windows().await {
                tracing::error!(error = ?e, "could not announce an opened collection window");
            }
            if let Err(e) = app.remind_providers().await {
                tracing::error!(error = ?e, "could not send collection window reminders");
            }
        }
        let requests_waiting = match app.process_next_user_request().await {
            Ok(more) => more,
            Err(e) => {
                tracing::error!(error = ?e, "could not process an add-user request");
                false
            }
        };
        let mut idle = !requests_waiting;
        if !requests_waiting {
            match send_due(&app, mailer.as_ref(), EMAILS_PER_ROUND).await {
                Ok(done) => idle = done.is_empty(),
                Err(e) => tracing::error!(error = ?e, "outbox worker cannot reach the store"),
            }
        }
        if idle {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = app.outbox_ready.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}

impl App {
    /// The same application leasing outbox messages for `lease` (from a
    /// second to a day) instead of [`LEASE`].
    pub fn with_outbox_lease(mut self, lease: Duration) -> Self {
        self.outbox_lease = lease.clamp(Duration::SECOND, Duration::DAY);
        self
    }

    /// How long a worker owns a message it claimed.
    pub fn outbox_lease(&self) -> Duration {
        self.outbox_lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(8), Duration::hours(1));
    }
}
