//! Folding inserted usage into budget spend, in the same transaction.
//!
//! `usage_spend_add` (AFTER INSERT, FOR EACH ROW) matches each inserted row to
//! its budgets through the cached index and adds its cost to the transaction's
//! pending totals (`pending_spend`) per (budget, period, per value). An AFTER
//! ROW trigger sees only rows really inserted (not those skipped by ON
//! CONFLICT DO NOTHING). Just before commit (pending_spend's transaction
//! callback) or when `flush_spend()` is called, `flush_pending` writes those
//! totals, in a fixed order so concurrent writers cannot deadlock: existing
//! rows directly (`spend_store`), a period's first row with an SQL upsert; and
//! queues every threshold the new total crossed.
use crate::budgets::budget_cache::{with_budgets, RowDims};
use crate::budgets::budget_period;
use crate::budgets::pending_spend::{self, SpendDelta, SpendKey};
use crate::budgets::spend_store::SpendStore;
use crate::pg::trigger_support::{c_trigger, column_positions, trigger_data, PositionCache};
use crate::pricing::decimal::Decimal;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{PgBuiltInOids, PgOid};
use rustc_hash::FxHashSet;
use std::cell::RefCell;

thread_local! {
    static UPSERT: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    /// unpriced_model alerts this backend has queued in committed transactions.
    static ANNOUNCED: RefCell<FxHashSet<(String, String)>> = RefCell::new(FxHashSet::default());
    static ANNOUNCED_NOW: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// Called by pending_spend's transaction callback: unpriced_model alerts
/// queued by a committed transaction need not be queued again by this backend.
pub fn on_xact_end(event: pg_sys::XactEvent::Type) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT => {
            let now: Vec<_> = ANNOUNCED_NOW.with(|a| std::mem::take(&mut *a.borrow_mut()));
            ANNOUNCED.with(|a| a.borrow_mut().extend(now));
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => ANNOUNCED_NOW.with(|a| a.borrow_mut().clear()),
        _ => {}
    }
}

/// unpriced_model alerts queued by a subtransaction that rolled back are not
/// queued: the keys may be announced again.
pub fn forget_announced(keys: &FxHashSet<(String, String)>) {
    if !keys.is_empty() {
        ANNOUNCED_NOW.with(|a| a.borrow_mut().retain(|k| !keys.contains(k)));
    }
}

c_trigger!(usage_spend_add, pg_finfo_usage_spend_add, spend_add);

/// The columns the spend trigger reads, in this order.
const SPEND_COLUMNS: [&str; 11] = [
    "occurred_at",
    "cost",
    "tenant_id",
    "project_id",
    "user_id",
    "agent_id",
    "session_id",
    "execution_id",
    "operation",
    "provider",
    "model",
];

thread_local! {
    static POSITIONS: PositionCache<11> = const { RefCell::new(None) };
}

/// # Safety
/// `fcinfo` must be the call's, as Postgres passes it to the row trigger on
/// `llm_cost.usage` that sql/spend.sql declares. That it is a trigger call is
/// checked (an ERROR otherwise), and the columns are found by name; that it is
/// a row trigger (a non-null `tg_trigtuple`) is the declaration's to ensure.
unsafe fn spend_add(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is this call's (caller's guarantee).
    let trigdata = unsafe { trigger_data(fcinfo, "usage_spend_add") };
    // SAFETY: Postgres fills a row trigger's TriggerData with the row's tuple
    // and the open relation, both valid for the whole call; the relation's
    // tuple descriptor is owned by its relcache entry, pinned while it is open.
    let (tuple, rel, tupdesc) = unsafe {
        let rel = (*trigdata).tg_relation;
        ((*trigdata).tg_trigtuple, rel, (*rel).rd_att)
    };
    // SAFETY: `rel` is the trigger's open relation (above).
    let [at_col, cost_col, tenant, project, user, agent, session, execution, operation, provider, model] =
        unsafe { column_positions(&POSITIONS, rel, SPEND_COLUMNS) };
    // SAFETY: `tupdesc` is the open relation's descriptor (above).
    let natts = unsafe { (*tupdesc).natts } as usize;
    let mut values = vec![pg_sys::Datum::from(0); natts];
    let mut nulls = vec![false; natts];
    // SAFETY: `tuple` is a row of `rel`, described by `tupdesc`, and `values`
    // and `nulls` have room for all `natts` attributes. By-reference datums
    // point into `tuple` (or palloc'd detoasted copies), valid for the call.
    unsafe { pg_sys::heap_deform_tuple(tuple, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr()) };
    let text = |i: usize| -> Option<&str> {
        if nulls[i] {
            None
        } else {
            // SAFETY: a non-null attribute of a text column (found by name
            // above), deformed from the row, which outlives this call's borrows.
            unsafe { <&str>::from_datum(values[i], false) }
        }
    };
    let cost = if nulls[cost_col] { None } else { Some(values[cost_col]) };
    if cost.is_none() {
        if let (Some(provider), Some(model)) = (text(provider), text(model)) {
            pending_spend::with_current(|p| p.unpriced.insert((provider.to_lowercase(), model.to_string())));
        }
    }
    let row = RowDims {
        tenant_id: text(tenant),
        project_id: text(project),
        user_id: text(user),
        agent_id: text(agent),
        session_id: text(session),
        execution_id: text(execution),
        operation: text(operation),
        provider: text(provider),
        model: text(model),
    };
    let at = values[at_col].value() as i64;
    with_budgets(|index| {
        if index.is_empty() {
            return;
        }
        let delta = cost
            .map(|c| {
                // SAFETY: `c` is the row's non-null `cost`, a numeric column,
                // deformed from the row, valid for the call.
                unsafe { crate::pg::numeric_datum::decimal_from_numeric(c) }.unwrap_or_else(|| {
                    // SAFETY: as above.
                    let text = unsafe { crate::pg::numeric_datum::numeric_text(c) };
                    crate::pg::errors::out_of_range(format!("cost {text} is out of range for exact budget arithmetic"))
                })
            })
            .unwrap_or(Decimal::ZERO);
        index.for_each_match(&row, |budget| {
            let Some(per_value) = budget.per_value(&row) else { return };
            let key = (budget.id, budget_period::period_start(budget, at), per_value);
            pending_spend::with_current(|p| pending_spend::add(p, key, delta));
        });
    });
    pg_sys::Datum::from(0)
}

// 0.1.0's deferred flush trigger function; see _spend_flush_wanted.
c_trigger!(usage_spend_flush, pg_finfo_usage_spend_flush, spend_flush);

/// The first spend of a budget, period and per value creates its row (existing
/// rows are added to by `spend_store` without SQL). Totals are applied in
/// sorted order, so every writer takes the spend rows' locks in the same order
/// and none can deadlock.
const UPSERT_SQL: &str = "INSERT INTO llm_cost.budget_spend AS s (budget_id, period_start, per_value, spent, calls)
     SELECT $1, $2, $3, $4::numeric, $5
      WHERE EXISTS (SELECT FROM llm_cost.budgets WHERE id = $1)  -- not deleted meanwhile
     ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
        SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, updated_at = now()
     RETURNING s.spent::text";

/// # Safety
/// `fcinfo` must be the call's, as Postgres passes it to a trigger function.
unsafe fn spend_flush(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is this call's (caller's guarantee).
    unsafe { trigger_data(fcinfo, "usage_spend_flush") };
    flush_pending();
    pg_sys::Datum::from(0)
}

/// Writes this transaction's pending spend now (it is written at commit
/// otherwise) and queues the thresholds it crosses; returns how many running
/// totals it wrote. Everything in the extension that reads or rewrites
/// `budget_spend` calls this first, so a transaction always sees its own spend.
#[pg_extern(volatile, parallel_unsafe)]
fn flush_spend() -> i64 {
    flush_pending()
}

/// Writes the pending spend from the pre-commit callback (pending_spend),
/// under a fresh transaction snapshot: the one a deferred trigger firing at
/// commit would see (no trigger is involved any more).
pub fn flush_at_commit() {
    // SAFETY: called in a transaction (the pre-commit callback), where
    // GetTransactionSnapshot returns a registered snapshot that
    // PushActiveSnapshot copies if needed; it is popped below, and on error
    // transaction abort pops it.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
    flush_pending();
    // SAFETY: pops the snapshot pushed above, still the active one: flush_pending
    // pushes and pops its own in pairs (SPI).
    unsafe { pg_sys::PopActiveSnapshot() };
}

/// Version 0.1.0 wrote the spend from a deferred constraint trigger whose WHEN
/// clause called this; until `ALTER EXTENSION llm_cost UPDATE` drops that
/// trigger, answering false keeps it from queuing events (the pre-commit
/// callback writes the spend). Not part of 0.2.0's SQL.
#[pg_extern(volatile, parallel_unsafe, sql = false)]
fn _spend_flush_wanted() -> bool {
    false
}

/// A threshold a written total crossed: an alert to queue.
struct Crossing {
    budget_id: i64,
    period_start: i64,
    per_value: String,
    /// The new running total.
    spent: Decimal,
    threshold: Decimal,
}

fn flush_pending() -> i64 {
    let pending = pending_spend::take_all();
    if pending.is_empty() {
        return 0;
    }
    let mut totals: Vec<(SpendKey, SpendDelta)> = pending.spend.into_iter().collect();
    totals.sort_by(|a, b| a.0.cmp(&b.0));
    // Totals whose row exists (all but a period's first spend) are added to
    // directly. From the first one without a row on, the rest go through SQL,
    // still in sorted order, so every writer takes the locks in one order.
    let store = (!totals.is_empty()).then(SpendStore::open);
    let mut crossings: Vec<Crossing> = Vec::new();
    let mut done = 0;
    if let Some(store) = &store {
        for total @ (key, (delta, calls)) in &totals {
            let Some(spent) = store.add_to_existing(key, *delta, *calls) else { break };
            crossings.extend(crossings_of(total, spent));
            done += 1;
        }
    }
    let unpriced: Vec<(String, String)> = pending
        .unpriced
        .into_iter()
        .filter(|key| {
            !ANNOUNCED.with(|a| a.borrow().contains(key)) && !ANNOUNCED_NOW.with(|a| a.borrow().contains(key))
        })
        .collect();
    if done == totals.len() && crossings.is_empty() && unpriced.is_empty() {
        return totals.len() as i64;
    }
    // as the extension's owner: the inserting role need not be able to write
    // budget_spend or the queue
    crate::pg::extension_owner::run_as_owner(|| {
        Spi::connect_mut(|client| {
            for (i, total @ (key, (delta, calls))) in totals.iter().enumerate().skip(done) {
                let existing = match &store {
                    Some(store) if i > done => store.add_to_existing(key, *delta, *calls),
                    _ => None, // the first is known to have no row
                };
                let spent = existing.or_else(|| upsert_total(client, key, *delta, *calls));
                if let Some(spent) = spent {
                    crossings.extend(crossings_of(total, spent));
                }
            }
            for crossing in &crossings {
                queue_alert(client, crossing);
            }
            for key in unpriced {
                client
                    .update(
                        "SELECT llm_cost._queue_notification('unpriced_model', format('unpriced_model:%s/%s', $1, $2),
                                                         jsonb_build_object('provider', $1, 'model', $2))",
                        None,
                        &[key.0.as_str().into(), key.1.as_str().into()],
                    )
                    .unwrap_or_else(|e| error!("llm_cost: cannot queue unpriced_model: {e}"));
                ANNOUNCED_NOW.with(|a| a.borrow_mut().push(key));
            }
        })
    });
    totals.len() as i64
}

/// Creates (or, if a concurrent writer just created it, adds to) a total's
/// row; its new running total, or None for a budget deleted since its rows
/// were inserted.
fn upsert_total(
    client: &mut pgrx::spi::SpiClient<'_>,
    (budget_id, period_start, per_value): &SpendKey,
    delta: Decimal,
    calls: i64,
) -> Option<Decimal> {
    // SAFETY: a timestamptz is a by-value i64 Datum; any i64 is one.
    let at = unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(*period_start), false) };
    let delta = delta.to_string();
    let args = [(*budget_id).into(), at.into(), per_value.as_str().into(), delta.as_str().into(), calls.into()];
    let spent = UPSERT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let oids = [
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
                PgOid::BuiltIn(PgBuiltInOids::TIMESTAMPTZOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
            ];
            let prepared = client
                .prepare_mut(UPSERT_SQL, &oids)
                .unwrap_or_else(|e| error!("llm_cost: cannot prepare the budget spend upsert: {e}"));
            *cell = Some(prepared.keep());
        }
        let rows = client
            .update(cell.as_ref().expect("prepared above"), None, &args)
            .unwrap_or_else(|e| error!("llm_cost: budget spend upsert failed: {e}"));
        if rows.is_empty() {
            None
        } else {
            rows.first().get::<String>(1).ok().flatten()
        }
    });
    spent.map(|s| Decimal::parse(&s).unwrap_or_else(|_| error!("llm_cost: unreadable running total {s}")))
}

/// The thresholds of its budget a written total crossed going from
/// spent - delta to spent, as alerts to queue.
fn crossings_of(
    ((budget_id, period_start, per_value), (delta, _)): &(SpendKey, SpendDelta),
    spent: Decimal,
) -> Vec<Crossing> {
    if *delta <= Decimal::ZERO {
        return Vec::new();
    }
    let before = spent.checked_sub(*delta).unwrap_or(Decimal::ZERO);
    let hundred = Decimal::from_i64(100);
    let before100 = before.checked_mul(hundred).unwrap_or(Decimal::ZERO);
    let after100 = spent.checked_mul(hundred).unwrap_or(Decimal::ZERO);
    with_budgets(|index| {
        let Some(b) = index.budget(*budget_id) else { return Vec::new() };
        b.thresholds
            .iter()
            .filter(|t| {
                let limit = b.amount.checked_mul(**t).unwrap_or(Decimal::ZERO);
                before100 < limit && after100 >= limit
            })
            .map(|threshold| Crossing {
                budget_id: *budget_id,
                period_start: *period_start,
                per_value: per_value.clone(),
                spent,
                threshold: *threshold,
            })
            .collect()
    })
}

/// Queues one crossed threshold (the queue dedupes by budget, period, value and threshold).
fn queue_alert(
    client: &mut pgrx::spi::SpiClient<'_>,
    Crossing { budget_id, period_start, per_value, spent, threshold }: &Crossing,
) {
    // SAFETY: a timestamptz is a by-value i64 Datum; any i64 is one.
    let at = unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(*period_start), false) };
    client
        .update(
            "SELECT llm_cost._queue_budget_alert($1, $2, $3, $4::numeric, $5::numeric)",
            None,
            &[
                (*budget_id).into(),
                at.into(),
                per_value.as_str().into(),
                spent.to_string().into(),
                threshold.to_string().into(),
            ],
        )
        .unwrap_or_else(|e| error!("llm_cost: cannot queue a budget alert: {e}"));
}

/// Whether inserted rows need the spend trigger at all: the usage_spend_add
/// trigger's WHEN clause calls this, so with no budget (and a priced row) no
/// after-trigger event is even queued.
#[pg_extern(stable, parallel_safe)]
fn budgets_enabled() -> bool {
    with_budgets(|index| !index.is_empty())
}
