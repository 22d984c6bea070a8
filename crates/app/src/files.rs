//! Files (PRODUCT §6, §10): the [`FileStore`] port, its one implementation
//! [`ObjectFileStore`] over the `object_store` crate (a local directory by
//! default, or an S3-compatible store), and [`Upload`], which receives a file
//! a chunk at a time — never whole in memory — counting, hashing and checking
//! it as it goes.
//!
//! An upload is written to a temporary file in a local scratch directory,
//! checked by its content (CSV as UTF-8 text, XLSX as a workbook zip whose
//! uncompressed size is bounded, PDF), and only then handed to the store under
//! a key the server chose. The name the person gave is kept for showing, never
//! as a path.
//!
//! A CSV upload to a window with column rules is checked against them as it
//! arrives ([`Upload::check_with`]): the [`Checker`] reads each chunk as it is
//! written, in fixed-size buffers, and [`Received::report`] carries what it
//! found. [`check_stored`] checks a kept file again, streaming, for the
//! downloadable report of every finding.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use domain::checks::{Checker, ColumnRule, Finding, Report};
use domain::collection::FileKind;
use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Where uploaded files live. The local directory is the default; an
/// S3-compatible store implements the same three calls.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Keeps the (checked) file at `from` under `key`; `from` is gone afterwards.
    async fn put(&self, key: &str, from: &Path) -> std::io::Result<()>;
    /// The stored bytes, to stream to a download.
    async fn open(&self, key: &str) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>>;
    /// Forgets a file that no row came to name (the change that was to name it
    /// did not happen).
    async fn remove(&self, key: &str) -> std::io::Result<()>;
    /// A directory on this machine for uploads being received and checked.
    fn scratch_dir(&self) -> PathBuf;
}

/// An S3 part: S3 wants at least 5 MiB in every part but the last.
const PART: usize = 5 * 1024 * 1024;
/// Parts in flight at once for one file: at most `(PARTS_IN_FLIGHT + 1) * PART`
/// bytes of a file are in memory while it goes to the store.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the objects are, inside the `object_store` store.
enum Place {
    /// A local directory: `objects/<key>`, with uploads received in
    /// `incoming/` beside them (the same file system, so keeping one is a
    /// rename, made durable with fsync by `LocalFileSystem::with_fsync`).
    Local { root: PathBuf },
    /// A bucket: `<prefix>/<key>`; uploads are received in a local scratch
    /// directory and streamed up in parts.
    Remote {
        prefix: ObjectPath,
        scratch: PathBuf,
    },
}

/// Uploaded files through the `object_store` crate: `file:///dir` (the
/// default, `PORTAL_FILES_DIR`) or `s3://bucket/prefix`.
pub struct ObjectFileStore {
    objects: Arc<dyn ObjectStore>,
    place: Place,
    url: String,
}

fn io_error(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => {
            std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string())
        }
        e => std::io::Error::other(e.to_string()),
    }
}

fn invalid(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why.into())
}

impl ObjectFileStore {
    /// Files in the directory `root` (created when the first file arrives).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Self {
            url: format!("file://{}", root.display()),
            objects: Arc::new(LocalFileSystem::new().with_fsync(true)),
            place: Place::Local { root },
        }
    }

    /// `file:///absolute/dir`, or `s3://bucket[/prefix]` configured by the
    /// standard `AWS_*` variables (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …), then by `options` (same names,
    /// lower case). Uploads to a bucket are received in `scratch`.
    pub fn from_url(
        url: &str,
        scratch: impl Into<PathBuf>,
        options: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid(format!(
                    "{url} is not a file URL with an absolute path (file:///srv/portal/files)"
                )));
            }
            return Ok(Self::local(path));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(invalid(format!(
                "{url} is neither file:///dir nor s3://bucket/prefix"
            )));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(format!("{url} names no bucket")));
        }
        let prefix = ObjectPath::parse(prefix.trim_matches('/'))
            .map_err(|e| invalid(format!("{url}: the prefix is not a valid object path: {e}")))?;
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in options {
            let key = k
                .parse()
                .map_err(|_| invalid(format!("{k} is not an S3 setting")))?;
            builder = builder.with_config(key, *v);
        }
        let s3 = builder
            .build()
            .map_err(|e| invalid(format!("{url}: {e}")))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            objects: Arc::new(s3),
            place: Place::Remote {
                prefix,
                scratch: scratch.into(),
            },
        })
    }

    /// Where the files are, for messages (no credentials: they come from the environment).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether files go to a bucket (rather than a directory on this machine).
    pub fn is_remote(&self) -> bool {
        matches!(self.place, Place::Remote { .. })
    }

    /// The object of `key`. Keys are ours (UUIDs), but a store never follows
    /// a path it was handed.
    fn location(&self, key: &str) -> std::io::Result<ObjectPath> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(invalid("not a storage key"));
        }
        match &self.place {
            Place::Local { root } => local_path(&root.join("objects").join(key)),
            Place::Remote { prefix, .. } => Ok(prefix.clone().join(key)),
        }
    }

    /// Streams the file at `from` to `to`: one request for a small file, parts
    /// for a larger one, never more than a few parts in memory.
    async fn upload(&self, to: &ObjectPath, from: &Path) -> std::io::Result<()> {
        let mut file = tokio::fs::File::open(from).await?;
        let size = file.metadata().await?.len();
        if size <= PART as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut file)
                .take(PART as u64)
                .read_to_end(&mut bytes)
                .await?;
            self.objects
                .put(to, PutPayload::from(bytes))
                .await
                .map_err(io_error)?;
            return Ok(());
        }
        let upload = self.objects.put_multipart(to).await.map_err(io_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; 256 * 1024];
        let sent: std::io::Result<()> = async {
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(io_error)?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match sent {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(io_error),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

/// The `object_store` path of a local file.
fn local_path(path: &Path) -> std::io::Result<ObjectPath> {
    ObjectPath::from_absolute_path(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

#[async_trait]
impl FileStore for ObjectFileStore {
    async fn put(&self, key: &str, from: &Path) -> std::io::Result<()> {
        let to = self.location(key)?;
        match &self.place {
            // A rename; `with_fsync` makes it durable (the file itself was
            // synced when the upload finished) and creates `objects/`.
            Place::Local { .. } => {
                let from = std::path::absolute(from)?;
                self.objects
                    .rename(&local_path(&from)?, &to)
                    .await
                    .map_err(io_error)
            }
            Place::Remote { .. } => {
                let sent = self.upload(&to, from).await;
                let _ = tokio::fs::remove_file(from).await;
                sent
            }
        }
    }

    async fn open(&self, key: &str) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
        let got = self
            .objects
            .get(&self.location(key)?)
            .await
            .map_err(io_error)?;
        Ok(match got.payload {
            // A local file is read as a file, not in 8 KiB blocking chunks.
            GetResultPayload::File(file, _) => Box::new(tokio::fs::File::from_std(file)),
            GetResultPayload::Stream(stream) => {
                Box::new(tokio_util::io::StreamReader::new(stream.map_err(io_error)))
            }
        })
    }

    async fn remove(&self, key: &str) -> std::io::Result<()> {
        match self.objects.delete(&self.location(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    fn scratch_dir(&self) -> PathBuf {
        match &self.place {
            Place::Local { root } => root.join("incoming"),
            Place::Remote { scratch, .. } => scratch.clone(),
        }
    }
}

/// Why an upload is refused; each message is shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("The file must be {0} or smaller")]
    TooLarge(String),
    #[error("{0}")]
    Rejected(String),
}

/// The largest uncompressed size of a workbook's contents (zip bombs stop here).
pub const MAX_XLSX_UNCOMPRESSED: u64 = 256 * 1024 * 1024;
const MAX_XLSX_ENTRIES: usize = 10_000;
const HEAD: usize = 8 * 1024;

/// A file being received.
pub struct Upload {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    /// Bytes of a UTF-8 sequence cut by the end of the last chunk.
    carry: Vec<u8>,
    utf8: bool,
    /// The window's column rules, reading the file as it arrives (dropped
    /// as soon as the file is clearly not CSV).
    checker: Option<Checker>,
}

/// A received file that passed its checks, waiting in the scratch directory.
#[derive(Debug)]
pub struct Received {
    pub path: PathBuf,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: [u8; 32],
    /// The column rules' check of a CSV upload given a checker
    /// ([`Upload::check_with`]); `None` for other files or unchecked uploads.
    pub report: Option<Report>,
}

impl Received {
    /// Removes the scratch file (it was refused, or the change did not happen).
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

// A received file that was neither kept (the store moved it away) nor
// discarded — an error in between — leaves nothing behind in the scratch directory.
impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// An upload abandoned part-way (too large, the connection gone) removes its
// scratch file.
impl Drop for Upload {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn describe_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

impl Upload {
    /// Starts receiving a file of at most `limit` bytes.
    pub async fn begin(store: &dyn FileStore, limit: u64) -> std::io::Result<Self> {
        let dir = store.scratch_dir();
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::File::create(&path).await?;
        Ok(Self {
            path,
            file,
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
            carry: Vec::new(),
            utf8: true,
            checker: None,
        })
    }

    /// Checks the file against a window's column rules as it arrives (call
    /// before the first [`Upload::write`]): if it turns out to be a CSV,
    /// [`Received::report`] says what the rules found. Each chunk is checked
    /// as it is written, on the calling task: in release about 5 ms per MB
    /// (`portal bench` measures it), so well under a millisecond a chunk.
    pub fn check_with(&mut self, checker: Checker) {
        self.checker = Some(checker);
    }

    /// Takes the next chunk. Past the limit the upload is abandoned at once.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(UploadError::TooLarge(describe_size(self.limit)));
        }
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        if self.utf8 {
            self.check_utf8(chunk);
        }
        if let Some(checker) = &mut self.checker {
            let not_csv = !self.utf8
                || self.head.starts_with(b"%PDF-")
                || self.head.starts_with(b"PK\x03\x04");
            if not_csv {
                self.checker = None;
            } else {
                // Every finding is in the report's counts; the full list is
                // made again from the kept file when it is asked for.
                checker.feed(chunk, &mut |_| {});
            }
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|_| UploadError::Rejected("The file could not be saved".into()))
    }

    fn check_utf8(&mut self, chunk: &[u8]) {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        match std::str::from_utf8(&bytes) {
            Ok(text) => self.utf8 = !text.contains('\0'),
            Err(e) if e.error_len().is_none() => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                self.utf8 = !good.contains(&0);
                self.carry = rest.to_vec();
            }
            Err(_) => self.utf8 = false,
        }
    }

    /// Ends the upload: the file is checked by its content and must be one of
    /// `accepted`. A refused file is removed.
    pub async fn finish(mut self, accepted: &[FileKind]) -> Result<Received, UploadError> {
        let saved = async {
            self.file.flush().await?;
            self.file.sync_all().await
        };
        if saved.await.is_err() {
            let _ = tokio::fs::remove_file(&self.path).await;
            return Err(UploadError::Rejected("The file could not be saved".into()));
        }
        let checked = self.check().await;
        match checked {
            Ok(kind) if accepted.contains(&kind) => Ok(Received {
                path: std::mem::take(&mut self.path),
                kind,
                size: self.size,
                sha256: std::mem::take(&mut self.hasher).finalize().into(),
                report: self
                    .checker
                    .take()
                    .filter(|_| kind == FileKind::Csv)
                    .map(|c| c.finish(&mut |_| {})),
            }),
            Ok(kind) => {
                let _ = tokio::fs::remove_file(&self.path).await;
                Err(UploadError::Rejected(format!(
                    "This file is {} {}: this collection accepts {}",
                    if kind == FileKind::Xlsx { "an" } else { "a" },
                    kind.label(),
                    accepted_list(accepted)
                )))
            }
            Err(why) => {
                let _ = tokio::fs::remove_file(&self.path).await;
                Err(UploadError::Rejected(why))
            }
        }
    }

    async fn check(&self) -> Result<FileKind, String> {
        if self.size == 0 {
            return Err("The selected file is empty".into());
        }
        let not_allowed = || {
            "The file must be a CSV, an Excel workbook (XLSX) or a PDF: its content is none of these".to_owned()
        };
        match FileKind::sniff(&self.head) {
            Some(FileKind::Csv) if self.utf8 && self.carry.is_empty() => Ok(FileKind::Csv),
            Some(FileKind::Csv) => Err("A CSV file must be text in UTF-8".into()),
            Some(FileKind::Pdf) => Ok(FileKind::Pdf),
            Some(FileKind::Xlsx) => {
                let path = self.path.clone();
                match tokio::task::spawn_blocking(move || check_workbook(&path)).await {
                    Ok(result) => result.map(|()| FileKind::Xlsx),
                    Err(_) => Err(not_allowed()),
                }
            }
            None => Err(not_allowed()),
        }
    }
}

/// Checks a kept CSV file against `rules` again, streaming it from the store
/// (memory stays that of the checker and one 64 KiB buffer): `each` is called
/// for every finding in file order — how the downloadable report lists them
/// all — and the report is the one the upload's check made.
pub async fn check_stored(
    store: &dyn FileStore,
    key: &str,
    rules: &[ColumnRule],
    ukprn: Option<&str>,
    each: &mut (dyn FnMut(&Finding) + Send),
) -> std::io::Result<Report> {
    let mut from = store.open(key).await?;
    let mut checker = Checker::new(rules, ukprn);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(checker.finish(each));
        }
        checker.feed(&buf[..n], each);
    }
}

pub fn accepted_list(kinds: &[FileKind]) -> String {
    kinds
        .iter()
        .map(|k| k.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A workbook is a zip with the parts every XLSX has, whose contents really
/// decompress to no more than [`MAX_XLSX_UNCOMPRESSED`] (the sizes a zip
/// declares can lie, so they are counted, not trusted).
fn check_workbook(path: &Path) -> Result<(), String> {
    let bad = || "The file is not a valid Excel workbook (XLSX)".to_owned();
    let too_big = || {
        format!(
            "The workbook expands to more than {}: it cannot be accepted",
            describe_size(MAX_XLSX_UNCOMPRESSED)
        )
    };
    let file = std::fs::File::open(path).map_err(|_| bad())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|_| bad())?;
    if zip.len() > MAX_XLSX_ENTRIES {
        return Err(bad());
    }
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    if !names.iter().any(|n| n == "[Content_Types].xml")
        || !names.iter().any(|n| n == "xl/workbook.xml")
    {
        return Err(bad());
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|_| bad())?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > MAX_XLSX_UNCOMPRESSED {
        return Err(too_big());
    }
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| bad())?;
        loop {
            let n = entry.read(&mut buf).map_err(|_| bad())?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > MAX_XLSX_UNCOMPRESSED {
                return Err(too_big());
            }
        }
    }
    Ok(())
}

/// Files kept in the store ahead of the change that names them: the change
/// commits without waiting on the store (a large file going to a bucket would
/// otherwise hold the transaction, and on SQLite every writer, for as long as
/// it takes). Whatever the change's outcome, [`Kept::settle`] says whether the
/// files stay: a change that did not happen removes them. A process that dies
/// in between leaves an unnamed object, never a row without its file.
pub struct Kept<'a> {
    store: &'a dyn FileStore,
    keys: Vec<String>,
}

impl<'a> Kept<'a> {
    /// Keeps each received file under its key, in order; if one cannot be
    /// kept, the ones before it are removed again.
    pub async fn put(
        store: &'a dyn FileStore,
        files: &[(&str, &Path)],
    ) -> std::io::Result<Kept<'a>> {
        let mut kept = Kept {
            store,
            keys: Vec::new(),
        };
        for &(key, path) in files {
            if let Err(e) = store.put(key, path).await {
                kept.remove().await;
                return Err(e);
            }
            kept.keys.push(key.to_owned());
        }
        Ok(kept)
    }

    /// The change's outcome, passed on: the files stay unless it certainly
    /// did not happen. A refusal or bad input rolled it back; a store error
    /// may have been the commit's answer lost on the way back (the database
    /// committed, the connection dropped), so the files stay: an unnamed
    /// object is harmless, a named one missing is not.
    pub async fn settle<T>(self, outcome: crate::AppResult<T>) -> crate::AppResult<T> {
        let uncertain = matches!(
            &outcome,
            Err(crate::AppError::Internal(
                crate::error::InternalError::Store(_)
            ))
        );
        if outcome.is_err() && !uncertain {
            self.remove().await;
        }
        outcome
    }

    async fn remove(self) {
        for key in &self.keys {
            if let Err(e) = self.store.remove(key).await {
                tracing::warn!(key, error = %e, "could not remove a file no row names");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn receive(
        store: &ObjectFileStore,
        bytes: &[u8],
        chunk: usize,
    ) -> Result<Received, UploadError> {
        let mut up = Upload::begin(store, 1024 * 1024).await.unwrap();
        for c in bytes.chunks(chunk) {
            up.write(c).await?;
        }
        up.finish(&FileKind::ALL).await
    }

    #[tokio::test]
    async fn utf8_is_checked_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectFileStore::local(dir.path());
        let text = "ukprn,name\n10000001,Université de Test\n".repeat(50);
        for chunk in [1, 2, 3, 7, 4096] {
            let r = receive(&store, text.as_bytes(), chunk).await.unwrap();
            assert_eq!(r.kind, FileKind::Csv);
            assert_eq!(r.size, text.len() as u64);
            let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            assert_eq!(r.sha256, expected);
            r.discard().await;
        }
        let mut latin1 = b"name\nUniversit".to_vec();
        latin1.push(0xE9);
        latin1.extend_from_slice(b" de Test\n");
        assert!(receive(&store, &latin1, 3).await.is_err());
        assert!(receive(&store, b"a,b\n1,\0\n", 3).await.is_err());
    }

    fn rules() -> Vec<ColumnRule> {
        use domain::checks::ColumnType;
        vec![
            ColumnRule {
                name: "ukprn".into(),
                kind: ColumnType::Ukprn,
                required: true,
                min: None,
                max: None,
                allowed: Vec::new(),
                warn_above: None,
            },
            ColumnRule {
                name: "students".into(),
                kind: ColumnType::Integer,
                required: true,
                min: Some(0.0),
                max: None,
                allowed: Vec::new(),
                warn_above: Some(500.0),
            },
        ]
    }

    /// A CSV with findings all through it, some values quoted over lines.
    fn findings_csv() -> String {
        let mut text = String::from("\u{feff}UKPRN,Students,note\r\n");
        for i in 0..3000 {
            match i % 7 {
                0 => text.push_str(&format!("10000001,{i},\"Université \"\"{i}\"\"\nok\"\r\n")),
                1 => text.push_str("10000002,12,x\r\n"),
                2 => text.push_str("10000001,twelve,é\r\n"),
                3 => text.push_str("\r\n"),
                _ => text.push_str(&format!("10000001,{},\n", i % 600)),
            }
        }
        text
    }

    #[tokio::test]
    async fn a_csv_uploaded_in_odd_chunks_gets_the_report_of_one_feed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectFileStore::local(dir.path());
        let text = findings_csv();
        let mut whole = Checker::new(&rules(), Some("10000001"));
        whole.feed(text.as_bytes(), &mut |_| {});
        let whole = whole.finish(&mut |_| {});
        assert_eq!(whole.errors, 2 * 3000 / 7 + 1);
        assert!(whole.warnings > 0);
        assert_eq!(whole.data_rows, 3000 - 3000 / 7 - 1);
        for chunk in [1, 3, 7, 1000, 4093, 65536] {
            let mut up = Upload::begin(&store, 1024 * 1024).await.unwrap();
            up.check_with(Checker::new(&rules(), Some("10000001")));
            for c in text.as_bytes().chunks(chunk) {
                up.write(c).await.unwrap();
            }
            let r = up.finish(&FileKind::ALL).await.unwrap();
            assert_eq!(r.kind, FileKind::Csv);
            assert_eq!(r.report.as_ref(), Some(&whole), "chunks of {chunk}");
            r.discard().await;
        }
        // No checker, no report; a PDF or a workbook is not checked.
        let r = receive(&store, text.as_bytes(), 4096).await.unwrap();
        assert_eq!(r.report, None);
        r.discard().await;
        for other in [
            &b"%PDF-1.7\n1 0 obj\n"[..],
            b"PK\x03\x04not really a workbook",
        ] {
            let mut up = Upload::begin(&store, 1024 * 1024).await.unwrap();
            up.check_with(Checker::new(&rules(), None));
            for c in other.chunks(2) {
                up.write(c).await.unwrap();
            }
            assert!(
                up.checker.is_none(),
                "dropped once the file is clearly not CSV"
            );
            if let Ok(r) = up.finish(&FileKind::ALL).await {
                assert_eq!(r.report, None);
                r.discard().await;
            }
        }
    }

    #[tokio::test]
    async fn a_kept_file_is_checked_again_listing_every_finding() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectFileStore::local(dir.path());
        let text = findings_csv().repeat(20);
        let mut up = Upload::begin(&store, 16 * 1024 * 1024).await.unwrap();
        up.check_with(Checker::new(&rules(), Some("10000001")));
        for c in text.as_bytes().chunks(8191) {
            up.write(c).await.unwrap();
        }
        let r = up.finish(&FileKind::ALL).await.unwrap();
        let kept = r.report.clone().unwrap();
        store.put("c-1", &r.path).await.unwrap();
        let mut all = Vec::new();
        let again = check_stored(&store, "c-1", &rules(), Some("10000001"), &mut |f| {
            all.push(f.clone())
        })
        .await
        .unwrap();
        assert_eq!(again, kept);
        assert_eq!(all.len() as u64, kept.errors + kept.warnings);
        assert!(all.len() > domain::checks::FINDINGS_KEPT, "{}", all.len());
        assert_eq!(all[..domain::checks::FINDINGS_KEPT], kept.findings[..]);
        let missing = check_stored(&store, "c-2", &rules(), None, &mut |_| {}).await;
        assert_eq!(missing.err().unwrap().kind(), std::io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn the_limit_stops_an_upload_at_the_first_byte_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectFileStore::local(dir.path());
        let mut up = Upload::begin(&store, 10).await.unwrap();
        up.write(b"0123456789").await.unwrap();
        assert!(matches!(
            up.write(b"x").await,
            Err(UploadError::TooLarge(_))
        ));
    }

    #[test]
    fn keys_are_never_paths() {
        let local = ObjectFileStore::local("/srv/files");
        let s3 = ObjectFileStore::from_url(
            "s3://bucket/portal/files",
            "/tmp/incoming",
            &[("aws_region", "eu-west-2")],
        )
        .unwrap();
        for store in [&local, &s3] {
            for bad in ["", "../x", "a/b", "..", "a\0b", "a%2Fb"] {
                assert!(store.location(bad).is_err(), "{bad:?}");
            }
        }
        assert_eq!(
            local.location("0b9a-41").unwrap().as_ref(),
            "srv/files/objects/0b9a-41"
        );
        assert_eq!(
            s3.location("0b9a-41").unwrap().as_ref(),
            "portal/files/0b9a-41"
        );
        assert_eq!(s3.scratch_dir(), PathBuf::from("/tmp/incoming"));
        for bad in ["files", "file://relative", "s3://", "http://x/y"] {
            assert!(
                ObjectFileStore::from_url(bad, "/tmp", &[]).is_err(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn files_kept_ahead_of_a_change_stay_only_if_it_happened() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            ObjectFileStore::from_url(&format!("file://{}", dir.path().display()), "/unused", &[])
                .unwrap();
        let mut scratch = Vec::new();
        for _ in 0..4 {
            scratch.push(receive(&store, b"ukprn\n10000001\n", 4096).await.unwrap());
        }
        let object = |k: &str| dir.path().join("objects").join(k);
        let kept = Kept::put(
            &store,
            &[("a-1", &scratch[0].path), ("a-2", &scratch[1].path)],
        )
        .await
        .unwrap();
        assert!(object("a-1").exists() && object("a-2").exists());
        let refused = kept
            .settle::<()>(Err(crate::AppError::Conflict("closed".into())))
            .await;
        assert!(refused.is_err());
        assert!(
            !object("a-1").exists() && !object("a-2").exists(),
            "removed again"
        );
        let kept = Kept::put(&store, &[("b-1", &scratch[2].path)])
            .await
            .unwrap();
        assert_eq!(kept.settle(Ok(7)).await.ok(), Some(7));
        assert!(object("b-1").exists(), "kept");
        // A store error may be a commit whose answer was lost: the file stays.
        let kept = Kept::put(&store, &[("b-2", &scratch[3].path)])
            .await
            .unwrap();
        let lost = store::StoreError::Unavailable("connection reset".to_owned().into());
        assert!(kept.settle::<()>(Err(lost.into())).await.is_err());
        assert!(object("b-2").exists(), "kept: the change may have happened");
        // One that cannot be kept takes the ones before it away again.
        let failed = Kept::put(
            &store,
            &[("c-1", &scratch[3].path), ("../c-2", &scratch[3].path)],
        )
        .await;
        assert!(failed.is_err());
        assert!(!object("c-1").exists());
    }

    #[tokio::test]
    async fn a_kept_file_is_moved_into_the_directory_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            ObjectFileStore::from_url(&format!("file://{}", dir.path().display()), "/unused", &[])
                .unwrap();
        assert!(!store.is_remote());
        let text = "ukprn,name\n10000001,Test\n".repeat(1000);
        let r = receive(&store, text.as_bytes(), 4096).await.unwrap();
        let scratch = r.path.clone();
        store.put("k-1", &r.path).await.unwrap();
        assert!(!scratch.exists(), "the scratch file was moved");
        assert!(dir.path().join("objects/k-1").exists());
        let mut back = Vec::new();
        store
            .open("k-1")
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert_eq!(back, text.as_bytes());
        let missing = store.open("k-2").await.err().unwrap();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
