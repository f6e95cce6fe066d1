//! Budget spend a transaction has inserted but not yet written.
//!
//! Inserted usage is added up here, in backend memory, and written to
//! `llm_cost.budget_spend` once: just before commit (from the pre-commit
//! transaction callback, `xact_callbacks`; also before PREPARE TRANSACTION), or earlier
//! when something in the same transaction reads or rewrites the totals
//! (`flush_spend()`). Writing once per transaction, not once per statement,
//! matters: a spend row updated by every statement of a long transaction grows
//! a chain of row versions nothing can prune until commit, and each update has
//! to walk it; 50,000 single-row INSERTs in one transaction took 51 s that way.
//!
//! Savepoints: totals are kept per subtransaction level, so ROLLBACK TO drops
//! exactly the rolled-back statements' spend and RELEASE merges it into the
//! parent.

use crate::pg::errors::spend_out_of_range;
use crate::pricing::decimal::Decimal;
use pgrx::pg_sys;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::RefCell;

/// One running total: a budget's spend in one period (for a rolling budget,
/// one slot of its window) and per value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SpendKey {
    pub budget_id: i64,
    /// Postgres timestamp (microseconds since 2000-01-01 UTC); i64::MIN for a total budget.
    pub period_start: i64,
    /// "" for a budget without per.
    pub per_value: String,
}

/// What is added to a running total: every budget keeps all three, whichever
/// its unit limits.
#[derive(Clone, Copy, Default, Debug)]
pub struct SpendDelta {
    pub cost: Decimal,
    pub calls: i64,
    /// Input + output tokens.
    pub tokens: i64,
}

impl SpendDelta {
    pub fn add(&mut self, other: SpendDelta) {
        self.cost = self.cost.checked_add(other.cost).unwrap_or_else(|_| spend_out_of_range());
        self.calls = self.calls.checked_add(other.calls).unwrap_or_else(|| spend_out_of_range());
        self.tokens = self.tokens.checked_add(other.tokens).unwrap_or_else(|| spend_out_of_range());
    }
}

/// What one subtransaction level has added.
#[derive(Default, Clone)]
pub struct Pending {
    pub spend: FxHashMap<SpendKey, SpendDelta>,
    /// (provider, model) of rows inserted without a price.
    pub unpriced: FxHashSet<(String, String)>,
    /// Reservations the inserted rows settle, with the tenant of the row that
    /// named each (a row settles only its own tenant's reservation).
    pub settled: FxHashMap<i64, Option<String>>,
}

impl Pending {
    fn merge(&mut self, other: Pending) {
        for (key, delta) in other.spend {
            self.spend.entry(key).or_default().add(delta);
        }
        self.unpriced.extend(other.unpriced);
        self.settled.extend(other.settled);
    }

    pub fn is_empty(&self) -> bool {
        self.spend.is_empty() && self.unpriced.is_empty() && self.settled.is_empty()
    }
}

#[derive(Default)]
struct State {
    /// Innermost last; each tagged with its subtransaction id (ids grow with nesting).
    levels: Vec<(pg_sys::SubTransactionId, Pending)>,
    /// Spend written early (`flush_spend()`) inside a subtransaction, tagged
    /// with the subtransaction whose writes they are, and kept as the levels
    /// its rows came from. If that subtransaction rolls back, its writes are
    /// undone but the rows of the levels enclosing it stay: their spend is
    /// pending again.
    written_in: Vec<(pg_sys::SubTransactionId, Vec<(pg_sys::SubTransactionId, Pending)>)>,
}

impl State {
    /// Puts `pending` back at its level, keeping `levels` in nesting order.
    fn restore(&mut self, level: pg_sys::SubTransactionId, pending: Pending) {
        match self.levels.binary_search_by_key(&level, |(id, _)| *id) {
            Ok(i) => self.levels[i].1.merge(pending),
            Err(i) => self.levels.insert(i, (level, pending)),
        }
    }
}

/// The top-level transaction's SubTransactionId (TopSubTransactionId in xact.h).
const TOP_LEVEL: pg_sys::SubTransactionId = 1;

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Adds to the current subtransaction's pending spend.
pub fn with_current<R>(f: impl FnOnce(&mut Pending) -> R) -> R {
    crate::budgets::xact_callbacks::register();
    // SAFETY: reads a backend global; called inside a transaction (a trigger or SQL function).
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.levels.last().map(|(id, _)| *id) != Some(current) {
            s.levels.push((current, Pending::default()));
        }
        f(&mut s.levels.last_mut().expect("pushed above").1)
    })
}

/// Adds one call to a key's pending total.
pub fn add(pending: &mut Pending, key: SpendKey, call: SpendDelta) {
    pending.spend.entry(key).or_default().add(call);
}

/// Everything pending in this transaction, all levels merged, for the caller
/// to write now; leaves nothing behind (but remembers it when written inside
/// a subtransaction, see `State::written_in`).
pub fn take_all() -> Pending {
    // SAFETY: reads a backend global; called inside a transaction (a trigger or SQL function).
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let levels: Vec<_> = s.levels.drain(..).collect();
        if current != TOP_LEVEL && !levels.is_empty() {
            s.written_in.push((current, levels.clone()));
        }
        let mut all = Pending::default();
        for (_, level) in levels {
            all.merge(level);
        }
        all
    })
}

/// Whether anything is pending (at pre-commit: whether there is spend to write).
pub fn any_pending() -> bool {
    STATE.with(|s| s.borrow().levels.iter().any(|(_, level)| !level.is_empty()))
}

/// The transaction ended: after commit nothing is left (pre-commit wrote it);
/// after abort nothing of it happened.
pub fn forget_all() {
    STATE.with(|s| *s.borrow_mut() = State::default());
}

/// A subtransaction rolled back: its rows' spend is dropped, and what it wrote
/// early for rows of enclosing levels (which stay) is pending again. Returns
/// the unpriced_model keys whose alerts it had queued (they were undone too).
pub fn subxact_aborted(my: pg_sys::SubTransactionId) -> Vec<(String, String)> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        // The rolled-back statements' rows are gone.
        while s.levels.last().is_some_and(|(id, _)| *id >= my) {
            s.levels.pop();
        }
        // So are the writes made in it; the spend they wrote for rows of
        // enclosing levels, which stay, is pending again.
        let (undone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut s.written_in).into_iter().partition(|(by, _)| *by >= my);
        s.written_in = kept;
        let mut unannounced = Vec::new();
        for (level, pending) in undone.into_iter().flat_map(|(_, levels)| levels) {
            if level < my {
                unannounced.extend(pending.unpriced.iter().cloned());
                s.restore(level, pending);
            }
        }
        unannounced
    })
}

/// A subtransaction was released: its spend, and the writes it made, now
/// belong to its parent (and are as durable as the whole transaction once
/// that is the top level).
pub fn subxact_committed(my: pg_sys::SubTransactionId, parent: pg_sys::SubTransactionId) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.levels.last().is_some_and(|(id, _)| *id == my) {
            let (_, level) = s.levels.pop().expect("checked above");
            if s.levels.last().is_some_and(|(id, _)| *id == parent) {
                s.levels.last_mut().expect("checked above").1.merge(level);
            } else {
                s.levels.push((parent, level));
            }
        }
        s.written_in.retain_mut(|(by, levels)| {
            if *by == my {
                *by = parent;
            }
            for (level, _) in levels.iter_mut() {
                if *level == my {
                    *level = parent;
                }
            }
            *by != TOP_LEVEL
        });
    });
}
