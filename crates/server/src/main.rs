//! `portal`: the Provider Portal server and its operator commands (API.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use app::admin::{OrganisationInput, UserInput};
use app::legacy_import::{ImportError, Progress};
use app::{AppError, RequestMeta, SystemClock};
use clap::{Parser, Subcommand};
use server::{Config, Portal};

/// mimalloc instead of the C library's allocator: requests allocate from
/// every thread, and glibc's arenas showed as a sixth of a page's cost in the
/// benchmark's profile (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "portal",
    version,
    about = "Provider Portal: the regulator's secure portal for providers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server and the email worker (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Load demonstration data into an empty database.
    Demo,
    /// Issue access keys (seed 000): the secret a head of provider receives
    /// by post, which gives one role at one provider.
    #[command(subcommand, name = "access-key")]
    AccessKey(AccessKeyCommand),
    /// Create organisations: providers and the regulator.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Create users, such as a provider's first Portal Administrator.
    #[command(subcommand)]
    User(UserCommand),
    /// Check and export the audit trail, and keep its hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Fill a new, empty database with a benchmark dataset (docs/performance.md):
    /// the same for the same seed. Never in production.
    BenchData {
        /// Providers in the dataset.
        #[arg(long, default_value_t = 1_000)]
        providers: usize,
        /// Users in the dataset, spread over the providers.
        #[arg(long, default_value_t = 50_000)]
        users: usize,
        /// Live sessions in the dataset (their tokens go into the manifest).
        #[arg(long, default_value_t = 100_000)]
        sessions: usize,
        /// Rows of audit trail in the dataset.
        #[arg(long, default_value_t = 100_000)]
        audit_events: usize,
        /// Seed of the generator: the same seed, the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write what the load harness needs (it holds session tokens).
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Build a benchmark dataset, run the portal on it and measure it under
    /// load, beside /healthz in the same run (docs/performance.md).
    Bench(server::bench::BenchArgs),
    /// Write a consistent copy of the database and of every uploaded file it
    /// names into DIR (new or empty; created 0700), with a manifest of counts
    /// and checksums, while the portal serves. PostgreSQL needs pg_dump on PATH.
    Backup {
        /// The directory to write the backup into: new, or empty.
        dir: PathBuf,
    },
    /// Load a backup into an empty database of the same kind and put its files
    /// into the configured file store, after checking every checksum; the row
    /// counts are then checked against the manifest. PostgreSQL needs pg_restore.
    Restore {
        /// The directory `portal backup` wrote.
        dir: PathBuf,
    },
    /// Import the old portal's users, areas and memberships from its CSV export
    /// (docs/legacy-import.md). All or nothing; running it again changes nothing.
    ImportLegacy {
        /// The export: UTF-8 CSV with a header row.
        file: PathBuf,
        /// Queue a welcome email to each user created.
        #[arg(long)]
        notify: bool,
    },
}

#[derive(Subcommand)]
enum AccessKeyCommand {
    /// Issue an access key for one role at one provider; prints the key (shown
    /// this once).
    Issue {
        /// The provider's id or UKPRN.
        #[arg(long)]
        org: String,
        /// A provider role id, e.g. portal-admin or area-member:financial-sustainability.
        #[arg(long)]
        role: String,
        /// How many people may activate the key.
        #[arg(long, default_value_t = 1)]
        max_uses: i64,
        /// Days until the key expires (at most 366).
        #[arg(long, default_value_t = 30)]
        expires_in_days: i64,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id.
    Create {
        /// The organisation's name, as its users will see it.
        #[arg(long)]
        name: String,
        /// provider or regulator
        #[arg(long)]
        kind: String,
        /// A provider's UK Provider Reference Number: 8 digits.
        #[arg(long)]
        ukprn: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (e.g. a provider's first Portal Administrator) and queue
    /// their welcome email; prints the new id.
    Create {
        /// The organisation's id or UKPRN.
        #[arg(long)]
        org: String,
        /// Their email address: the welcome email and sign-in codes go there.
        #[arg(long)]
        email: String,
        /// Their first name.
        #[arg(long)]
        first_name: String,
        /// Their last name.
        #[arg(long)]
        last_name: String,
        /// Their title, such as Dr or Ms (optional).
        #[arg(long, default_value = "")]
        title: String,
        /// A role id such as portal-admin or data-collection-contributor:heses (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit trail's keyed hash chain; report the first broken row. Earlier keys
    /// (after a rotation) come from PORTAL_PREVIOUS_SECRET_KEYS.
    Verify {
        /// Also compare with an earlier `portal audit export`: every exported row
        /// must still be there unchanged, and none cut off the end.
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
    },
    /// Once, after upgrading a database whose trail was chained without a key:
    /// rows 1–N (the whole trail, checked first) stay as they are and the
    /// configured key keeps the chain from row N+1 on.
    AdoptUnkeyed {
        /// The trail's last row, as `portal audit verify` of the earlier version reported.
        #[arg(long, value_name = "N")]
        through: i64,
    },
    /// Check the chain, then write the rows (after row SEQ, or all) as JSON lines
    /// to FILE, ending with the chain's head vouched for by the key. Keep it away
    /// from the database.
    Export {
        /// Export only the rows after this one (0: all).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        since: i64,
        /// Where to write the export (readable by its owner only).
        file: PathBuf,
    },
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let json = match config.log_format.as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => config.production(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portal: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    // Backup and restore run before `run`, which would migrate the database
    // and open the audit chain: these write nothing to the source, and
    // restore needs the target empty.
    match &cli.command {
        Some(Command::Backup { dir }) => {
            return match server::backup::backup(&config, dir).await {
                Ok(m) => {
                    let rows: i64 = m.tables.values().sum();
                    println!(
                        "backup of the {} database written to {}: {} tables, {rows} rows, {} files",
                        m.database,
                        dir.display(),
                        m.tables.len(),
                        m.files.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("portal backup: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Restore { dir }) => {
            return match server::backup::restore(&config, dir).await {
                Ok((m, _)) => {
                    let rows: i64 = m.tables.values().sum();
                    println!(
                        "restored {} ({}): {} tables, {rows} rows, {} files; the counts match \
                         the manifest. Check the audit trail with `portal audit verify` (same \
                         PORTAL_SECRET_KEY)",
                        dir.display(),
                        m.created_at,
                        m.tables.len(),
                        m.files.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("portal restore: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    if let Some(Command::Bench(args)) = &cli.command {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                eprintln!("portal: cannot find this program to start it: {e}");
                return ExitCode::FAILURE;
            }
        };
        return match server::bench::run(args, &exe).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("portal bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let store = server::open_store(&config).await?;
    // Checking and exporting the trail write nothing (not even a new key's
    // starting row: a wrong key must not change the record).
    if !matches!(command, Command::Audit(_)) {
        server::open_audit_chain(&store, &config).await?;
    }
    let portal = Portal::assemble(
        &config,
        store.clone(),
        Arc::new(SystemClock),
        server::mailer(&config)?,
    )?;
    let app = &portal.app;
    match command {
        Command::Migrate => {
            println!("database is up to date");
        }
        Command::Serve => {
            use store::Store;
            // Replicas starting together on an empty database: the first loads
            // the demonstration data, the others wait and find it there.
            let startup = store.startup_lock().await?;
            if config.loads_demo() && store.organisation_count().await? == 0 {
                app.load_demo().await.map_err(explain)?;
                tracing::info!(
                    "empty database: demonstration data loaded (see README for the addresses)"
                );
            }
            startup.release().await?;
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            // Metrics (issue 14): on their own listener, only when configured.
            if let Some(addr) = config.metrics_listen {
                let metrics_listener = server::metrics::bind(addr).await?;
                let handle = server::metrics::install()?;
                server::metrics::spawn(metrics_listener, handle, app.clone(), store.clone());
                tracing::info!(%addr, "metrics at /metrics");
            }
            let limits = server::connections::Limits::from_config(&config);
            server::connections::warn_if_open_files_too_few(&limits);
            tracing::info!(
                url = %config.base_url(),
                dev_mail = config.mail_dir().filter(|_| !config.production()).is_some(),
                "Provider Portal is listening"
            );
            portal.serve(listener, limits, shutdown_signal()).await?;
        }
        Command::Demo => {
            use store::Store;
            if config.production() {
                anyhow::bail!("demonstration data is never loaded in production");
            }
            if store.organisation_count().await? > 0 {
                eprintln!("portal: the database is not empty; demonstration data not loaded");
                return Ok(ExitCode::FAILURE);
            }
            app.load_demo().await.map_err(explain)?;
            println!("demonstration data loaded");
        }
        Command::AccessKey(AccessKeyCommand::Issue {
            org,
            role,
            max_uses,
            expires_in_days,
        }) => {
            use app::Clock;
            let input = app::access_keys::IssueKeyInput {
                organisation: org,
                role,
                max_uses,
                expires_at: Some(SystemClock.now() + time::Duration::days(expires_in_days)),
            };
            let issued = app
                .issue_access_key(None, &input, &RequestMeta::operator("access-key-issue"))
                .await
                .map_err(explain)?;
            eprintln!(
                "access key {} for {} expires {}; it is not stored and cannot be shown again",
                issued.record.id,
                issued.record.role.id(),
                issued.record.expires_at.date()
            );
            println!("{}", issued.key.grouped());
        }
        Command::Org(OrgCommand::Create { name, kind, ukprn }) => {
            let input = OrganisationInput {
                name,
                kind,
                ukprn,
                ..Default::default()
            };
            let id = app
                .create_organisation(&input, &RequestMeta::operator("org-create"))
                .await
                .map_err(explain)?;
            println!("{id}");
        }
        Command::User(UserCommand::Create {
            org,
            email,
            first_name,
            last_name,
            title,
            roles,
        }) => {
            let input = UserInput {
                organisation: org,
                title,
                first_name,
                last_name,
                email,
                roles,
            };
            let id = app
                .create_user(&input, &RequestMeta::operator("user-create"))
                .await
                .map_err(explain)?;
            println!("{id}");
        }
        Command::Bench(_) => anyhow::bail!("portal bench starts its own portal (see main)"),
        Command::Backup { .. } | Command::Restore { .. } => {
            anyhow::bail!("backup and restore run before the database is opened (see main)")
        }
        Command::BenchData {
            providers,
            users,
            sessions,
            audit_events,
            seed,
            manifest,
        } => {
            if config.production() {
                anyhow::bail!("benchmark data is never loaded in production");
            }
            let scale = app::bench_data::Scale {
                providers,
                users,
                sessions,
                audit_events,
                seed,
            };
            let bar = Bar::new();
            let started = std::time::Instant::now();
            let result = app.generate_bench_data(&scale, &bar).await;
            bar.0.finish_and_clear();
            let written = result.map_err(explain)?;
            std::fs::write(&manifest, serde_json::to_vec(&written)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", manifest.display()))?;
            println!(
                "benchmark data: {providers} providers, {users} users, {sessions} sessions, \
                 {audit_events} audit rows in {:.1} s; manifest {}",
                started.elapsed().as_secs_f64(),
                manifest.display()
            );
        }
        Command::ImportLegacy { file, notify } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let bar = Bar::new();
            let meta = RequestMeta::operator("import-legacy");
            let result = app.import_legacy(&bytes, notify, &meta, &bar).await;
            bar.0.finish_and_clear();
            match result {
                Ok(s) => println!(
                    "{}: {} created, {} updated, {} unchanged; {} granted; {} created; {} \
                     queued; {:.2} s, {:.0} users/s",
                    count(s.rows, "row", "rows"),
                    s.created,
                    s.updated,
                    s.unchanged,
                    count(s.roles_granted, "role", "roles"),
                    count(s.providers_created, "provider", "providers"),
                    count(s.emails_queued, "welcome email", "welcome emails"),
                    s.elapsed.as_secs_f64(),
                    s.rate()
                ),
                Err(ImportError::Rejected(lines)) => {
                    for line in &lines {
                        eprintln!("{line}");
                    }
                    eprintln!(
                        "portal: {} bad row(s) in {}; nothing was imported",
                        lines.len(),
                        file.display()
                    );
                    store.close().await;
                    return Ok(ExitCode::FAILURE);
                }
                Err(ImportError::Failed(e)) => return Err(explain(e)),
            }
        }
        Command::Audit(AuditCommand::Verify { against }) => {
            let keys = app.chain_keys(&config.previous_secret_keys()?);
            let report = app
                .verify_audit_chain(&keys)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if let Some((seq, why)) = &report.first_broken {
                println!("audit trail BROKEN at row {seq}: {why}");
                return Ok(ExitCode::FAILURE);
            }
            println!("audit trail intact: {} rows checked", report.rows);
            if report.unkeyed_rows > 0 {
                println!(
                    "rows 1–{} were chained without a key, before the chain was keyed",
                    report.unkeyed_rows
                );
            }
            for (from, key_id) in &report.epochs {
                println!("rows from {from} on are keyed with key {key_id}");
            }
            if let Some(path) = against {
                let file = std::fs::File::open(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                let mut file = std::io::BufReader::new(file);
                match app.compare_with_export(&keys, &mut file).await {
                    Ok(None) => println!("matches the export {}", path.display()),
                    Ok(Some((seq, why))) => {
                        println!("audit trail BROKEN at row {seq}: {why}");
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(e) => {
                        println!("cannot compare with {}: {e}", path.display());
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        Command::Audit(AuditCommand::AdoptUnkeyed { through }) => {
            match app.adopt_unkeyed_audit(through).await {
                Ok(epoch) => println!(
                    "rows 1–{through} stay chained without a key; from row {} on the chain is \
                     keyed with key {}. Note the figure {through}: `portal audit verify` states it \
                     from now on",
                    epoch.from_seq, epoch.key_id
                ),
                Err(e) => {
                    eprintln!("portal: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit(AuditCommand::Export { since, file }) => {
            let keys = app.chain_keys(&config.previous_secret_keys()?);
            let report = app
                .verify_audit_chain(&keys)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if let Some((seq, why)) = report.first_broken {
                eprintln!("portal: not exported: audit trail BROKEN at row {seq}: {why}");
                return Ok(ExitCode::FAILURE);
            }
            let summary = write_export(app, since, &file).await?;
            println!(
                "{} rows written to {}; chain head: row {} ({})",
                summary.rows,
                file.display(),
                summary.head.seq,
                summary.head.hash
            );
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Writes an export next to `file` and moves it into place once complete,
/// readable by its owner only (it holds people's addresses).
async fn write_export(
    app: &app::App,
    since: i64,
    file: &std::path::Path,
) -> anyhow::Result<app::audit::ExportSummary> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = file.with_extension("partial");
    // A file left by an interrupted run keeps its permissions: start afresh.
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let summary = app
        .export_audit(since, &mut out)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    out.flush()?;
    out.get_ref().sync_all()?;
    std::fs::rename(&partial, file)?;
    Ok(summary)
}

/// The import's progress bar, on stderr (drawn only when stderr is a terminal):
/// a spinner while a stage's length is unknown, then a bar.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        Self(indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr(),
        ))
    }
}

impl Progress for Bar {
    fn stage(&self, name: &'static str, total: u64) {
        let template = if total == 0 {
            "{spinner} {msg}"
        } else {
            "{msg:28} [{bar:40}] {human_pos}/{human_len} ({eta} left)"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            self.0.set_style(style.progress_chars("=> "));
        }
        if total == 0 {
            self.0
                .enable_steady_tick(std::time::Duration::from_millis(100));
        } else {
            self.0.disable_steady_tick();
        }
        self.0.set_message(name);
        self.0.set_length(total);
        self.0.reset();
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// "1 row", "2 rows": never "1 rows".
fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Turns a refused operator command into a readable message.
fn explain(e: AppError) -> anyhow::Error {
    match e {
        AppError::Invalid(fields) => {
            let lines: Vec<String> = fields.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            anyhow::anyhow!("invalid input: {}", lines.join("; "))
        }
        AppError::Conflict(why) => anyhow::anyhow!("{why}"),
        other => anyhow::anyhow!("{other:?}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
