//! Users and what their state means for signing in (PRODUCT §1, §3).

use serde::Serialize;
use time::OffsetDateTime;

/// What an account's state means, in the words the portal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Created, never signed in.
    Invited,
    Active,
    /// Access disabled by an administrator.
    Disabled,
    /// Locked by failures (until an administrator unlocks, or until the temporary lock ends).
    Locked,
    /// Past its expiry date.
    Expired,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Locked => "locked",
            Self::Expired => "expired",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Invited => "Invited",
            Self::Active => "Active",
            Self::Disabled => "Access disabled",
            Self::Locked => "Locked",
            Self::Expired => "Expired",
        }
    }
}

/// The parts of an account that decide whether it may sign in or keep a session.
#[derive(Debug, Clone, Copy)]
pub struct AccountState {
    pub access_enabled: bool,
    pub expires_at: Option<OffsetDateTime>,
    /// Sign-in is refused until this time (consecutive wrong passcodes).
    pub locked_until: Option<OffsetDateTime>,
    /// Locked until an administrator unlocks it (consecutive wrong passwords,
    /// seed 000 B3–B4). Unlike the temporary lock, this ends every session.
    pub locked: bool,
    pub last_signed_in_at: Option<OffsetDateTime>,
}

impl AccountState {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Either lock: both sign-in paths share it (PRODUCT §3).
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked || self.locked_until.is_some_and(|l| l > now)
    }

    /// May a new sign-in succeed now?
    pub fn may_sign_in(&self, now: OffsetDateTime) -> bool {
        self.access_enabled && !self.is_expired(now) && !self.is_locked(now)
    }

    /// Does this account count as a Portal Administrator for rule 4 (PRODUCT
    /// §2: "at least one enabled, unexpired Portal Administrator")? A locked
    /// account still counts: its lock is lifted by an administrator or the
    /// regulator, while a provider with no administrator could not lift it.
    pub fn counts_for_rule_4(&self, now: OffsetDateTime) -> bool {
        self.access_enabled && !self.is_expired(now)
    }

    /// May an existing session go on? A temporary sign-in lock (someone guessing
    /// codes) stops new sign-ins only: ending live sessions too would let anyone
    /// sign anyone out. Disabled access, expiry and the administrator lock
    /// (five wrong passwords, PRODUCT §3) end sessions at once.
    pub fn may_keep_session(&self, now: OffsetDateTime) -> bool {
        self.access_enabled && !self.is_expired(now) && !self.locked
    }

    pub fn status(&self, now: OffsetDateTime) -> UserStatus {
        if !self.access_enabled {
            UserStatus::Disabled
        } else if self.is_expired(now) {
            UserStatus::Expired
        } else if self.is_locked(now) {
            UserStatus::Locked
        } else if self.last_signed_in_at.is_none() {
            UserStatus::Invited
        } else {
            UserStatus::Active
        }
    }
}

/// A person's name as the portal shows it: "Dr Ada Lovelace".
pub fn display_name(title: &str, first_name: &str, last_name: &str) -> String {
    [title, first_name, last_name]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_follows_the_most_serious_state() {
        let now = datetime!(2026-06-01 12:00 UTC);
        let mut s = AccountState {
            access_enabled: true,
            expires_at: None,
            locked_until: None,
            locked: false,
            last_signed_in_at: None,
        };
        assert_eq!(s.status(now), UserStatus::Invited);
        s.last_signed_in_at = Some(now);
        assert_eq!(s.status(now), UserStatus::Active);
        s.locked_until = Some(now + time::Duration::minutes(1));
        assert_eq!(s.status(now), UserStatus::Locked);
        assert!(!s.may_sign_in(now));
        assert!(s.may_keep_session(now));
        s.locked_until = None;
        s.locked = true;
        assert_eq!(s.status(now), UserStatus::Locked);
        assert!(!s.may_sign_in(now));
        assert!(
            !s.may_keep_session(now),
            "the administrator lock ends sessions"
        );
        assert!(
            s.counts_for_rule_4(now),
            "a locked administrator still counts"
        );
        s.expires_at = Some(now);
        assert_eq!(s.status(now), UserStatus::Expired);
        assert!(!s.may_keep_session(now));
        assert!(!s.counts_for_rule_4(now));
        s.expires_at = None;
        s.access_enabled = false;
        assert!(!s.counts_for_rule_4(now));
        s.expires_at = Some(now);
        assert_eq!(s.status(now), UserStatus::Disabled);
    }

    #[test]
    fn display_name_skips_empty_parts() {
        assert_eq!(display_name("", "Ada", "Lovelace"), "Ada Lovelace");
        assert_eq!(display_name("Dr", "Ada", "Lovelace"), "Dr Ada Lovelace");
    }
}
