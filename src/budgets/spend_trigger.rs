//! Folding inserted usage into budget spend, in the same transaction.
//!
//! `usage_spend_add` (AFTER INSERT, FOR EACH ROW) matches each inserted row to
//! its budgets through the cached index and adds its cost to the transaction's
//! pending totals (`pending_spend`) per (budget, period, per value). An AFTER
//! ROW trigger sees only rows really inserted (not those skipped by ON
//! CONFLICT DO NOTHING). Just before commit (the pre-commit transaction
//! callback) or when `flush_spend()` is called, `flush_pending` writes those
//! totals, in a fixed order so concurrent writers cannot deadlock: calendar
//! totals first, existing rows directly (`spend_store`), a period's first row
//! with an SQL upsert; then rolling windows through `llm_cost._window_add`; it
//! queues every threshold a new total crossed and settles the reservations the
//! rows named (sql/reservations.sql), at the same commit as their spend.
use crate::budgets::budget_cache::{with_budgets, BudgetIndex, RowDims};
use crate::budgets::budget_period;
use crate::budgets::escrow;
use crate::budgets::pending_spend::{self, SpendDelta, SpendKey};
use crate::budgets::spend_store::SpendStore;
use crate::pg::trigger_support::{
    c_trigger, column_positions, optional_column_position, trigger_data, OptionalPositionCache, PositionCache,
};
use crate::pricing::decimal::Decimal;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{PgBuiltInOids, PgOid};
use rustc_hash::FxHashMap;
use rustc_hash::FxHashSet;
use std::cell::RefCell;

thread_local! {
    static UPSERT: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static SETTLE: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    /// unpriced_model alerts this backend has queued in committed transactions.
    static ANNOUNCED: RefCell<FxHashSet<(String, String)>> = RefCell::new(FxHashSet::default());
    static ANNOUNCED_NOW: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// Called by the transaction callback (xact_callbacks): unpriced_model alerts
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
pub(crate) const SPEND_COLUMNS: [&str; 14] = [
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
    "input_tokens",
    "output_tokens",
    "tags",
];

thread_local! {
    static POSITIONS: PositionCache<14> = const { RefCell::new(None) };
    /// usage.reservation_id: 0.3.0's; a database not yet updated lacks it.
    static RESERVATION_COLUMN: OptionalPositionCache = const { RefCell::new(None) };
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
    let cols = unsafe { column_positions(&POSITIONS, rel, SPEND_COLUMNS) };
    let [_, cost_col, tenant, _, _, _, _, _, _, provider, model, ..] = cols;
    // SAFETY: as above.
    let reservation = unsafe { optional_column_position(&RESERVATION_COLUMN, rel, "reservation_id") };
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
    if let Some(reservation) = reservation.filter(|&r| !nulls[r]) {
        let id = values[reservation].value() as i64;
        let tenant = text(tenant).map(str::to_string);
        pending_spend::with_current(|p| p.settled.insert(id, tenant));
    }
    with_budgets(|index| {
        if index.is_empty() {
            return;
        }
        // SAFETY: `values` and `nulls` are the row deformed above, whose
        // SPEND_COLUMNS are at `cols`; its datums stay valid for the call.
        unsafe {
            for_each_total(index, &cols, &values, &nulls, |key, call| {
                pending_spend::with_current(|p| pending_spend::add(p, key, call))
            })
        };
    });
    pg_sys::Datum::from(0)
}

/// Calls `f` with the running total (its key) and the delta of every budget
/// period a usage row counts in: its cost (0 when unpriced), one call and its
/// tokens, for each enabled budget whose scope, tags and per dimension cover
/// it. The spend trigger adds them to the pending spend; retire_usage to
/// retired_spend (`retired_spend`).
///
/// # Safety
/// `values` and `nulls` must be a row of a usage table deformed by Postgres,
/// with the columns SPEND_COLUMNS at `cols`, its by-reference datums valid
/// for the call.
pub(crate) unsafe fn for_each_total(
    index: &BudgetIndex,
    cols: &[usize; 14],
    values: &[pg_sys::Datum],
    nulls: &[bool],
    mut f: impl FnMut(SpendKey, SpendDelta),
) {
    let [at_col, cost_col, tenant, project, user, agent, session, execution, operation, provider, model, input, output, tags_col] =
        *cols;
    let text = |i: usize| -> Option<&str> {
        if nulls[i] {
            None
        } else {
            // SAFETY: a non-null attribute of a text column of the row
            // (caller's guarantee), valid for the call.
            unsafe { <&str>::from_datum(values[i], false) }
        }
    };
    // Token columns are NOT NULL bigints (the table's constraints keep them >= 0).
    let tokens = (values[input].value() as i64)
        .checked_add(values[output].value() as i64)
        .unwrap_or_else(|| crate::pg::errors::spend_out_of_range());
    let tags = (index.any_tags && !nulls[tags_col])
        .then(|| {
            // SAFETY: a non-null attribute of the jsonb column `tags` of the
            // row (caller's guarantee), valid for the call.
            unsafe { pgrx::JsonB::from_datum(values[tags_col], false) }
        })
        .flatten();
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
        tags: tags.as_ref().map(|t| &t.0),
    };
    let cost = if nulls[cost_col] {
        Decimal::ZERO
    } else {
        let c = values[cost_col];
        // SAFETY: the row's non-null `cost`, a numeric column (caller's
        // guarantee), valid for the call.
        unsafe { crate::pg::numeric_datum::decimal_from_numeric(c) }.unwrap_or_else(|| {
            // SAFETY: as above.
            let text = unsafe { crate::pg::numeric_datum::numeric_text(c) };
            crate::pg::errors::out_of_range(format!("cost {text} is out of range for exact budget arithmetic"))
        })
    };
    let call = SpendDelta { cost, calls: 1, tokens };
    let at = values[at_col].value() as i64;
    index.for_each_match(&row, |budget| {
        let Some(per_value) = budget.per_value(&row) else { return };
        f(SpendKey { budget_id: budget.id, period_start: budget_period::period_start(budget, at), per_value }, call);
    });
}

// 0.1.0's deferred flush trigger function; see _spend_flush_wanted.
c_trigger!(usage_spend_flush, pg_finfo_usage_spend_flush, spend_flush);

/// The first spend of a budget, period and per value creates its row (existing
/// rows are added to by `spend_store` without SQL). Totals are applied in
/// sorted order, so every writer takes the spend rows' locks in the same order
/// and none can deadlock.
const UPSERT_SQL: &str =
    "INSERT INTO llm_cost.budget_spend_slots AS s (budget_id, period_start, per_value, slot, spent, calls, tokens)
     SELECT $1, $2, $3, 0, $4::numeric, $5, $6
      WHERE EXISTS (SELECT FROM llm_cost.budgets WHERE id = $1)  -- not deleted meanwhile
     ON CONFLICT (budget_id, period_start, per_value, slot) DO UPDATE
        SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, tokens = s.tokens + excluded.tokens,
            updated_at = now()
     RETURNING s.spent::text, s.calls, s.tokens";

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

/// Writes the pending spend from the pre-commit callback (xact_callbacks),
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
    /// The new running total, in the budget's unit.
    used: Decimal,
    threshold: Decimal,
}

/// Pending totals in the order every writer takes their locks in (and
/// `llm_cost._fold_spend` too): calendar totals by (budget, period, per
/// value), then rolling windows by (budget, per value, slot), each window's
/// running total locked before its slots.
struct Ordered {
    calendar: Vec<(SpendKey, SpendDelta)>,
    rolling: Vec<(SpendKey, SpendDelta)>,
}

fn ordered(spend: FxHashMap<SpendKey, SpendDelta>) -> Ordered {
    // A budget no longer in the index (deleted or disabled since) goes the
    // calendar way, whose upsert skips a deleted budget.
    let (mut rolling, mut calendar): (Vec<_>, Vec<_>) = with_budgets(|index| {
        spend.into_iter().partition(|(key, _)| index.budget(key.budget_id).is_some_and(|b| b.is_rolling()))
    });
    calendar.sort_by(|a, b| a.0.cmp(&b.0));
    rolling.sort_by(|(a, _), (b, _)| {
        (a.budget_id, &a.per_value, a.period_start).cmp(&(b.budget_id, &b.per_value, b.period_start))
    });
    Ordered { calendar, rolling }
}

fn flush_pending() -> i64 {
    let pending = pending_spend::take_all();
    if pending.is_empty() {
        return 0;
    }
    let Ordered { calendar, rolling } = ordered(pending.spend);
    let written = (calendar.len() + rolling.len()) as i64;
    // Totals whose row exists (all but a period's first spend) are added to
    // directly. From the first one without a row on, the rest go through SQL,
    // still in sorted order, so every writer takes the locks in one order.
    let store = (!calendar.is_empty()).then(SpendStore::open);
    let mut crossings: Vec<Crossing> = Vec::new();
    let mut done = 0;
    if let Some(store) = &store {
        for (key, delta) in &calendar {
            let Some(found) = write_total(store, None, key, delta) else { break };
            crossings.extend(found);
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
    if done == calendar.len()
        && rolling.is_empty()
        && crossings.is_empty()
        && unpriced.is_empty()
        && pending.settled.is_empty()
    {
        return written;
    }
    // as the extension's owner: the inserting role need not be able to write
    // budget_spend, the windows, the reservations or the queue
    crate::pg::extension_owner::run_as_owner(|| {
        Spi::connect_mut(|client| {
            if let Some(store) = &store {
                for (key, delta) in calendar.iter().skip(done) {
                    crossings.extend(write_total(store, Some(client), key, delta).unwrap_or_default());
                }
            }
            for crossing in &crossings {
                queue_alert(client, crossing);
            }
            // A window queues its own crossings (it alone knows when its total fell).
            for (key, delta) in &rolling {
                add_to_window(client, key, delta);
            }
            if !pending.settled.is_empty() {
                settle(client, pending.settled);
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
    written
}

/// Adds one transaction's delta to a calendar total and returns the
/// thresholds it crossed: through this backend's slot when its cap allows
/// (escrow), else exactly, through slot 0 (src/budgets/escrow.rs). Without an
/// SPI client, None when SQL is needed (a row to create) before anything was
/// written; the caller then goes on with one. With one, always Some.
fn write_total(
    store: &SpendStore,
    mut client: Option<&mut pgrx::spi::SpiClient<'_>>,
    key: &SpendKey,
    delta: &SpendDelta,
) -> Option<Vec<Crossing>> {
    if !store.has_slots() {
        // 0.2.0's table (ALTER EXTENSION UPDATE not run yet): one row per total
        let totals = match store.add_to_existing(key, delta) {
            Some(totals) => Some(totals),
            None => upsert_total(client?, key, delta),
        };
        return Some(totals.map(|t| crossings_of(key, delta, &t)).unwrap_or_default());
    }
    let (own_missing, make_own) = match escrow::try_escrow(store, key, delta) {
        escrow::EscrowAttempt::Done => return Some(Vec::new()),
        escrow::EscrowAttempt::Exact => (false, false),
        escrow::EscrowAttempt::NoSlot { make } => (true, make),
    };
    if make_own && client.is_none() {
        return None; // its slot is made with SQL: nothing is written yet
    }
    // the exact path: slot 0 first (every exact writer takes it first)
    let shared = match store.add_to_existing(key, delta) {
        Some(totals) => totals,
        None => match upsert_total(client.as_deref_mut()?, key, delta) {
            Some(totals) => totals,
            None => return Some(Vec::new()), // the budget is gone
        },
    };
    if own_missing && !make_own {
        escrow::note_exact_write(store, key);
        if let Some(total) = escrow::total_without_slots(key, store.found_as_left(), shared) {
            return Some(crossings_of(key, delta, &total));
        }
    }
    let new_slot = make_own.then(escrow::own_slot);
    let (total, new_cap) = escrow::settle_caps(store, key, shared, new_slot);
    if let (Some(slot), Some(client)) = (new_slot, client) {
        // with every slot held: this backend's slot, for its next writes
        add_slot(client, key, slot, new_cap);
        escrow::slot_made(key);
    }
    Some(crossings_of(key, delta, &total))
}

/// Makes a backend's slot of a total: no spend yet, allowed up to `cap`.
fn add_slot(client: &mut pgrx::spi::SpiClient<'_>, key: &SpendKey, slot: i32, cap: Option<Decimal>) {
    let cap = cap.map(|cap| cap.to_string());
    client
        .update(
            "INSERT INTO llm_cost.budget_spend_slots (budget_id, period_start, per_value, slot, cap)
             VALUES ($1, $2, $3, $4, $5::numeric) ON CONFLICT DO NOTHING",
            None,
            &[
                key.budget_id.into(),
                timestamptz(key.period_start).into(),
                key.per_value.as_str().into(),
                slot.into(),
                cap.as_deref().into(),
            ],
        )
        .unwrap_or_else(|e| error!("llm_cost: cannot add a budget spend slot: {e}"));
}

/// A timestamptz argument from a Postgres timestamp (microseconds since 2000).
pub(crate) fn timestamptz(at: i64) -> Option<TimestampWithTimeZone> {
    // SAFETY: a timestamptz is a by-value i64 Datum; any i64 is one.
    unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(at), false) }
}

/// Creates (or, if a concurrent writer just created it, adds to) a total's
/// row; its new totals, or None for a budget deleted since its rows were
/// inserted.
fn upsert_total(client: &mut pgrx::spi::SpiClient<'_>, key: &SpendKey, delta: &SpendDelta) -> Option<SpendDelta> {
    let cost = delta.cost.to_string();
    let args = [
        key.budget_id.into(),
        timestamptz(key.period_start).into(),
        key.per_value.as_str().into(),
        cost.as_str().into(),
        delta.calls.into(),
        delta.tokens.into(),
    ];
    if !spend_has_tokens() {
        return upsert_total_0_2(client, key, delta);
    }
    UPSERT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let oids = [
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
                PgOid::BuiltIn(PgBuiltInOids::TIMESTAMPTZOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
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
        upserted_totals(rows)
    })
}

/// The totals an upsert returned (spent as text, calls, and tokens when the
/// table has them), or None when it wrote nothing (the budget is gone).
fn upserted_totals(rows: pgrx::spi::SpiTupleTable) -> Option<SpendDelta> {
    if rows.is_empty() {
        return None;
    }
    let row = rows.first();
    let spent: String = row.get(1).ok().flatten()?;
    Some(SpendDelta {
        cost: Decimal::parse(&spent).unwrap_or_else(|_| error!("llm_cost: unreadable running total {spent}")),
        calls: row.get(2).ok().flatten().unwrap_or_default(),
        tokens: if row.columns().unwrap_or(0) > 2 { row.get(3).ok().flatten().unwrap_or_default() } else { 0 },
    })
}

/// Whether budget_spend has 0.3.0's tokens column (not before ALTER EXTENSION UPDATE).
fn spend_has_tokens() -> bool {
    SpendStore::open().has_tokens()
}

/// `upsert_total` on a 0.2.0 schema (no tokens column), until the database is updated.
fn upsert_total_0_2(client: &mut pgrx::spi::SpiClient<'_>, key: &SpendKey, delta: &SpendDelta) -> Option<SpendDelta> {
    let cost = delta.cost.to_string();
    let rows = client
        .update(
            "INSERT INTO llm_cost.budget_spend AS s (budget_id, period_start, per_value, spent, calls)
             SELECT $1, $2, $3, $4::numeric, $5
              WHERE EXISTS (SELECT FROM llm_cost.budgets WHERE id = $1)
             ON CONFLICT (budget_id, period_start, per_value) DO UPDATE
                SET spent = s.spent + excluded.spent, calls = s.calls + excluded.calls, updated_at = now()
             RETURNING s.spent::text, s.calls",
            None,
            &[
                key.budget_id.into(),
                timestamptz(key.period_start).into(),
                key.per_value.as_str().into(),
                cost.as_str().into(),
                delta.calls.into(),
            ],
        )
        .unwrap_or_else(|e| error!("llm_cost: budget spend upsert failed: {e}"));
    upserted_totals(rows)
}

/// Adds to one slot of a rolling budget and its window's total
/// (`llm_cost._window_add`, which also queues the thresholds crossed).
fn add_to_window(client: &mut pgrx::spi::SpiClient<'_>, key: &SpendKey, delta: &SpendDelta) {
    let cost = delta.cost.to_string();
    client
        .update(
            "SELECT llm_cost._window_add($1, $2, $3, $4::numeric, $5, $6)",
            None,
            &[
                key.budget_id.into(),
                key.per_value.as_str().into(),
                timestamptz(key.period_start).into(),
                cost.as_str().into(),
                delta.calls.into(),
                delta.tokens.into(),
            ],
        )
        .unwrap_or_else(|e| error!("llm_cost: cannot add to a rolling budget's window: {e}"));
}

/// Settles the reservations the inserted rows named: their holds go at the
/// same commit as the rows' spend arrives.
fn settle(client: &mut pgrx::spi::SpiClient<'_>, settled: FxHashMap<i64, Option<String>>) {
    let (ids, tenants): (Vec<i64>, Vec<Option<String>>) = settled.into_iter().unzip();
    SETTLE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            let oids = [PgOid::BuiltIn(PgBuiltInOids::INT8ARRAYOID), PgOid::BuiltIn(PgBuiltInOids::TEXTARRAYOID)];
            let prepared = client
                .prepare_mut(SETTLE_SQL, &oids)
                .unwrap_or_else(|e| error!("llm_cost: cannot prepare the settling of reservations: {e}"));
            *cell = Some(prepared.keep());
        }
        client
            .update(cell.as_ref().expect("prepared above"), None, &[ids.into(), tenants.into()])
            .unwrap_or_else(|e| error!("llm_cost: cannot settle reservations: {e}"));
    });
}

/// Settles reservations: each with its holds, and only by a row of its own
/// tenant (a row naming another tenant's reservation is recorded and settles
/// nothing). What `llm_cost._drop_reservations` does, as one prepared
/// statement: this runs in every settling commit.
const SETTLE_SQL: &str = "WITH dropped AS (
        DELETE FROM llm_cost.reservations AS r
         USING unnest($1::bigint[], $2::text[]) AS s (id, tenant_id)
         WHERE r.id = s.id AND r.tenant_id IS NOT DISTINCT FROM s.tenant_id
        RETURNING r.id
    )
    DELETE FROM llm_cost.budget_holds AS h WHERE h.reservation_id IN (SELECT d.id FROM dropped AS d)";

/// The thresholds of its budget a written total crossed going from
/// totals - delta to totals (in the budget's unit), as alerts to queue.
fn crossings_of(key: &SpendKey, delta: &SpendDelta, totals: &SpendDelta) -> Vec<Crossing> {
    with_budgets(|index| {
        let Some(b) = index.budget(key.budget_id) else { return Vec::new() };
        let after = b.used(totals);
        let Ok(before) = after.checked_sub(b.used(delta)) else { return Vec::new() };
        if before >= after {
            return Vec::new(); // only an increase crosses upward
        }
        let hundred = Decimal::from_i64(100);
        let before100 = before.checked_mul(hundred).unwrap_or(Decimal::ZERO);
        let after100 = after.checked_mul(hundred).unwrap_or(Decimal::ZERO);
        b.thresholds
            .iter()
            .filter(|t| {
                let limit = b.amount.checked_mul(**t).unwrap_or(Decimal::ZERO);
                before100 < limit && after100 >= limit
            })
            .map(|threshold| Crossing {
                budget_id: key.budget_id,
                period_start: key.period_start,
                per_value: key.per_value.clone(),
                used: after,
                threshold: *threshold,
            })
            .collect()
    })
}

/// Queues one crossed threshold (the queue dedupes by budget, period, value and threshold).
fn queue_alert(
    client: &mut pgrx::spi::SpiClient<'_>,
    Crossing { budget_id, period_start, per_value, used, threshold }: &Crossing,
) {
    let at = timestamptz(*period_start);
    client
        .update(
            "SELECT llm_cost._queue_budget_alert($1, $2, $3, $4::numeric, $5::numeric)",
            None,
            &[
                (*budget_id).into(),
                at.into(),
                per_value.as_str().into(),
                used.to_string().into(),
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
