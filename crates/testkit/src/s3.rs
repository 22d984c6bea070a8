//! A real S3-compatible server for tests: moto (`moto_server`, from PyPI, which
//! `.ci/run` installs), on a free port, with one bucket.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use app::files::ObjectFileStore;

pub struct Moto {
    _child: tokio::process::Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts a server with `bucket` made. `None` (the test is skipped, saying
    /// so) where `moto_server` is missing outside CI; with `CI=true` its
    /// absence fails the test.
    pub async fn start(bucket: &str) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = tokio::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let missing = || {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true: moto_server must be available (pip install 'moto[server]')");
            }
            eprintln!("moto_server not available: S3 object storage not tested here");
            None
        };
        let Ok(mut child) = child else {
            return missing();
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.put(format!("{endpoint}/{bucket}")).send().await {
                assert!(
                    r.status().is_success(),
                    "cannot create the bucket: {}",
                    r.status()
                );
                return Some(Self {
                    _child: child,
                    endpoint,
                });
            }
            if child.try_wait().ok().flatten().is_some() {
                return missing();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    /// The `AWS_*` settings that point a `portal` process at this server.
    pub fn env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A file store on `s3://bucket/prefix` of this server, for an in-process
    /// portal, receiving uploads in `scratch`.
    pub fn file_store(&self, bucket: &str, prefix: &str, scratch: &Path) -> Arc<ObjectFileStore> {
        let options = [
            ("aws_endpoint", self.endpoint.as_str()),
            ("allow_http", "true"),
            ("aws_access_key_id", "testing"),
            ("aws_secret_access_key", "testing"),
            ("aws_region", "us-east-1"),
        ];
        let url = format!("s3://{bucket}/{prefix}");
        let store = ObjectFileStore::from_url(&url, scratch, &options)
            .unwrap_or_else(|e| panic!("cannot use {url}: {e}"));
        Arc::new(store)
    }

    /// The keys under `prefix/` in `bucket`.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let xml = reqwest::get(format!(
            "{}/{bucket}?list-type=2&prefix={prefix}/",
            self.endpoint
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot list the bucket: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("cannot list the bucket: {e}"));
        xml.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}
