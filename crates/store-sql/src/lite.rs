//! SQLite through a synchronous binding (issue 17): readers that run a
//! statement on the calling thread, and one writer whose units of work are
//! committed in groups.
//!
//! **Reads.** [`Readers`] keeps idle `rusqlite` connections; a read takes one
//! for the one statement and puts it back. The statement runs on the request's
//! own thread from the connection's statement cache: no hand-off to another
//! thread and back, which was most of the CPU a read cost through sqlx.
//!
//! **Writes: group commit.** SQLite has one writer. A unit of work
//! ([`Writer::begin`]) takes the writer connection, opens the group's
//! transaction if none is open (`BEGIN IMMEDIATE`), and runs inside a
//! `SAVEPOINT` of its own, every statement on the calling thread. When the
//! unit commits, its savepoint is released into the group's transaction; if
//! units that arrived before the group's first waiting unit finished are
//! still waiting for the writer, it hands the writer on and waits for the
//! group's `COMMIT`; otherwise (it is the last of them, or the group is full)
//! it commits the group — one `fsync` of the WAL for every unit in it — and
//! tells the others. So a group is what queued while the previous one was
//! being committed and while its own first unit ran: units arriving later
//! wait for the next group, and a busy writer commits as often as its disk
//! can sync, never holding finished units back to gather more. Each unit is
//! answered only after the `COMMIT` that covers it has
//! returned, so an acknowledged write is on disk (`synchronous=FULL`).
//!
//! A unit that fails or is dropped rolls back to its savepoint: the other
//! units of its group are untouched. If SQLite itself abandoned the whole
//! transaction (an I/O error, a full disk), every unit of the group is told
//! the commit failed; none is acknowledged.
//!
//! The `COMMIT` (the `fsync`) runs on a blocking thread, so the runtime's
//! workers go on serving reads meanwhile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use store::{StoreError, StoreResult};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::db_err;

/// Units committed by one `COMMIT` at most: bounds how long the first of a
/// group waits for the others.
const MAX_GROUP: usize = 64;

/// How long a unit waits for the writer before it is answered "unavailable".
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A group whose first unit finished longer ago than this is committed
/// before another unit joins it, so that a stream of joining units cannot
/// keep finished ones waiting. It is checked only when a unit begins: a unit
/// that joins in time and then runs long (an import) still delays the sync of
/// those before it by its own length.
const MAX_GROUP_AGE: Duration = Duration::from_millis(10);

/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 256;

/// Opens a connection with the settings every connection of the portal must
/// have, and checks they are in force.
pub(crate) fn open(path: &Path) -> StoreResult<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    c.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    // Durability: WAL with synchronous=FULL syncs the log at every commit, so
    // a committed transaction survives power loss. Deleted and overwritten
    // content (e.g. an email body once sent) is zeroed on disk rather than
    // left in free pages.
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON;",
    )
    .map_err(db_err)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    assert_settings(&c)?;
    Ok(c)
}

/// Refuses to run unless the durability settings really are in force.
fn assert_settings(c: &Connection) -> StoreResult<()> {
    let get = |pragma: &str| -> StoreResult<String> {
        c.query_row(&format!("PRAGMA {pragma}"), [], |r| {
            r.get_ref(0).map(|v| match v {
                rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            })
        })
        .map_err(db_err)
    };
    let journal = get("journal_mode")?;
    let synchronous = get("synchronous")?;
    let foreign_keys = get("foreign_keys")?;
    let busy = get("busy_timeout")?;
    if !journal.eq_ignore_ascii_case("wal")
        || synchronous != "2"
        || foreign_keys != "1"
        || busy.parse::<i64>().unwrap_or(0) < 1000
    {
        return Err(StoreError::Database(
            format!(
                "SQLite settings not in force: journal_mode={journal} synchronous={synchronous} \
                 foreign_keys={foreign_keys} busy_timeout={busy}"
            )
            .into(),
        ));
    }
    Ok(())
}

// Readers ---------------------------------------------------------------------

/// Idle reader connections; a read borrows one for one statement.
pub(crate) struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
    /// Idle connections kept at most (more are opened when needed, then closed).
    max_idle: usize,
    open: AtomicU32,
    closed: std::sync::atomic::AtomicBool,
}

/// A unit used after it ended (cannot happen through `StoreTx`, which
/// consumes the unit to commit it).
pub(crate) fn ended_error() -> StoreError {
    StoreError::Database("the unit of work has already ended".into())
}

fn closed_error() -> StoreError {
    StoreError::Unavailable("the database has been closed".into())
}

impl Readers {
    pub(crate) fn new(path: PathBuf, max_idle: u32) -> StoreResult<Self> {
        let readers = Self {
            path,
            idle: std::sync::Mutex::new(Vec::new()),
            max_idle: max_idle.max(1) as usize,
            open: AtomicU32::new(0),
            closed: Default::default(),
        };
        // One connection now, so that a database that cannot be opened is
        // found at start-up.
        let c = readers.connect()?;
        readers.put(c);
        Ok(readers)
    }

    fn connect(&self) -> StoreResult<Connection> {
        let c = open(&self.path)?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(c)
    }

    fn put(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle && !self.closed.load(Ordering::SeqCst) {
            idle.push(c);
        } else {
            drop(idle);
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Runs `f` on a reader connection, on this thread.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, crate::db::DbError>,
    ) -> Result<T, crate::db::DbError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(crate::db::DbError::Store(closed_error()));
        }
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut c = match taken {
            Some(c) => c,
            None => self.connect().map_err(crate::db::DbError::Store)?,
        };
        let result = f(&mut c);
        self.put(c);
        result
    }

    /// Closes the idle connections; every read from now on is refused.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// (open, idle, max) for the pool metrics.
    pub(crate) fn stats(&self) -> (u32, u32, u32) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        (
            self.open.load(Ordering::Relaxed),
            u32::try_from(idle).unwrap_or(u32::MAX),
            u32::try_from(self.max_idle).unwrap_or(u32::MAX),
        )
    }
}

// The writer ------------------------------------------------------------------

/// The outcome of a group's `COMMIT`, as the units waiting for it learn it.
type Outcome = Option<Result<(), Arc<str>>>;

struct Group {
    /// When its first unit finished and began to wait for the commit.
    first_done: Option<std::time::Instant>,
    /// The last arrival at the writer (see `Writer::arrivals`) when its first
    /// waiting unit finished: the units it waits for; later ones join the next
    /// group.
    last_arrival: Option<u64>,
    /// Units whose savepoints were released into the group's transaction.
    units: usize,
    /// Whether any of them changed a row (else its commit syncs nothing).
    changed: bool,
    done: watch::Sender<Outcome>,
}

impl Group {
    /// Counts a finished unit in. The first one that waits for the commit
    /// fixes who else the group waits for: the last arrival then (returned).
    /// A unit that does not wait (`commit_unsynced`) fixes nothing, so that
    /// the same request's next unit still joins it and one sync covers both.
    fn join(&mut self, writer: &Writer, waits: bool) -> Option<u64> {
        self.units += 1;
        self.first_done.get_or_insert_with(std::time::Instant::now);
        if waits {
            self.last_arrival
                .get_or_insert_with(|| writer.arrivals.load(Ordering::SeqCst));
        }
        self.last_arrival
    }

    fn fail(self, why: &str) {
        let _ = self.done.send(Some(Err(Arc::from(why))));
    }
}

pub(crate) struct WriterState {
    pub(crate) conn: Connection,
    group: Option<Group>,
    stats: Arc<Counters>,
}

/// What the writer has done since the process started.
#[derive(Default)]
struct Counters {
    commits: std::sync::atomic::AtomicU64,
    units: std::sync::atomic::AtomicU64,
    rolled_back: std::sync::atomic::AtomicU64,
}

/// The writer's figures (`SqlStore::group_commit_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCommitStats {
    /// `COMMIT`s (each one `fsync` of the WAL).
    pub commits: u64,
    /// Units of work those commits covered.
    pub units: u64,
    /// Units rolled back (to their savepoint).
    pub rolled_back: u64,
    /// Units waiting for the writer just now.
    pub waiting: u64,
}

impl WriterState {
    /// SQLite abandons the whole transaction on some errors (I/O, a full
    /// disk): the group's units then cannot be committed.
    fn check_group(&mut self) {
        if self.conn.is_autocommit()
            && let Some(group) = self.group.take()
        {
            group.fail("the database abandoned the transaction");
        }
    }

    /// Commits the open group (the `fsync`), telling its units.
    fn commit_group(&mut self) -> Result<(), Arc<str>> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let units = group.units;
        let result = if self.conn.is_autocommit() {
            Err(Arc::from("the database abandoned the transaction"))
        } else if group.units == 0 {
            // Only units that rolled back: nothing to keep.
            self.conn
                .execute_batch("ROLLBACK")
                .map_err(|e| Arc::from(e.to_string()))
        } else {
            match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(()),
                Err(e) => {
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    Err(Arc::from(e.to_string()))
                }
            }
        };
        if units > 0 && result.is_ok() {
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
            self.stats.units.fetch_add(units as u64, Ordering::Relaxed);
            metrics::counter!("portal_db_group_commits_total").increment(1);
            metrics::histogram!("portal_db_group_commit_units").record(units as f64);
        }
        let _ = group.done.send(Some(result.clone()));
        result
    }
}

/// The one writer connection and the units waiting for it.
pub(crate) struct Writer {
    state: Arc<Mutex<WriterState>>,
    stats: Arc<Counters>,
    /// Units waiting for the writer: while any that belong to the open
    /// group wait, a unit that finishes leaves the group's commit to them.
    queued: AtomicUsize,
    /// Units that have asked for the writer since the process started: each
    /// unit's number in that count is its place in the (first come, first
    /// served) queue.
    arrivals: std::sync::atomic::AtomicU64,
    closed: std::sync::atomic::AtomicBool,
}

/// Counts a unit as waiting for the writer until it has it (or gives up).
struct Queued<'a>(&'a Arc<Writer>, bool);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            // Given up while waiting (the request went away): the unit that
            // handed the writer on may have counted on this one to commit.
            let writer = self.0.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { writer.flush().await });
            }
        }
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Arc<Self> {
        let stats = Arc::new(Counters::default());
        Arc::new(Self {
            state: Arc::new(Mutex::new(WriterState {
                conn,
                group: None,
                stats: stats.clone(),
            })),
            stats,
            queued: AtomicUsize::new(0),
            arrivals: Default::default(),
            closed: Default::default(),
        })
    }

    /// The writer, and the caller's place in the queue for it.
    async fn lock(self: &Arc<Self>) -> StoreResult<(OwnedMutexGuard<WriterState>, u64)> {
        // Numbered before counted as queued: whoever sees a unit queued
        // (a group deciding whom it waits for) sees its number too.
        let arrival = self.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut queued = Queued(self, false);
        // As the write pool's acquire timeout did: a writer held this long is
        // stuck, and the request is answered 503 rather than left hanging.
        let guard = tokio::time::timeout(LOCK_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable("no turn at the database's writer within 30 s".into())
            })?;
        queued.1 = true;
        drop(queued);
        Ok((guard, arrival))
    }

    /// Starts a unit of work: the writer, inside the group's transaction, in
    /// a savepoint of the unit's own.
    pub(crate) async fn begin(self: &Arc<Self>) -> StoreResult<LiteTx> {
        let (mut guard, arrival) = self.lock().await?;
        if self.closed.load(Ordering::SeqCst) {
            hand_on(guard, self);
            return Err(closed_error());
        }
        guard.check_group();
        // A group is committed before a unit joins it that arrived after
        // those the group waits for (they finished without committing it:
        // they did not wait for the sync, rolled back, or gave up waiting for
        // the writer), or when its first finished unit has waited too long.
        if guard.group.as_ref().is_some_and(|g| {
            g.first_done.is_some_and(|t| t.elapsed() > MAX_GROUP_AGE)
                || g.last_arrival.is_some_and(|last| arrival > last)
        }) {
            guard = tokio::task::spawn_blocking(move || {
                let _ = guard.commit_group();
                guard
            })
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        }
        if guard.group.is_none() {
            if !guard.conn.is_autocommit() {
                // A transaction no group owns (a failed ROLLBACK, an
                // operator's statement): it cannot be kept.
                let _ = guard.conn.execute_batch("ROLLBACK");
            }
            // IMMEDIATE takes the write lock up front, so a transaction that
            // reads and then writes never fails half-way for another
            // process's sake (a backup, an operator's command).
            guard
                .conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(db_err)?;
            guard.group = Some(Group {
                first_done: None,
                last_arrival: None,
                units: 0,
                changed: false,
                done: watch::channel(None).0,
            });
        }
        if let Err(e) = guard.conn.execute_batch("SAVEPOINT unit") {
            guard.check_group();
            hand_on(guard, self);
            return Err(db_err(e));
        }
        let changes_before = guard.conn.total_changes();
        Ok(LiteTx {
            guard: Some(guard),
            writer: self.clone(),
            changes_before,
            arrival,
        })
    }

    /// Commits the open group, if any (a unit gave up waiting, or an
    /// operator's statement is about to run outside any unit).
    pub(crate) async fn flush(self: &Arc<Self>) {
        let Ok((mut guard, _)) = self.lock().await else {
            return;
        };
        if guard.group.is_some() {
            let _ = tokio::task::spawn_blocking(move || guard.commit_group()).await;
        }
    }

    /// Commits what is pending; every unit from now on is refused.
    pub(crate) async fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::SeqCst);
        self.flush().await;
    }

    /// Runs `f` on the writer outside any unit, after committing any open group.
    pub(crate) async fn exclusive<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> StoreResult<T> {
        let (mut guard, _) = self.lock().await?;
        if self.closed.load(Ordering::SeqCst) {
            hand_on(guard, self);
            return Err(closed_error());
        }
        tokio::task::spawn_blocking(move || {
            if guard.group.is_some() {
                let _ = guard.commit_group();
            }
            f(&mut guard.conn)
        })
        .await
        .map_err(|e| StoreError::Database(Box::new(e)))
    }
}

/// One unit of work on the writer (see the module's comment).
pub(crate) struct LiteTx {
    guard: Option<OwnedMutexGuard<WriterState>>,
    writer: Arc<Writer>,
    /// The connection's count of changed rows when the unit began.
    changes_before: u64,
    /// The unit's place in the queue for the writer.
    arrival: u64,
}

impl LiteTx {
    /// The writer, while the unit holds it (until it commits or is dropped).
    pub(crate) fn conn(&mut self) -> Option<&mut Connection> {
        self.guard.as_mut().map(|g| &mut g.conn)
    }

    /// Releases the unit's savepoint into the group's transaction: the writer
    /// (with a group open) and whether the unit changed a row.
    fn release(&mut self) -> StoreResult<(OwnedMutexGuard<WriterState>, bool)> {
        let Some(mut guard) = self.guard.take() else {
            return Err(ended_error());
        };
        if let Err(e) = guard.conn.execute_batch("RELEASE unit") {
            rollback_unit(&mut guard);
            hand_on(guard, &self.writer);
            return Err(db_err(e));
        }
        guard.check_group();
        if guard.group.is_none() {
            return Err(StoreError::Database(
                "the database abandoned the transaction".into(),
            ));
        }
        let changed = guard.conn.total_changes() != self.changes_before;
        Ok((guard, changed))
    }

    /// Keeps the unit's work in the group, and returns once the group's
    /// `COMMIT` has covered it.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let (mut guard, changed) = self.release()?;
        let Some(group) = guard.group.as_mut() else {
            return Err(ended_error());
        };
        if !changed && !group.changed {
            // The unit only read, and read nothing that a commit still has
            // to make durable: it needs no sync. The group goes on for
            // whoever waits; with nobody waiting it ends now (no fsync).
            if self.writer.queued.load(Ordering::SeqCst) == 0 {
                let _ = guard.commit_group();
            }
            return Ok(());
        }
        group.changed |= changed;
        let last_arrival = group.join(&self.writer, true).unwrap_or(self.arrival);
        let mut done = group.done.subscribe();
        let full = group.units >= MAX_GROUP;
        let others_of_group = self.arrival < last_arrival;
        let outcome = if others_of_group && self.writer.queued.load(Ordering::SeqCst) > 0 && !full {
            // Units that queued before the group began are waiting for the
            // writer: the last of them commits this unit with theirs.
            drop(guard);
            match done.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone().unwrap_or(Ok(())),
                Err(_) => Err(Arc::from("the group's commit did not finish")),
            }
        } else {
            tokio::task::spawn_blocking(move || guard.commit_group())
                .await
                .unwrap_or_else(|e| Err(Arc::from(e.to_string())))
        };
        outcome.map_err(|why| StoreError::Database(format!("commit failed: {why}").into()))
    }

    /// Keeps the unit's work in the group without waiting for the sync: for
    /// bookkeeping whose loss in a crash harms nobody (a rate limit's hit, an
    /// outbox claim). The group is committed by whoever comes
    /// next — usually the same request's own unit of work, whose answer then
    /// waits for the sync that covers both — or, if nobody does, just after.
    pub(crate) fn commit_unsynced(mut self) -> StoreResult<()> {
        let (mut guard, changed) = self.release()?;
        let Some(group) = guard.group.as_mut() else {
            return Err(ended_error());
        };
        if changed {
            group.changed = true;
            group.join(&self.writer, false);
        }
        let nobody_waits = self.writer.queued.load(Ordering::SeqCst) == 0;
        drop(guard);
        if nobody_waits && let Ok(rt) = tokio::runtime::Handle::try_current() {
            let writer = self.writer.clone();
            rt.spawn(async move { writer.flush().await });
        }
        Ok(())
    }
}

/// Undoes one unit's work, leaving the rest of its group as it was.
fn rollback_unit(state: &mut WriterState) {
    state.stats.rolled_back.fetch_add(1, Ordering::Relaxed);
    if !state.conn.is_autocommit() {
        let _ = state.conn.execute_batch("ROLLBACK TO unit; RELEASE unit");
    }
    state.check_group();
}

/// After a unit rolled back: the rest of its group is committed by a unit
/// waiting for the writer, or now (off this thread) if nobody waits.
fn hand_on(mut guard: OwnedMutexGuard<WriterState>, writer: &Writer) {
    match guard.group.as_ref().map(|g| g.units) {
        None => {}
        // Nothing of the group to keep: end it now (no fsync).
        Some(0) => {
            let _ = guard.commit_group();
        }
        Some(_) if writer.queued.load(Ordering::SeqCst) > 0 => drop(guard),
        Some(_) => match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || {
                    let _ = guard.commit_group();
                });
            }
            Err(_) => {
                let _ = guard.commit_group();
            }
        },
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            rollback_unit(&mut guard);
            hand_on(guard, &self.writer);
        }
    }
}

impl Writer {
    /// Whether a unit holds the writer just now (the pool metrics).
    pub(crate) fn busy(&self) -> bool {
        self.state.try_lock().is_err()
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            units: self.stats.units.load(Ordering::Relaxed),
            rolled_back: self.stats.rolled_back.load(Ordering::Relaxed),
            waiting: self.queued.load(Ordering::SeqCst) as u64,
        }
    }
}
