//! Uploads and downloads over HTTP. An upload is refused with 413 before
//! anything is read when its declared length is too large, and otherwise
//! streamed part by part into `app::files::Upload`, which stops at the first
//! byte over the limit: a body is never held whole in memory. A download is
//! streamed from the file store with headers that stop a browser from ever
//! running or sniffing it.

use app::collections::UploadTicket;
use app::files::{Received, UploadError};
use app::records::FileRecord;
use app::{App, AppError};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Room for the multipart framing and small fields beside the file(s).
const FRAMING: u64 = 1024 * 1024;
/// The most a text field of an upload form may hold.
const TEXT_FIELD: usize = 64 * 1024;

/// What went wrong with an upload, before or while reading it.
#[derive(Debug)]
pub enum UploadFailure {
    /// 415: not `multipart/form-data`.
    NotMultipart,
    /// 413: larger than allowed (said, or found while reading).
    TooLarge(String),
    /// 400: the file or a field is wrong, with the message for that field.
    Invalid(&'static str, String),
    /// 403: the form's token is missing or wrong.
    BadToken,
    Internal(AppError),
}

impl UploadFailure {
    pub fn detail(&self) -> String {
        match self {
            Self::NotMultipart => "not multipart/form-data".into(),
            Self::TooLarge(_) => "upload too large".into(),
            Self::Invalid(field, _) => format!("invalid upload: {field}"),
            Self::BadToken => "missing or wrong form token".into(),
            Self::Internal(_) => "upload failed".into(),
        }
    }
}

/// The parts of an upload form: the checked files with the names they were
/// given, and the text fields.
pub struct Parts {
    pub files: Vec<(Received, String)>,
    pub fields: Vec<(String, String)>,
}

impl Parts {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub async fn discard(self) {
        for (r, _) in self.files {
            r.discard().await;
        }
    }
}

/// Reads an upload form whose files go in the field `file`. With `token`,
/// the form must begin with a `csrf_token` field equal to it (pages), and
/// nothing more is read otherwise.
pub async fn receive(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    ticket: &UploadTicket,
    token: Option<&str>,
) -> Result<Parts, UploadFailure> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or(UploadFailure::NotMultipart)?;
    let too_large = || UploadFailure::TooLarge(app::files::describe_size(ticket.on().limit));
    let whole = ticket.on().limit.saturating_add(FRAMING);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > whole) {
        return Err(too_large());
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(whole)
            .per_field(ticket.on().limit.saturating_add(1)),
    );
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut parts = Parts {
        files: Vec::new(),
        fields: Vec::new(),
    };
    let result = read_parts(app, &mut form, ticket, token, &mut parts).await;
    match result {
        Ok(()) => Ok(parts),
        Err(e) => {
            parts.discard().await;
            Err(match e {
                UploadFailure::TooLarge(_) => too_large(),
                other => other,
            })
        }
    }
}

fn multipart_error(e: multer::Error) -> UploadFailure {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            UploadFailure::TooLarge(String::new())
        }
        _ => UploadFailure::Invalid("file", "The upload could not be read: try again".into()),
    }
}

async fn read_parts(
    app: &App,
    form: &mut multer::Multipart<'static>,
    ticket: &UploadTicket,
    token: Option<&str>,
    parts: &mut Parts,
) -> Result<(), UploadFailure> {
    let mut first = true;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(expected) = token.filter(|_| first) {
            let given = read_text(&mut field).await?;
            if name != "csrf_token"
                || !bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_bytes(),
                    expected.as_bytes(),
                ))
            {
                return Err(UploadFailure::BadToken);
            }
            first = false;
            continue;
        }
        first = false;
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            if filename.is_empty() {
                // A file input left empty still sends a part: skip it.
                while field
                    .chunk()
                    .await
                    .map_err(multipart_error)?
                    .is_some_and(|c| c.is_empty())
                {}
                continue;
            }
            let mut upload = app
                .begin_upload(ticket)
                .await
                .map_err(UploadFailure::Internal)?;
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                upload.write(&chunk).await.map_err(upload_error)?;
            }
            let received = upload
                .finish(&ticket.on().accepted)
                .await
                .map_err(upload_error)?;
            parts.files.push((received, filename));
        } else {
            let value = read_text(&mut field).await?;
            parts.fields.push((name, value));
        }
    }
    Ok(())
}

fn upload_error(e: UploadError) -> UploadFailure {
    match e {
        UploadError::TooLarge(s) => UploadFailure::TooLarge(s),
        UploadError::Rejected(why) => UploadFailure::Invalid("file", why),
    }
}

async fn read_text(field: &mut multer::Field<'static>) -> Result<String, UploadFailure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > TEXT_FIELD {
            return Err(UploadFailure::Invalid(
                "form",
                "A field of the form is too long".into(),
            ));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| UploadFailure::Invalid("form", "The form could not be read".into()))
}

/// `Content-Disposition` for a download: always an attachment; the name as
/// plain ASCII and, for other characters, RFC 5987's encoded form.
pub fn disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != ';' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Streams a stored file to the browser as a download that is never shown
/// inline, sniffed, run or cached.
pub fn download(
    record: &FileRecord,
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
) -> Response {
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, record.kind.media_type().to_owned()),
        (header::CONTENT_DISPOSITION, disposition(&record.filename)),
        (header::CONTENT_LENGTH, record.size.to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CONTENT_SECURITY_POLICY, "sandbox".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    h.insert(
        "x-checksum-sha256",
        HeaderValue::from_str(&hex::encode(&record.sha256)).unwrap_or(HeaderValue::from_static("")),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(
            disposition("returns.csv"),
            "attachment; filename=\"returns.csv\"; filename*=UTF-8''returns.csv"
        );
        let d = disposition("a\"b;c\\d é.csv");
        assert!(d.starts_with("attachment; filename=\"a_b_c_d _.csv\"; filename*=UTF-8''a%22b%3Bc%5Cd%20%C3%A9.csv"), "{d}");
    }
}
