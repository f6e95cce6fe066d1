//! The per-backend copy of the price catalog.
//!
//! Pricing runs for every inserted usage row, so it must not query
//! `llm_cost.prices` each time. Each backend loads the catalog once with SPI and
//! keeps it until `invalidation` says a price or alias changed in any session;
//! the next lookup reloads it.

use crate::pg::invalidation::{self, Cache};
use crate::pricing::catalog::Catalog;
use crate::pricing::decimal::Decimal;
use crate::pricing::formula::{PriceRow, ServiceTier, SubsetRates};
use crate::pricing::off_peak::{self, OffPeak, Window};
use crate::pricing::units::UnitPrices;
use pgrx::prelude::*;
use pgrx::spi::SpiTupleTable;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static CATALOG: RefCell<Option<Rc<Catalog>>> = const { RefCell::new(None) };
}
/// How many times this backend loaded the catalog; exposed for tests.
static LOADS: AtomicU32 = AtomicU32::new(0);

/// Runs `f` with the current catalog, loading it first if it is missing or stale.
pub fn with_catalog<R>(f: impl FnOnce(&Catalog) -> R) -> R {
    f(&invalidation::cached(&CATALOG, Cache::Prices, load))
}

pub fn load_count() -> u32 {
    LOADS.load(Ordering::Relaxed)
}

fn load() -> Catalog {
    LOADS.fetch_add(1, Ordering::Relaxed);
    // as the extension's owner: a role that may only insert usage can still be priced
    crate::pg::extension_owner::run_as_owner(|| {
        Spi::connect(|client| {
            invalidation::watch(client);
            // A database still on 0.1.0 (this library installed, ALTER EXTENSION
            // UPDATE not run yet) has no off-peak columns: read NULLs there.
            let has_off_peak = client
                .select(
                    "SELECT FROM pg_catalog.pg_attribute
                  WHERE attrelid = 'llm_cost.prices'::regclass AND attname = 'off_peak_windows' AND NOT attisdropped",
                    None,
                    &[],
                )
                .map(|t| !t.is_empty())
                .unwrap_or(false);
            let off_peak_columns = if has_off_peak {
                "off_peak_input_per_mtok::text, off_peak_output_per_mtok::text,
             off_peak_cache_read_per_mtok::text, off_peak_windows::text"
            } else {
                "NULL::text, NULL::text, NULL::text, NULL::text"
            };
            // And a database still on 0.2.0 has no subset or unit price columns.
            let has_units = client
                .select(
                    "SELECT FROM pg_catalog.pg_attribute
                  WHERE attrelid = 'llm_cost.prices'::regclass AND attname = 'unit_prices' AND NOT attisdropped",
                    None,
                    &[],
                )
                .map(|t| !t.is_empty())
                .unwrap_or(false);
            let unit_columns = if has_units {
                "cache_write_1h_per_mtok::text, audio_input_per_mtok::text, image_input_per_mtok::text,
             audio_output_per_mtok::text, image_output_per_mtok::text, unit_prices::text"
            } else {
                "NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text"
            };
            let prices = client
                .select(
                    &format!(
                        "SELECT id, provider, model, service_tier, valid_from,
                            input_per_mtok::text, output_per_mtok::text,
                            cache_read_per_mtok::text, cache_write_per_mtok::text, reasoning_per_mtok::text,
                            tier_threshold_tokens,
                            input_per_mtok_above_tier::text, output_per_mtok_above_tier::text,
                            cache_read_per_mtok_above_tier::text, cache_write_per_mtok_above_tier::text,
                            per_request::text, currency, source, {off_peak_columns},
                            {unit_columns}
                       FROM llm_cost.prices"
                    ),
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
            // a responses-mode entry gives way to the same model's chat entry (src/pricing/catalog.rs)
            let responses_models = client
                .select("SELECT provider, model FROM llm_cost.models WHERE mode = 'responses'", None, &[])
                .unwrap_or_else(|e| error!("llm_cost: cannot read llm_cost.models: {e}"))
                .map(|r| (text(&r, 1), text(&r, 2)))
                .collect();
            Catalog::new(rows, model_aliases, provider_aliases, responses_models)
        })
    })
}

pub fn text(row: &pgrx::spi::SpiHeapTupleData, ordinal: usize) -> String {
    row.get::<String>(ordinal).ok().flatten().unwrap_or_default()
}

pub fn decimal(row: &pgrx::spi::SpiHeapTupleData, ordinal: usize) -> Option<Decimal> {
    let s = row.get::<String>(ordinal).ok().flatten()?;
    // The table's CHECK constraints admit only finite prices, which always parse;
    // a price too precise for the fast path is treated as absent rather than rounded.
    Decimal::parse(&s).ok()
}

/// Columns 19-22: the row's off-peak prices and windows (normalised, as the
/// table's CHECK guarantees). The outer None: prices too precise for the fast
/// path, so the whole row is treated as absent, as for its other prices.
fn off_peak(r: &pgrx::spi::SpiHeapTupleData) -> Option<Option<Box<OffPeak>>> {
    let Some(windows) = r.get::<String>(22).ok().flatten() else {
        return Some(None);
    };
    let specs = serde_json::from_str(&windows)
        .ok()
        .and_then(|v| off_peak::parse(&v, &off_peak::zone_known).ok())
        .unwrap_or_else(|| error!("llm_cost: off_peak_windows {windows} cannot be read"));
    let cache_read = match r.get::<String>(21).ok().flatten() {
        Some(_) => Some(decimal(r, 21)?),
        None => None,
    };
    Some(Some(Box::new(OffPeak {
        input: decimal(r, 19)?,
        output: decimal(r, 20)?,
        cache_read,
        windows: specs.iter().map(|s| Window::new(s, off_peak::backend_zone(s))).collect(),
    })))
}

/// Columns 23-27: subset prices; None (outer) when one is too precise for the fast path.
fn subset_rates(r: &pgrx::spi::SpiHeapTupleData) -> Option<Option<Box<SubsetRates>>> {
    let mut rates = [None; 5];
    for (i, rate) in rates.iter_mut().enumerate() {
        if r.get::<String>(23 + i).ok().flatten().is_some() {
            *rate = Some(decimal(r, 23 + i)?);
        }
    }
    let [cache_write_1h, audio_input, image_input, audio_output, image_output] = rates;
    Some(
        rates
            .iter()
            .any(Option::is_some)
            .then(|| Box::new(SubsetRates { cache_write_1h, audio_input, image_input, audio_output, image_output })),
    )
}

/// Column 28: the row's unit prices (valid and normalised, as the table's CHECK guarantees).
fn unit_prices(r: &pgrx::spi::SpiHeapTupleData) -> Option<Box<UnitPrices>> {
    let text = r.get::<String>(28).ok().flatten()?;
    let prices = serde_json::from_str(&text)
        .ok()
        .and_then(|v| UnitPrices::parse(&v).ok())
        .unwrap_or_else(|| error!("llm_cost: unit_prices {text} cannot be read"));
    Some(Box::new(prices))
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
                off_peak: off_peak(&r)?,
                subset_rates: subset_rates(&r)?,
                unit_prices: unit_prices(&r),
                currency: text(&r, 17).into(),
                source: text(&r, 18),
            })
        })
        .collect()
}
