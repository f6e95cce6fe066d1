//! The per-backend copy of the price catalog, and how it learns that prices changed.
//!
//! Pricing runs for every inserted usage row, so it must not query
//! `llm_cost.prices` each time. Each backend loads the catalog once with SPI and
//! keeps it until it is told otherwise: a statement trigger on the price and
//! alias tables calls `CacheInvalidateRelcacheByRelid`, Postgres sends that
//! invalidation to every backend when the transaction commits (and replays it
//! locally at the next command, or on abort), and our relcache callback marks
//! the copy stale. The next lookup reloads it. This is the pattern Citus uses
//! for its metadata cache.

use crate::catalog::Catalog;
use crate::decimal::Decimal;
use crate::formula::{PriceRow, ServiceTier};
use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Tables whose changes make the cached catalog stale.
const WATCHED_TABLES: [&str; 3] = ["llm_cost.prices", "llm_cost.model_aliases", "llm_cost.provider_aliases"];

thread_local! {
    static CATALOG: RefCell<Option<Rc<Catalog>>> = const { RefCell::new(None) };
}
static STALE: AtomicBool = AtomicBool::new(true);
static CALLBACK_REGISTERED: AtomicBool = AtomicBool::new(false);
static WATCHED_OIDS: [AtomicU32; 3] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
/// How many times this backend loaded the catalog; exposed for tests.
static LOADS: AtomicU32 = AtomicU32::new(0);

/// Runs `f` with the current catalog, loading it first if it is missing or stale.
pub fn with_catalog<R>(f: impl FnOnce(&Catalog) -> R) -> R {
    let catalog = CATALOG.with(|cell| {
        if STALE.load(Ordering::Acquire) || cell.borrow().is_none() {
            // Clear the flag before loading: an invalidation arriving while we
            // read must leave the copy stale again.
            STALE.store(false, Ordering::Release);
            *cell.borrow_mut() = None;
            let loaded = Rc::new(load());
            *cell.borrow_mut() = Some(loaded);
        }
        cell.borrow().as_ref().cloned().expect("catalog loaded above")
    });
    f(&catalog)
}

/// Marks this backend's copy stale now; other backends learn it at commit.
pub fn invalidate_local() {
    STALE.store(true, Ordering::Release);
}

pub fn load_count() -> u32 {
    LOADS.load(Ordering::Relaxed)
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // Runs inside invalidation processing: no allocation, no errors, just a flag.
    let relid = relid.to_u32();
    if relid == 0 || WATCHED_OIDS.iter().any(|oid| oid.load(Ordering::Relaxed) == relid) {
        STALE.store(true, Ordering::Release);
    }
}

fn register_callback() {
    if !CALLBACK_REGISTERED.swap(true, Ordering::AcqRel) {
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
    }
}

fn load() -> Catalog {
    register_callback();
    LOADS.fetch_add(1, Ordering::Relaxed);
    Spi::connect(|client| {
        for (slot, table) in WATCHED_OIDS.iter().zip(WATCHED_TABLES) {
            let oid: Option<pg_sys::Oid> = client
                .select(&format!("SELECT to_regclass('{table}')::oid"), None, &[])
                .and_then(|t| t.first().get(1))
                .unwrap_or(None);
            slot.store(oid.map(|o| o.to_u32()).unwrap_or(0), Ordering::Relaxed);
        }
        let prices = client
            .select(
                "SELECT id, provider, model, service_tier, valid_from,
                        input_per_mtok::text, output_per_mtok::text,
                        cache_read_per_mtok::text, cache_write_per_mtok::text, reasoning_per_mtok::text,
                        tier_threshold_tokens,
                        input_per_mtok_above_tier::text, output_per_mtok_above_tier::text,
                        cache_read_per_mtok_above_tier::text, cache_write_per_mtok_above_tier::text,
                        per_request::text, currency, source
                   FROM llm_cost.prices",
                None,
                &[],
            )
            .unwrap_or_else(|e| error!("llm_cost: cannot read llm_cost.prices: {e}"));
        let rows = read_price_rows(prices);
        let model_aliases = client
            .select("SELECT provider, alias, target_provider, target_model FROM llm_cost.model_aliases", None, &[])
            .unwrap_or_else(|e| error!("llm_cost: cannot read llm_cost.model_aliases: {e}"))
            .map(|r| (text(&r, 1), text(&r, 2), text(&r, 3), text(&r, 4)))
            .collect();
        let provider_aliases = client
            .select("SELECT alias, provider FROM llm_cost.provider_aliases", None, &[])
            .unwrap_or_else(|e| error!("llm_cost: cannot read llm_cost.provider_aliases: {e}"))
            .map(|r| (text(&r, 1), text(&r, 2)))
            .collect();
        Catalog::new(rows, model_aliases, provider_aliases)
    })
}

fn text(row: &pgrx::spi::SpiHeapTupleData, ordinal: usize) -> String {
    row.get::<String>(ordinal).ok().flatten().unwrap_or_default()
}

fn decimal(row: &pgrx::spi::SpiHeapTupleData, ordinal: usize) -> Option<Decimal> {
    let s = row.get::<String>(ordinal).ok().flatten()?;
    // The table's CHECK constraints admit only finite prices, which always parse;
    // a price too precise for the fast path is treated as absent rather than rounded.
    Decimal::parse(&s).ok()
}

fn read_price_rows(table: SpiTupleTable) -> Vec<PriceRow> {
    table
        .filter_map(|r| {
            let tier = ServiceTier::parse(&text(&r, 4))?;
            Some(PriceRow {
                id: r.get::<i64>(1).ok().flatten()?,
                provider: text(&r, 2),
                model: text(&r, 3),
                service_tier: tier,
                valid_from: r.get::<TimestampWithTimeZone>(5).ok().flatten()?.into_inner(),
                input: decimal(&r, 6)?,
                output: decimal(&r, 7)?,
                cache_read: decimal(&r, 8),
                cache_write: decimal(&r, 9),
                reasoning: decimal(&r, 10),
                tier_threshold: r.get::<i64>(11).ok().flatten(),
                input_above: decimal(&r, 12),
                output_above: decimal(&r, 13),
                cache_read_above: decimal(&r, 14),
                cache_write_above: decimal(&r, 15),
                per_request: decimal(&r, 16),
                currency: text(&r, 17).into(),
                source: text(&r, 18),
            })
        })
        .collect()
}

/// Statement trigger on the price and alias tables: tell every backend
/// (this one at once) that its catalog copy is stale.
#[pg_trigger]
fn catalog_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let relid = trigger.relid()?;
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    invalidate_local();
    Ok(None)
}
