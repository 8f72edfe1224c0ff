//! The per-request routing cost: `RoutePlan::pick` for each strategy at 2, 8 and 64
//! healthy targets, and `RoutePlan::rank` (with and without a trace) at 8.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_routing::{
    BreakerSettings, NoGate, PlanTarget, RoutePlan, RouteTrace, Strategy, Target,
};

const STRATEGIES: [(&str, Strategy); 5] = [
    ("weighted", Strategy::Weighted),
    ("priority", Strategy::Priority),
    ("latency", Strategy::Latency),
    ("least_busy", Strategy::LeastBusy),
    ("cost", Strategy::Cost),
];

/// `count` healthy targets with varied weights, prices and latency samples (so the latency
/// strategy is past its start-up exploration).
fn plan(strategy: Strategy, count: usize, now: Instant) -> RoutePlan {
    let targets = (0..count)
        .map(|i| {
            PlanTarget::new(
                Target {
                    provider: i,
                    model: format!("model-{i}").into(),
                },
                1 + (i as u32 % 7),
            )
            .with_cost(0.5 + (i % 5) as f64)
        })
        .collect();
    let plan =
        RoutePlan::new("bench", strategy, BreakerSettings::default(), targets).expect("valid plan");
    for (i, state) in plan.states().iter().enumerate() {
        let latency = Duration::from_millis(20 + i as u64);
        state.record_success(latency * 3, Some(latency), now);
    }
    plan
}

fn pick(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("pick");
    for (name, strategy) in STRATEGIES {
        for count in [2, 8, 64] {
            let plan = plan(strategy, count, now);
            let mut rng = fastrand::Rng::with_seed(1);
            group.bench_function(BenchmarkId::new(name, count), |b| {
                b.iter(|| black_box(plan.pick(now, rng.u64(..), &NoGate)))
            });
        }
    }
    group.finish();
}

/// The strategies that read load, at 64 targets with 1 to 3 requests in flight on each:
/// least-busy can no longer stop at the first idle target.
fn pick_loaded(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("pick_loaded");
    for (name, strategy) in [
        ("latency", Strategy::Latency),
        ("least_busy", Strategy::LeastBusy),
    ] {
        let plan = plan(strategy, 64, now);
        let _guards: Vec<_> = plan
            .states()
            .iter()
            .enumerate()
            .flat_map(|(i, state)| (0..=i % 3).map(move |_| state.begin()))
            .collect();
        let mut rng = fastrand::Rng::with_seed(1);
        group.bench_function(BenchmarkId::new(name, 64), |b| {
            b.iter(|| black_box(plan.pick(now, rng.u64(..), &NoGate)))
        });
    }
    group.finish();
}

fn rank(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("rank8");
    for (name, strategy) in STRATEGIES {
        let plan = plan(strategy, 8, now);
        let mut rng = fastrand::Rng::with_seed(1);
        group.bench_function(BenchmarkId::new(name, "no_trace"), |b| {
            b.iter(|| black_box(plan.rank(now, rng.u64(..), &NoGate, None)))
        });
        let mut trace = RouteTrace::new();
        group.bench_function(BenchmarkId::new(name, "trace"), |b| {
            b.iter(|| {
                let ranked = plan.rank(now, rng.u64(..), &NoGate, Some(&mut trace));
                black_box((ranked, trace.entries().len()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pick, pick_loaded, rank);
criterion_main!(benches);
