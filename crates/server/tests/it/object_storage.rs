//! Object storage (issue 14): the real `portal serve` keeping uploaded files in
//! a real S3-compatible server (moto, which `.ci/run` installs), streaming both
//! ways with memory bounded, content checks unchanged; and a backup read from
//! the bucket restored into another bucket.
//!
//! Also the harness the backup tests share: a `portal` with its settings, a
//! serving `portal` process, and sign-in with the code from its `.eml` files.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};
use sha2::Digest;

use crate::cli::{code_from_eml, portal, run};
use crate::process::{free_port, serve_ready};

/// The settings every `portal` command of one test runs with.
#[derive(Clone, Default)]
pub(crate) struct Settings(pub Vec<(String, String)>);

impl Settings {
    pub fn with(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.retain(|(key, _)| key != k);
        self.0
            .push((k.to_owned(), v.as_ref().to_string_lossy().into_owned()));
        self
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut c = portal();
        c.envs(self.0.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `portal ARGS`; (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = self.command();
        c.args(args);
        run(c).await
    }

    /// Runs `portal ARGS`, which must succeed; its last line of output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, 0, "portal {args:?}: {err}");
        out.lines().last().unwrap_or_default().trim().to_owned()
    }

    /// `portal serve` on a free port, mail to `mail`.
    pub async fn serve(&self, mail: &Path) -> Served {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let c = self
            .clone()
            .with("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
            .with("PORTAL_MAIL_DIR", mail)
            .command();
        let http = reqwest::Client::new();
        let child = serve_ready(c, Stdio::inherit(), &http, &base).await;
        Served {
            pid: child.id().unwrap(),
            _child: child,
            base,
            mail: mail.to_owned(),
            http,
        }
    }
}

/// A `portal serve` process.
pub(crate) struct Served {
    _child: tokio::process::Child,
    pub pid: u32,
    pub base: String,
    pub mail: PathBuf,
    pub http: reqwest::Client,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs `email` in with the code from its `.eml`; the bearer token.
    pub async fn sign_in(&self, email: &str) -> String {
        let code = code_from_eml(&self.mail, email);
        crate::process::sign_in(&self.http, &self.base, email, code).await
    }

    /// A HESES window open from an hour ago to a day ahead; its id.
    pub async fn open_window(&self, admin: &str) -> String {
        let at = |h: i64| {
            (time::OffsetDateTime::now_utc() + time::Duration::hours(h))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let r = self
            .http
            .post(self.url("/api/v1/collections"))
            .bearer_auth(admin)
            .json(
                &json!({"area": "heses", "name": "HESES", "opens_at": at(-1), "closes_at": at(24),
                          "file_types": ["csv", "xlsx"]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let w: Value = r.json().await.unwrap();
        w["id"].as_str().unwrap().to_owned()
    }

    /// Uploads `body` as `name`; (status, answer).
    pub async fn upload(
        &self,
        token: &str,
        window: &str,
        name: &str,
        body: reqwest::Body,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::stream(body).file_name(name.to_owned()),
        );
        let r = self
            .http
            .post(self.url(&format!("/api/v1/collections/{window}/submissions")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Downloads a submission's file, streaming; (size, sha256 hex).
    pub async fn download(&self, token: &str, submission: &str) -> (u64, String) {
        let mut r = self
            .http
            .get(self.url(&format!("/api/v1/submissions/{submission}/file")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = r.chunk().await.unwrap() {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        (size, hex::encode(hasher.finalize()))
    }

    /// The peak resident memory of the process so far, in bytes.
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }
}

/// A real S3-compatible server (moto) on a free port, with an empty bucket.
pub(crate) use testkit::s3::Moto;

/// `s` pointing a portal at `moto`.
fn with_moto(moto: &Moto, s: Settings) -> Settings {
    moto.env().iter().fold(s, |s, (k, v)| s.with(k, v))
}

/// A CSV of `rows` lines, generated as it is sent (never whole in this process).
pub(crate) fn csv_stream(rows: u64) -> reqwest::Body {
    let lines = futures_util::stream::iter((0..rows / 1000 + 1).map(move |block| {
        let mut s = String::with_capacity(64 * 1000);
        if block == 0 {
            s.push_str("ukprn,row,padding\n");
        }
        for i in block * 1000..((block + 1) * 1000).min(rows) {
            s.push_str(&format!("10000801,{i:>10},{}\n", "x".repeat(40)));
        }
        Ok::<_, std::io::Error>(s)
    }));
    reqwest::Body::wrap_stream(lines)
}

/// The portal's world for these tests (made by [`World::create`]): a
/// regulator admin and a HESES officer; a provider's Portal Administrator and
/// HESES contributor.
pub(crate) const ADMIN: &str = "rita@ofs.example.org";
pub(crate) const OFFICER: &str = "oscar@ofs.example.org";
pub(crate) const PA: &str = "pat@provider.example.ac.uk";
pub(crate) const CONTRIBUTOR: &str = "hana@provider.example.ac.uk";

// On SQLite: the database does not matter to the file store (the backup
// tests run on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_files_live_in_s3_streaming_both_ways_with_memory_bounded() {
    let bucket = "portal-files";
    let Some(moto) = Moto::start(bucket).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    let s = with_moto(
        &moto,
        Settings::default()
            .with(
                "PORTAL_DATABASE_URL",
                format!("sqlite://{}/portal.db", dir.path().display()),
            )
            .with("PORTAL_FILES_URL", format!("s3://{bucket}/portal"))
            .with("PORTAL_FILES_DIR", &scratch)
            .with("PORTAL_DEMO", "false")
            .with("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "100000"),
    );
    World::create(&s).await;
    let served = s.serve(&dir.path().join("mail")).await;
    let admin = served.sign_in(ADMIN).await;
    let officer = served.sign_in(OFFICER).await;
    let contributor = served.sign_in(CONTRIBUTOR).await;
    let window = served.open_window(&admin).await;

    // A small return: uploaded, kept in the bucket, downloaded byte-identical.
    let small = b"ukprn,students\n10000801,1234\n".to_vec();
    let (status, a) = served
        .upload(&contributor, &window, "heses.csv", small.clone().into())
        .await;
    assert_eq!(status, 201, "{a}");
    let (size, sha) = served.download(&officer, a["id"].as_str().unwrap()).await;
    assert_eq!(size, small.len() as u64);
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&small)));
    assert_eq!(a["sha256"], sha);
    // Content checks are unchanged: a program named .csv is refused, and nothing is kept.
    let (status, refused) = served
        .upload(
            &contributor,
            &window,
            "returns.csv",
            b"\x7fELF\x02\x01\x01\x00binary".to_vec().into(),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(moto.keys(bucket, "portal").await.len(), 1);

    // A 90 MB return goes up in parts and comes back as a stream: the
    // portal's peak memory grows by far less than the file.
    let before = served.peak_memory();
    let rows: u64 = 1_550_000;
    let (status, big) = served
        .upload(&contributor, &window, "big.csv", csv_stream(rows))
        .await;
    assert_eq!(status, 201, "{big}");
    let after_upload = served.peak_memory().saturating_sub(before);
    let big_size = big["size"].as_u64();
    let (size, sha) = served.download(&officer, big["id"].as_str().unwrap()).await;
    assert!(size > 90 << 20, "{size}");
    if let Some(n) = big_size {
        assert_eq!(n, size);
    }
    assert_eq!(big["sha256"], sha, "the big file came back different");
    let grown = served.peak_memory().saturating_sub(before);
    eprintln!(
        "S3: a {size}-byte file up and down; peak memory grew by {after_upload} bytes up, \
         {grown} bytes in all"
    );
    assert!(
        grown < 48 << 20,
        "peak memory grew by {grown} bytes for a {size}-byte file"
    );
    let keys = moto.keys(bucket, "portal").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Only the scratch directory is local, and it is empty again.
    assert!(!scratch.join("objects").exists());
    let left = std::fs::read_dir(scratch.join("incoming"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "scratch files were left behind");

    // A backup reads the files from the bucket; restored into a new database
    // and another prefix, the files download byte-identical from there.
    let backup = dir.path().join("backup");
    s.ok(&["backup", backup.to_str().unwrap()]).await;
    drop(served);
    let restored = s
        .clone()
        .with(
            "PORTAL_DATABASE_URL",
            format!("sqlite://{}/restored.db", dir.path().display()),
        )
        .with("PORTAL_FILES_URL", format!("s3://{bucket}/restored"));
    restored.ok(&["restore", backup.to_str().unwrap()]).await;
    assert_eq!(moto.keys(bucket, "restored").await.len(), 2);
    let served = restored.serve(&dir.path().join("mail2")).await;
    let officer = served.sign_in(OFFICER).await;
    assert_eq!(
        served
            .download(&officer, big["id"].as_str().unwrap())
            .await
            .1,
        sha
    );
}

/// The users of this world, made with the operator CLI.
pub(crate) struct World;

impl World {
    pub async fn create(s: &Settings) -> Self {
        s.ok(&["migrate"]).await;
        let regulator = s
            .ok(&[
                "org",
                "create",
                "--name",
                "Office for Students",
                "--kind",
                "regulator",
            ])
            .await;
        s.ok(&[
            "org",
            "create",
            "--name",
            "University of Backups",
            "--kind",
            "provider",
            "--ukprn",
            "10000801",
        ])
        .await;
        for (email, org, role) in [
            (ADMIN, regulator.as_str(), "regulator-admin"),
            (OFFICER, regulator.as_str(), "regulator-officer:heses"),
            (PA, "10000801", "portal-admin"),
            (CONTRIBUTOR, "10000801", "data-collection-contributor:heses"),
        ] {
            s.ok(&[
                "user",
                "create",
                "--org",
                org,
                "--email",
                email,
                "--first-name",
                "Test",
                "--last-name",
                "Person",
                "--role",
                role,
            ])
            .await;
        }
        World
    }
}
