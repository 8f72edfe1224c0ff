//! Choosing an index in proportion to its weight, lock-free: used for route targets and
//! for the keys of a provider.

/// Cumulative weights; a uniform random number picks an index by binary search.
#[derive(Clone, Debug)]
pub struct WeightedChoice {
    /// `cumulative[i]` is the sum of the weights of items `0..=i`.
    cumulative: Vec<u64>,
}

impl WeightedChoice {
    /// `None` when no weight is above zero.
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .into_iter()
            .map(|weight| {
                total += u64::from(weight);
                total
            })
            .collect();
        (total > 0).then_some(Self { cumulative })
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    pub fn weight(&self, index: usize) -> u64 {
        let below = if index == 0 {
            0
        } else {
            self.cumulative[index - 1]
        };
        self.cumulative[index] - below
    }

    /// Maps a uniform random `u64` to an index with probability weight / total.
    pub fn pick(&self, random: u64) -> usize {
        if self.cumulative.len() == 1 {
            return 0;
        }
        // Multiply-shift maps the random number onto [0, total) without modulo bias.
        let point = ((u128::from(random) * u128::from(self.total())) >> 64) as u64;
        self.cumulative.partition_point(|&sum| sum <= point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_in_proportion_and_never_zero_weights() {
        let choice = WeightedChoice::new([70, 0, 30]).expect("weights");
        let mut counts = [0u32; 3];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..100_000 {
            counts[choice.pick(rng.u64(..))] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[0]) / 100_000.0;
        assert!((share - 0.7).abs() < 0.01, "share {share}");
    }

    #[test]
    fn extremes_map_inside_the_range() {
        let choice = WeightedChoice::new([1, 1]).expect("weights");
        assert_eq!(choice.pick(0), 0);
        assert_eq!(choice.pick(u64::MAX), 1);
        assert!(WeightedChoice::new([0, 0]).is_none());
        assert_eq!(choice.weight(1), 1);
    }
}
