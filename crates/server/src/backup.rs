//! `portal backup DIR` and `portal restore DIR` (issue 14).
//!
//! A backup is taken while the portal serves: first a consistent snapshot of
//! the database (SQLite `VACUUM INTO`; PostgreSQL `pg_dump --format=directory`
//! reading a snapshot the backup exported, in which it also counts the rows and
//! lists the stored files), then every file that snapshot names, streamed from
//! the file store. Files are immutable once stored, and stored before the rows
//! naming them commit, so every file the snapshot names exists. Last comes
//! `manifest.json` (format, database kind, time, portal version, rows per
//! table, SHA-256 of every file written): a directory without it is not a backup.
//!
//! `DIR` holds personal data: it is created `0700`, every file in it `0600`.
//!
//! A restore loads into an empty database of the same kind, after checking
//! every checksum and before touching anything: the files go into the
//! configured file store first (a file without a row is harmless, a row
//! without its file is not), then the database, whose row counts must then
//! match the manifest.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use app::files::FileStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store_sql::backup::{Contents, StoredObject};
use store_sql::{ConnectOptions, SqlStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Config;

/// The manifest's format; a restore refuses any other.
pub const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "database.sqlite";
const POSTGRES_DIR: &str = "database";
const FILES_DIR: &str = "files";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub portal_version: String,
    /// Rows per table in the snapshot.
    pub tables: BTreeMap<String, i64>,
    /// SHA-256 (hex) of each file of the database dump, by path inside DIR.
    pub dump: BTreeMap<String, String>,
    /// Every uploaded file the snapshot names, copied to `files/<key>`.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

fn kind_of(url: &str) -> anyhow::Result<&'static str> {
    if url.starts_with("sqlite:") {
        Ok("sqlite")
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok("postgres")
    } else {
        bail!("PORTAL_DATABASE_URL must start with sqlite:// or postgres://")
    }
}

/// The file a `sqlite:` URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        bail!("PORTAL_DATABASE_URL is not a sqlite:// URL");
    };
    Ok(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// Opens the database without migrating it or writing anything.
async fn open(config: &Config) -> anyhow::Result<SqlStore> {
    store_sql::connect(&config.database_url, ConnectOptions::default())
        .await
        .map_err(|e| anyhow!("cannot open the database: {e:?}"))
}

/// `program` as found on `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

fn need(program: &str) -> anyhow::Result<PathBuf> {
    on_path(program).ok_or_else(|| {
        anyhow!(
            "{program} is not on PATH: PostgreSQL backups and restores use the PostgreSQL \
             client tools (e.g. `apt-get install postgresql-client`), of the server's major \
             version or newer"
        )
    })
}

/// A PostgreSQL URL for `pg_dump`/`pg_restore` without its password, and the
/// password apart (given through `PGPASSWORD`, so that no process listing shows it).
fn libpq_target(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    match userinfo.split_once(':') {
        Some((user, password)) => (
            format!("{scheme}://{user}@{host}{tail}"),
            Some(percent_decode(password)),
        ),
        None => (url.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a PostgreSQL client tool; its error output becomes the error.
async fn pg_tool(program: &Path, args: &[&str], url: &str) -> anyhow::Result<()> {
    let (target, password) = libpq_target(url);
    let mut c = tokio::process::Command::new(program);
    c.args(args).arg("--dbname").arg(target);
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    let out = c
        .output()
        .await
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Makes everything under `dir` private (what pg_dump wrote included).
fn make_private(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            make_private(&path)?;
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// SHA-256 of every file under `root/sub`, by path relative to `root`.
fn hash_tree(root: &Path, sub: &str, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    let path = root.join(sub);
    if path.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            hash_tree(root, &format!("{sub}/{name}"), out)?;
        }
    } else {
        out.insert(sub.to_owned(), sha256_file(&path)?.1);
    }
    Ok(())
}

/// Creates `dir` (0700), or takes an existing empty one; anything else is refused.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if dir.join(MANIFEST).exists() {
                bail!(
                    "{} already holds a backup: choose a new directory",
                    dir.display()
                );
            }
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: a backup goes into a new or empty directory",
                    dir.display()
                );
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(e) => Err(anyhow!("cannot use {}: {e}", dir.display())),
    }
}

/// Copies the stored file `object` to `to` (0600), streaming, and checks it
/// against the database's record.
async fn copy_out(files: &dyn FileStore, object: &StoredObject, to: &Path) -> anyhow::Result<()> {
    let mut reader = files
        .open(&object.key)
        .await
        .with_context(|| format!("file {} named by the database cannot be read", object.key))?;
    let mut out = tokio::fs::File::from_std(private_file(to)?);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).await?;
        size += n as u64;
    }
    out.sync_all().await?;
    let sha: [u8; 32] = hasher.finalize().into();
    if sha.as_slice() != object.sha256.as_slice() || i64::try_from(size).ok() != Some(object.size) {
        bail!(
            "file {} in the store does not match what the database recorded (size {size}, \
             expected {}): the store is damaged",
            object.key,
            object.size
        );
    }
    Ok(())
}

/// `portal backup DIR`.
pub async fn backup(config: &Config, dir: &Path) -> anyhow::Result<Manifest> {
    let kind = kind_of(&config.database_url)?;
    let pg_dump = if kind == "postgres" {
        Some(need("pg_dump")?)
    } else {
        None
    };
    let files = crate::storage::file_store(config)?;
    if pg_dump.is_none() {
        // Opening a SQLite URL makes the file if it is missing: a mistyped
        // path would otherwise "back up" an empty database.
        let path = sqlite_path(&config.database_url)?;
        if !path.is_file() {
            bail!("there is no SQLite database at {}", path.display());
        }
    }
    let store = open(config).await?;
    fresh_dir(dir)?;
    let created_at =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let contents = match &pg_dump {
        None => {
            let to = dir.join(SQLITE_FILE);
            drop(private_file(&to)?);
            store
                .sqlite_snapshot(&to)
                .await
                .map_err(|e| anyhow!("SQLite snapshot failed: {e:?}"))?;
            std::fs::File::open(&to)?.sync_all()?;
            store_sql::backup::sqlite_file_contents(&to)
                .await
                .map_err(|e| anyhow!("cannot read the snapshot: {e:?}"))?
        }
        Some(pg_dump) => {
            let mut snapshot = store
                .postgres_snapshot()
                .await
                .map_err(|e| anyhow!("cannot take a snapshot: {e:?}"))?;
            let to = dir.join(POSTGRES_DIR);
            let to = to
                .to_str()
                .ok_or_else(|| anyhow!("the backup directory is not UTF-8"))?;
            pg_tool(
                pg_dump,
                &[
                    "--format=directory",
                    &format!("--snapshot={}", snapshot.id),
                    "--file",
                    to,
                ],
                &config.database_url,
            )
            .await?;
            let contents = snapshot
                .contents()
                .await
                .map_err(|e| anyhow!("cannot read the snapshot: {e:?}"))?;
            snapshot
                .end()
                .await
                .map_err(|e| anyhow!("cannot end the snapshot: {e:?}"))?;
            contents
        }
    };
    store.close().await;
    let files_dir = dir.join(FILES_DIR);
    std::fs::DirBuilder::new().mode(0o700).create(&files_dir)?;
    let mut entries = Vec::with_capacity(contents.files.len());
    for object in &contents.files {
        // Keys are ours, but nothing read from a database becomes a path unchecked.
        if object.key.is_empty()
            || !object
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!(
                "the database names a file {:?} that is not a storage key",
                object.key
            );
        }
        copy_out(files.as_ref(), object, &files_dir.join(&object.key)).await?;
        entries.push(FileEntry {
            key: object.key.clone(),
            size: u64::try_from(object.size).unwrap_or_default(),
            sha256: hex::encode(&object.sha256),
        });
    }
    make_private(dir)?;
    let mut dump = BTreeMap::new();
    hash_tree(
        dir,
        if kind == "sqlite" {
            SQLITE_FILE
        } else {
            POSTGRES_DIR
        },
        &mut dump,
    )?;
    let manifest = Manifest {
        format: FORMAT,
        database: kind.to_owned(),
        created_at,
        portal_version: env!("CARGO_PKG_VERSION").to_owned(),
        tables: contents.tables,
        dump,
        files: entries,
    };
    // The manifest last, moved into place whole: without it there is no backup.
    let partial = dir.join("manifest.json.partial");
    {
        let mut f = private_file(&partial)?;
        serde_json::to_writer_pretty(&mut f, &manifest)?;
        std::io::Write::write_all(&mut f, b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&partial, dir.join(MANIFEST))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(manifest)
}

/// Reads and checks a backup: the manifest, and every checksum in it.
pub fn verify(dir: &Path) -> anyhow::Result<Manifest> {
    let bytes = std::fs::read(dir.join(MANIFEST))
        .with_context(|| format!("{} holds no backup (no {MANIFEST})", dir.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).with_context(|| format!("{MANIFEST} cannot be read"))?;
    if manifest.format != FORMAT {
        bail!(
            "the backup is in format {}; this portal reads format {FORMAT}",
            manifest.format
        );
    }
    let mut dump = BTreeMap::new();
    let main = if manifest.database == "sqlite" {
        SQLITE_FILE
    } else {
        POSTGRES_DIR
    };
    hash_tree(dir, main, &mut dump).with_context(|| format!("the dump {main} cannot be read"))?;
    if dump != manifest.dump {
        bail!(
            "the database dump does not match its checksums in {MANIFEST}: the backup is damaged"
        );
    }
    for f in &manifest.files {
        if f.key.is_empty()
            || !f
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!(
                "{MANIFEST} names a file {:?} that is not a storage key",
                f.key
            );
        }
        let (size, sha) = sha256_file(&dir.join(FILES_DIR).join(&f.key))
            .with_context(|| format!("file {} is missing from the backup", f.key))?;
        if size != f.size || sha != f.sha256 {
            bail!(
                "file {} does not match its checksum: the backup is damaged",
                f.key
            );
        }
    }
    Ok(manifest)
}

/// `portal restore DIR`: the manifest, and the restored database's contents.
pub async fn restore(config: &Config, dir: &Path) -> anyhow::Result<(Manifest, Contents)> {
    let kind = kind_of(&config.database_url)?;
    let manifest = verify(dir)?;
    if manifest.database != kind {
        bail!(
            "the backup is of a {} database; PORTAL_DATABASE_URL is {kind}: restore into the same kind",
            manifest.database
        );
    }
    let pg_restore = if kind == "postgres" {
        Some(need("pg_restore")?)
    } else {
        None
    };
    let files = crate::storage::file_store(config)?;
    let store = open(config).await?;
    let tables = store
        .table_count()
        .await
        .map_err(|e| anyhow!("cannot read the database: {e:?}"))?;
    if tables > 0 {
        store.close().await;
        bail!(
            "the database is not empty ({tables} tables): restore loads only into a new, empty \
             database (nothing was changed)"
        );
    }
    // The files first: a file no row names is harmless, a row without its file is not.
    let scratch = files.scratch_dir();
    tokio::fs::create_dir_all(&scratch).await?;
    for f in &manifest.files {
        let staged = scratch.join(format!("restore-{}", uuid::Uuid::new_v4()));
        {
            let mut from = tokio::fs::File::open(dir.join(FILES_DIR).join(&f.key)).await?;
            let mut to = tokio::fs::File::from_std(private_file(&staged)?);
            tokio::io::copy(&mut from, &mut to).await?;
            to.sync_all().await?;
        }
        let kept = files.put(&f.key, &staged).await;
        let _ = tokio::fs::remove_file(&staged).await;
        kept.with_context(|| format!("cannot put file {} into the file store", f.key))?;
    }
    let store = match &pg_restore {
        None => {
            let path = sqlite_path(&config.database_url)?;
            let path = path.as_path();
            store.close().await;
            let partial = path.with_extension("restoring");
            let _ = std::fs::remove_file(&partial);
            {
                let mut to = private_file(&partial)?;
                std::io::copy(&mut std::fs::File::open(dir.join(SQLITE_FILE))?, &mut to)?;
                to.sync_all()?;
            }
            for suffix in ["-wal", "-shm"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                match std::fs::remove_file(PathBuf::from(side)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            std::fs::rename(&partial, path)?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::File::open(parent)?.sync_all()?;
            }
            open(config).await?
        }
        Some(pg_restore) => {
            let from = dir.join(POSTGRES_DIR);
            let from = from
                .to_str()
                .ok_or_else(|| anyhow!("the backup directory is not UTF-8"))?;
            pg_tool(
                pg_restore,
                &[
                    "--exit-on-error",
                    "--single-transaction",
                    "--no-owner",
                    "--no-acl",
                    from,
                ],
                &config.database_url,
            )
            .await?;
            store
        }
    };
    let restored = store
        .contents()
        .await
        .map_err(|e| anyhow!("cannot read the restored database: {e:?}"))?;
    store.close().await;
    if restored.tables != manifest.tables {
        let differ: Vec<String> = manifest
            .tables
            .iter()
            .filter(|(t, n)| restored.tables.get(*t) != Some(n))
            .map(|(t, n)| {
                format!(
                    "{t}: {n} in the backup, {:?} restored",
                    restored.tables.get(t)
                )
            })
            .collect();
        bail!(
            "the restored row counts differ from the manifest: {}",
            differ.join("; ")
        );
    }
    // The files the restored rows name are exactly those the manifest lists
    // (and restore put back): no row without its file.
    let named: Vec<FileEntry> = restored
        .files
        .iter()
        .map(|f| FileEntry {
            key: f.key.clone(),
            size: u64::try_from(f.size).unwrap_or(0),
            sha256: hex::encode(&f.sha256),
        })
        .collect();
    let mut listed = manifest.files.clone();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    if named != listed {
        bail!(
            "the restored database names {} files, the manifest lists {}: they differ",
            named.len(),
            listed.len()
        );
    }
    Ok((manifest, restored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_reaches_the_command_line() {
        assert_eq!(
            libpq_target("postgres://portal:s%40cret@db.example:5432/portal?sslmode=require"),
            (
                "postgres://portal@db.example:5432/portal?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            libpq_target("postgres://postgres@127.0.0.1/p"),
            ("postgres://postgres@127.0.0.1/p".to_owned(), None)
        );
    }
}
