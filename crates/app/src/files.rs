//! Files (PRODUCT §6, §10): the [`FileStore`] port, the local-directory store,
//! and [`Upload`], which receives a file a chunk at a time — never whole in
//! memory — counting, hashing and checking it as it goes.
//!
//! An upload is written to a temporary file beside the store, checked by its
//! content (CSV as UTF-8 text, XLSX as a workbook zip whose uncompressed size is
//! bounded, PDF), and only then handed to the store under a key the server
//! chose. The name the person gave is kept for showing, never as a path.

use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use domain::collection::FileKind;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt};

/// Where uploaded files live. The local directory is the default; an
/// S3-compatible store implements the same three calls.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Keeps the (checked) file at `from` under `key`; `from` is gone afterwards.
    async fn put(&self, key: &str, from: &Path) -> std::io::Result<()>;
    /// The stored bytes, to stream to a download.
    async fn open(&self, key: &str) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>>;
    /// A directory on this machine for uploads being received and checked.
    fn scratch_dir(&self) -> PathBuf;
}

/// Files in a directory: `objects/<key>` for kept files, `incoming/` for uploads
/// being received (on the same file system, so keeping one is a rename).
pub struct LocalFileStore {
    root: PathBuf,
}

impl LocalFileStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn object(&self, key: &str) -> std::io::Result<PathBuf> {
        // Keys are ours (UUIDs), but a store never follows a path it was handed.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a storage key",
            ));
        }
        Ok(self.root.join("objects").join(key))
    }
}

#[async_trait]
impl FileStore for LocalFileStore {
    async fn put(&self, key: &str, from: &Path) -> std::io::Result<()> {
        let to = self.object(key)?;
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(from, &to).await?;
        // The rename is durable only once the directory entry is.
        if let Some(dir) = to.parent() {
            tokio::fs::File::open(dir).await?.sync_all().await?;
        }
        Ok(())
    }

    async fn open(&self, key: &str) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
        Ok(Box::new(tokio::fs::File::open(self.object(key)?).await?))
    }

    fn scratch_dir(&self) -> PathBuf {
        self.root.join("incoming")
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
}

/// A received file that passed its checks, waiting in the scratch directory.
#[derive(Debug)]
pub struct Received {
    pub path: PathBuf,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: [u8; 32],
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
        })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn receive(
        store: &LocalFileStore,
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
        let store = LocalFileStore::new(dir.path());
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

    #[tokio::test]
    async fn the_limit_stops_an_upload_at_the_first_byte_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path());
        let mut up = Upload::begin(&store, 10).await.unwrap();
        up.write(b"0123456789").await.unwrap();
        assert!(matches!(
            up.write(b"x").await,
            Err(UploadError::TooLarge(_))
        ));
    }

    #[test]
    fn keys_are_never_paths() {
        let store = LocalFileStore::new("/srv/files");
        for bad in ["", "../x", "a/b", "..", "a\0b"] {
            assert!(store.object(bad).is_err(), "{bad:?}");
        }
        assert!(store.object("0b9a-41").is_ok());
    }
}
