//! The maintenance worker: one dynamic background worker per database that
//! has the extension, calling `llm_cost.run_maintenance()` every
//! `llm_cost.refresh_interval`, each call in its own transaction, until it
//! says nothing is left.
//!
//! The library is not preloaded, so nothing runs at server start. Instead:
//! - CREATE EXTENSION and ALTER EXTENSION UPDATE call `start_maintenance_worker()`;
//!   the worker waits for that transaction to end before its first round.
//! - Each insert into `llm_cost.usage` checks, at most once per session every
//!   `START_CHECK_EVERY`, that a worker runs, and starts one if not (dynamic
//!   workers do not survive a server restart, a crash or pg_terminate_backend).
//! - One per database: the worker holds a session advisory lock on
//!   `ADVISORY_KEY` in its database for its whole life; the check tries that
//!   lock, and a second worker that cannot take it exits.
//!
//! It stops (exit 0, never restarted by the postmaster: BGW_NEVER_RESTART) when
//! the extension is gone, when `llm_cost.auto_refresh` is off, and when another
//! session wants its database to itself: DROP DATABASE (and CREATE DATABASE
//! with it as template, ALTER DATABASE RENAME) first lock the database and then
//! wait 5 seconds for other sessions to leave, so the worker tries a
//! conflicting lock on it between rounds and every `POLL`. SIGTERM (shutdown,
//! pg_terminate_backend, DROP DATABASE WITH (FORCE)) ends it at once through
//! Postgres's own `die`. A failed round is logged and retried after a
//! doubling pause, never a crash loop.
//!
//! Settings come from the session the worker opens (postgresql.conf, ALTER
//! SYSTEM, ALTER DATABASE). A running session does not see a later ALTER
//! DATABASE SET, so the worker compares the settings stored for its database
//! each round and, when they changed, starts its successor and exits.

use crate::pg::extension_owner::run_as_owner;
use crate::pg::settings::{AUTO_REFRESH, REFRESH_INTERVAL};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::Spi;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The advisory lock the worker holds: pg_try_advisory_lock(1819045219, 1)
/// ('llmc', 1) in its database. sql/maintenance.sql reads it in pg_locks.
const ADVISORY_KEY: (u32, u32) = (0x6c6c_6d63, 1);
/// pg_stat_activity.backend_type of the worker.
const WORKER_TYPE: &str = "llm_cost maintenance";
/// How often a session's inserts check that the worker runs.
const START_CHECK_EVERY: Duration = Duration::from_secs(10);
/// How often an idle worker looks for a session that wants its database.
const POLL: Duration = Duration::from_millis(200);
/// How long a new worker waits for its predecessor's lock (a restart after a
/// settings change), before deciding another worker runs.
const HANDOFF: Duration = Duration::from_secs(5);
/// The longest pause after failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// One step of maintenance, in its own transaction (sql/maintenance.sql).
const ROUND_QUERY: &str = "SELECT llm_cost.run_maintenance()";

thread_local! {
    static LAST_START_CHECK: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn my_database() -> pg_sys::Oid {
    // SAFETY: a global Postgres sets once when the session connects.
    unsafe { pg_sys::MyDatabaseId }
}

/// The worker's advisory lock in this database (as pg_advisory_lock(int4, int4) tags it).
fn worker_lock_tag() -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        locktag_field1: my_database().to_u32(),
        locktag_field2: ADVISORY_KEY.0,
        locktag_field3: ADVISORY_KEY.1,
        locktag_field4: 2,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

/// The lock DROP DATABASE and friends take on the database itself (as LockSharedObject tags it).
fn database_lock_tag() -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        locktag_field1: 0, // a shared object
        locktag_field2: pg_sys::DatabaseRelationId.to_u32(),
        locktag_field3: my_database().to_u32(),
        locktag_field4: 0,
        locktag_type: pg_sys::LockTagType::LOCKTAG_OBJECT as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    }
}

/// Takes a session lock without waiting: whether it was free, and whether
/// this session already held it.
fn try_session_lock(tag: &pg_sys::LOCKTAG, mode: u32) -> pg_sys::LockAcquireResult::Type {
    // SAFETY: `tag` is a complete lock tag; a session lock needs no resource
    // owner or transaction, and dontWait never sleeps.
    unsafe { pg_sys::LockAcquire(tag, mode as pg_sys::LOCKMODE, true, true) }
}

fn release_session_lock(tag: &pg_sys::LOCKTAG, mode: u32) {
    // SAFETY: releases one hold of a session lock taken by try_session_lock.
    unsafe { pg_sys::LockRelease(tag, mode as pg_sys::LOCKMODE, true) };
}

/// Whether this database's worker runs (holds its lock).
fn worker_running() -> bool {
    let tag = worker_lock_tag();
    match try_session_lock(&tag, pg_sys::ExclusiveLock) {
        pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL => true,
        taken => {
            release_session_lock(&tag, pg_sys::ExclusiveLock);
            // this very session holds the key (someone's pg_advisory_lock): not the worker
            taken == pg_sys::LockAcquireResult::LOCKACQUIRE_ALREADY_HELD
        }
    }
}

/// Whether another session wants this database to itself (DROP DATABASE holds
/// AccessExclusiveLock on it, CREATE DATABASE ... TEMPLATE ShareLock, while
/// they wait for the other sessions to leave).
fn database_wanted() -> bool {
    let tag = database_lock_tag();
    match try_session_lock(&tag, pg_sys::RowExclusiveLock) {
        pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL => true,
        _ => {
            release_session_lock(&tag, pg_sys::RowExclusiveLock);
            false
        }
    }
}

/// Registers a worker for this database. `after_xact`: the transaction it
/// waits for before its first round (0: none).
fn launch(after_xact: u32) -> bool {
    let db = my_database().to_u32();
    let started = BackgroundWorkerBuilder::new(&format!("llm_cost maintenance of database {db}"))
        .set_type(WORKER_TYPE)
        .set_library("llm_cost")
        .set_function("llm_cost_maintenance_main")
        .enable_spi_access()
        .set_restart_time(None)
        .set_argument(Some(pg_sys::Datum::from(db)))
        .set_extra(&after_xact.to_string())
        .load_dynamic()
        .is_ok();
    if !started {
        log!("llm_cost: could not start the maintenance worker of database {db} (max_worker_processes reached?); rollups wait for the next try or a manual refresh_rollups()");
    }
    started
}

/// Starts this database's maintenance worker unless one runs or
/// llm_cost.auto_refresh is off. Declared in sql/maintenance.sql, which calls
/// it from CREATE EXTENSION and ALTER EXTENSION UPDATE: the worker then waits
/// for the calling transaction to end, so it finds the extension committed.
#[pg_extern(volatile)]
fn start_maintenance_worker() -> bool {
    if !AUTO_REFRESH.get() || worker_running() {
        return false;
    }
    // SAFETY: reads the current transaction's id, if it has one.
    let xact = unsafe { pg_sys::GetTopTransactionIdIfAny() };
    launch(u32::from(xact))
}

/// Called for every inserted usage row: now and then, starts the worker if it
/// is missing. Cheap when not due (a clock read).
pub fn start_if_missing_now_and_then() {
    let due = LAST_START_CHECK.with(|last| match last.get() {
        Some(at) if at.elapsed() < START_CHECK_EVERY => false,
        _ => {
            last.set(Some(Instant::now()));
            true
        }
    });
    if due && AUTO_REFRESH.get() && !worker_running() {
        launch(0);
    }
}

/// What one transaction of the worker found.
enum Round {
    /// run_maintenance has more to do: call it again now.
    More,
    /// Nothing left until the next interval (or the extension is not updated yet).
    Done,
    /// The extension is gone, or auto_refresh is off: exit.
    Stop,
    /// The database's stored settings changed: hand over to a fresh worker.
    Restart,
}

/// The entry point Postgres calls in the worker process (named in `launch`).
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn llm_cost_maintenance_main(arg: pg_sys::Datum) {
    // SAFETY: installs Postgres's own handlers before signals are unblocked:
    // SIGTERM sets the die flag (ends the worker at the next interrupt check,
    // also inside a running query), SIGHUP asks for a config reload.
    unsafe {
        install_signal_handlers();
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    let db = pg_sys::Oid::from(arg.value() as u32);
    // No role: the bootstrap superuser, as autovacuum; maintenance itself
    // runs as the extension's owner (run_as_owner).
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(db), None);
    // The session is a superuser's: no search_path from the database's
    // settings (its owner may set one) may put objects ahead of pg_catalog.
    // SAFETY: a literal name and value; PGC_S_OVERRIDE outranks every stored setting.
    unsafe {
        pg_sys::SetConfigOption(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        )
    };
    if !take_worker_lock() {
        return; // another worker runs here
    }
    let after_xact: u32 = BackgroundWorker::get_extra().parse().unwrap_or(0);
    if after_xact != 0 && in_transaction(|| wait_for_xact(after_xact)).is_err() {
        return;
    }
    let Ok(settings) = in_transaction(stored_settings) else { return };
    if !AUTO_REFRESH.get() {
        return;
    }
    let mut backoff = Duration::ZERO;
    loop {
        let interval = Duration::from_secs(REFRESH_INTERVAL.get().max(1) as u64);
        let pause = match round(&settings) {
            Ok(Round::More) => unreachable!("round() loops while there is more"),
            Ok(Round::Done) => {
                backoff = Duration::ZERO;
                interval
            }
            Ok(Round::Stop) => return,
            Ok(Round::Restart) => {
                launch(0);
                return;
            }
            Err(message) => {
                // DROP EXTENSION committing in the middle of a round fails it
                // on an object just dropped: that is the end, not an error
                if !matches!(in_transaction(extension_exists), Ok(true)) {
                    return;
                }
                backoff = (backoff * 2).clamp(interval, MAX_BACKOFF);
                warning!("llm_cost maintenance: {message}; trying again in {} s", backoff.as_secs());
                backoff
            }
        };
        if !sleep(pause) {
            return;
        }
    }
}

// Postgres's signal handlers themselves (pg_sys wraps its functions in Rust
// functions, which cannot be handlers).
extern "C-unwind" {
    fn die(signal: std::ffi::c_int);
    fn SignalHandlerForConfigReload(signal: std::ffi::c_int);
}

/// # Safety
/// Called once, at the worker's start, with signals still blocked.
unsafe fn install_signal_handlers() {
    // SAFETY: both handlers are Postgres's, made for exactly this use.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        {
            pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(die));
            pg_sys::pqsignal(pg_sys::SIGHUP as i32, Some(SignalHandlerForConfigReload));
        }
        #[cfg(feature = "pg18")]
        {
            pg_sys::pqsignal_be(pg_sys::SIGTERM as i32, Some(die));
            pg_sys::pqsignal_be(pg_sys::SIGHUP as i32, Some(SignalHandlerForConfigReload));
        }
    }
}

/// Takes the worker's lock, waiting out a predecessor that is handing over.
fn take_worker_lock() -> bool {
    let tag = worker_lock_tag();
    let until = Instant::now() + HANDOFF;
    loop {
        if try_session_lock(&tag, pg_sys::ExclusiveLock) != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL {
            return true; // held until the process exits
        }
        if Instant::now() >= until || !sleep(POLL) {
            return false;
        }
    }
}

fn wait_for_xact(xact: u32) {
    // SAFETY: waits, inside a transaction, for another transaction to end
    // (returns at once if it has); no tuple or relation is involved.
    unsafe {
        pg_sys::XactLockTableWait(
            pg_sys::TransactionId::from(xact),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            pg_sys::XLTW_Oper::XLTW_None,
        )
    };
}

/// The settings stored for this database and role (ALTER DATABASE / ROLE ... SET).
fn stored_settings() -> String {
    Spi::get_one::<String>(
        "SELECT coalesce(string_agg(s.setdatabase || ':' || s.setrole || ':' || s.setconfig::text, ';'
                                    ORDER BY s.setdatabase, s.setrole), '')
           FROM pg_catalog.pg_db_role_setting AS s
          WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database AS d
                                       WHERE d.datname = pg_catalog.current_database()))
            AND s.setrole IN (0, (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = CURRENT_USER))",
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Whether the extension is (still) created in this database.
fn extension_exists() -> bool {
    Spi::get_one::<bool>("SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'llm_cost')")
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// One round: run_maintenance, a transaction per call, until nothing is left.
fn round(settings: &str) -> Result<Round, String> {
    loop {
        if database_wanted() {
            return Ok(Round::Stop);
        }
        match in_transaction(|| one_step(settings))? {
            Round::More => {
                pg_sys::check_for_interrupts!();
            }
            other => return Ok(other),
        }
    }
}

fn one_step(settings: &str) -> Round {
    let (extension, ready) = Spi::get_two::<bool, bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'llm_cost'),
                pg_catalog.to_regprocedure('llm_cost.run_maintenance()') IS NOT NULL",
    )
    .unwrap_or((None, None));
    if extension != Some(true) {
        return Round::Stop;
    }
    if stored_settings() != settings {
        return Round::Restart;
    }
    if !AUTO_REFRESH.get() {
        return Round::Stop;
    }
    if ready != Some(true) {
        return Round::Done; // an older version, not updated yet
    }
    let more = run_as_owner(|| Spi::get_one::<bool>(ROUND_QUERY));
    match more {
        Ok(Some(true)) => Round::More,
        Ok(_) => Round::Done,
        Err(e) => pgrx::error!("{e}"),
    }
}

/// Runs `body` in a transaction of its own: committed, or on any error rolled
/// back and the error's message returned (the worker goes on).
fn in_transaction<R>(body: impl FnOnce() -> R + std::panic::UnwindSafe) -> Result<R, String> {
    // SAFETY: the worker is between transactions here (every path out of
    // this function ends the one it starts).
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let mut body = Some(body);
    pgrx::PgTryBuilder::new(move || {
        let result = (body.take().expect("run once"))();
        // SAFETY: the snapshot pushed above, then the transaction started above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(result)
    })
    .catch_others(|caught| {
        let message = match &caught {
            pg_sys::panic::CaughtError::PostgresError(r)
            | pg_sys::panic::CaughtError::ErrorReport(r)
            | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => r.message().to_string(),
        };
        // SAFETY: rolls back whatever the error left open (SPI, subtransactions,
        // the transaction itself), as Postgres's own workers do after an error.
        unsafe { pg_sys::AbortOutOfAnyTransaction() };
        Err(message)
    })
    .execute()
}

/// Sleeps `pause`, waking every POLL to answer signals and sessions that want
/// the database; false when the worker must exit.
fn sleep(pause: Duration) -> bool {
    let until = Instant::now() + pause;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        // SAFETY: the worker's own latch; WL_EXIT_ON_PM_DEATH ends the process
        // if the postmaster dies.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                left.min(POLL).as_millis() as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        // SIGTERM: Postgres's die() set the flag; this exits the process.
        pg_sys::check_for_interrupts!();
        // SAFETY: the flag SignalHandlerForConfigReload sets; reloading the
        // configuration between transactions is what Postgres's workers do.
        unsafe {
            if pg_sys::ConfigReloadPending != 0 {
                pg_sys::ConfigReloadPending = 0;
                pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
            }
        }
        if database_wanted() {
            return false;
        }
    }
}
