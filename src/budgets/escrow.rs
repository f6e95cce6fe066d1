//! Striped running totals with escrow caps (docs/escrow.md, section 7).
//!
//! A calendar total is kept in slots (`llm_cost.budget_spend_slots`): slot 0,
//! which the SQL paths and the exact path write, and one slot per backend
//! (`own_slot`), each with a cap, the most its slot may reach without
//! coordinating. Rule E: whoever sets caps holds every slot of the total, and
//! makes the sum of the caps (a slot without one counting as its use) stay
//! below the lowest threshold above the total. Then:
//!
//! - **Escrow path**: a transaction whose spend keeps its own slot within the
//!   cap adds it there and nothing else. No such commit can cross a threshold,
//!   since every total it can reach is below the sum of the caps. Writers
//!   sharing a budget update different rows, so their commits do not queue on
//!   one row lock and can share a WAL flush.
//! - **Exact path** (no slot row yet, cap exceeded or revoked): add to slot 0,
//!   then update every other slot (setting its cap to none), which waits for
//!   the transactions in flight that hold them and keeps new ones out until
//!   this commit. The sum read that way is the exact total just before this
//!   commit, so the thresholds crossed are those of today's path, queued once.
//!   Last, every backend slot gets a new cap: its use plus a share of half the
//!   headroom to the next threshold.
//!
//! A backend gets a slot of its own only for a total it has met another
//! writer of (`SpendStore::met_other_writer`): a total that one backend at a
//! time writes, such as a per-user budget's behind a connection pool, stays
//! on slot 0, one row write per commit, as without escrow; a slot there would
//! only add writes (making it, and capping it at every other backend's exact
//! path), with no queue to avoid.
//!
//! Locks within a total are taken in slot order (slot 0 first); totals in
//! key order, as before: an escrow writer holds one slot row, an exact writer
//! holds slot 0 before the others, so no cycle can form. The SQL paths that
//! change a total (`_fold_spend`, rebuilds, restored retired spend, budget
//! changes) revoke the caps of its slots, so the next writer of each takes
//! the exact path.
use crate::budgets::budget_cache::{with_budgets, Budget};
use crate::budgets::insert_bounded;
use crate::budgets::pending_spend::{SpendDelta, SpendKey};
use crate::budgets::spend_store::{Applied, SpendStore};
use crate::pricing::decimal::Decimal;
use pgrx::pg_sys;
use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// Backend slots per total: up to this many concurrent writers never share a
/// row (backend ids are handed out lowest first). A slot row exists only once
/// its backend has written the total.
const BACKEND_SLOTS: i32 = 64;

/// This backend's slot of every total (1..=BACKEND_SLOTS).
pub fn own_slot() -> i32 {
    // SAFETY: a backend global, set at backend start and constant after.
    let backend = unsafe { pg_sys::MyBackendId };
    (backend - 1).rem_euclid(BACKEND_SLOTS) + 1
}

/// What this backend knows of its own slot of a total it found none of.
#[derive(Clone, Copy, PartialEq)]
enum NoSlot {
    /// None, and none wanted yet: no probe for it until one is.
    Absent,
    /// None, and its last exact write met another writer: the next exact
    /// write makes one.
    Wanted,
}

/// Most totals a backend keeps each kind of slot fact about (`NO_SLOT`,
/// `WITHOUT_SLOTS`); past it, it starts over
/// (a forgotten fact costs one index probe).
const NO_SLOT_MAX: usize = 10_000;

thread_local! {
    /// Totals without a slot of this backend, as it last found them. Only a
    /// hint: a slot made by another backend with the same slot number (more
    /// than BACKEND_SLOTS backends) is found by the exact path, which is
    /// always correct.
    static NO_SLOT: RefCell<FxHashMap<SpendKey, NoSlot>> = RefCell::new(FxHashMap::default());
}

fn no_slot(key: &SpendKey) -> Option<NoSlot> {
    NO_SLOT.with(|n| n.borrow().get(key).copied())
}

fn set_no_slot(key: &SpendKey, fact: Option<NoSlot>) {
    NO_SLOT.with(|n| {
        let mut n = n.borrow_mut();
        match fact {
            None => {
                n.remove(key);
            }
            Some(fact) => insert_bounded(&mut n, key.clone(), fact, NO_SLOT_MAX),
        }
    });
}

/// The escrow path: adds `delta` to this backend's slot if it fits the
/// slot's cap. Done means nothing else to write and no threshold crossed.
pub fn try_escrow(store: &SpendStore, key: &SpendKey, delta: &SpendDelta) -> EscrowAttempt {
    match no_slot(key) {
        Some(NoSlot::Absent) => return EscrowAttempt::NoSlot { make: false },
        Some(NoSlot::Wanted) => return EscrowAttempt::NoSlot { make: true },
        None => {}
    }
    with_budgets(|index| {
        let Some(budget) = index.budget(key.budget_id) else { return EscrowAttempt::Exact };
        match store.add_to_slot(key, own_slot(), delta, Some(budget)) {
            Applied::Done(_) => EscrowAttempt::Done,
            Applied::Refused => EscrowAttempt::Exact,
            Applied::NoRow => {
                set_no_slot(key, Some(NoSlot::Absent));
                EscrowAttempt::NoSlot { make: false }
            }
        }
    })
}

/// After an exact write to slot 0 by a backend without a slot of the total:
/// if it met another writer there, its next exact write makes its slot.
pub fn note_exact_write(store: &SpendStore, key: &SpendKey) {
    if store.met_other_writer() {
        set_no_slot(key, Some(NoSlot::Wanted));
    }
}

/// This backend made its slot of the total (the probe finds it from now on).
pub fn slot_made(key: &SpendKey) {
    set_no_slot(key, None);
}

thread_local! {
    /// Totals whose last exact write by this backend found no backend slot
    /// at all. Slots are made only by exact paths, which write slot 0 first:
    /// while slot 0 stays as this backend left it (`found_as_left`), none
    /// has been made since, and the next exact write needs no scan for them.
    /// (A set, kept as a map so that it shares `insert_bounded`.)
    static WITHOUT_SLOTS: RefCell<FxHashMap<SpendKey, ()>> = RefCell::new(FxHashMap::default());
}

/// The exact path's second half without the scan for other slots, when it
/// is known that there are none: slot 0, just written, holds the whole total.
/// `found_as_left`: slot 0 was as this backend left it at its last write.
pub fn total_without_slots(key: &SpendKey, found_as_left: bool, shared: SpendDelta) -> Option<SpendDelta> {
    let known = found_as_left && WITHOUT_SLOTS.with(|w| w.borrow().contains_key(key));
    if known {
        // as settle_caps: crossings are read with the budget as it is now
        // SAFETY: processes pending cache invalidations, inside a transaction.
        unsafe { pg_sys::AcceptInvalidationMessages() };
    }
    known.then_some(shared)
}

fn note_slots(key: &SpendKey, any: bool) {
    WITHOUT_SLOTS.with(|w| {
        let mut w = w.borrow_mut();
        if any {
            w.remove(key);
        } else {
            insert_bounded(&mut w, key.clone(), (), NO_SLOT_MAX);
        }
    });
}

pub enum EscrowAttempt {
    /// Added within the slot's cap.
    Done,
    /// The slot exists but its cap does not allow it: the exact path.
    Exact,
    /// This backend has no slot for the total: the exact path, which makes
    /// one when `make` (it met other writers of the total before).
    NoSlot { make: bool },
}

/// The exact path's second half, once `delta` is in slot 0 (whose row this
/// transaction now holds): locks every other slot, returns the total's exact
/// new totals, and gives the backend slots new caps; with `new_slot`, the slot
/// this backend is about to make counts among them, and its cap is returned.
pub fn settle_caps(
    store: &SpendStore,
    key: &SpendKey,
    shared: SpendDelta,
    new_slot: Option<i32>,
) -> (SpendDelta, Option<Decimal>) {
    // A budget changed since this backend read it revoked the caps; the new
    // ones must come from its new thresholds.
    // SAFETY: processes pending cache invalidations, inside a transaction.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let mut total = shared;
    let mut slots: Vec<(i32, SpendDelta)> = Vec::new();
    for slot in store.other_slots(key) {
        // waits for the slot's writer in flight; no escrow on it until this commit
        if let Some(used) = store.set_cap(key, slot, None) {
            total.add(used);
            slots.push((slot, used));
        }
    }
    note_slots(key, !slots.is_empty() || new_slot.is_some());
    // made by another backend with the same slot number: capped as it is
    let new_slot = new_slot.filter(|own| slots.iter().all(|(slot, _)| slot != own));
    if let Some(own) = new_slot {
        slots.push((own, SpendDelta::default()));
    }
    let caps = with_budgets(|index| {
        index.budget(key.budget_id).map(|budget| caps(budget, &total, &slots)).unwrap_or_default()
    });
    let mut new_cap = None;
    for (slot, cap) in caps {
        if Some(slot) == new_slot {
            new_cap = Some(cap);
        } else {
            store.set_cap(key, slot, Some(cap));
        }
    }
    (total, new_cap)
}

/// Far enough above any use that a total with no threshold left ahead never
/// needs the exact path again (the caps are revoked when the budget changes).
const NO_LIMIT: i64 = 1_000_000_000_000_000_000;

/// Each backend slot's new cap: its use plus an equal share of half the
/// headroom between the total and the lowest threshold above it (Rule E: the
/// caps then sum to below that threshold). A share rounds down, so the sum
/// never exceeds the bound.
fn caps(budget: &Budget, total: &SpendDelta, slots: &[(i32, SpendDelta)]) -> Vec<(i32, Decimal)> {
    if slots.is_empty() {
        return Vec::new();
    }
    let used = budget.used(total);
    let next_limit = budget
        .thresholds
        .iter()
        .filter_map(|t| budget.amount.checked_mul(*t).ok()?.shift_right(2).ok())
        .filter(|limit| *limit > used)
        .min();
    let share = match next_limit {
        Some(limit) => {
            let headroom = limit.checked_sub(used).unwrap_or(Decimal::ZERO);
            let parts = 2 * slots.len() as i128;
            // six more digits first, so a small headroom still splits
            headroom
                .mantissa()
                .checked_mul(1_000_000)
                .and_then(|m| Decimal::from_parts(m / parts, headroom.scale() + 6).ok())
                .map(Decimal::normalized)
                .unwrap_or(Decimal::ZERO)
        }
        None => Decimal::from_i64(NO_LIMIT),
    };
    slots
        .iter()
        .filter_map(|(slot, slot_total)| Some((*slot, budget.used(slot_total).checked_add(share).ok()?)))
        .collect()
}
