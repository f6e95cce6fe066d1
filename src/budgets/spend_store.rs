//! Adding to a running total that already exists in `llm_cost.budget_spend`,
//! without SPI.
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
//! left to the caller's SQL upsert (`None`). Triggers on `budget_spend` do not
//! fire for these updates: the table's only ones are its foreign key's, which
//! skip updates that leave `budget_id` alone.

use crate::decimal::Decimal;
use crate::numeric_datum::NumericDatum;
use crate::pending_spend::SpendKey;
use pgrx::pg_sys;
use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// Column numbers of llm_cost.budget_spend (1-based, as created in budgets.sql).
const BUDGET_ID: usize = 1;
const PERIOD_START: usize = 2;
const PER_VALUE: usize = 3;
const SPENT: usize = 4;
const CALLS: usize = 5;
const UPDATED_AT: usize = 6;
const NATTS: usize = 6;

/// budget_spend and its primary key, opened for the duration of one flush.
///
/// Invariant the unsafe code below relies on: `heap` is budget_spend, opened
/// by `open` with RowExclusiveLock and closed only by `drop`, so it is a valid
/// open relation (and its `rd_att` a valid descriptor of NATTS columns) for as
/// long as the SpendStore lives; a SpendStore lives within one transaction.
pub struct SpendStore {
    heap: pg_sys::Relation,
    pkey: pg_sys::Oid,
    /// The collation the primary key compares per_value with.
    per_value_collation: pg_sys::Oid,
    /// The table's length when first needed; stable while we hold our lock
    /// (VACUUM truncates only under a lock that conflicts with it).
    blocks: std::cell::Cell<Option<pg_sys::BlockNumber>>,
}

impl SpendStore {
    /// Opens budget_spend with the lock an UPDATE takes.
    pub fn open() -> SpendStore {
        // SAFETY: catalog lookups with NUL-terminated literal names, inside a
        // transaction. table_open returns a valid relation (or raises an
        // ERROR), whose descriptor is checked for NATTS columns; index_open
        // likewise, and the primary key has a collation entry per key column
        // (PER_VALUE is one of its 3), read before index_close.
        unsafe {
            let nsp = pg_sys::get_namespace_oid(c"llm_cost".as_ptr(), false);
            let relid = pg_sys::get_relname_relid(c"budget_spend".as_ptr(), nsp);
            let pkey = pg_sys::get_relname_relid(c"budget_spend_pkey".as_ptr(), nsp);
            if relid == pg_sys::InvalidOid || pkey == pg_sys::InvalidOid {
                pgrx::error!("llm_cost: table llm_cost.budget_spend or its primary key is missing");
            }
            let heap = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
            if (*(*heap).rd_att).natts as usize != NATTS {
                pgrx::error!("llm_cost: llm_cost.budget_spend does not have the columns this version writes");
            }
            let index = pg_sys::index_open(pkey, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let per_value_collation = *(*index).rd_indcollation.add(PER_VALUE - 1);
            pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            SpendStore { heap, pkey, per_value_collation, blocks: std::cell::Cell::new(None) }
        }
    }

    /// Adds `delta` and `calls` to the total of (budget, period start, per
    /// value) if its row exists; returns the new total, or None when there is
    /// no row to add to.
    pub fn add_to_existing(&self, key: &SpendKey, delta: Decimal, calls: i64) -> Option<Decimal> {
        // Everything this transaction wrote before (earlier flushes, rebuilds
        // in SQL) must be visible to the probe, and our update must be
        // visible to whatever runs after it.
        // SAFETY: inside a transaction (the flush's); only advances the command counter.
        unsafe { pg_sys::CommandCounterIncrement() };
        let result = loop {
            // SAFETY: `self.heap` is open (the struct's invariant), in this transaction.
            match unsafe { self.try_add(key, delta, calls) } {
                Attempt::Done(total) => break Some(total),
                Attempt::NoRow => break None,
                Attempt::Retry => continue,
            }
        };
        // SAFETY: as above.
        unsafe { pg_sys::CommandCounterIncrement() };
        result
    }

    /// # Safety
    /// Called in the transaction that opened `self` (the struct's invariant
    /// then holds: `heap` is open).
    unsafe fn try_add(&self, key: &SpendKey, delta: Decimal, calls: i64) -> Attempt {
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
            let update = self
                .at_remembered_tid(snapshot, key, delta, calls)
                .or_else(|| self.by_index(snapshot, key, delta, calls));
            pg_sys::UnregisterSnapshot(snapshot);
            let Some((mut otid, newtup, total)) = update else {
                return Attempt::NoRow;
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
                    remember(key, (*newtup).t_self);
                    pg_sys::heap_freetuple(newtup);
                    Attempt::Done(total)
                }
                // A concurrent writer committed a newer version: add to that one.
                pg_sys::TM_Result::TM_Updated => Attempt::Retry,
                // The budget was deleted (its spend cascades): the upsert decides.
                pg_sys::TM_Result::TM_Deleted => Attempt::NoRow,
                other => pgrx::error!("llm_cost: unexpected result {other} updating budget spend"),
            }
        }
    }

    /// The version this backend wrote last for the key, if it is still the
    /// visible one. The usual case: one fetch by TID instead of an index probe
    /// that walks the row's chain of versions not pruned yet (at thousands of
    /// updates a second that chain is long, and the probe was most of the
    /// write's cost). The TID is only a hint: the row found there must carry
    /// the key (a table rewrite reuses TIDs), else the index decides.
    ///
    /// # Safety
    /// `self.heap` is open, and `snapshot` a registered snapshot.
    unsafe fn at_remembered_tid(
        &self,
        snapshot: pg_sys::Snapshot,
        key: &SpendKey,
        delta: Decimal,
        calls: i64,
    ) -> Option<Update> {
        let tid = REMEMBERED.with(|r| r.borrow().get(key).copied())?;
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
                return None;
            }
            let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
            tuple.t_self = tid;
            let mut buffer: pg_sys::Buffer = 0;
            if !pg_sys::heap_fetch(self.heap, snapshot, &mut tuple, &mut buffer, false) {
                return None;
            }
            let update = self.modified(&mut tuple, Some(key), delta, calls);
            pg_sys::ReleaseBuffer(buffer);
            update
        }
    }

    /// The visible version found through the primary key.
    ///
    /// # Safety
    /// `self.heap` is open, and `snapshot` a registered snapshot.
    unsafe fn by_index(
        &self,
        snapshot: pg_sys::Snapshot,
        key: &SpendKey,
        delta: Decimal,
        calls: i64,
    ) -> Option<Update> {
        // SAFETY: `self.heap` is open and `snapshot` registered (caller's
        // guarantee); `pkey` is its primary key, with 3 columns matching the 3
        // scan keys (zeroed ScanKeyData is plain data, then initialised). The
        // text datum is palloc'd and outlives the scan; the tuple the scan
        // returns stays valid until systable_endscan, after `modified` read it.
        unsafe {
            let per_value_datum = pgrx::IntoDatum::into_datum(key.2.as_str()).expect("text datum");
            let mut keys: [pg_sys::ScanKeyData; 3] = std::mem::zeroed();
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
            init(&mut keys[0], BUDGET_ID, pg_sys::InvalidOid, pg_sys::F_INT8EQ, pg_sys::Datum::from(key.0));
            init(&mut keys[1], PERIOD_START, pg_sys::InvalidOid, pg_sys::F_TIMESTAMPTZ_EQ, pg_sys::Datum::from(key.1));
            init(&mut keys[2], PER_VALUE, self.per_value_collation, pg_sys::F_TEXTEQ, per_value_datum);
            let scan = pg_sys::systable_beginscan(self.heap, self.pkey, true, snapshot, 3, keys.as_mut_ptr());
            let found = pg_sys::systable_getnext(scan);
            let update = if found.is_null() { None } else { self.modified(found, None, delta, calls) };
            pg_sys::systable_endscan(scan);
            update
        }
    }

    /// A copy of `found` with the delta added (spent, calls, updated_at), its
    /// TID and the new total; None if `expected` is given and the row does not
    /// carry that key.
    ///
    /// # Safety
    /// `self.heap` is open, and `found` a valid tuple of it (pinned or copied
    /// for the duration of the call).
    unsafe fn modified(
        &self,
        found: pg_sys::HeapTuple,
        expected: Option<&SpendKey>,
        delta: Decimal,
        calls: i64,
    ) -> Option<Update> {
        // SAFETY: `found` is a valid tuple of the open `self.heap` (caller's
        // guarantee), described by its `rd_att` of NATTS columns, which the
        // arrays hold. per_value is text, spent numeric, calls int8 and
        // updated_at timestamptz (the table `open` checked), as read and written
        // here; numeric_add gets two numerics. The new tuple is palloc'd.
        unsafe {
            let tupdesc = (*self.heap).rd_att;
            let mut values = [pg_sys::Datum::from(0); NATTS];
            let mut nulls = [false; NATTS];
            pg_sys::heap_deform_tuple(found, tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
            if let Some((budget_id, period_start, per_value)) = expected {
                let stored = <&str as pgrx::FromDatum>::from_datum(values[PER_VALUE - 1], nulls[PER_VALUE - 1]);
                if values[BUDGET_ID - 1].value() as i64 != *budget_id
                    || values[PERIOD_START - 1].value() as i64 != *period_start
                    || stored != Some(per_value.as_str())
                {
                    return None;
                }
            }
            let old_spent = decimal_of(values[SPENT - 1]);
            let total = old_spent.checked_add(delta).unwrap_or_else(|_| out_of_range());
            let mut replace = [false; NATTS];
            for column in [SPENT, CALLS, UPDATED_AT] {
                replace[column - 1] = true;
            }
            // numeric addition, so the total keeps the scale `spent + delta` has in SQL
            values[SPENT - 1] = pg_sys::DirectFunctionCall2Coll(
                Some(numeric_add),
                pg_sys::InvalidOid,
                values[SPENT - 1],
                NumericDatum::from_text(&delta.to_string()).0,
            );
            let old_calls = values[CALLS - 1].value() as i64;
            values[CALLS - 1] = pg_sys::Datum::from(old_calls.checked_add(calls).unwrap_or_else(|| out_of_range()));
            values[UPDATED_AT - 1] = pg_sys::Datum::from(pg_sys::GetCurrentTransactionStartTimestamp());
            let newtup = pg_sys::heap_modify_tuple(
                found,
                tupdesc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
                replace.as_mut_ptr(),
            );
            Some(((*found).t_self, newtup, total))
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

/// The old version's TID, the new version, the new total.
type Update = (pg_sys::ItemPointerData, pg_sys::HeapTuple, Decimal);

/// Most running totals a backend remembers the TID of; past it, it starts over.
const REMEMBERED_MAX: usize = 10_000;

thread_local! {
    /// Where this backend last wrote each running total.
    static REMEMBERED: RefCell<FxHashMap<SpendKey, pg_sys::ItemPointerData>> = RefCell::new(FxHashMap::default());
}

fn remember(key: &SpendKey, tid: pg_sys::ItemPointerData) {
    REMEMBERED.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(known) = r.get_mut(key) {
            *known = tid;
            return;
        }
        if r.len() >= REMEMBERED_MAX {
            r.clear();
        }
        r.insert(key.clone(), tid);
    });
}

enum Attempt {
    Done(Decimal),
    NoRow,
    Retry,
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
    unsafe { crate::numeric_datum::decimal_from_numeric(numeric) }.unwrap_or_else(|| {
        // SAFETY: as above, numeric_text's.
        let text = unsafe { crate::numeric_datum::numeric_text(numeric) };
        crate::errors::out_of_range(format!("running total {text} is out of range for exact budget arithmetic"))
    })
}

fn out_of_range() -> ! {
    crate::errors::out_of_range("budget spend out of range for exact arithmetic")
}
