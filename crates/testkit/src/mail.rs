//! A mailer that keeps what it was given, and can be told to fail.

use std::collections::HashSet;
use std::sync::Mutex;

use app::mail::{MailError, Mailer};
use async_trait::async_trait;
use store::OutboxMessage;

#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<OutboxMessage>>,
    /// Recipients whose messages the "transport" refuses.
    pub refuse: Mutex<HashSet<String>>,
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        if self.refuse.lock().unwrap().contains(&message.to) {
            return Err(MailError("550 mailbox unavailable".into()));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

impl MemoryMailer {
    pub fn sent_to(&self, email: &str) -> Vec<OutboxMessage> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.eq_ignore_ascii_case(email))
            .cloned()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// The 6-digit code in the newest sign-in email to `email`.
    pub fn last_code_for(&self, email: &str) -> Option<String> {
        self.sent_to(email)
            .iter()
            .rev()
            .find(|m| m.subject.contains("sign-in code"))
            .and_then(|m| only_six_digit_number(&m.body))
    }
}

/// The one 6-digit number in a text (API.md: the passcode is the only one).
pub fn only_six_digit_number(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"\b\d{6}\b").unwrap();
    let found: Vec<&str> = re.find_iter(text).map(|m| m.as_str()).collect();
    match found.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}
