//! Adding to a running total that already exists in
//! `llm_cost.budget_spend_slots` (the `budget_spend` view sums a total's
//! slots; 0.2.0's `budget_spend` was the table itself), without SPI.
//!
//! This is the commit-time write of every transaction that inserts usage under
//! a budget, once per matching (budget, period, per value). Through SPI each
//! was a prepared `UPDATE … RETURNING`: plan-cache check, executor start and
//! shutdown, an index probe, a result tuple to text and back. Here it is a
//! fetch by the TID this backend wrote last (an index probe when that is not
//! the current version), one `heap_update` and, only when the update cannot be
//! HOT, the index inserts the executor would do.
//!
//! Concurrency is what `UPDATE` does in READ COMMITTED: the row is found with
//! a fresh snapshot; `heap_update` waits for a writer holding it; if that
//! writer committed a newer version, the probe is repeated and the delta added
//! to that. A counter only ever adds, so this is also what REPEATABLE READ and
//! SERIALIZABLE transactions get: their totals are never computed from a stale
//! version, where an `UPDATE` would fail with a serialization error on a
//! concurrently updated total (SERIALIZABLE's own conflict checks, made inside
//! `heap_update`, still apply).
//!
//! The row's first version of a period, and a budget deleted meanwhile, are
//! left to the caller's SQL upsert (`None`).
//!
//! What an `UPDATE` would do and this does not, and why that is safe; `open`
//! checks it on the table as it is and raises an error naming what it found:
//! - triggers on UPDATE (row or statement): the table may have only its
//!   foreign key's (RI) triggers, which skip an update that leaves the key
//!   columns alone: the columns written here (spent, calls, updated_at) must
//!   be in no foreign key of the table, and no foreign key may refer to the
//!   table (the referenced side's triggers are not expected);
//! - CHECK constraints, stored generated columns, rules: none allowed. NOT
//!   NULL: every column read or written here must be NOT NULL (a NULL total
//!   could not be added to); the other columns keep their values;
//! - row-level security: bypassed, deliberately, and not checked.
//!   tenant_isolation.sql enables it on budget_spend; the spend added comes
//!   from usage rows the policies admitted, to the budget's own row;
//! - the columns are found by name, with the types read and written here, and
//!   the primary key must be on (budget_id, period_start, per_value, slot),
//!   which the probe scans (0.2.0's: without slot). Unique and exclusion constraints of other indexes are
//!   checked by the index inserts, as the executor checks them; a deferrable
//!   one's recheck trigger is a trigger the first point refuses.
//!
//! Column positions and the key's collation are looked up once per relation
//! (kept while its id, primary key and number of attributes stay the same, and
//! rechecked by name at each open, against the relcache's descriptor); the
//! other checks read only the relcache entry. Nothing is looked up per row.

use crate::budgets::budget_cache::Budget;
use crate::budgets::pending_spend::{SpendDelta, SpendKey};
use crate::pg::numeric_datum::NumericDatum;
use crate::pricing::decimal::Decimal;
use pgrx::pg_sys;
use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// Where budget_spend's columns are (1-based attribute numbers), found by name.
#[derive(Clone, Copy)]
struct Columns {
    budget_id: usize,
    period_start: usize,
    per_value: usize,
    spent: usize,
    calls: usize,
    updated_at: usize,
    /// 0.3.0's; a database still on 0.2.0 (library updated, ALTER EXTENSION
    /// UPDATE not run yet) has no tokens column, and none are kept.
    tokens: Option<usize>,
    /// budget_spend_slots' slot (0.3.0); 0.2.0's budget_spend has none.
    slot: Option<usize>,
    /// budget_spend_slots' cap: a slot's allowance (nullable numeric).
    cap: Option<usize>,
}

/// The columns by name, in `Columns`' order, with the type each must have.
const EXPECTED: [(&str, pg_sys::Oid); 6] = [
    ("budget_id", pg_sys::INT8OID),
    ("period_start", pg_sys::TIMESTAMPTZOID),
    ("per_value", pg_sys::TEXTOID),
    ("spent", pg_sys::NUMERICOID),
    ("calls", pg_sys::INT8OID),
    ("updated_at", pg_sys::TIMESTAMPTZOID),
];

/// The optional columns, with the type each must have when present.
const TOKENS: (&str, pg_sys::Oid) = ("tokens", pg_sys::INT8OID);
const SLOT: (&str, pg_sys::Oid) = ("slot", pg_sys::INT4OID);
/// The allowance column, nullable.
const CAP: &str = "cap";

/// The slot the SQL paths and the exact path add to (docs/escrow.md, section 7).
pub const SHARED_SLOT: i32 = 0;

impl Columns {
    fn from_positions(found: [usize; 6], tokens: Option<usize>, slot: Option<usize>, cap: Option<usize>) -> Columns {
        let [budget_id, period_start, per_value, spent, calls, updated_at] = found;
        Columns { budget_id, period_start, per_value, spent, calls, updated_at, tokens, slot, cap }
    }

    fn positions(&self) -> [usize; 6] {
        [self.budget_id, self.period_start, self.per_value, self.spent, self.calls, self.updated_at]
    }

    /// The columns an update writes.
    fn written(&self) -> Vec<usize> {
        let mut written = vec![self.spent, self.calls, self.updated_at];
        written.extend(self.tokens);
        written.extend(self.cap);
        written
    }

    /// The primary key's columns, which the probe scans.
    fn key(&self) -> Vec<usize> {
        let mut key = vec![self.budget_id, self.period_start, self.per_value];
        key.extend(self.slot);
        key
    }
}

/// What `open` found for one relation: the (table, primary key, number of
/// attributes) it holds for, the columns, and the collation the key compares
/// per_value with.
#[derive(Clone, Copy)]
struct Layout {
    relid: pg_sys::Oid,
    pkey: pg_sys::Oid,
    natts: i32,
    columns: Columns,
    per_value_collation: pg_sys::Oid,
}

thread_local! {
    /// The layout found last (one relation: budget_spend of this database).
    static LAYOUT: std::cell::Cell<Option<Layout>> = const { std::cell::Cell::new(None) };
}

/// budget_spend and its primary key, opened for the duration of one flush.
///
/// Invariant the unsafe code below relies on: `heap` is budget_spend, opened
/// by `open` with RowExclusiveLock and closed only by `drop`, so it is a valid
/// open relation (and its `rd_att` a valid descriptor of as many attributes as
/// the buffers hold, with `columns` where `open` found them, of the types and
/// NOT NULL it checked) for as long as the SpendStore lives; a SpendStore
/// lives within one transaction.
pub struct SpendStore {
    heap: pg_sys::Relation,
    pkey: pg_sys::Oid,
    columns: Columns,
    /// The collation the primary key compares per_value with.
    per_value_collation: pg_sys::Oid,
    /// heap_deform_tuple / heap_modify_tuple buffers, one entry per attribute,
    /// allocated once per open.
    values: RefCell<Vec<pg_sys::Datum>>,
    nulls: RefCell<Vec<bool>>,
    replace: RefCell<Vec<bool>>,
    /// The table's length when first needed; stable while we hold our lock
    /// (VACUUM truncates only under a lock that conflicts with it).
    blocks: std::cell::Cell<Option<pg_sys::BlockNumber>>,
    /// Whether the last write met another writer of the row: one in flight
    /// on the version it found, or one that committed a newer version first.
    met_other_writer: std::cell::Cell<bool>,
    /// Whether the last write found the row as this backend left it: the
    /// version it wrote last was still the latest, so no one else wrote the
    /// row in between.
    found_as_left: std::cell::Cell<bool>,
}

impl SpendStore {
    /// Opens budget_spend with the lock an UPDATE takes, and checks that the
    /// table is what the direct update relies on (the module's header).
    pub fn open() -> SpendStore {
        // SAFETY: catalog lookups with NUL-terminated literal names, inside a
        // transaction. table_open returns a valid relation (or raises an
        // ERROR), which `layout` and `check_bypassed` get open.
        unsafe {
            let nsp = pg_sys::get_namespace_oid(c"llm_cost".as_ptr(), false);
            // 0.3.0 keeps the totals in slots; a database still on 0.2.0
            // (ALTER EXTENSION UPDATE not run yet) in its budget_spend table
            let (table, mut relid, mut pkey) = (
                "budget_spend_slots",
                pg_sys::get_relname_relid(c"budget_spend_slots".as_ptr(), nsp),
                pg_sys::get_relname_relid(c"budget_spend_slots_pkey".as_ptr(), nsp),
            );
            let table = if relid == pg_sys::InvalidOid {
                relid = pg_sys::get_relname_relid(c"budget_spend".as_ptr(), nsp);
                pkey = pg_sys::get_relname_relid(c"budget_spend_pkey".as_ptr(), nsp);
                "budget_spend"
            } else {
                table
            };
            if relid == pg_sys::InvalidOid || pkey == pg_sys::InvalidOid {
                pgrx::error!("llm_cost: table llm_cost.{table} or its primary key is missing");
            }
            let heap = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
            let layout = layout(heap, pkey, table);
            check_bypassed(heap, &layout.columns, table);
            let natts = layout.natts as usize;
            let mut replace = vec![false; natts];
            for column in layout.columns.written() {
                replace[column - 1] = true;
            }
            SpendStore {
                heap,
                pkey,
                columns: layout.columns,
                per_value_collation: layout.per_value_collation,
                values: RefCell::new(vec![pg_sys::Datum::from(0); natts]),
                nulls: RefCell::new(vec![false; natts]),
                replace: RefCell::new(replace),
                blocks: std::cell::Cell::new(None),
                met_other_writer: std::cell::Cell::new(false),
                found_as_left: std::cell::Cell::new(false),
            }
        }
    }

    /// Whether the table keeps tokens (0.3.0 on).
    pub fn has_tokens(&self) -> bool {
        self.columns.tokens.is_some()
    }

    /// Whether totals are kept in slots with allowances (0.3.0 on): escrow
    /// is possible (docs/escrow.md, section 7).
    pub fn has_slots(&self) -> bool {
        self.columns.slot.is_some() && self.columns.cap.is_some()
    }

    /// Adds `delta` to the total of (budget, period start, per value) if its
    /// row exists; returns the new totals, or None when there is no row to add
    /// to. (The shared slot, 0, in 0.3.0.)
    pub fn add_to_existing(&self, key: &SpendKey, delta: &SpendDelta) -> Option<SpendDelta> {
        match self.apply(key, SHARED_SLOT, &Op::Add(delta, None)) {
            Applied::Done(total) => Some(total),
            Applied::NoRow | Applied::Refused => None,
        }
    }

    /// Adds `delta` to slot `slot` of a total. With `within`, only if the
    /// slot's use after it, in that budget's unit, stays within the slot's
    /// cap (NULL: no allowance): the escrow path. Returns the slot's new
    /// totals.
    pub fn add_to_slot(&self, key: &SpendKey, slot: i32, delta: &SpendDelta, within: Option<&Budget>) -> Applied {
        self.apply(key, slot, &Op::Add(delta, within))
    }

    /// Sets a slot's cap, once its holder's transactions in flight have
    /// ended (the update waits for them); returns the slot's totals, or None
    /// when it has no row.
    pub fn set_cap(&self, key: &SpendKey, slot: i32, cap: Option<Decimal>) -> Option<SpendDelta> {
        match self.apply(key, slot, &Op::SetCap(cap)) {
            Applied::Done(total) => Some(total),
            _ => None,
        }
    }

    /// Whether the last write (`add_to_existing`, `add_to_slot`, `set_cap`)
    /// met another writer of its row: a transaction in flight holding the
    /// version it found (it waited for it), or one that committed a newer
    /// version in between. A hint of contention, read without the buffer's
    /// content lock: escrow gives a backend a slot of its own only for totals
    /// where it meets others.
    pub fn met_other_writer(&self) -> bool {
        self.met_other_writer.get()
    }

    /// Whether the last write found its row as this backend had left it:
    /// the version it wrote last (same TID, written by the transaction that
    /// wrote it) was still the latest, so no other transaction wrote the row
    /// in between (one that did and aborted leaves it so, rightly).
    pub fn found_as_left(&self) -> bool {
        self.found_as_left.get()
    }

    fn apply(&self, key: &SpendKey, slot: i32, op: &Op) -> Applied {
        self.met_other_writer.set(false);
        // Everything this transaction wrote before (earlier flushes, rebuilds
        // in SQL) must be visible to the probe, and our update must be
        // visible to whatever runs after it.
        // SAFETY: inside a transaction (the flush's); only advances the command counter.
        unsafe { pg_sys::CommandCounterIncrement() };
        let result = loop {
            // SAFETY: `self.heap` is open (the struct's invariant), in this transaction.
            match unsafe { self.try_apply(key, slot, op) } {
                Attempt::Done(total) => break Applied::Done(total),
                Attempt::NoRow => break Applied::NoRow,
                Attempt::Refused => break Applied::Refused,
                Attempt::Retry => continue,
            }
        };
        // SAFETY: as above.
        unsafe { pg_sys::CommandCounterIncrement() };
        result
    }

    /// The slots of a total other than the shared one, in slot order, as the
    /// latest committed versions (and this transaction's own) show them.
    pub fn other_slots(&self, key: &SpendKey) -> Vec<i32> {
        let Some(slot_col) = self.columns.slot else { return Vec::new() };
        // SAFETY: `self.heap` is open (the struct's invariant); the snapshot
        // is registered before the scan and unregistered after it; each tuple
        // the scan returns is valid until the next getnext, and is read at
        // once (an int4 attribute, NOT NULL, checked by `open`).
        unsafe {
            pg_sys::CommandCounterIncrement();
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
            let mut slots = Vec::new();
            self.scan_key(snapshot, key, None, |tuple| {
                let mut isnull = false;
                let datum = pg_sys::heap_getattr(tuple, slot_col as i32, (*self.heap).rd_att, &mut isnull);
                let slot = datum.value() as i32;
                if !isnull && slot != SHARED_SLOT {
                    slots.push(slot);
                }
            });
            pg_sys::UnregisterSnapshot(snapshot);
            slots.sort_unstable();
            slots
        }
    }

    /// # Safety
    /// Called in the transaction that opened `self` (the struct's invariant
    /// then holds: `heap` is open).
    unsafe fn try_apply(&self, key: &SpendKey, slot: i32, op: &Op) -> Attempt {
        // SAFETY: `self.heap` is open (caller's guarantee). The snapshot is
        // registered before use and unregistered once both probes are done.
        // `update`, if any, holds a palloc'd new tuple and the old version's
        // TID; heap_update gets valid pointers to locals for its out-parameters
        // (a zeroed TM_FailureData is plain data), and the new tuple is freed
        // only after its index entries and TID have been taken.
        unsafe {
            // A fresh snapshot: the latest committed version, as an UPDATE in
            // READ COMMITTED would see it, also inside an older snapshot.
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
            self.found_as_left.set(false);
            let found = match self.at_remembered_tid(snapshot, key, slot, op) {
                Modified::Mismatch => self.by_index(snapshot, key, slot, op),
                other => other,
            };
            pg_sys::UnregisterSnapshot(snapshot);
            let (mut otid, newtup, total) = match found {
                Modified::Update(update) => update,
                Modified::Refused => return Attempt::Refused,
                Modified::Mismatch => return Attempt::NoRow,
            };
            let mut failure: pg_sys::TM_FailureData = std::mem::zeroed();
            let mut lockmode: pg_sys::LockTupleMode::Type = 0;
            let result = pg_sys::heap_update(
                self.heap,
                &mut otid,
                newtup,
                pg_sys::GetCurrentCommandId(true),
                std::ptr::null_mut(),
                true,
                &mut failure,
                &mut lockmode,
            );
            match result {
                pg_sys::TM_Result::TM_Ok => {
                    if !is_heap_only(newtup) {
                        self.insert_index_entries(newtup);
                    }
                    remember(key, slot, (*newtup).t_self, pg_sys::GetCurrentTransactionId());
                    pg_sys::heap_freetuple(newtup);
                    Attempt::Done(total)
                }
                // A concurrent writer committed a newer version: apply to that one.
                pg_sys::TM_Result::TM_Updated => {
                    self.met_other_writer.set(true);
                    Attempt::Retry
                }
                // The budget was deleted (its spend cascades): the upsert decides.
                pg_sys::TM_Result::TM_Deleted => Attempt::NoRow,
                other => pgrx::error!("llm_cost: unexpected result {other} updating budget spend"),
            }
        }
    }

    /// The version this backend wrote last for the key and slot, if it is
    /// still the visible one. The usual case: one fetch by TID instead of an
    /// index probe that walks the row's chain of versions not pruned yet (at
    /// thousands of updates a second that chain is long, and the probe was
    /// most of the write's cost). The TID is only a hint: the row found there
    /// must carry the key (a table rewrite reuses TIDs), else the index decides.
    ///
    /// # Safety
    /// `self.heap` is open, and `snapshot` a registered snapshot.
    unsafe fn at_remembered_tid(&self, snapshot: pg_sys::Snapshot, key: &SpendKey, slot: i32, op: &Op) -> Modified {
        let Some((tid, writer)) = REMEMBERED.with(|r| r.borrow().get(&(key.clone(), slot)).copied()) else {
            return Modified::Mismatch;
        };
        // SAFETY: `self.heap` is open and `snapshot` registered (caller's
        // guarantee). The TID is checked against the table's length before
        // heap_fetch reads it; heap_fetch fills the zeroed HeapTupleData and
        // pins the buffer holding it, which stays pinned while `modified`
        // reads the tuple and is released after.
        unsafe {
            // a block past the end (the table was truncated since) is no hint
            let block = ((tid.ip_blkid.bi_hi as u32) << 16) | tid.ip_blkid.bi_lo as u32;
            let blocks = self.blocks.get().unwrap_or_else(|| {
                let n = pg_sys::RelationGetNumberOfBlocksInFork(self.heap, pg_sys::ForkNumber::MAIN_FORKNUM);
                self.blocks.set(Some(n));
                n
            });
            if block >= blocks {
                return Modified::Mismatch;
            }
            let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
            tuple.t_self = tid;
            let mut buffer: pg_sys::Buffer = 0;
            if !pg_sys::heap_fetch(self.heap, snapshot, &mut tuple, &mut buffer, false) {
                return Modified::Mismatch;
            }
            let update = self.modified(&mut tuple, Some((key, slot)), op);
            // the TID may have been reused by another version of the row since
            let ours = (*tuple.t_data).t_choice.t_heap.t_xmin == writer;
            self.found_as_left.set(ours && matches!(update, Modified::Update(_)));
            pg_sys::ReleaseBuffer(buffer);
            update
        }
    }

    /// The visible version found through the primary key.
    ///
    /// # Safety
    /// `self.heap` is open, and `snapshot` a registered snapshot.
    unsafe fn by_index(&self, snapshot: pg_sys::Snapshot, key: &SpendKey, slot: i32, op: &Op) -> Modified {
        let mut found = Modified::Mismatch;
        // SAFETY: `self.heap` is open and `snapshot` registered (caller's
        // guarantee); the tuple the scan returns is valid while `modified` reads it.
        unsafe {
            self.scan_key(snapshot, key, Some(slot), |tuple| {
                if matches!(found, Modified::Mismatch) {
                    found = self.modified(tuple, None, op);
                }
            });
        }
        found
    }

    /// Calls `each` with every visible row of the key (and slot, when given)
    /// through the primary key.
    ///
    /// # Safety
    /// `self.heap` is open, and `snapshot` a registered snapshot.
    unsafe fn scan_key(
        &self,
        snapshot: pg_sys::Snapshot,
        key: &SpendKey,
        slot: Option<i32>,
        mut each: impl FnMut(pg_sys::HeapTuple),
    ) {
        // SAFETY: `self.heap` is open and `snapshot` registered (caller's
        // guarantee); `pkey` is its primary key, on exactly the columns of the
        // scan keys or more (`open` checked; systable_beginscan maps their heap
        // attribute numbers to the index's) (zeroed ScanKeyData is plain data, then initialised). The
        // text datum is palloc'd and outlives the scan; each tuple the scan
        // returns stays valid until the next systable_getnext.
        unsafe {
            let per_value_datum = pgrx::IntoDatum::into_datum(key.per_value.as_str()).expect("text datum");
            let mut keys: [pg_sys::ScanKeyData; 4] = std::mem::zeroed();
            let init = |entry: &mut pg_sys::ScanKeyData,
                        attno: usize,
                        collation: pg_sys::Oid,
                        proc_: u32,
                        value: pg_sys::Datum| {
                pg_sys::ScanKeyEntryInitialize(
                    entry,
                    0,
                    attno as pg_sys::AttrNumber,
                    pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                    pg_sys::InvalidOid,
                    collation,
                    pg_sys::Oid::from(proc_),
                    value,
                )
            };
            let c = &self.columns;
            init(&mut keys[0], c.budget_id, pg_sys::InvalidOid, pg_sys::F_INT8EQ, pg_sys::Datum::from(key.budget_id));
            init(
                &mut keys[1],
                c.period_start,
                pg_sys::InvalidOid,
                pg_sys::F_TIMESTAMPTZ_EQ,
                pg_sys::Datum::from(key.period_start),
            );
            init(&mut keys[2], c.per_value, self.per_value_collation, pg_sys::F_TEXTEQ, per_value_datum);
            let nkeys = match (c.slot, slot) {
                (Some(column), Some(slot)) => {
                    init(&mut keys[3], column, pg_sys::InvalidOid, pg_sys::F_INT4EQ, pg_sys::Datum::from(slot));
                    4
                }
                _ => 3,
            };
            let scan = pg_sys::systable_beginscan(self.heap, self.pkey, true, snapshot, nkeys, keys.as_mut_ptr());
            loop {
                let found = pg_sys::systable_getnext(scan);
                if found.is_null() {
                    break;
                }
                each(found);
            }
            pg_sys::systable_endscan(scan);
        }
    }

    /// A copy of `found` changed by `op`, its TID and the slot's new totals;
    /// Mismatch if `expected` is given and the row does not carry that key
    /// and slot; Refused when an escrow addition does not fit the slot's cap.
    ///
    /// # Safety
    /// `self.heap` is open, and `found` a valid tuple of it (pinned or copied
    /// for the duration of the call).
    unsafe fn modified(&self, found: pg_sys::HeapTuple, expected: Option<(&SpendKey, i32)>, op: &Op) -> Modified {
        // SAFETY: `found` is a valid tuple of the open `self.heap` (caller's
        // guarantee), described by its `rd_att`, of as many attributes as the
        // buffers hold. per_value is text, spent numeric, calls int8 and
        // updated_at timestamptz, all NOT NULL, and cap a nullable numeric
        // (`open` checked the table), as read and written here; numeric_add
        // gets two numerics. The new tuple is palloc'd (heap_modify_tuple
        // copies what it takes of the buffers).
        unsafe {
            let tupdesc = (*self.heap).rd_att;
            let c = &self.columns;
            let mut values = self.values.borrow_mut();
            let mut nulls = self.nulls.borrow_mut();
            if held_by_another_transaction(found) {
                self.met_other_writer.set(true);
            }
            pg_sys::heap_deform_tuple(found, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
            if let Some((SpendKey { budget_id, period_start, per_value }, slot)) = expected {
                let stored = <&str as pgrx::FromDatum>::from_datum(values[c.per_value - 1], nulls[c.per_value - 1]);
                if values[c.budget_id - 1].value() as i64 != *budget_id
                    || values[c.period_start - 1].value() as i64 != *period_start
                    || stored != Some(per_value.as_str())
                    || c.slot.is_some_and(|column| values[column - 1].value() as i32 != slot)
                {
                    return Modified::Mismatch;
                }
            }
            let mut total = SpendDelta {
                cost: decimal_of(values[c.spent - 1]),
                calls: values[c.calls - 1].value() as i64,
                tokens: c.tokens.map_or(0, |t| values[t - 1].value() as i64),
            };
            match op {
                Op::Add(delta, within) => {
                    total.add(**delta);
                    if let Some(budget) = within {
                        let cap =
                            c.cap.filter(|&column| !nulls[column - 1]).map(|column| decimal_of(values[column - 1]));
                        if cap.is_none_or(|cap| budget.used(&total) > cap) {
                            return Modified::Refused;
                        }
                    }
                    // numeric addition, so the total keeps the scale `spent + delta` has in SQL
                    values[c.spent - 1] = pg_sys::DirectFunctionCall2Coll(
                        Some(numeric_add),
                        pg_sys::InvalidOid,
                        values[c.spent - 1],
                        NumericDatum::from_text(&delta.cost.to_string()).0,
                    );
                    values[c.calls - 1] = pg_sys::Datum::from(total.calls);
                    if let Some(t) = c.tokens {
                        values[t - 1] = pg_sys::Datum::from(total.tokens);
                    }
                }
                Op::SetCap(cap) => {
                    let Some(column) = c.cap else { return Modified::Refused };
                    match cap {
                        Some(cap) => {
                            values[column - 1] = NumericDatum::from_text(&cap.to_string()).0;
                            nulls[column - 1] = false;
                        }
                        None => nulls[column - 1] = true,
                    }
                }
            }
            values[c.updated_at - 1] = pg_sys::Datum::from(pg_sys::GetCurrentTransactionStartTimestamp());
            let newtup = pg_sys::heap_modify_tuple(
                found,
                tupdesc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
                self.replace.borrow_mut().as_mut_ptr(),
            );
            Modified::Update(((*found).t_self, newtup, total))
        }
    }

    /// What the executor does after an update that could not stay on its
    /// page: new entries in every index of the table.
    ///
    /// # Safety
    /// `self.heap` is open, and `tuple` the version heap_update just wrote to it.
    unsafe fn insert_index_entries(&self, tuple: pg_sys::HeapTuple) {
        // SAFETY: the executor's own sequence for one tuple (as ExecUpdate
        // does): a fresh executor state and a zeroed ResultRelInfo palloc'd in
        // the current context and initialised for the open `self.heap`; the
        // slot borrows `tuple` (not freed here: shouldFree is false); all of it
        // is closed, dropped and freed before returning.
        unsafe {
            let estate = pg_sys::CreateExecutorState();
            let relinfo = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>()) as *mut pg_sys::ResultRelInfo;
            (*relinfo).type_ = pg_sys::NodeTag::T_ResultRelInfo;
            pg_sys::InitResultRelInfo(relinfo, self.heap, 0, std::ptr::null_mut(), 0);
            pg_sys::ExecOpenIndices(relinfo, false);
            let slot = pg_sys::MakeSingleTupleTableSlot((*self.heap).rd_att, &pg_sys::TTSOpsHeapTuple);
            pg_sys::ExecStoreHeapTuple(tuple, slot, false);
            let recheck = pg_sys::ExecInsertIndexTuples(
                relinfo,
                slot,
                estate,
                true,
                false,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            pg_sys::list_free(recheck);
            pg_sys::ExecDropSingleTupleTableSlot(slot);
            pg_sys::ExecCloseIndices(relinfo);
            pg_sys::FreeExecutorState(estate);
        }
    }
}

impl Drop for SpendStore {
    fn drop(&mut self) {
        // The lock stays until the end of the transaction, as an UPDATE's does.
        // SAFETY: `self.heap` was opened by `open` and is closed only here, once.
        unsafe { pg_sys::table_close(self.heap, pg_sys::NoLock as pg_sys::LOCKMODE) };
    }
}

/// The old version's TID, the new version, the new totals.
type Update = (pg_sys::ItemPointerData, pg_sys::HeapTuple, SpendDelta);

/// Most running totals a backend remembers the TID of; past it, it starts over.
const REMEMBERED_MAX: usize = 10_000;

thread_local! {
    /// Where this backend last wrote each running total's slot, and the
    /// (sub)transaction that wrote that version.
    static REMEMBERED: RefCell<FxHashMap<(SpendKey, i32), (pg_sys::ItemPointerData, pg_sys::TransactionId)>> =
        RefCell::new(FxHashMap::default());
}

fn remember(key: &SpendKey, slot: i32, tid: pg_sys::ItemPointerData, writer: pg_sys::TransactionId) {
    REMEMBERED.with(|r| {
        crate::budgets::insert_bounded(&mut r.borrow_mut(), (key.clone(), slot), (tid, writer), REMEMBERED_MAX)
    });
}

/// What to do to a slot's row.
enum Op<'a> {
    /// Add to its totals; with a budget, only within the slot's cap.
    Add(&'a SpendDelta, Option<&'a Budget>),
    /// Set its cap (None: no allowance).
    SetCap(Option<Decimal>),
}

/// What `add_to_slot` did.
pub enum Applied {
    /// Added: the slot's new totals.
    Done(SpendDelta),
    /// The slot has no row (or the budget is gone).
    NoRow,
    /// Not added: it does not fit the slot's cap.
    Refused,
}

enum Modified {
    Update(Update),
    Mismatch,
    Refused,
}

enum Attempt {
    Done(SpendDelta),
    NoRow,
    Refused,
    Retry,
}

/// Whether another transaction in flight updates or locks `tuple` (its xmax),
/// as heap_update would find and wait for. Read without the buffer's content
/// lock, so only a hint: the update itself decides.
///
/// # Safety
/// `tuple` must be a valid heap tuple with its header (`t_data`) in memory.
unsafe fn held_by_another_transaction(tuple: pg_sys::HeapTuple) -> bool {
    // SAFETY: the caller's guarantee; t_heap is the union's variant of a
    // tuple stored in a table (t_datum is that of a composite datum).
    unsafe {
        let header = (*tuple).t_data;
        let infomask = (*header).t_infomask as u32;
        if infomask & pg_sys::HEAP_XMAX_INVALID != 0 {
            return false;
        }
        if infomask & pg_sys::HEAP_XMAX_IS_MULTI != 0 {
            return true; // several lockers (key-share locks of foreign keys): treat as met
        }
        let xmax = (*header).t_choice.t_heap.t_xmax;
        xmax != pg_sys::InvalidTransactionId
            && !pg_sys::TransactionIdIsCurrentTransactionId(xmax)
            && pg_sys::TransactionIdIsInProgress(xmax)
    }
}

/// # Safety
/// `tuple` must be a valid heap tuple with its header (`t_data`) in memory.
unsafe fn is_heap_only(tuple: pg_sys::HeapTuple) -> bool {
    // SAFETY: the caller's guarantee.
    unsafe { ((*(*tuple).t_data).t_infomask2 & pg_sys::HEAP_ONLY_TUPLE as u16) != 0 }
}

/// numeric_add as a "C-unwind" function pointer, which DirectFunctionCall wants.
///
/// # Safety
/// Called only through DirectFunctionCall, with two numerics.
unsafe extern "C-unwind" fn numeric_add(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is what DirectFunctionCall built for numeric_add.
    unsafe { pg_sys::numeric_add(fcinfo) }
}

/// A numeric Datum as an exact Decimal.
///
/// # Safety
/// `numeric` must be a non-NULL numeric datum valid for the duration of the call.
unsafe fn decimal_of(numeric: pg_sys::Datum) -> Decimal {
    // SAFETY: the caller's guarantee is decimal_from_numeric's.
    unsafe { crate::pg::numeric_datum::decimal_from_numeric(numeric) }.unwrap_or_else(|| {
        // SAFETY: as above, numeric_text's.
        let text = unsafe { crate::pg::numeric_datum::numeric_text(numeric) };
        crate::pg::errors::out_of_range(format!("running total {text} is out of range for exact budget arithmetic"))
    })
}

/// SQL type names of `EXPECTED`'s types, for errors.
fn type_name(type_oid: pg_sys::Oid) -> &'static str {
    match type_oid {
        pg_sys::INT8OID => "bigint",
        pg_sys::TIMESTAMPTZOID => "timestamptz",
        pg_sys::TEXTOID => "text",
        pg_sys::INT4OID => "integer",
        _ => "numeric",
    }
}

/// Where budget_spend's columns are and the key's per_value collation: the
/// cached layout when it still holds for this relation, else looked up by
/// name and checked (types, NOT NULL, the primary key), then cached.
///
/// # Safety
/// `heap` is budget_spend_slots (or 0.2.0's budget_spend, named by `table`),
/// open; `pkey` the OID of its primary key.
unsafe fn layout(heap: pg_sys::Relation, pkey: pg_sys::Oid, table: &'static str) -> Layout {
    // SAFETY: `heap` is open (caller's guarantee); its relcache entry, and the
    // descriptor it owns, stay valid while it is open, which outlasts `desc`
    // (from_pg_unchecked does not free it).
    let (relid, natts, desc) = unsafe {
        let tupdesc = (*heap).rd_att;
        ((*heap).rd_id, (*tupdesc).natts, pgrx::PgTupleDesc::from_pg_unchecked(tupdesc))
    };
    let fits = |position: usize, (name, type_oid): (&str, pg_sys::Oid)| {
        desc.get(position - 1)
            .is_some_and(|a| !a.is_dropped() && a.name() == name && a.type_oid().value() == type_oid && a.attnotnull)
    };
    // cap: numeric, and nullable (NULL is "no allowance")
    let cap_fits = |position: usize| {
        desc.get(position - 1)
            .is_some_and(|a| !a.is_dropped() && a.name() == CAP && a.type_oid().value() == pg_sys::NUMERICOID)
    };
    if let Some(known) = LAYOUT.get() {
        if known.relid == relid
            && known.pkey == pkey
            && known.natts == natts
            && known.columns.positions().into_iter().zip(EXPECTED).all(|(p, e)| fits(p, e))
            && known.columns.tokens.is_none_or(|p| fits(p, TOKENS))
            && known.columns.slot.is_none_or(|p| fits(p, SLOT))
            && known.columns.cap.is_none_or(cap_fits)
        {
            return known;
        }
    }
    let positions = EXPECTED.map(|(name, type_oid)| {
        let Some(index) = desc.iter().position(|a| !a.is_dropped() && a.name() == name) else {
            pgrx::error!("llm_cost: llm_cost.{table} has no column \"{name}\"")
        };
        if !fits(index + 1, (name, type_oid)) {
            pgrx::error!(
                "llm_cost: column llm_cost.{table}.{name} is not {} NOT NULL, as the running totals' update reads and writes it",
                type_name(type_oid)
            )
        }
        index + 1
    });
    let optional = |(name, type_oid): (&str, pg_sys::Oid)| {
        desc.iter().position(|a| !a.is_dropped() && a.name() == name).map(|index| {
            if !fits(index + 1, (name, type_oid)) {
                pgrx::error!(
                    "llm_cost: column llm_cost.{table}.{name} is not {} NOT NULL, as the running totals' update reads and writes it",
                    type_name(type_oid)
                )
            }
            index + 1
        })
    };
    let cap = desc.iter().position(|a| !a.is_dropped() && a.name() == CAP).map(|index| {
        if !cap_fits(index + 1) {
            pgrx::error!("llm_cost: column llm_cost.{table}.cap is not numeric, as the running totals' update reads and writes it")
        }
        index + 1
    });
    let columns = Columns::from_positions(positions, optional(TOKENS), optional(SLOT), cap);
    // SAFETY: `pkey` is the OID of an index (caller's guarantee).
    let per_value_collation = unsafe { key_collation(pkey, &columns, table) };
    let found = Layout { relid, pkey, natts, columns, per_value_collation };
    LAYOUT.set(Some(found));
    found
}

/// The collation the table's primary key compares per_value with, once it
/// is checked to be a btree primary key on exactly (budget_id, period_start,
/// per_value, slot), or 0.2.0's (budget_id, period_start, per_value), in any
/// order: the probe's scan keys.
///
/// # Safety
/// `pkey` is the OID of the table's primary key, inside a transaction.
unsafe fn key_collation(pkey: pg_sys::Oid, columns: &Columns, table: &str) -> pg_sys::Oid {
    // SAFETY: index_open returns a valid open index (or raises an ERROR); its
    // rd_index holds indnkeyatts key columns in indkey, and rd_indcollation a
    // collation per key column; all read before index_close.
    let (is_key, collation) = unsafe {
        let index = pg_sys::index_open(pkey, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let form = (*index).rd_index;
        let indkey = (*form).indkey.values.as_ptr();
        let attnos: Vec<usize> = (0..(*form).indnkeyatts as usize).map(|i| *indkey.add(i) as usize).collect();
        let mut sorted = attnos.clone();
        sorted.sort_unstable();
        let mut expected = columns.key();
        expected.sort_unstable();
        let is_key = (*form).indisprimary && (*(*index).rd_rel).relam == pg_sys::BTREE_AM_OID && sorted == expected;
        let collation = match attnos.iter().position(|&a| a == columns.per_value) {
            Some(i) if is_key => *(*index).rd_indcollation.add(i),
            _ => pg_sys::InvalidOid,
        };
        pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        (is_key, collation)
    };
    if !is_key {
        let slot = if columns.slot.is_some() { ", slot" } else { "" };
        pgrx::error!(
            "llm_cost: llm_cost.{table}_pkey is not a btree primary key on (budget_id, period_start, per_value{slot}), which the running totals' update probes"
        );
    }
    collation
}

/// Raises an error when the totals' table has something an `UPDATE` would
/// apply and the direct heap update would bypass (the module's header lists
/// them). Reads only the relcache entry: done at every open.
///
/// # Safety
/// `heap` is the table `table` names, open.
unsafe fn check_bypassed(heap: pg_sys::Relation, columns: &Columns, table: &str) {
    let refuse = |what: &str| -> ! {
        pgrx::error!(
            "llm_cost: llm_cost.{table} has {what}, which the running totals' direct update would bypass (src/budgets/spend_store.rs says what it relies on)"
        )
    };
    // SAFETY: `heap` is open (caller's guarantee): rd_rel, rd_att, its constr
    // and trigdesc (each NULL or valid), and the foreign key list the relcache
    // keeps (not freed here) are valid while it is open.
    unsafe {
        let form = (*heap).rd_rel;
        if (*form).relkind as u8 != pg_sys::RELKIND_RELATION {
            refuse("become other than a plain table");
        }
        if (*form).relhasrules {
            refuse("rules");
        }
        let constr = (*(*heap).rd_att).constr;
        if !constr.is_null() {
            if (*constr).num_check > 0 {
                refuse("CHECK constraints");
            }
            if (*constr).has_generated_stored {
                refuse("stored generated columns");
            }
        }
        let triggers = (*heap).trigdesc;
        if !triggers.is_null() {
            for i in 0..(*triggers).numtriggers as usize {
                let t = &*(*triggers).triggers.add(i);
                let on_update = (t.tgtype as u16 as u32) & pg_sys::TRIGGER_TYPE_UPDATE != 0;
                let disabled = t.tgenabled as u8 == pg_sys::TRIGGER_DISABLED;
                // the referencing side of a foreign key: skips an update that leaves its key alone
                let own_foreign_key = pg_sys::RI_FKey_trigger_type(t.tgfoid) as u32 == pg_sys::RI_TRIGGER_FK;
                if on_update && !disabled && !own_foreign_key {
                    let name = std::ffi::CStr::from_ptr(t.tgname).to_string_lossy();
                    refuse(&format!("trigger \"{name}\" on UPDATE"));
                }
            }
        }
        let fkeys = pg_sys::RelationGetFKeyList(heap);
        let count = if fkeys.is_null() { 0 } else { (*fkeys).length as usize };
        for i in 0..count {
            let fk = &*((*(*fkeys).elements.add(i)).ptr_value as *const pg_sys::ForeignKeyCacheInfo);
            if fk.conkey[..fk.nkeys as usize].iter().any(|&a| columns.written().contains(&(a as usize))) {
                refuse("a foreign key on spent, calls or updated_at");
            }
        }
    }
}
