//! The spend mirror: each budget's total in its current window, in memory, which is what
//! admission and budget-aware routing read.
//!
//! Budgets are read and charged on every request, so the mirror is indexed by number,
//! not by id: each budget id gets a slot the first time the records are loaded, kept for
//! the life of the process so that a reload (every second) finds the same totals. A
//! request's reads and writes are then array accesses under one lock, with no hashing
//! of ids. A deleted budget's slot is not reused; there is one per budget ever loaded.

use std::sync::{Mutex, MutexGuard};

use sluice_core::period::Window;
use sluice_store::FastMap;

/// Budget totals by slot.
#[derive(Default)]
pub(crate) struct SpendMirror {
    /// Budget id → slot; consulted when the records load, never per request.
    slots: Mutex<FastMap<String, usize>>,
    /// By slot: (window start, total in nanodollars).
    totals: Mutex<Vec<(i64, i64)>>,
}

/// The mirror's totals, locked.
pub(crate) struct Totals<'a>(MutexGuard<'a, Vec<(i64, i64)>>);

impl Totals<'_> {
    /// A budget's total in `window` (0 when the mirror holds an older window, or none).
    pub(crate) fn total(&self, slot: usize, window: i64) -> i64 {
        match self.0.get(slot) {
            Some(&(seen, total)) if seen == window => total,
            _ => 0,
        }
    }

    /// The slot's entry, the window it held replaced by `window` if that is later.
    fn current(&mut self, slot: usize, window: i64) -> Option<&mut (i64, i64)> {
        let entry = self.0.get_mut(slot)?;
        if entry.0 < window {
            *entry = (window, 0);
        }
        (entry.0 == window).then_some(entry)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SpendMirror {
    /// The slot of budget `id`, assigned on first sight.
    pub(crate) fn slot_of(&self, id: &str) -> usize {
        let mut slots = lock(&self.slots);
        if let Some(&slot) = slots.get(id) {
            return slot;
        }
        let slot = slots.len();
        slots.insert(id.to_owned(), slot);
        let mut totals = lock(&self.totals);
        if totals.len() <= slot {
            totals.resize(slot + 1, (i64::MIN, 0));
        }
        slot
    }

    pub(crate) fn lock(&self) -> Totals<'_> {
        Totals(lock(&self.totals))
    }

    /// Raises a window's total to at least `total` (a later window replaces an earlier).
    pub(crate) fn raise(&self, slot: usize, window: i64, total: i64) {
        if let Some(entry) = self.lock().current(slot, window) {
            entry.1 = entry.1.max(total);
        }
    }

    /// Adds `nanos` to each (slot, window), under one lock.
    pub(crate) fn add<'a>(
        &self,
        windows: impl IntoIterator<Item = (usize, &'a Window)>,
        nanos: i64,
    ) {
        let mut totals = self.lock();
        for (slot, window) in windows {
            if let Some(entry) = totals.current(slot, window.start) {
                entry.1 = entry.1.saturating_add(nanos);
            }
        }
    }
}
