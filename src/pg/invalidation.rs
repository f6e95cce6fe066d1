//! Knowing when a per-backend cache is stale.
//!
//! The price catalog and the budget index live in backend memory. A statement
//! trigger on each source table (`catalog_changed`) calls
//! `CacheInvalidateRelcacheByRelid`; Postgres delivers that to every backend at
//! commit (and replays it locally at the next command, or undoes it on abort),
//! and our relcache callback marks the cache built from that table stale. This
//! is the pattern Citus uses for its metadata cache.

use pgrx::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::LocalKey;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cache {
    Prices = 0,
    Budgets = 1,
}

/// Each watched table and the cache built from it.
const TABLES: [(&str, Cache); 5] = [
    ("llm_cost.prices", Cache::Prices),
    ("llm_cost.model_aliases", Cache::Prices),
    ("llm_cost.provider_aliases", Cache::Prices),
    // the catalog reads which models are responses-mode entries
    ("llm_cost.models", Cache::Prices),
    ("llm_cost.budgets", Cache::Budgets),
];

static STALE: [AtomicBool; 2] = [AtomicBool::new(true), AtomicBool::new(true)];
static OIDS: [AtomicU32; 5] =
    [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
static CALLBACK_REGISTERED: AtomicBool = AtomicBool::new(false);

pub fn is_stale(cache: Cache) -> bool {
    STALE[cache as usize].load(Ordering::Acquire)
}

/// Marks a cache fresh before it is (re)loaded: an invalidation that arrives
/// while loading leaves it stale again.
pub fn mark_fresh(cache: Cache) {
    STALE[cache as usize].store(false, Ordering::Release);
}

/// The value in `slot`, (re)built with `load` first when missing or stale.
pub fn cached<T>(slot: &'static LocalKey<RefCell<Option<Rc<T>>>>, cache: Cache, load: impl FnOnce() -> T) -> Rc<T> {
    slot.with(|cell| {
        if is_stale(cache) || cell.borrow().is_none() {
            mark_fresh(cache);
            *cell.borrow_mut() = None;
            *cell.borrow_mut() = Some(Rc::new(load()));
        }
        cell.borrow().as_ref().cloned().expect("loaded above")
    })
}

pub fn mark_stale(cache: Cache) {
    STALE[cache as usize].store(true, Ordering::Release);
}

fn mark_relid(relid: u32) {
    for (slot, (_, cache)) in OIDS.iter().zip(TABLES) {
        if relid == 0 || slot.load(Ordering::Relaxed) == relid {
            mark_stale(cache);
        }
    }
}

/// # Safety
/// Called only by Postgres, as the relcache callback registered in `watch`.
#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // Runs inside invalidation processing: no allocation, no errors, just flags.
    mark_relid(relid.to_u32());
}

/// Registers the callback (once per backend) and learns the watched tables'
/// OIDs; called by every cache load, inside SPI.
pub fn watch(client: &pgrx::spi::SpiClient<'_>) {
    if !CALLBACK_REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers a static function (no argument pointer), once per
        // backend; Postgres keeps it for the backend's life.
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
    }
    for (slot, (table, _)) in OIDS.iter().zip(TABLES) {
        let oid: Option<pg_sys::Oid> = client
            .select(&format!("SELECT to_regclass('{table}')::oid"), None, &[])
            .and_then(|t| t.first().get(1))
            .unwrap_or(None);
        slot.store(oid.map(|o| o.to_u32()).unwrap_or(0), Ordering::Relaxed);
    }
}

/// Statement trigger on every watched table: tell every backend (this one at
/// once) that the caches built from it are stale.
#[pg_trigger]
fn catalog_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let relid = trigger.relid()?;
    // SAFETY: `relid` is the OID of the trigger's own table, which exists; the
    // call only queues an invalidation message for it.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    mark_relid(relid.to_u32());
    // On Citus the trigger also fires on a reference table's copy on each
    // node (llm_cost.prices_102008): the caches there watch llm_cost.prices.
    if let Some(watched) = citus_copy_of(&trigger.table_name()?) {
        // SAFETY: `watched` is the OID of an existing table, looked up by name
        // in the same transaction; only an invalidation message is queued.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(watched) };
        mark_relid(watched.to_u32());
    }
    Ok(None)
}

/// The watched table a Citus shard or placement name stands for (its name
/// followed by `_<shard id>`), when that table exists.
fn citus_copy_of(table: &str) -> Option<pg_sys::Oid> {
    let (base, shard) = table.rsplit_once('_')?;
    if shard.is_empty() || !shard.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let qualified = format!("llm_cost.{base}");
    TABLES.iter().find(|(name, _)| *name == qualified)?;
    let name = std::ffi::CString::new(base).ok()?;
    // SAFETY: catalog lookups by NUL-terminated names inside a transaction
    // (the trigger's); missing_ok, so an absent schema gives InvalidOid.
    let oid = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"llm_cost".as_ptr(), true);
        pg_sys::get_relname_relid(name.as_ptr(), nsp)
    };
    (oid != pg_sys::InvalidOid).then_some(oid)
}
