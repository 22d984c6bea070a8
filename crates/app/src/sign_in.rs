//! Signing in with an emailed one-time passcode (PRODUCT §3).
//!
//! Every answer that could tell an attacker something is the same for every
//! address: a code request always answers with a fresh attempt id, whether or
//! not a code was sent; a verification either signs in or is `CodeRejected`.

use domain::audit::Outcome;
use domain::otp::{self, Passcode};
use domain::session::{self, SessionToken};
use domain::{AttemptId, EmailAddress};
use rand::rngs::OsRng;
use store::{NewAttempt, NewSession, SessionKind};
use time::OffsetDateTime;

use crate::{App, AppError, AppResult, RequestMeta, emails};

/// A new session, handed to the client once.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    /// When the session ends at the latest (the absolute timeout).
    pub expires_at: OffsetDateTime,
}

impl App {
    /// Counts a sign-in request (code, token, password, registration,
    /// access key) against the client's address; over the limit, the refusal
    /// is audited as `action` and answered `429`.
    pub(crate) async fn ip_limited(
        &self,
        meta: &RequestMeta,
        actor: Option<&crate::Principal>,
        action: &str,
    ) -> AppResult<()> {
        match self.sign_in_limiter.check(meta.ip, self.clock.now()) {
            Ok(()) => Ok(()),
            Err(retry) => {
                self.audit_refusal(meta, actor, action, "too many requests from this address")
                    .await?;
                Err(AppError::RateLimited {
                    retry_after_secs: retry,
                })
            }
        }
    }

    /// Step 1: someone enters an email address. A code is emailed only if the
    /// address belongs to an account that may sign in and has had fewer than
    /// five codes in 15 minutes; the answer is the same either way.
    pub async fn request_code(
        &self,
        email_input: &str,
        meta: &RequestMeta,
    ) -> AppResult<AttemptId> {
        let now = self.clock.now();
        self.ip_limited(meta, None, "sign_in.code_requested")
            .await?;
        let email = match EmailAddress::parse(email_input) {
            Ok(e) => e,
            Err(e) => {
                self.audit_refusal(
                    meta,
                    None,
                    "sign_in.code_requested",
                    "invalid email address",
                )
                .await?;
                return Err(AppError::invalid("email", e.to_string()));
            }
        };
        let email_norm = email.normalised();
        let attempt_id = AttemptId::random();
        let mut tx = self.store.begin().await?;
        let user = tx.user_by_email_for_update(&email_norm).await?;
        let refusal = match &user {
            None => Some("no account with this address"),
            Some(u) if !u.access_enabled => Some("access disabled"),
            Some(u) if u.account_state().is_expired(now) => Some("account expired"),
            Some(u) if u.account_state().is_locked(now) => Some("sign-in locked"),
            Some(_) => {
                let sent = tx
                    .codes_sent_since(&email_norm, now - otp::CODE_WINDOW)
                    .await?;
                (sent >= otp::MAX_CODES_PER_WINDOW).then_some("code limit reached for this address")
            }
        };
        let (code_hash, user_id, outcome, detail) = match (refusal, &user) {
            (None, Some(u)) => {
                let code = Passcode::generate(&mut OsRng);
                self.queue_email(tx.as_mut(), emails::passcode(&u.email, &code, now))
                    .await?;
                (
                    Some(self.key.code_hash(attempt_id, &code).to_vec()),
                    Some(u.id),
                    Outcome::Success,
                    "code sent",
                )
            }
            (reason, _) => (
                None,
                None,
                Outcome::Refused,
                reason.unwrap_or("no code sent"),
            ),
        };
        tx.insert_attempt(&NewAttempt {
            id: attempt_id,
            email_norm: email_norm.clone(),
            user_id,
            code_hash,
            created_at: now,
            expires_at: now + otp::CODE_TTL,
        })
        .await?;
        let mut event = meta.event(
            now,
            None,
            "sign_in.code_requested",
            Some(email_norm),
            outcome,
            detail,
        );
        event.actor_id = user.as_ref().map(|u| u.id);
        event.organisation_id = user.as_ref().map(|u| u.organisation_id);
        tx.append_audit(&event).await?;
        tx.commit().await?;
        if user_id.is_some() {
            self.outbox_ready.notify_one();
        }
        Ok(attempt_id)
    }

    /// Step 2: the code is entered. Every guess is counted against the code
    /// (five void it) and every wrong one against the account (ten in a row lock
    /// sign-in, for 15 minutes doubling up to a day; new codes do not reset it).
    /// `replaces` is the session the client already had, if any: it ends.
    pub async fn verify_code(
        &self,
        attempt: &str,
        code_input: &str,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        let now = self.clock.now();
        self.ip_limited(meta, None, "sign_in.code_entered").await?;
        let Some(code) = Passcode::parse(code_input) else {
            self.audit_refusal(meta, None, "sign_in.code_entered", "not a 6-digit code")
                .await?;
            return Err(AppError::invalid(
                "code",
                "Enter the 6-digit code from the email",
            ));
        };
        let Ok(attempt_id) = attempt.parse::<AttemptId>() else {
            self.audit_refusal(meta, None, "sign_in.code_entered", "unknown attempt")
                .await?;
            return Err(AppError::CodeRejected);
        };
        let mut tx = self.store.begin().await?;
        let refuse = |tx_detail: &'static str, user: Option<&store::UserRecord>| {
            let mut e = meta.event(
                now,
                None,
                "sign_in.code_entered",
                None,
                Outcome::Refused,
                tx_detail,
            );
            e.actor_id = user.map(|u| u.id);
            e.organisation_id = user.map(|u| u.organisation_id);
            e.target = user.map(|u| u.email.to_ascii_lowercase());
            e
        };
        let Some(found) = tx
            .take_guess(attempt_id, otp::MAX_GUESSES_PER_CODE, now)
            .await?
        else {
            tx.append_audit(&refuse(
                "no live code for this attempt (unknown, expired, used or voided)",
                None,
            ))
            .await?;
            tx.commit().await?;
            return Err(AppError::CodeRejected);
        };
        let (Some(user_id), Some(stored)) = (found.user_id, found.code_hash.as_deref()) else {
            tx.append_audit(&refuse("no code was sent for this attempt", None))
                .await?;
            tx.commit().await?;
            return Err(AppError::CodeRejected);
        };
        let Some(user) = tx.user_for_update(user_id).await? else {
            return Err(AppError::internal("attempt refers to a missing user"));
        };
        if !user.account_state().may_sign_in(now) {
            tx.append_audit(&refuse(
                "account may not sign in (disabled, expired or locked)",
                Some(&user),
            ))
            .await?;
            tx.commit().await?;
            return Err(AppError::CodeRejected);
        }
        if !self.key.code_matches(attempt_id, &code, stored) {
            let failures = tx.add_sign_in_failure(user.id).await?;
            tx.append_audit(&refuse("wrong code", Some(&user))).await?;
            if failures >= otp::FAILURES_BEFORE_LOCK {
                let until = now + otp::lock_duration(user.lock_count);
                tx.lock_sign_in(user.id, until).await?;
                let mut e = refuse("sign-in locked after consecutive failures", Some(&user));
                e.action = "sign_in.locked".into();
                e.detail = format!("locked until {until} after {failures} consecutive failures");
                tx.append_audit(&e).await?;
            }
            tx.commit().await?;
            return Err(AppError::CodeRejected);
        }
        if !tx.consume_attempt(attempt_id, now).await? {
            return Err(AppError::CodeRejected);
        }
        self.start_session(tx, &user, kind, replaces, meta).await
    }

    /// A successful sign-in, by passcode or password: failures and locks are
    /// forgotten, the session the browser had (if any) ends, a new one starts,
    /// and it is audited, in the caller's transaction, which this commits.
    pub(crate) async fn start_session(
        &self,
        mut tx: Box<dyn store::StoreTx>,
        user: &store::UserRecord,
        kind: SessionKind,
        replaces: Option<&[u8]>,
        meta: &RequestMeta,
    ) -> AppResult<SignedIn> {
        let now = self.clock.now();
        tx.record_sign_in(user.id, now).await?;
        // Signing in again from a signed-in browser ends the session it replaces.
        if let Some(previous) = replaces {
            tx.end_session(previous, now).await?;
        }
        let token = SessionToken::generate(&mut OsRng);
        tx.insert_session(&NewSession {
            token_hash: token.hash(),
            user_id: user.id,
            kind,
            created_at: now,
        })
        .await?;
        let mut e = meta.event(
            now,
            None,
            "sign_in.succeeded",
            Some(user.email.to_ascii_lowercase()),
            Outcome::Success,
            kind.as_str(),
        );
        e.actor_id = Some(user.id);
        e.organisation_id = Some(user.organisation_id);
        tx.append_audit(&e).await?;
        tx.commit().await?;
        Ok(SignedIn {
            token,
            expires_at: now + session::ABSOLUTE_TIMEOUT,
        })
    }
}
