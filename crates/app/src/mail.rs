//! The mail port and its transports: `.eml` files in a directory, SMTP, or both.

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // see `ImplicitTls`
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use store::OutboxMessage;
use tokio::net::TcpStream;
use url::{Host, Url};

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

/// How long one email may take, connecting included; and how long an open
/// connection may stay idle before the next email opens a fresh one (as
/// lettre's pool does) instead of reusing it.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
const SMTP_MAX_IDLE: Duration = Duration::from_secs(60);

/// How the connection is secured, as in lettre's `from_url`.
#[derive(Clone)]
enum Security {
    /// `smtp://`: plain text.
    None,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic(TlsParameters),
    /// `smtp://…?tls=required`: STARTTLS or nothing is sent.
    Required(TlsParameters),
    /// `smtps://`: TLS from the first byte (implicit TLS).
    Implicit(TlsParameters),
}

/// Delivers through an SMTP server given as `smtp://host:port`,
/// `smtp://user:pass@host:587?tls=required` or `smtps://host` (the URL
/// format of lettre's `AsyncSmtpTransport::from_url`).
///
/// The connection is our own tokio `TcpStream` with `TCP_NODELAY` (lettre's
/// own does not set it, and the end of DATA then waits ~40 ms behind Nagle for
/// the server's delayed ACK), handed to lettre's `AsyncSmtpConnection`. One
/// connection is kept open between emails and reused (NOOP first, as lettre's
/// pool does); a broken, refused or long-idle one is replaced.
pub struct SmtpMailer {
    host: Host,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    from: Mailbox,
    open: tokio::sync::Mutex<Option<OpenConnection>>,
}

struct OpenConnection {
    conn: AsyncSmtpConnection,
    idle_since: Instant,
}

impl SmtpMailer {
    pub fn from_url(url: &str, from: Mailbox) -> Result<Self, MailError> {
        let bad = |e: &dyn std::fmt::Display| MailError(format!("bad SMTP URL: {e}"));
        let url = Url::parse(url).map_err(|e| bad(&e))?;
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let host = url
            .host()
            .map(|h| h.to_owned())
            .ok_or_else(|| bad(&"no host"))?;
        // Certificates are checked against the host as written (without the
        // brackets of an IPv6 address).
        let tls_name = match &host {
            Host::Domain(d) => d.clone(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let tls_parameters = || TlsParameters::new(tls_name.clone()).map_err(|e| bad(&e));
        let (port, security) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (SMTP_PORT, Security::None),
            ("smtp", Some("required")) => (SUBMISSION_PORT, Security::Required(tls_parameters()?)),
            ("smtp", Some("opportunistic")) => {
                (SUBMISSION_PORT, Security::Opportunistic(tls_parameters()?))
            }
            ("smtps", _) => (SUBMISSIONS_PORT, Security::Implicit(tls_parameters()?)),
            (scheme, tls) => {
                return Err(bad(&format!(
                    "unknown scheme '{scheme}' or tls parameter {tls:?} (smtp://, \
                     smtp://…?tls=required, smtp://…?tls=opportunistic or smtps://)"
                )));
            }
        };
        let port = url.port().unwrap_or(port);
        // The path, if any, is the name to send in EHLO.
        let hello = if url.path().len() > 1 {
            ClientId::Domain(url.path().trim_matches('/').to_owned())
        } else {
            ClientId::default()
        };
        // As lettre: credentials when a password is given.
        let credentials = match url.password() {
            Some(password) => {
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|e| bad(&e))
                };
                Some(Credentials::new(decode(url.username())?, decode(password)?))
            }
            None => None,
        };
        Ok(Self {
            host,
            port,
            security,
            hello,
            credentials,
            from,
            open: tokio::sync::Mutex::new(None),
        })
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, TLS (implicit or
    /// STARTTLS) as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let tcp = match &self.host {
            Host::Domain(d) => TcpStream::connect((d.as_str(), self.port)).await,
            Host::Ipv4(ip) => TcpStream::connect((*ip, self.port)).await,
            Host::Ipv6(ip) => TcpStream::connect((*ip, self.port)).await,
        }
        .map_err(|e| MailError(format!("SMTP: cannot connect: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| MailError(format!("SMTP: cannot set TCP_NODELAY: {e}")))?;
        let smtp = |e: lettre::transport::smtp::Error| MailError(format!("SMTP: {e}"));
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(tls) => Box::new(
                ImplicitTls::handshake(tcp, tls.clone())
                    .await
                    .map_err(smtp)?,
            ),
            _ => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(smtp)?;
        match &self.security {
            Security::Opportunistic(tls) if conn.can_starttls() => {
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(smtp)?;
            }
            Security::Required(tls) => {
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(smtp)?;
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials
            && let Err(e) = conn.auth(DEFAULT_MECHANISMS, credentials).await
        {
            conn.abort().await;
            return Err(smtp(e));
        }
        Ok(conn)
    }

    /// Sends on the open connection if it is still good, else on a new one;
    /// keeps the connection open for the next email unless it broke.
    async fn send_on(
        &self,
        open: &mut Option<OpenConnection>,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), MailError> {
        let reusable = match open.take() {
            Some(OpenConnection {
                mut conn,
                idle_since,
            }) => {
                if !conn.has_broken()
                    && idle_since.elapsed() < SMTP_MAX_IDLE
                    && conn.test_connected().await
                {
                    Some(conn)
                } else {
                    conn.abort().await;
                    None
                }
            }
            None => None,
        };
        let mut conn = match reusable {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let sent = conn.send(envelope, email).await;
        // A refusal or an error aborts the connection (lettre sends QUIT and
        // marks it broken); what is still good waits for the next email.
        if !conn.has_broken() {
            *open = Some(OpenConnection {
                conn,
                idle_since: Instant::now(),
            });
        }
        sent.map(|_| ())
            .map_err(|e| MailError(format!("SMTP: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &OutboxMessage) -> Result<(), MailError> {
        let m = build_message(&self.from, message)?;
        let email = m.formatted();
        let mut open = self.open.lock().await;
        match tokio::time::timeout(SMTP_TIMEOUT, self.send_on(&mut open, m.envelope(), &email))
            .await
        {
            Ok(sent) => sent,
            Err(_) => {
                // Where the exchange stopped is unknown: never reuse it.
                *open = None;
                Err(MailError(format!(
                    "SMTP: no answer within {} s",
                    SMTP_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

/// A TCP stream wrapped in TLS by lettre (with the same certificate checks as
/// its own `smtps://` transport), given back to lettre as a plain stream:
/// `AsyncSmtpConnection::connect_with_transport` takes only a stream that
/// speaks SMTP from its first byte, which for implicit TLS is the TLS one.
#[allow(deprecated)] // `AsyncNetworkStream` is public but deprecated in lettre 0.11.
#[derive(Debug)]
struct ImplicitTls(AsyncNetworkStream);

#[allow(deprecated)]
impl ImplicitTls {
    async fn handshake(
        tcp: TcpStream,
        tls: TlsParameters,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(tls).await?;
        Ok(Self(stream))
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_util::io::AsyncRead::poll_read(Pin::new(&mut self.get_mut().0), cx, unfilled)
        {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.get_mut().0), cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
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
