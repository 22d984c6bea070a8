//! Builds the front-end assets that `src/assets.rs` embeds in the binary.
//!
//! * `$OUT_DIR/portal.css`: `frontend/src/portal.scss` compiled by Dart Sass
//!   (govuk-frontend configured for a service that is not on GOV.UK).
//! * `$OUT_DIR/govuk-frontend.min.js`: govuk-frontend's ES module bundle.
//!
//! Both come from `frontend/node_modules`, which this script creates with
//! `npm ci` when it is missing or does not match `frontend/package-lock.json`,
//! so a fresh clone builds with nothing but Node.js 20+ and npm installed.
//! Nothing third-party or compiled is ever written into the source tree.
//!
//! Cargo reruns this only when `frontend/src`, the npm manifests or this file
//! change, so an ordinary rebuild costs nothing.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The npm packages whose installed version must match the lock file.
const LOCKED_PACKAGES: [&str; 2] = ["govuk-frontend", "sass"];

/// The oldest Node.js major version the toolchain is known to work with.
const MIN_NODE_MAJOR: u32 = 20;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../frontend/src");
    println!("cargo:rerun-if-changed=../../frontend/package.json");
    println!("cargo:rerun-if-changed=../../frontend/package-lock.json");

    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env_var("OUT_DIR"));
    let frontend = manifest_dir.join("../../frontend");
    let frontend = frontend.canonicalize().unwrap_or_else(|err| {
        fail(&format!(
            "cannot find the front-end directory {}: {err}",
            frontend.display()
        ))
    });

    check_node();
    ensure_node_modules(&frontend);
    compile_css(&frontend, &out_dir.join("portal.css"));
    copy_govuk_js(&frontend, &out_dir.join("govuk-frontend.min.js"));
}

/// Runs `npm ci` unless `node_modules` already holds the locked versions.
fn ensure_node_modules(frontend: &Path) {
    if installed_matches_lock(frontend) {
        return;
    }
    // Two builds (say `cargo test` and an editor's `cargo check` with another
    // target directory) must not run `npm ci` in the same folder at once.
    let _lock = InstallLock::acquire(frontend);
    if installed_matches_lock(frontend) {
        return;
    }
    // Not a cargo:warning: cargo would replay it on every later build.
    eprintln!(
        "installing front-end packages: npm ci in {}",
        frontend.display()
    );
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let output = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(frontend)
        .output()
        .unwrap_or_else(|err| {
            fail(&format!(
                "could not run `npm` ({err}). Install Node.js {MIN_NODE_MAJOR}+ and npm, \
                 then build again (the GOV.UK Frontend styles are compiled from npm packages)."
            ))
        });
    expect_success("npm ci --no-audit --no-fund", &output);
    if !installed_matches_lock(frontend) {
        fail(
            "`npm ci` finished but frontend/node_modules still does not match \
             frontend/package-lock.json",
        );
    }
}

/// True when the sass executable exists and every package of
/// [`LOCKED_PACKAGES`] is installed at the version in `package-lock.json`.
fn installed_matches_lock(frontend: &Path) -> bool {
    if !sass_bin(frontend).is_file() {
        return false;
    }
    let lock = read_json(&frontend.join("package-lock.json"));
    LOCKED_PACKAGES.iter().all(|name| {
        let key = format!("node_modules/{name}");
        let locked = lock["packages"][key.as_str()]["version"].as_str();
        let manifest = frontend
            .join("node_modules")
            .join(name)
            .join("package.json");
        let installed = fs::read(&manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        let installed = installed.as_ref().and_then(|m| m["version"].as_str());
        match locked {
            Some(locked) => installed == Some(locked),
            None => fail(&format!(
                "frontend/package-lock.json has no entry for {name}; run `npm install` in frontend/"
            )),
        }
    })
}

fn compile_css(frontend: &Path, target: &Path) {
    let output = Command::new(sass_bin(frontend))
        .args([
            "--pkg-importer=node",
            "--no-source-map",
            "--style=compressed",
            "src/portal.scss",
        ])
        .arg(target)
        .current_dir(frontend)
        .output()
        .unwrap_or_else(|err| {
            fail(&format!(
                "could not run frontend/node_modules/.bin/sass ({err}). \
                 Install Node.js {MIN_NODE_MAJOR}+ and npm."
            ))
        });
    expect_success("sass src/portal.scss", &output);
    // Sass deprecation warnings and `@warn`s: show them, they matter on upgrades.
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        if !line.trim().is_empty() {
            println!("cargo:warning=sass: {line}");
        }
    }
}

fn copy_govuk_js(frontend: &Path, target: &Path) {
    let source = frontend.join("node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js");
    let js = fs::read_to_string(&source)
        .unwrap_or_else(|err| fail(&format!("cannot read {}: {err}", source.display())));
    // The source map is not served: drop the comment pointing at it so that
    // browser developer tools do not ask for it and log a 404.
    let js = match js.rfind("//# sourceMappingURL=") {
        Some(at) => js[..at].trim_end(),
        None => js.as_str(),
    };
    write_if_changed(target, js.as_bytes());
}

/// Fails early, with the fix, when Node.js is missing or too old: the sass
/// executable is a Node.js script and would otherwise fail obscurely.
fn check_node() {
    let output = Command::new("node").arg("--version").output();
    let version = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        Ok(_) | Err(_) => fail(&format!(
            "`node --version` failed: install Node.js {MIN_NODE_MAJOR}+ and npm, then build again \
             (the GOV.UK Frontend styles are compiled from npm packages)."
        )),
    };
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    if major.is_none_or(|major| major < MIN_NODE_MAJOR) {
        fail(&format!(
            "Node.js {version} is too old: install Node.js {MIN_NODE_MAJOR}+ and npm."
        ));
    }
}

fn sass_bin(frontend: &Path) -> PathBuf {
    let name = if cfg!(windows) { "sass.cmd" } else { "sass" };
    frontend.join("node_modules/.bin").join(name)
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path)
        .unwrap_or_else(|err| fail(&format!("cannot read {}: {err}", path.display())));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|err| fail(&format!("{} is not valid JSON: {err}", path.display())))
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    fs::write(path, bytes)
        .unwrap_or_else(|err| fail(&format!("cannot write {}: {err}", path.display())));
}

fn expect_success(what: &str, output: &Output) {
    if !output.status.success() {
        fail(&format!(
            "`{what}` failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

fn env_var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

/// A lock file in the system temporary directory, one per front-end folder,
/// held while `npm ci` runs and released when dropped.
struct InstallLock(Option<fs::File>);

impl InstallLock {
    fn acquire(frontend: &Path) -> Self {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        frontend.hash(&mut hasher);
        let path = env::temp_dir().join(format!(
            "provider-portal-npm-ci-{:016x}.lock",
            hasher.finish()
        ));
        // Locking is best effort: without it we are no worse off than plain npm.
        let file = fs::File::create(&path)
            .ok()
            .filter(|file| file.lock().is_ok());
        Self(file)
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        if let Some(file) = &self.0 {
            let _ = file.unlock();
        }
    }
}

fn fail(message: &str) -> ! {
    // A build script reports errors by panicking; keep the message readable.
    panic!("\n\nweb/build.rs: {message}\n\n")
}
