//! The background worker: processes add-user requests, and sends what use
//! cases queued in the outbox, at least once.
//!
//! A message is leased before sending and marked sent only after the transport
//! accepted it. If the worker dies in between, the lease runs out and the message
//! is sent again (with the same Message-ID). Failures are retried with
//! exponential back-off; after [`MAX_ATTEMPTS`] the message is dead-lettered.
//! A failing message never blocks the others: it waits, they go on.

use std::sync::Arc;

use time::Duration;

use crate::App;
use crate::mail::Mailer;

pub const MAX_ATTEMPTS: i64 = 8;
/// How long a worker owns a message it is sending.
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

/// Claims up to `limit` due messages and tries to send each, in order. Those
/// the transport accepted are marked sent together at the end (one commit for
/// the batch): a worker that dies before that sends them again after the
/// lease, as it would a single message. Returns what happened to each
/// (nothing: the queue was empty).
pub async fn send_due(
    app: &App,
    mailer: &dyn Mailer,
    limit: usize,
) -> Result<Vec<ExecutionOutcome>, store::StoreError> {
    let now = app.clock.now();
    let messages = app.store.claim_emails(now, LEASE, limit).await?;
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut sent = Vec::with_capacity(messages.len());
    for mut message in messages {
        let Some(body) = crate::sealed::open(&app.key, message.id, &message.body) else {
            // Sealed with another key (or not by us): no retry can help.
            app.store
                .mark_email_failed(
                    message.id,
                    "body cannot be opened with this server's key",
                    None,
                    now,
                )
                .await?;
            tracing::error!(message_id = %message.id, "email dead-lettered: body cannot be opened");
            outcomes.push(ExecutionOutcome::DeadLettered);
            continue;
        };
        message.body = body;
        match mailer.send(&message).await {
            Ok(()) => {
                tracing::info!(message_id = %message.id, attempts = message.attempts, "email sent");
                sent.push(message.id);
                outcomes.push(ExecutionOutcome::Sent);
            }
            Err(e) if message.attempts >= MAX_ATTEMPTS => {
                app.store
                    .mark_email_failed(message.id, &e.0, None, app.clock.now())
                    .await?;
                tracing::error!(message_id = %message.id, error = %e, "email dead-lettered");
                outcomes.push(ExecutionOutcome::DeadLettered);
            }
            Err(e) => {
                let now = app.clock.now();
                let retry_at = now + backoff(message.attempts);
                app.store
                    .mark_email_failed(message.id, &e.0, Some(retry_at), now)
                    .await?;
                tracing::warn!(message_id = %message.id, attempts = message.attempts, error = %e, "email will be retried");
                outcomes.push(ExecutionOutcome::WillRetry);
            }
        }
    }
    app.store.mark_emails_sent(&sent, app.clock.now()).await?;
    Ok(outcomes)
}

/// Emails claimed and sent at once, between two looks for add-user requests.
/// Each claim and each look takes the database's write lock (SQLite has one
/// writer) and a commit, so a busy queue is not handled one email at a time; a
/// request waits for at most this many emails.
const EMAILS_PER_ROUND: usize = 32;

/// Runs until `shutdown` resolves: handles add-user requests, sends what is
/// due, then waits to be woken (a use case queued mail) or for a second to
/// pass (retries fall due).
pub async fn run_worker(
    app: App,
    mailer: Arc<dyn Mailer>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        // Add-user requests first: they queue the emails sent just below.
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
