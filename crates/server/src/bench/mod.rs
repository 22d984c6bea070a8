//! `portal bench` (docs/performance.md): builds a dataset with `portal
//! bench-data`, starts `portal serve` on it, measures every scenario at each
//! concurrency beside `/healthz` in the same run, then memory, start-up and the
//! legacy import, and prints one table.
//!
//! The portal runs as its own process (this same program), so its memory and
//! start-up are the real ones and the load generator's are not counted.

mod csv_check;
mod load;
mod report;
mod scenarios;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::bench_data::{Manifest, Scale};
use hyper::StatusCode;

use load::{Call, Client, Once, expect, measure};
use report::{CsvCheck, Import, Report, Row};
use scenarios::{AuditPage, Healthz, Mailbox, Me, RoleChange, Search, SignIn, UsersPage};

/// What to measure, and where.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Providers in the dataset.
    #[arg(long, default_value_t = 1_000)]
    pub providers: usize,
    /// Users in the dataset, spread over the providers.
    #[arg(long, default_value_t = 50_000)]
    pub users: usize,
    /// Live sessions in the dataset; each is used once for the memory figure.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// Rows of audit trail in the dataset.
    #[arg(long, default_value_t = 100_000)]
    pub audit_events: usize,
    /// Seed of the dataset's generator: the same seed, the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Users in the legacy import measured at the end (default: --users; 0: none).
    #[arg(long)]
    pub import_users: Option<usize>,
    /// Rows of the generated CSV (about 100 bytes each) that the data-return
    /// check reads, in this process (0: not run). Runs unless `--only`
    /// excludes "CSV check".
    #[arg(long, default_value_t = 1_000_000)]
    pub check_rows: u64,
    /// Seconds each scenario runs at each concurrency.
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    pub seconds: f64,
    /// Concurrencies (connections), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 32], value_parser = at_least_one)]
    pub connections: Vec<usize>,
    /// Run only the scenarios whose name contains this (e.g. `me`, to profile
    /// one); `/healthz` always runs. Memory, sessions and import still run.
    #[arg(long)]
    pub only: Option<String>,
    /// A PostgreSQL server (`postgres://user@host:port/db`): the benchmark
    /// creates its own databases there, `portal_bench_<pid>` and
    /// `portal_bench_<pid>_import`, and drops them at the end. Default: SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Where the SQLite files, uploads and mail capture go (default: a
    /// temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `--seconds`: a time that can be measured over (not zero, NaN or infinite).
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(x),
        _ => Err("give the seconds as a number above 0, at most 86400, like 5 or 0.5".into()),
    }
}

/// `--connections`: each at least one.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("give each number of connections as a whole number from 1, like 1,32".into()),
    }
}

/// Runs the whole benchmark with `portal` (this program) at `exe`.
pub async fn run(args: &BenchArgs, exe: &Path) -> anyhow::Result<bool> {
    let temp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("portal-bench").tempdir()?;
            temp.path().to_owned()
        }
    };
    let scale = Scale {
        providers: args.providers,
        users: args.users,
        sessions: args.sessions,
        audit_events: args.audit_events,
        seed: args.seed,
    };
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let heading = format!(
        "portal bench: {backend}, {} providers, {} users, {} sessions, {} audit rows, seed {}, \
         {} s per scenario, {} cores",
        scale.providers,
        scale.users,
        scale.sessions,
        scale.audit_events,
        scale.seed,
        args.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );

    // The dataset.
    let data_name = format!("portal_bench_{}", std::process::id());
    let import_name = format!("{data_name}_import");
    let data_url = database(args, &dir, &data_name, "bench.db").await?;
    let manifest_path = dir.join("manifest.json");
    let env = Env {
        database_url: data_url,
        dir: dir.clone(),
    };
    let t = Instant::now();
    let out = env
        .command(exe)
        .args(["bench-data", "--manifest"])
        .arg(&manifest_path)
        .args(scale_args(&scale))
        .output()?;
    check(&out, "portal bench-data")?;
    let dataset_built_in = t.elapsed();
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path)?)?;

    // The server, from process start to ready.
    let addr = free_address()?;
    let started = Instant::now();
    let mut server = Server(
        env.command(exe)
            .arg("serve")
            .env("PORTAL_LISTEN", addr.to_string())
            .stdout(Stdio::null())
            .spawn()?,
    );
    wait_ready(addr, &mut server.0).await?;
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kb(server.0.id())?;

    let mailbox = Arc::new(Mailbox::default());
    mailbox.follow(dir.join("mail.jsonl"));
    let targets = role_change_targets(addr, &manifest).await?;
    let mut search_tokens = manifest.other_admins_api.clone();
    search_tokens.push(manifest.big_provider_admin_api.clone());
    let sign_ins = Arc::new(Once::new(manifest.sign_in_emails.clone()));
    let duration = Duration::from_secs_f64(args.seconds);

    let mut rows: Vec<Row> = Vec::new();
    let mut failed = false;
    for &c in &args.connections {
        let baseline = measure(addr, Arc::new(Healthz), c, duration).await?;
        let only = args.only.clone();
        let wanted = move |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
        let mut add = |name: &'static str, m, baseline| {
            let row = Row::beside(name, c, m, baseline);
            failed |= row.m.errors > 0;
            rows.push(row);
        };
        let base = &baseline;
        let sign_in = SignIn {
            emails: sign_ins.clone(),
            mailbox: mailbox.clone(),
        };
        if wanted("passcode sign-in (code + verify)") {
            let m = measure(addr, Arc::new(sign_in), c, duration).await?;
            add("passcode sign-in (code + verify)", m, base);
        }
        let page = UsersPage {
            cookie: "portal_session".into(),
            token: manifest.big_provider_admin_web.clone(),
        };
        if wanted("User management page (500 users)") {
            let m = measure(addr, Arc::new(page), c, duration).await?;
            add("User management page (500 users)", m, base);
        }
        let search = Search {
            tokens: search_tokens.clone(),
            terms: manifest.search_terms.clone(),
        };
        if wanted("GET /api/v1/users?q=") {
            let m = measure(addr, Arc::new(search), c, duration).await?;
            add("GET /api/v1/users?q=", m, base);
        }
        let audit = AuditPage {
            token: manifest.big_provider_admin_api.clone(),
        };
        if wanted("GET /api/v1/audit?action= (biggest provider)") {
            let m = measure(addr, Arc::new(audit), c, duration).await?;
            add("GET /api/v1/audit?action= (biggest provider)", m, base);
        }
        let change = RoleChange {
            token: manifest.big_provider_admin_api.clone(),
            targets: targets.clone(),
        };
        if wanted("PUT /api/v1/users/{id}/roles") {
            let m = measure(addr, Arc::new(change), c, duration).await?;
            add("PUT /api/v1/users/{id}/roles", m, base);
        }
        let me = Me {
            tokens: Arc::new(vec![manifest.big_provider_admin_api.clone()]),
            once: None,
        };
        if wanted("GET /api/v1/me") {
            let m = measure(addr, Arc::new(me), c, duration).await?;
            add("GET /api/v1/me", m, base);
        }
        add("GET /healthz (baseline)", baseline.clone(), base);
    }
    let rss_loaded = rss_kb(server.0.id())?;

    // Every generated session used once, at the highest concurrency.
    let sessions = Me {
        once: Some(Once::new((0..manifest.session_tokens.len()).collect())),
        tokens: Arc::new(manifest.session_tokens.clone()),
    };
    let most = args.connections.iter().copied().max().unwrap_or(1);
    let m = measure(addr, Arc::new(sessions), most, Duration::from_secs(3600)).await?;
    failed |= m.errors > 0;
    let sessions_used = m.completed;
    let rss_sessions = rss_kb(server.0.id())?;
    rows.push(Row::alone(
        "GET /api/v1/me, each live session once",
        most,
        m,
    ));
    drop(server);

    // The legacy import, into a new database.
    let import_users = args.import_users.unwrap_or(args.users);
    let import = if import_users == 0 {
        Import::NotRun
    } else {
        let (took, said) =
            legacy_import(args, &scale, import_users, &dir, &import_name, exe).await?;
        Import::Ran {
            users: import_users,
            took,
            said,
        }
    };
    if let Some(url) = &args.database_url {
        for name in [&data_name, &import_name] {
            drop_database(url, name).await?;
        }
    }

    // The data-return check of a generated CSV, in this process.
    let check_wanted = args.only.as_deref().is_none_or(|o| "CSV check".contains(o));
    let csv_check = if args.check_rows == 0 || !check_wanted {
        CsvCheck::NotRun
    } else {
        let file = csv_check::generate(args.check_rows);
        let m = csv_check::run(&file);
        // The file's last row has its one error: any other count means the
        // checker, not the figure, is wrong.
        if (m.rows, m.errors, m.warnings) != (args.check_rows, 1, 0) {
            failed = true;
            eprintln!(
                "portal bench: the CSV check found {} rows, {} errors, {} warnings \
                 (expected {}, 1, 0)",
                m.rows, m.errors, m.warnings, args.check_rows
            );
        }
        CsvCheck::Ran {
            rows: m.rows,
            bytes: m.bytes,
            took: m.took,
        }
    };

    let report = Report {
        heading,
        dataset_built_in,
        rows,
        ready_in: ready,
        rss_idle_kb: rss_idle,
        rss_loaded_kb: rss_loaded,
        sessions_used,
        rss_sessions_kb: rss_sessions,
        import,
        csv_check,
    };
    print!("{}", report.render());
    if failed {
        eprintln!("portal bench: some requests failed; the figures above are not valid");
    }
    Ok(!failed)
}

/// Times `portal import-legacy` of `users` generated users into a new database.
async fn legacy_import(
    args: &BenchArgs,
    scale: &Scale,
    users: usize,
    dir: &Path,
    import_name: &str,
    exe: &Path,
) -> anyhow::Result<(Duration, String)> {
    let import_scale = Scale {
        users,
        providers: (users / 50).max(1),
        ..*scale
    };
    let csv = dir.join("import.csv");
    std::fs::write(&csv, app::bench_data::legacy_export(&import_scale))?;
    let import_env = Env {
        database_url: database(args, dir, import_name, "import.db").await?,
        dir: dir.to_owned(),
    };
    check(
        &import_env.command(exe).arg("migrate").output()?,
        "portal migrate",
    )?;
    let t = Instant::now();
    let out = import_env
        .command(exe)
        .arg("import-legacy")
        .arg(&csv)
        .output()?;
    let took = t.elapsed();
    check(&out, "portal import-legacy")?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((took, said))
}

/// The settings every `portal` process of the run gets.
struct Env {
    database_url: String,
    dir: PathBuf,
}

impl Env {
    fn command(&self, exe: &Path) -> Command {
        let mut c = Command::new(exe);
        c.env("PORTAL_DATABASE_URL", &self.database_url)
            .env("PORTAL_ENV", "development")
            .env("PORTAL_DEMO", "false")
            .env("PORTAL_FILES_DIR", self.dir.join("files"))
            .env("PORTAL_MAIL_CAPTURE", self.dir.join("mail.jsonl"))
            .env("PORTAL_LOG", "warn")
            // One client address makes every request: without this the
            // per-address sign-in limit, not the portal, would be measured.
            .env("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "1000000000")
            .env_remove("PORTAL_CONFIG")
            .env_remove("PORTAL_LISTEN")
            .env_remove("PORTAL_SMTP_URL")
            .env_remove("PORTAL_MAIL_DIR")
            .stdin(Stdio::null());
        c
    }
}

fn scale_args(scale: &Scale) -> Vec<String> {
    vec![
        format!("--providers={}", scale.providers),
        format!("--users={}", scale.users),
        format!("--sessions={}", scale.sessions),
        format!("--audit-events={}", scale.audit_events),
        format!("--seed={}", scale.seed),
    ]
}

/// A new, empty database: a SQLite file in `dir`, or `name` on the given
/// PostgreSQL server (dropped first if it exists).
async fn database(args: &BenchArgs, dir: &Path, name: &str, file: &str) -> anyhow::Result<String> {
    match &args.database_url {
        None => {
            let path = dir.join(file);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            Ok(format!("sqlite://{}", path.display()))
        }
        Some(url) => {
            drop_database(url, name).await?;
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            let (base, query) = url.split_once('?').unwrap_or((url, ""));
            let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            Ok(format!("{server}/{name}{query}"))
        }
    }
}

async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL at {url}: {e}"))?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

fn check(out: &std::process::Output, what: &str) -> anyhow::Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

fn free_address() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// The server process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("portal serve exited before it was ready: {status}");
        }
        if let Ok(mut c) = Client::connect(addr).await
            && let Ok(a) = c.send(&Call::get("/readyz")).await
            && a.status == StatusCode::OK
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("portal serve was not ready within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Resident memory of a process, in KiB.
fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))
}

/// The big provider's users the role-change scenario may change, read
/// through the API as its administrator.
async fn role_change_targets(
    addr: SocketAddr,
    manifest: &Manifest,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut client = Client::connect(addr).await?;
    let mut users = Vec::new();
    for page in 1.. {
        let a = client
            .send(
                &Call::get(format!("/api/v1/users?per_page=100&page={page}"))
                    .bearer(&manifest.big_provider_admin_api),
            )
            .await?;
        expect(&a, StatusCode::OK, "listing the big provider's users")?;
        let body: serde_json::Value = serde_json::from_slice(&a.body)?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        users.extend(items);
    }
    Ok(RoleChange::targets(&users))
}
