//! A real browser for tests: Debian's Chromium driven through ChromeDriver
//! (WebDriver), with axe-core (npm, pinned in `frontend/`) checking pages.
//!
//! Where ChromeDriver is missing, [`Chrome::start`] gives `None` so the test
//! reports itself as not run, except with `CI=true`, where it fails.

use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The WCAG levels every page must meet.
pub const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"];

pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Chrome {
    /// Starts headless Chromium, with JavaScript on or off.
    pub async fn start(javascript: bool) -> Option<Self> {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(driver_path) = driver_path else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "CI=true but chromedriver is missing (apt-get install chromium chromium-driver)"
                );
            }
            eprintln!("chromedriver not installed: real-browser test not run");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut prefs = json!({});
        if !javascript {
            prefs = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": prefs,
            }
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = String::new();
        for _ in 0..50 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(e) => last_err = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("cannot start Chromium through chromedriver: {last_err}");
    }

    /// Runs axe-core on the current page; returns one line per violation.
    pub async fn axe(&self) -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../frontend/node_modules/axe-core/axe.min.js"
        );
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{path}: {e} (run `npm ci` in frontend/, or `cargo build`)")
        });
        self.client
            .execute(&source, vec![])
            .await
            .expect("axe-core loads");
        let result = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })
                     .then(r => done(r.violations.map(v =>
                        v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                        v.nodes.map(n => n.target.join(' ')).join(', '))))
                     .catch(e => done(['axe failed: ' + e]));"#,
                vec![json!(AXE_TAGS)],
            )
            .await
            .expect("axe-core runs");
        serde_json::from_value(result).expect("a list of violations")
    }
}
