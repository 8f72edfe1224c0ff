//! Routes: how a requested model becomes a target (provider + upstream model).
//!
//! A model is addressed either by a route name from the config (one or more weighted
//! targets) or as `provider/model`, straight to that provider. Strategies beyond a
//! weighted split, failover and health arrive with the routing issue; [`Route::rank`]
//! already returns an ordered list so an attempt loop can walk it.

use std::sync::Arc;

pub use sluice_core::config::RouteStrategy;
pub use sluice_core::weighted::WeightedChoice;

/// Index of a provider in the gateway's provider table.
pub type ProviderId = usize;

/// One place a request can be served: a provider and the model name it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub provider: ProviderId,
    pub model: Arc<str>,
}

/// A named route with its targets and the strategy that orders them.
#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub strategy: RouteStrategy,
    targets: Vec<Target>,
    weights: WeightedChoice,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("route `{0}` has no target with a weight above zero")]
    NoUsableTarget(String),
}

impl Route {
    pub fn new(
        name: &str,
        strategy: RouteStrategy,
        targets: Vec<(Target, u32)>,
    ) -> Result<Route, RouteError> {
        let weights = WeightedChoice::new(targets.iter().map(|(_, weight)| *weight))
            .ok_or_else(|| RouteError::NoUsableTarget(name.to_string()))?;
        Ok(Route {
            name: name.into(),
            strategy,
            targets: targets.into_iter().map(|(target, _)| target).collect(),
            weights,
        })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The index (in [`Route::targets`]) of the target this request goes to first.
    pub fn choose_index(&self) -> usize {
        match self.strategy {
            RouteStrategy::Weighted => self.weights.pick(fastrand::u64(..)),
        }
    }

    /// Every usable target, the chosen one first, then the others by descending weight:
    /// the order an attempt loop would try them in.
    pub fn rank(&self) -> Vec<&Target> {
        let first = self.choose_index();
        let mut order: Vec<usize> = (0..self.targets.len())
            .filter(|&index| index != first && self.weights.weight(index) > 0)
            .collect();
        order.sort_by_key(|&index| std::cmp::Reverse(self.weights.weight(index)));
        std::iter::once(first)
            .chain(order)
            .map(|index| &self.targets[index])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(provider: ProviderId, model: &str) -> Target {
        Target {
            provider,
            model: model.into(),
        }
    }

    #[test]
    fn rank_starts_with_a_choice_and_skips_zero_weights() {
        let route = Route::new(
            "chat",
            RouteStrategy::Weighted,
            vec![
                (target(0, "a"), 1),
                (target(1, "b"), 0),
                (target(2, "c"), 5),
            ],
        )
        .expect("valid route");
        for _ in 0..100 {
            let ranked = route.rank();
            assert_eq!(ranked.len(), 2);
            assert!(ranked.iter().all(|t| t.provider != 1));
            assert_ne!(ranked[0], ranked[1]);
        }
    }

    #[test]
    fn a_route_of_only_zero_weights_is_refused() {
        let err = Route::new("r", RouteStrategy::Weighted, vec![(target(0, "a"), 0)]);
        assert!(err.is_err());
    }
}
