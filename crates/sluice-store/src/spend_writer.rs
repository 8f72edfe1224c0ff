//! The spend writer: the request path records spend synchronously into memory, and a
//! background task adds it to the store every flush interval, in one transaction.
//!
//! Guarantees:
//! - `record` never waits on I/O: it takes a `std::sync::Mutex` for a couple of hash-map
//!   additions and returns;
//! - spend is aggregated per ledger row and per budget window, so a flush writes one
//!   upsert per distinct row however many requests there were;
//! - a failed flush (database down) puts its batch back, merged with what arrived
//!   meanwhile, and the next interval retries it: nothing is dropped while the process
//!   lives, so at most one flush interval of spend is lost if it dies;
//! - `flush().await` returns once everything recorded before the call is committed;
//!   `shutdown().await` flushes and stops the task.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::StoreError;
use sluice_core::period::Window;

use crate::sql::{SpendBatch, SpendKeyRef, SpendTotals, Store};

/// The spend of one request (or of several with the same ledger row and windows), as
/// the gateway reports it after the response. Borrowed: the
/// writer copies a string only the first time its ledger row or budget window appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendEvent<'a> {
    /// Virtual key id, if the request had one.
    pub key_id: Option<&'a str>,
    /// Team id, if any.
    pub team_id: Option<&'a str>,
    /// Customer id, if any.
    pub customer_id: Option<&'a str>,
    /// Provider that served the request.
    pub provider: &'a str,
    /// Upstream model.
    pub model: &'a str,
    /// UTC day of the request, `YYYY-MM-DD`.
    pub day: &'a str,
    /// How many requests this is (several, when the caller gathered them).
    pub requests: u64,
    /// Input tokens (cached included).
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cached input tokens.
    pub cached: u64,
    /// Cost, nanodollars.
    pub cost_nanos: i64,
    /// Saved by Sluice's cache, nanodollars.
    pub saved_nanos: i64,
    /// The budget windows this spend counts against: (budget id, window).
    pub budget_windows: &'a [(&'a str, Window)],
}

/// A budget window `(id, start)` as the batch keys it, borrowed.
#[derive(Hash)]
struct WindowRef<'a>(&'a str, i64);

impl hashbrown::Equivalent<(String, i64)> for WindowRef<'_> {
    fn equivalent(&self, (id, start): &(String, i64)) -> bool {
        self.0 == id && self.1 == *start
    }
}

/// The owned key a window's first appearance inserts.
impl From<&WindowRef<'_>> for (String, i64) {
    fn from(window: &WindowRef<'_>) -> Self {
        (window.0.to_owned(), window.1)
    }
}

#[derive(Debug)]
struct Shared {
    store: Store,
    pending: Mutex<SpendBatch>,
    /// Serialises flushes so `flush()` cannot return while an earlier flush still holds
    /// part of the data in flight.
    flushing: tokio::sync::Mutex<()>,
    stop: Notify,
}

/// Aggregates spend in memory and flushes it to the [`Store`] in the background.
#[derive(Debug)]
pub struct SpendWriter {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SpendWriter {
    /// Starts the background task; must be called inside a tokio runtime.
    pub fn start(store: Store, flush_interval: Duration) -> SpendWriter {
        let shared = Arc::new(Shared {
            store,
            pending: Mutex::new(SpendBatch::default()),
            flushing: tokio::sync::Mutex::new(()),
            stop: Notify::new(),
        });
        let task_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(flush_interval.max(Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        // Errors are logged inside and the batch kept for the next tick.
                        let _ = flush_shared(&task_shared).await;
                    }
                    _ = task_shared.stop.notified() => {
                        // Last flush on the way out (also reached when the writer is
                        // dropped without `shutdown`).
                        let _ = flush_shared(&task_shared).await;
                        break;
                    }
                }
            }
        });
        SpendWriter {
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Records one request's spend. Cheap and synchronous: call it on the request path.
    pub fn record(&self, ev: SpendEvent<'_>) {
        let key = SpendKeyRef {
            day: ev.day,
            key_id: ev.key_id,
            team_id: ev.team_id,
            customer_id: ev.customer_id,
            provider: ev.provider,
            model: ev.model,
        };
        let totals = SpendTotals {
            requests: to_i64(ev.requests),
            input_tokens: to_i64(ev.input),
            output_tokens: to_i64(ev.output),
            cached_input_tokens: to_i64(ev.cached),
            cost_nanos: ev.cost_nanos,
            saved_nanos: ev.saved_nanos,
        };
        let mut pending = lock(&self.shared.pending);
        pending.ledger.entry_ref(&key).or_default().add(&totals);
        for (id, window) in ev.budget_windows {
            let nanos = pending
                .budgets
                .entry_ref(&WindowRef(id, window.start))
                .or_default();
            *nanos = nanos.saturating_add(ev.cost_nanos);
        }
    }

    /// True when nothing waits to be written.
    pub fn is_idle(&self) -> bool {
        lock(&self.shared.pending).is_empty()
    }

    /// Writes everything recorded so far, now. On error the data is kept for the next try.
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush_shared(&self.shared).await
    }

    /// Stops the background task and flushes what is left. On error the remaining spend
    /// is still held (and another `flush` may be attempted).
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let task = lock(&self.task).take();
        if let Some(task) = task {
            self.shared.stop.notify_one();
            let _ = task.await;
        }
        flush_shared(&self.shared).await
    }
}

impl Drop for SpendWriter {
    /// Dropping without [`SpendWriter::shutdown`] still asks the task for a last flush,
    /// but nobody waits for it: call `shutdown().await` to be sure.
    fn drop(&mut self) {
        if lock(&self.task).is_some() {
            self.shared.stop.notify_one();
        }
    }
}

async fn flush_shared(shared: &Shared) -> Result<(), StoreError> {
    let _serial = shared.flushing.lock().await;
    let batch = std::mem::take(&mut *lock(&shared.pending));
    if batch.is_empty() {
        return Ok(());
    }
    match shared.store.apply_spend(&batch).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::warn!(
                error = %e,
                rows = batch.ledger.len(),
                budget_windows = batch.budgets.len(),
                "spend flush failed; keeping the batch for the next flush"
            );
            lock(&shared.pending).merge(batch);
            Err(e)
        }
    }
}
