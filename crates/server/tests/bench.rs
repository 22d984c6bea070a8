//! `portal bench` works end to end at a tiny scale, on both databases: it
//! builds the dataset, runs every scenario without a failed request, and
//! reports memory, start-up and the legacy import. No speed is asserted:
//! figures come from the benchmark itself (docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use testkit::Backend;

testkit::both_backends!(; raw: the_benchmark_runs_every_scenario_and_prints_its_table);

async fn the_benchmark_runs_every_scenario_and_prints_its_table(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portal"));
    cmd.args([
        "bench",
        "--providers=3",
        "--users=60",
        "--sessions=80",
        "--audit-events=30",
        "--import-users=500",
        "--seconds=0.3",
        "--connections=1,4",
    ])
    .arg("--dir")
    .arg(dir.path());
    if backend == Backend::Postgres {
        cmd.arg("--database-url")
            .arg(std::env::var("PORTAL_TEST_POSTGRES_URL").unwrap());
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // Every scenario at both concurrencies, each with requests done and none failed.
    for name in [
        "passcode sign-in (code + verify)",
        "User management page (500 users)",
        "GET /api/v1/users?q=",
        "PUT /api/v1/users/{id}/roles",
        "GET /api/v1/me",
        "GET /healthz (baseline)",
    ] {
        for connections in ["1", "4"] {
            let row: Vec<&str> = stdout
                .lines()
                .find(|l| l.starts_with(&format!("| {name} | {connections} |")))
                .unwrap_or_else(|| panic!("no row for {name} at {connections}:\n{stdout}"))
                .split('|')
                .map(str::trim)
                .collect();
            let completed: u64 = row[3].parse().unwrap();
            assert!(
                completed > 0,
                "{name} at {connections}: nothing done\n{stdout}"
            );
            assert_eq!(row[8], "0", "{name} at {connections}: errors\n{stdout}");
            let ratio: f64 = row[5].parse().unwrap();
            assert!(ratio > 0.0, "{name}: no ratio to /healthz\n{stdout}");
        }
    }
    // Every generated session was used once.
    assert!(
        stdout.contains("| GET /api/v1/me, each live session once | 4 | 80 |"),
        "{stdout}"
    );
    for measure in [
        "| start to /readyz (existing database) |",
        "| RSS idle |",
        "| RSS after the load |",
        "| RSS after 80 live sessions each made a request |",
        "| legacy import, 500 users (whole command) |",
    ] {
        assert!(stdout.contains(measure), "{measure} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("500 rows: 500 created, 0 updated, 0 unchanged"),
        "{stdout}"
    );
}
