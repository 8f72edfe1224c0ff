//! The request path's view of governance: who is calling ([`Governor::authenticate`]),
//! whether the call may go ahead ([`Governor::admit`]: budgets, then rate limits, then
//! concurrency, on every level of the caller's chain), which providers are out of budget
//! ([`Governor::provider_spent`], for budget-aware routing), and what the call cost
//! ([`Admission::settle`]).
//!
//! Reads are local: records come from a [`Policies`] snapshot refreshed from the store in
//! the background, and budget totals from an in-memory mirror of the counters. Rate
//! limits and concurrency are decided by the [`Counters`] (atomically in Redis when
//! several instances share it). Writes after a call (spend, token corrections, lease
//! releases) go to the counters in a spawned task and to the ledger through rows gathered
//! per key (`ledger_memo`) and the batching [`SpendWriter`], so the client never waits for
//! them.

mod config_records;
mod ledger_memo;
mod mirror;
mod policies;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sluice_core::chat::Usage;
use sluice_core::period::{Period, Window, civil_from_days};
use sluice_store::sql::Level;
use sluice_store::{
    Counters, Denied, FastMap, RateRequest, SpendWriter, Store, StoreError, Ticket,
};
use smallvec::SmallVec;

pub use config_records::config_records;
pub use policies::{BudgetRule, Chain, KeyEntry, LimitRule, Policies};

use self::ledger_memo::LedgerMemo;
use self::mirror::SpendMirror;
use crate::keys::{KeyHasher, is_virtual_key};
use crate::money::Nanodollars;
use crate::pricing::PriceTable;
use crate::spend::cost;

/// The current time in unix seconds. Tests pass a [`ManualClock`] to step through budget
/// periods without sleeping.
#[derive(Clone)]
pub enum Clock {
    System,
    Manual(ManualClock),
}

impl Clock {
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
                }),
            Clock::Manual(clock) => clock.0.load(Ordering::Relaxed),
        }
    }
}

/// A clock that moves only when told to.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(unix: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix)))
    }

    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::Relaxed);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// Why a call is refused. The gateway turns each into the client's error envelope.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "A virtual key is required: send it as `Authorization: Bearer sk-sluice-…`, `x-api-key` or `api-key`."
    )]
    KeyRequired,
    #[error("The virtual key is not valid.")]
    UnknownKey,
    #[error("The virtual key `{0}` is disabled.")]
    KeyDisabled(String),
    #[error("The virtual key `{0}` has expired.")]
    KeyExpired(String),
    #[error("The {level} `{owner}` of this virtual key is disabled.")]
    OwnerDisabled { level: &'static str, owner: String },
    #[error("The virtual key `{key}` may not use the model `{model}`.")]
    ModelNotAllowed { key: String, model: String },
    #[error("The virtual key `{key}` may not use any provider that serves `{model}`.")]
    ProviderNotAllowed { key: String, model: String },
    #[error(
        "The {level} `{owner}` budget of {limit} per {period} is spent ({spent}); it resets at {resets}."
    )]
    BudgetExceeded {
        level: &'static str,
        owner: String,
        limit: Nanodollars,
        spent: Nanodollars,
        period: &'static str,
        /// Unix seconds.
        resets_at: i64,
        resets: String,
    },
    #[error(
        "The gateway cannot check this key's rate limits right now (their store is unreachable); try again shortly."
    )]
    LimitsUnavailable,
    #[error(
        "Rate limit reached for the {level} `{owner}`: {limit} {unit} per {window}. Try again in {retry_after_ms} ms."
    )]
    RateLimited {
        level: &'static str,
        owner: String,
        /// `requests`, `tokens` or `concurrent requests`.
        unit: &'static str,
        limit: u64,
        remaining: u64,
        window: String,
        retry_after_ms: u64,
        reset_ms: u64,
    },
}

/// What the governor needs to start.
pub struct GovernorSettings {
    pub require_keys: bool,
    pub hasher: Option<KeyHasher>,
    pub pricing: PriceTable,
    pub clock: Clock,
    /// How often records are re-read from the store (changes made through the API of
    /// another instance show up within this).
    pub refresh: Duration,
    /// How often budget totals are re-read from shared counters (other instances'
    /// spend shows up within this).
    pub sync_spend: Duration,
    /// Refuse requests whose limits the counters cannot decide (else serve them).
    pub fail_closed: bool,
}

/// A caller identified by a virtual key, with its chain.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: Arc<KeyEntry>,
}

impl Caller {
    pub fn allows_model(&self, model: &str) -> bool {
        self.key
            .models
            .as_ref()
            .is_none_or(|models| models.iter().any(|allowed| allowed == model))
    }

    pub fn allows_provider(&self, provider: &str) -> bool {
        self.key
            .providers
            .as_ref()
            .is_none_or(|providers| providers.iter().any(|allowed| allowed == provider))
    }

    /// Whether a tokens-per-window limit on the chain needs the request's token
    /// estimate for [`Governor::admit`].
    pub fn limits_tokens(&self) -> bool {
        self.key
            .chain
            .limits
            .iter()
            .any(|rule| rule.tokens.is_some())
    }
}

pub struct Governor {
    store: Store,
    counters: Counters,
    writer: SpendWriter,
    settings: GovernorSettings,
    policies: RwLock<Arc<Policies>>,
    /// Each budget's total in its current window.
    spent: SpendMirror,
    /// Counter updates the request path leaves for the next batch.
    pending: Mutex<PendingUpdates>,
    /// Ledger rows the request path leaves for the next batch.
    ledger: LedgerMemo,
}

/// Updates of the counters that need not happen before the client's answer: spend for
/// shared budget windows and token corrections. The request path adds to these maps; a
/// background task sends them every [`BATCH_INTERVAL`], together (pipelined on Redis's
/// one connection), so a request costs Redis no writes of its own for them.
#[derive(Default)]
struct PendingUpdates {
    /// Budget id → (window start, time to live, nanodollars) per window touched.
    spend: FastMap<String, Vec<(i64, u64, i64)>>,
    /// (rate counter, window in ms, limit) → tokens used beyond the estimate.
    tokens: FastMap<(Arc<str>, u64, u64), i64>,
}

/// How often batched counter updates are sent. Other instances see spend this much later
/// (plus their own sync interval).
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// A budget counter's key in the shared counters.
fn budget_key(id: &str) -> String {
    format!("budget:{id}")
}

/// How long a budget window's counter outlives the window.
fn window_ttl(window: &Window) -> u64 {
    u64::try_from(window.end - window.start).unwrap_or(0) + 86_400
}

/// A governor dropped without [`Governor::shutdown`] still hands its gathered ledger rows
/// to the spend writer, whose own drop asks for a last flush.
impl Drop for Governor {
    fn drop(&mut self) {
        self.drain_ledger();
    }
}

impl Governor {
    /// Loads the records, seeds the budget mirror (and the shared counters) from the
    /// spend the store has persisted for the current windows, and starts the background
    /// refreshes.
    pub async fn start(
        store: Store,
        counters: Counters,
        writer: SpendWriter,
        settings: GovernorSettings,
    ) -> Result<Arc<Governor>, StoreError> {
        let spent = SpendMirror::default();
        let policies = Policies::load(&store, &spent, &counters).await?;
        let governor = Arc::new(Governor {
            store,
            counters,
            writer,
            settings,
            policies: RwLock::new(Arc::new(policies)),
            spent,
            pending: Mutex::new(PendingUpdates::default()),
            ledger: LedgerMemo::default(),
        });
        governor.seed_spend().await?;
        let weak = Arc::downgrade(&governor);
        tokio::spawn(every(
            governor.settings.refresh,
            weak.clone(),
            |governor| async move {
                if let Err(err) = governor.reload().await {
                    tracing::warn!(error = %err, "could not re-read governance records; keeping the last ones");
                }
            },
        ));
        tokio::spawn(every(BATCH_INTERVAL, weak.clone(), |governor| async move {
            governor.drain_ledger();
            governor.send_pending().await;
        }));
        if governor.counters.is_shared() {
            tokio::spawn(every(
                governor.settings.sync_spend,
                weak,
                |governor| async move {
                    governor.sync_spend().await;
                },
            ));
        }
        Ok(governor)
    }

    pub fn now(&self) -> i64 {
        self.settings.clock.now()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-reads every record now (after an admin API change, say).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let policies = Policies::load(&self.store, &self.spent, &self.counters).await?;
        *self
            .policies
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(policies);
        Ok(())
    }

    fn policies(&self) -> Arc<Policies> {
        Arc::clone(
            &self
                .policies
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The current window of every budget, with its rule.
    fn windows(&self, policies: &Policies, now: i64) -> Vec<(Arc<BudgetRule>, Window)> {
        policies
            .all_budgets()
            .map(|rule| (Arc::clone(rule), current_window(rule, now)))
            .collect()
    }

    /// Seeds each budget's current window from the spend persisted in the store, so a
    /// restart forgets nothing that was flushed.
    async fn seed_spend(&self) -> Result<(), StoreError> {
        let now = self.now();
        for (rule, window) in self.windows(&self.policies(), now) {
            let persisted = self.store.budget_spent(&rule.id, window.start).await?;
            let total = self
                .counters
                .spend_seed(
                    &budget_key(&rule.id),
                    window.start,
                    window_ttl(&window),
                    persisted,
                )
                .await
                .unwrap_or(persisted);
            self.spent.raise(rule.slot, window.start, total);
        }
        Ok(())
    }

    /// Pulls other instances' spend from the shared counters into the mirror.
    async fn sync_spend(&self) {
        if !self.counters.is_shared() {
            return;
        }
        let now = self.now();
        for (rule, window) in self.windows(&self.policies(), now) {
            if let Ok(total) = self
                .counters
                .spend_get(&budget_key(&rule.id), window.start)
                .await
            {
                self.spent.raise(rule.slot, window.start, total);
            }
        }
    }

    /// Before the process ends: sends the batched counter updates, returns leased spare
    /// to Redis (so other instances can use it at once), and writes the ledger.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.send_pending().await;
        if let Counters::Redis(leases) = &self.counters {
            leases.return_all().await;
        }
        self.flush().await
    }

    /// Runs `sync_spend` now (tests and the admin API's spend views).
    pub async fn sync_spend_now(&self) {
        self.sync_spend().await;
    }

    /// Who is calling: a virtual key from one of the request's credentials, or nobody
    /// (allowed only when keys are not required). A credential that is not a virtual
    /// key (a provider key a client sends by habit) counts as none.
    pub fn authenticate(&self, credential: Option<&str>) -> Result<Option<Caller>, Refusal> {
        let Some(credential) = credential.filter(|credential| is_virtual_key(credential)) else {
            return if self.settings.require_keys {
                Err(Refusal::KeyRequired)
            } else {
                Ok(None)
            };
        };
        let Some(hasher) = &self.settings.hasher else {
            return Err(Refusal::UnknownKey);
        };
        let policies = self.policies();
        let presented = hasher.presented(credential);
        let key = policies
            .keys
            .get(&presented.digest)
            .cloned()
            .ok_or(Refusal::UnknownKey)?;
        hasher.remember(&presented);
        if key.disabled {
            return Err(Refusal::KeyDisabled(key.id.clone()));
        }
        if key.expires_at.is_some_and(|expires| expires <= self.now()) {
            return Err(Refusal::KeyExpired(key.id.clone()));
        }
        if let Some((level, owner)) = &key.disabled_owner {
            return Err(Refusal::OwnerDisabled {
                level,
                owner: owner.clone(),
            });
        }
        Ok(Some(Caller { key }))
    }

    /// Whether every budget of `provider` is still open now: a spent one takes the
    /// provider's route targets out until its period resets.
    pub fn provider_spent(&self, provider: &str) -> bool {
        self.provider_refusal(provider).is_some()
    }

    /// The refusal a request for `provider` alone gets while one of its budgets is spent.
    pub fn provider_refusal(&self, provider: &str) -> Option<Refusal> {
        let policies = self.policies();
        self.first_spent(policies.budgets(Level::Provider, provider), self.now())
    }

    /// The refusal for the first of `rules` whose window at `now` is spent, reading the
    /// mirror under one lock.
    fn first_spent(&self, rules: &[Arc<BudgetRule>], now: i64) -> Option<Refusal> {
        if rules.is_empty() {
            return None;
        }
        let totals = self.spent.lock();
        rules.iter().find_map(|rule| {
            let window = current_window(rule, now);
            let spent = totals.total(rule.slot, window.start);
            (spent >= rule.limit_nanos).then(|| budget_refusal(rule, spent, window))
        })
    }

    /// Budgets, rate limits and concurrency on the caller's chain, in that order; nothing
    /// is consumed unless everything passes. `estimate` is the request's tokens (input
    /// plus the expected output), needed when [`Caller::limits_tokens`]; a token limit
    /// without one counts the request as one token. (A value rather than a callback, so
    /// that what it is made from need not live across this call's await.)
    pub async fn admit(
        &self,
        caller: Option<&Caller>,
        estimate: Option<u64>,
    ) -> Result<Admission, Refusal> {
        let now = self.now();
        let empty = Chain::default();
        let chain = caller.map_or(&empty, |caller| &caller.key.chain);
        if let Some(refusal) = self.first_spent(&chain.budgets, now) {
            return Err(refusal);
        }
        let mut admission = Admission {
            governor: None,
            caller: caller.cloned(),
            tokens_reserved: false,
            estimate: 0,
            ticket: None,
            started: now,
        };
        // Rate limits: one all-or-nothing call across the chain; concurrency leases at
        // the same time (one round trip to Redis, not two). Memory counters decide at
        // once, so what is asked stays on the stack; for Redis it is kept on the heap
        // across the round trip (an inline buffer would enlarge every request's future).
        let tokens = estimate.unwrap_or(1).max(1);
        let mut decided = None;
        if !self.counters.is_shared() {
            let mut asks = SmallVec::<[RateRequest<'_>; 8]>::new();
            let mut leases = SmallVec::<[(&str, u64); 4]>::new();
            admission.tokens_reserved = chain_asks(
                chain,
                tokens,
                |ask| asks.push(ask),
                |slot| leases.push(slot),
            );
            decided = self.counters.admit_now(&asks, &leases);
        }
        let decided = match decided {
            Some(decided) => decided,
            None => {
                let mut asks = Vec::with_capacity(2 * chain.limits.len());
                let mut leases = Vec::with_capacity(chain.limits.len());
                admission.tokens_reserved = chain_asks(
                    chain,
                    tokens,
                    |ask| asks.push(ask),
                    |slot| leases.push(slot),
                );
                let group = caller.map_or("", |caller| caller.key.id.as_str());
                self.counters.admit(group, &asks, &leases).await
            }
        };
        if admission.tokens_reserved {
            admission.estimate = tokens;
        }
        match decided {
            Ok(Ok(ticket)) => admission.ticket = Some(ticket),
            Ok(Err(Denied::InFlight(denied))) => {
                admission.tokens_reserved = false;
                let rule = chain
                    .limits
                    .iter()
                    .filter(|rule| rule.concurrent.is_some())
                    .nth(denied.index);
                return Err(Refusal::RateLimited {
                    level: config_records::level_name(rule.map_or(Level::Key, |rule| rule.level)),
                    owner: rule.map(|rule| rule.owner.clone()).unwrap_or_default(),
                    unit: "concurrent requests",
                    limit: rule.and_then(|rule| rule.concurrent).unwrap_or(0),
                    remaining: 0,
                    window: "moment".to_string(),
                    retry_after_ms: 1000,
                    reset_ms: 1000,
                });
            }
            Ok(Err(Denied::Rate(denied))) => {
                admission.tokens_reserved = false;
                // The asks were made in the chain's order: requests, then tokens, per rule.
                let mut asked = chain.limits.iter().flat_map(|rule| {
                    [
                        rule.requests.map(|_| (rule, "requests")),
                        rule.tokens.map(|_| (rule, "tokens")),
                    ]
                    .into_iter()
                    .flatten()
                });
                let (rule, unit) = asked
                    .nth(denied.index)
                    .map_or((None, "requests"), |(rule, unit)| (Some(rule), unit));
                return Err(Refusal::RateLimited {
                    level: config_records::level_name(rule.map_or(Level::Key, |rule| rule.level)),
                    owner: rule.map(|rule| rule.owner.clone()).unwrap_or_default(),
                    unit,
                    limit: denied.limit,
                    remaining: denied.remaining,
                    window: window_text(rule.map_or(60_000, |rule| rule.window_ms)),
                    retry_after_ms: denied.retry_after_ms,
                    reset_ms: denied.reset_ms,
                });
            }
            // The counters are down: serve without them (fail open), or refuse.
            Err(err) if self.settings.fail_closed => {
                tracing::warn!(error = %err, "rate-limit counters unavailable; refusing (on_unavailable: closed)");
                return Err(Refusal::LimitsUnavailable);
            }
            Err(err) => {
                tracing::warn!(error = %err, "rate-limit counters unavailable; admitting without them");
                admission.tokens_reserved = false;
            }
        }
        Ok(admission)
    }

    /// Charges an attempt abandoned mid-flight (a hedge's loser): its provider had the
    /// request and may bill its input, so the input estimate is charged to the caller's
    /// chain and the provider, like any answer.
    pub fn charge_abandoned(
        &self,
        caller: Option<&Caller>,
        provider: &str,
        model: &str,
        input_tokens: u64,
    ) {
        let now = self.now();
        let mut abandoned = Admission {
            governor: None,
            caller: caller.cloned(),
            tokens_reserved: false,
            estimate: input_tokens,
            ticket: None,
            started: now,
        };
        self.settle(&mut abandoned, provider, model, None);
    }

    /// Gives back the tokens an admission reserved (it was refused later).
    fn refund_tokens(&self, admission: &Admission) {
        self.counters
            .give_back(admission.reserved_token_asks(admission.estimate));
    }

    /// Charges a finished call: its cost at `provider`'s price for `model`, to every
    /// budget on the chain and the provider's own; the ledger row; the token counters
    /// corrected to the reported usage. `usage` is `None` when the provider reported
    /// none (the input estimate is charged then).
    fn settle(&self, admission: &mut Admission, provider: &str, model: &str, usage: Option<Usage>) {
        let usage = usage.unwrap_or(Usage {
            input_tokens: admission.estimate,
            ..Usage::default()
        });
        let price = self.settings.pricing.lookup(None, model);
        if price.is_none() {
            tracing::debug!(
                model,
                "no price for this model; its spend is counted as zero"
            );
        }
        let charged = price.map_or(Nanodollars::ZERO, |price| cost(price, &usage));
        let now = admission.started;
        let policies = self.policies();
        let chain = admission
            .caller
            .as_ref()
            .map_or(&[][..], |caller| &caller.key.chain.budgets[..]);
        let provider_budgets = policies.budgets(Level::Provider, provider);
        // The windows at admission (`now` is its time), the chain's and the provider's:
        // on the stack for the usual handful, pushed one by one (collecting a chained
        // iterator into a `SmallVec` takes a slower path).
        let mut windows = SmallVec::<[(&Arc<BudgetRule>, Window); 8]>::new();
        for rule in chain.iter().chain(provider_budgets) {
            windows.push((rule, current_window(rule, now)));
        }
        self.spent.add(
            windows.iter().map(|(rule, window)| (rule.slot, window)),
            charged.0,
        );
        self.ledger.add(ledger_memo::Charge {
            key: admission.caller.as_ref().map(|caller| &caller.key),
            provider,
            model,
            at: now,
            windows: &windows,
            usage: &usage,
            cost_nanos: charged.0,
        });
        let correction = i64::try_from(usage.total_tokens()).unwrap_or(i64::MAX)
            - i64::try_from(admission.estimate).unwrap_or(0);
        // Memory counters need nothing for budgets (the mirror is their truth); shared
        // ones get the spend so other instances see it.
        let shared = self.counters.is_shared();
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shared && charged.0 > 0 {
            for (rule, window) in &windows {
                let touched = pending.spend.entry_ref(rule.id.as_str()).or_default();
                match touched
                    .iter_mut()
                    .find(|(start, ..)| *start == window.start)
                {
                    Some((.., nanos)) => *nanos = nanos.saturating_add(charged.0),
                    None => touched.push((window.start, window_ttl(window), charged.0)),
                }
            }
        }
        if correction < 0 {
            // Over-estimated: the rest goes back where the next request finds it.
            let unused = correction.unsigned_abs();
            self.counters
                .give_back(admission.reserved_token_asks(unused));
        } else if correction > 0 {
            for rule in admission.reserved_tokens() {
                let Some(limit) = rule.tokens else { continue };
                *pending
                    .tokens
                    .entry((Arc::clone(&rule.tokens_key), rule.window_ms, limit))
                    .or_insert(0) += correction;
            }
        }
        admission.tokens_reserved = false;
    }

    /// Gives the settled calls' ledger rows to the spend writer (see [`LedgerMemo`]).
    fn drain_ledger(&self) {
        self.ledger.drain_into(&self.writer);
    }

    /// Writes every settled call's ledger row to the store now.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.drain_ledger();
        self.writer.flush().await
    }

    /// Sends the batched counter updates, all at once.
    async fn send_pending(&self) {
        let PendingUpdates { spend, tokens } = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if spend.is_empty() && tokens.is_empty() {
            return;
        }
        let counters = &self.counters;
        let spend: Vec<(String, i64, u64, i64)> = spend
            .into_iter()
            .flat_map(|(id, touched)| {
                let key = budget_key(&id);
                touched
                    .into_iter()
                    .map(move |(start, ttl, nanos)| (key.clone(), start, ttl, nanos))
            })
            .collect();
        let spends = spend
            .iter()
            .map(|(key, start, ttl, nanos)| counters.spend_add(key, *start, *ttl, *nanos));
        let corrections = tokens.iter().map(|((key, window_ms, limit), delta)| {
            counters.rate_adjust(key, *window_ms, *limit, *delta)
        });
        let (spent, corrected) = futures_util::future::join(
            futures_util::future::join_all(spends),
            futures_util::future::join_all(corrections),
        )
        .await;
        let failed = spent.iter().filter(|result| result.is_err()).count()
            + corrected.iter().filter(|result| result.is_err()).count();
        if failed > 0 {
            tracing::warn!(
                failed,
                "could not update shared counters; the ledger keeps the spend"
            );
        }
    }
}

/// Runs `work` every `period` while the governor lives.
async fn every<F, Fut>(period: Duration, governor: std::sync::Weak<Governor>, work: F)
where
    F: Fn(Arc<Governor>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(governor) = governor.upgrade() else {
            return;
        };
        work(governor).await;
    }
}

/// A call admitted by the governor, until it is settled. Dropped unsettled (refused
/// before any provider answered), it only gives its concurrency lease back.
pub struct Admission {
    governor: Option<Arc<Governor>>,
    pub caller: Option<Caller>,
    /// Whether the chain's token counters hold this call's estimate (to be corrected
    /// once the usage is known, or given back).
    tokens_reserved: bool,
    /// The tokens reserved before the call.
    estimate: u64,
    ticket: Option<Ticket>,
    /// When it was admitted (unix seconds): it is charged to the budget windows holding
    /// this moment, whenever it settles.
    started: i64,
}

impl Admission {
    /// The token limits this admission reserved its estimate at.
    fn reserved_tokens(&self) -> impl Iterator<Item = &LimitRule> {
        self.caller
            .iter()
            .filter(|_| self.tokens_reserved)
            .flat_map(|caller| &caller.key.chain.limits)
            .filter(|rule| rule.tokens.is_some())
            .map(|rule| &**rule)
    }

    /// Asks for `amount` tokens at each level that holds this admission's estimate, as
    /// the counters take them back.
    fn reserved_token_asks(&self, amount: u64) -> impl Iterator<Item = RateRequest<'_>> {
        self.reserved_tokens()
            .map(move |rule| tokens_ask(rule, amount))
    }

    /// Binds the admission to its governor so that it can settle and release itself.
    pub fn bind(mut self, governor: &Arc<Governor>) -> Self {
        self.governor = Some(Arc::clone(governor));
        self
    }

    /// Charges the call (once); see [`Governor::settle`].
    pub fn settle(&mut self, provider: &str, model: &str, usage: Option<Usage>) {
        if let Some(governor) = self.governor.take() {
            governor.settle(self, provider, model, usage);
            self.release(&governor);
        }
    }

    fn release(&mut self, governor: &Governor) {
        if let Some(ticket) = self.ticket.take() {
            governor.counters.release(ticket);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(governor) = self.governor.take() {
            self.release(&governor);
            governor.refund_tokens(self);
        }
    }
}

/// What admission asks of the counters for `chain`, handed to `ask` and `slot`: a
/// requests and a tokens ask per limit (`tokens` units), in the chain's order, and a
/// slot per concurrency limit. Returns whether a tokens ask was made.
fn chain_asks<'c>(
    chain: &'c Chain,
    tokens: u64,
    mut ask: impl FnMut(RateRequest<'c>),
    mut slot: impl FnMut((&'c str, u64)),
) -> bool {
    let mut asked_tokens = false;
    for rule in &chain.limits {
        if let Some(limit) = rule.requests {
            ask(RateRequest {
                key: &rule.requests_key,
                limit,
                window_ms: rule.window_ms,
                amount: 1,
                slot: rule.requests_slot,
            });
        }
        if rule.tokens.is_some() {
            asked_tokens = true;
            ask(tokens_ask(rule, tokens));
        }
        if let Some(limit) = rule.concurrent {
            slot((rule.concurrent_key.as_str(), limit));
        }
    }
    asked_tokens
}

/// An ask for `amount` tokens at `rule`'s token limit (none: a limit of 0).
fn tokens_ask(rule: &LimitRule, amount: u64) -> RateRequest<'_> {
    RateRequest {
        key: &rule.tokens_key,
        limit: rule.tokens.unwrap_or(0),
        window_ms: rule.window_ms,
        amount,
        slot: rule.tokens_slot,
    }
}

/// `rule`'s window containing `now`.
fn current_window(rule: &BudgetRule, now: i64) -> Window {
    rule.window
        .window(now, || rule.period.window(rule.alignment, rule.anchor, now))
}

fn budget_refusal(rule: &BudgetRule, spent: i64, window: Window) -> Refusal {
    Refusal::BudgetExceeded {
        level: config_records::level_name(rule.level),
        owner: rule.owner.clone(),
        limit: Nanodollars(rule.limit_nanos),
        spent: Nanodollars(spent),
        period: period_name(rule.period),
        resets_at: window.end,
        resets: rfc3339(window.end),
    }
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Minute => "minute",
        Period::Hour => "hour",
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
        Period::Year => "year",
    }
}

fn window_text(window_ms: u64) -> String {
    match window_ms {
        60_000 => "minute".to_string(),
        3_600_000 => "hour".to_string(),
        1_000 => "second".to_string(),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// `2026-11-27T00:00:00Z` for unix seconds.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}
