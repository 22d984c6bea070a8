//! The mail port and its transports: `.eml` files in a directory, SMTP, or both.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use store::OutboxMessage;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

/// Sends one message. `Ok` means the transport accepted it.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError>;
}

/// Builds the RFC 5322 message. The `Message-ID` is the outbox id, stable across
/// retries, so a receiver can discard duplicates of an at-least-once delivery.
pub fn build_message(from: &Mailbox, message: &OutboxMessage) -> Result<Message, MailError> {
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| MailError(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .message_id(Some(format!("<{}@provider-portal>", message.id)))
        .date(message.created_at.into())
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.clone())
        .map_err(|e| MailError(format!("cannot build message: {e}")))
}

/// Writes each message as `<id>.eml` in a directory (development, and a copy
/// for operators when `PORTAL_MAIL_DIR` is set).
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox) -> Self {
        Self {
            dir: dir.into(),
            from,
        }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        let bytes = build_message(&self.from, message)?.formatted();
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError(format!("cannot create mail directory: {e}")))?;
        // Written under a temporary name, then renamed: a reader never sees half a file.
        let name = format!("{}-{}.eml", message.created_at.unix_timestamp(), message.id);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| MailError(format!("cannot write message: {e}")))?;
        tokio::fs::rename(&tmp, self.dir.join(&name))
            .await
            .map_err(|e| MailError(format!("cannot write message: {e}")))?;
        Ok(())
    }
}

/// Delivers through an SMTP server given as `smtp://host:port`,
/// `smtp://user:pass@host:587?tls=required` or `smtps://host`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn from_url(url: &str, from: Mailbox) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError(format!("bad SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        let m = build_message(&self.from, message)?;
        self.transport
            .send(m)
            .await
            .map(|_| ())
            .map_err(|e| MailError(format!("SMTP: {e}")))
    }
}

/// Benchmarks only (`PORTAL_MAIL_CAPTURE`, refused in production): appends each
/// message to one file as a JSON line `{"to", "subject", "body"}`, so a load
/// harness can read sign-in codes as fast as they are sent.
pub struct CaptureMailer {
    file: std::sync::Mutex<std::fs::File>,
}

impl CaptureMailer {
    pub fn open(path: &std::path::Path) -> Result<Self, MailError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| MailError(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            file: std::sync::Mutex::new(file),
        })
    }
}

#[async_trait]
impl Mailer for CaptureMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        use std::io::Write;
        let mut line = serde_json::to_vec(&serde_json::json!({
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
        }))
        .map_err(|e| MailError(e.to_string()))?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| MailError("capture file poisoned".into()))?;
        file.write_all(&line)
            .map_err(|e| MailError(format!("cannot write message: {e}")))
    }
}

/// Sends through every transport; succeeds only when all accepted.
pub struct AllMailers(pub Vec<Box<dyn Mailer>>);

#[async_trait]
impl Mailer for AllMailers {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        for m in &self.0 {
            m.send(message).await?;
        }
        Ok(())
    }
}
