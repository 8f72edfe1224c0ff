//! The record of one routing decision: each target considered, its score and why it was
//! chosen, kept as a fallback or skipped. Rendered compactly for a response header
//! (`x-sluice-route-trace`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::gate::SkipReason;

/// What a strategy ranks a target by, when it ranks by something.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Score {
    /// Configured weight (weighted strategy).
    Weight(u32),
    /// Latency average times (1 + requests in flight); `None` before any sample.
    Latency(Option<Duration>),
    /// Requests in flight (least-busy strategy).
    InFlight(u32),
    /// USD per million tokens; `None` when the target has no price.
    Cost(Option<f64>),
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Score::Weight(weight) => write!(f, "weight {weight}"),
            Score::Latency(Some(latency)) => {
                let millis = latency.as_secs_f64() * 1000.0;
                if millis >= 10.0 {
                    write!(f, "score {millis:.0}ms")
                } else {
                    write!(f, "score {millis:.1}ms")
                }
            }
            Score::Latency(None) => f.write_str("score unsampled"),
            Score::InFlight(count) => write!(f, "in_flight {count}"),
            Score::Cost(Some(price)) => write!(f, "cost ${price}/M"),
            Score::Cost(None) => f.write_str("cost unpriced"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TraceOutcome {
    Chosen,
    /// Kept, at this position (1 = first fallback) after the chosen one.
    Fallback(usize),
    Skipped(SkipReason),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    pub index: usize,
    pub label: Arc<str>,
    pub score: Option<Score>,
    pub outcome: TraceOutcome,
}

/// Filled in by [`crate::RoutePlan::rank`]; the chosen target first, then the fallbacks in
/// order, then the skipped ones in config order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteTrace {
    entries: Vec<TraceEntry>,
}

impl RouteTrace {
    pub fn new() -> Self {
        RouteTrace::default()
    }

    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn push(&mut self, entry: TraceEntry) {
        self.entries.push(entry);
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.label)?;
        let (word, detail) = match self.outcome {
            TraceOutcome::Chosen => ("chosen", None),
            TraceOutcome::Fallback(_) => ("fallback", None),
            TraceOutcome::Skipped(reason) => ("skipped", Some(reason)),
        };
        f.write_str(word)?;
        match (detail, self.score) {
            (Some(reason), _) => write!(f, "({reason})"),
            (None, Some(score)) => write!(f, "({score})"),
            (None, None) => Ok(()),
        }
    }
}

impl fmt::Display for RouteTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, entry) in self.entries.iter().enumerate() {
            if position > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_compactly() {
        let mut trace = RouteTrace::new();
        trace.push(TraceEntry {
            index: 0,
            label: "openai/gpt-4o".into(),
            score: Some(Score::Latency(Some(Duration::from_millis(12)))),
            outcome: TraceOutcome::Chosen,
        });
        trace.push(TraceEntry {
            index: 2,
            label: "mock/m".into(),
            score: Some(Score::Weight(3)),
            outcome: TraceOutcome::Fallback(1),
        });
        trace.push(TraceEntry {
            index: 1,
            label: "anthropic/claude".into(),
            score: None,
            outcome: TraceOutcome::Skipped(SkipReason::CircuitOpen),
        });
        assert_eq!(
            trace.to_string(),
            "openai/gpt-4o=chosen(score 12ms); mock/m=fallback(weight 3); \
             anthropic/claude=skipped(circuit_open)"
        );
    }
}
