//! Who is asking: sessions resolved fresh on every request (PRODUCT §2 rule 6).

use domain::session::{self, SessionToken};
use domain::{OrgId, OrganisationKind, UserId};
use store::{OrganisationRecord, RoleGrant, SessionKind, UserRecord};
use time::OffsetDateTime;

use crate::{App, AppResult, RequestMeta};

/// A signed-in person, as of this request: their account, organisation and
/// roles are read from the store each time, so a removed role, disabled access
/// or expiry takes effect on the very next request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub organisation: OrganisationRecord,
    pub roles: Vec<RoleGrant>,
    pub session_hash: Vec<u8>,
    /// The public id of the session (or API token) this request came with.
    pub session_id: uuid::Uuid,
    /// `Token` for a personal API token presented as a bearer token.
    pub session_kind: SessionKind,
    /// When the session ends if no other request comes (the idle timeout as
    /// of this request, or the absolute timeout; a token's expiry).
    pub ends_at: OffsetDateTime,
    /// When the session began (its sign-in, or the token's creation).
    pub session_started_at: OffsetDateTime,
}

impl Principal {
    pub fn display_name(&self) -> String {
        self.user.display_name()
    }
}

/// What a presented session token amounts to.
#[derive(Debug, Clone)]
pub enum SessionState {
    /// A live session of an account that may use the portal.
    Live(Box<Principal>),
    /// A session that was this browser's, and is over for a reason its holder
    /// may be told (and nobody else: only the token's holder learns it),
    /// and whose it was (for the audit trail).
    Over(SessionOver, Whose),
    /// No session: no token, an unknown one, the wrong kind, or one that was
    /// ended (signed out, replaced, ended from My account) while the account
    /// could still be used. Answered as for anyone not signed in.
    None,
}

/// Whose a session that is over was: a refused request made with it is
/// audited under this person and organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whose {
    pub user: UserId,
    pub organisation: OrgId,
}

/// Why a session that was live is over, in the terms its holder is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOver {
    /// No request for the idle timeout (PRODUCT §3: 30 minutes).
    TimedOut { idle: time::Duration },
    /// 12 hours since sign-in, however busy.
    TooOld,
    /// An administrator turned the account's access off.
    AccessDisabled { contact: Contact },
    /// The account's expiry date passed at `at`.
    Expired {
        at: OffsetDateTime,
        contact: Contact,
    },
    /// Locked after wrong passwords, until an administrator unlocks it.
    Locked { contact: Contact },
}

/// Whom a person asks to give back their access: a Portal Administrator at
/// their provider, or, for regulator staff, a regulator administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub organisation: String,
    pub regulator: bool,
}

impl Contact {
    pub fn of(org: &OrganisationRecord) -> Self {
        Self {
            organisation: org.name.clone(),
            regulator: org.kind == OrganisationKind::Regulator,
        }
    }
}

impl std::fmt::Display for Contact {
    /// "a Portal Administrator at Example University", "a regulator
    /// administrator at Office for Students".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = if self.regulator {
            "a regulator administrator"
        } else {
            "a Portal Administrator"
        };
        write!(f, "{who} at {}", self.organisation)
    }
}

impl App {
    /// The principal behind a presented token, if its session is live and its
    /// account may still use the portal. `kind` must match: a browser cookie is
    /// not an API token, nor the reverse. A bearer token (`kind` `Api`) may be
    /// an API sign-in's session or a personal API token (stored kind `Token`):
    /// both are resolved here, the same way, with roles read fresh.
    pub async fn resolve_session(
        &self,
        token: &str,
        kind: SessionKind,
    ) -> AppResult<Option<Principal>> {
        Ok(match self.session_state(token, kind).await? {
            SessionState::Live(p) => Some(*p),
            SessionState::Over(..) | SessionState::None => None,
        })
    }

    /// As [`App::resolve_session`], saying why a session of this kind that
    /// was live is over: its account may no longer use the portal (checked
    /// first, ended or not, since disabling access ends every session), or it
    /// timed out. A session ended otherwise is no session.
    pub async fn session_state(&self, token: &str, kind: SessionKind) -> AppResult<SessionState> {
        let Some(token) = SessionToken::parse(token) else {
            return Ok(SessionState::None);
        };
        let hash = token.hash();
        let Some(found) = self.store.session(&hash).await? else {
            return Ok(SessionState::None);
        };
        let now = self.clock.now();
        let s = &found.session;
        let kind_fits =
            s.kind == kind || (kind == SessionKind::Api && s.kind == SessionKind::Token);
        if !kind_fits {
            return Ok(SessionState::None);
        }
        let idle = self.settings.session_idle_timeout;
        let whose = Whose {
            user: found.user.id,
            organisation: found.organisation.id,
        };
        let account = found.user.account_state();
        if !account.may_keep_session(now) {
            // Told only if the session was live when it stopped working:
            // not one that had timed out, or was ended (signed out) before
            // access ended.
            let expired_at = account.expires_at.filter(|e| *e <= now);
            let stopped = match (s.ended_at, expired_at) {
                (Some(ended), Some(at)) if ended < at => None,
                (Some(ended), _) => Some(ended),
                (None, Some(at)) => Some(at.max(s.created_at)),
                (None, None) => Some(now),
            };
            if s.kind == SessionKind::Token
                || !stopped.is_some_and(|t| crate::sessions::is_live(s, t, idle))
            {
                return Ok(SessionState::None);
            }
            let contact = Contact::of(&found.organisation);
            let why = if !account.access_enabled {
                SessionOver::AccessDisabled { contact }
            } else if let Some(at) = expired_at {
                SessionOver::Expired { at, contact }
            } else {
                SessionOver::Locked { contact }
            };
            return Ok(SessionState::Over(why, whose));
        }
        if s.ended_at.is_some() {
            return Ok(SessionState::None);
        }
        if !crate::sessions::is_live(s, now, idle) {
            // Too old only if the 12 hours came first: a session left idle
            // overnight was ended by the idle timeout.
            let too_old = s.kind != SessionKind::Token
                && s.created_at + session::ABSOLUTE_TIMEOUT <= s.last_seen_at + idle;
            return Ok(match s.kind {
                SessionKind::Token => SessionState::None,
                _ if too_old => SessionState::Over(SessionOver::TooOld, whose),
                _ => SessionState::Over(SessionOver::TimedOut { idle }, whose),
            });
        }
        // A token's first use is recorded at once (its `last_used_at` starts
        // empty); after that, as for sessions, at most once a minute, or
        // each quarter of a shorter idle timeout (else use would not keep
        // a 40-second session alive).
        let first_use = s.kind == SessionKind::Token && s.last_seen_at == s.created_at;
        let mut seen = s.clone();
        let touch_every = session::TOUCH_INTERVAL.min(idle / 4);
        if first_use || now - s.last_seen_at >= touch_every {
            self.store.touch_session(&hash, now).await?;
            seen.last_seen_at = now;
        }
        let ends_at = crate::sessions::ends_at(&seen, idle).unwrap_or(now);
        Ok(SessionState::Live(Box::new(Principal {
            user: found.user,
            organisation: found.organisation,
            roles: found.roles,
            session_hash: hash,
            session_id: s.id,
            session_kind: s.kind,
            ends_at,
            session_started_at: s.created_at,
        })))
    }

    /// "Stay signed in" (the timeout warning): the principal's session starts
    /// its idle time again now. Answers when it now ends (at most 12 hours
    /// after sign-in; a token keeps its expiry). Like any request's touch, it
    /// changes nothing else and is not audited.
    pub async fn stay_signed_in(&self, principal: &Principal) -> AppResult<OffsetDateTime> {
        if principal.session_kind == SessionKind::Token {
            return Ok(principal.ends_at);
        }
        let now = self.clock.now();
        self.store
            .touch_session(&principal.session_hash, now)
            .await?;
        let idle_end = now + self.settings.session_idle_timeout;
        Ok(idle_end.min(principal.session_started_at + session::ABSOLUTE_TIMEOUT))
    }

    /// A form sent with a session that is over: not acted on, and audited
    /// as refused under the person and organisation whose session it was
    /// (so their provider's Activity page shows it). A failure to audit is
    /// logged.
    pub async fn record_session_over(&self, meta: &RequestMeta, whose: Whose, detail: &str) {
        let mut event = meta.event(
            self.clock.now(),
            None,
            "session.over",
            None,
            domain::audit::Outcome::Refused,
            detail,
        );
        event.actor_id = Some(whose.user);
        event.organisation_id = Some(whose.organisation);
        let audited = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(&event).await?;
            tx.commit().await
        };
        if let Err(e) = audited.await {
            tracing::error!(request_id = %meta.request_id, error = ?e, "could not audit a refusal");
        }
    }

    /// Ends the principal's session on the server.
    pub async fn sign_out(&self, principal: &Principal, meta: &RequestMeta) -> AppResult<()> {
        let permit = crate::permit::own_account(principal, "sign_out");
        self.change(meta, Some(principal), async |u| {
            let now = u.now;
            u.tx().end_session(&principal.session_hash, now).await?;
            u.audit(&permit, None, principal.session_kind.as_str())
                .await?;
            Ok(u.done(&permit, ()))
        })
        .await?;
        Ok(())
    }
}
