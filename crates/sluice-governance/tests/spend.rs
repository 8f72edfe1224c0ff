use sluice_core::chat::Usage;
use sluice_governance::{Nanodollars, PriceTable, cost};

fn usage(input: u64, cached: u64, written: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        cache_write_tokens: written,
        reasoning_tokens: reasoning,
    }
}

fn price(model: &str) -> &'static sluice_governance::Price {
    PriceTable::shipped().lookup(None, model).unwrap()
}

#[test]
fn gpt_4o_mini_plain_request() {
    // 1,000 input × $0.15/M = $0.000150; 500 output × $0.60/M = $0.000300.
    let c = cost(price("gpt-4o-mini"), &usage(1_000, 0, 0, 500, 0));
    assert_eq!(c, Nanodollars(450_000));
    assert_eq!(c.to_string(), "$0.000450");
}

#[test]
fn one_token_of_a_ten_cent_model_is_100_nanodollars() {
    assert_eq!(
        cost(price("gpt-4.1-nano"), &usage(1, 0, 0, 0, 0)),
        Nanodollars(100)
    );
    // gpt-4o-mini input: 0.15 µUSD per token.
    assert_eq!(
        cost(price("gpt-4o-mini"), &usage(1, 0, 0, 0, 0)),
        Nanodollars(150)
    );
}

#[test]
fn gpt_4o_with_cached_input() {
    // 10,000 input of which 6,000 cached: 4,000 × $2.50/M = $0.010,
    // 6,000 × $1.25/M = $0.0075, 200 output × $10/M = $0.002. Total $0.0195.
    let c = cost(price("gpt-4o"), &usage(10_000, 6_000, 0, 200, 0));
    assert_eq!(c, Nanodollars(19_500_000));
}

#[test]
fn claude_sonnet_with_cache_reads_and_writes() {
    // Claude Sonnet 4.5: input $3, 5m cache write $3.75, cache read $0.30, output $15.
    // 50,000 input = 2,000 plain + 40,000 read + 8,000 written:
    //   2,000 × 3 = 6,000; 40,000 × 0.30 = 12,000; 8,000 × 3.75 = 30,000 (µUSD·M)
    // 1,000 output × 15 = 15,000. Sum 63,000 USD·tokens/M = $0.063.
    let c = cost(
        price("claude-sonnet-4-5"),
        &usage(50_000, 40_000, 8_000, 1_000, 0),
    );
    assert_eq!(c, Nanodollars(63_000_000));
}

#[test]
fn o3_reasoning_tokens_are_billed_as_output() {
    // o3: $2 input, $8 output; reasoning defaults to the output price.
    // 2,000 × 2 + 3,000 × 8 = 28,000 → $0.028.
    let c = cost(price("o3"), &usage(2_000, 0, 0, 3_000, 2_500));
    assert_eq!(c, Nanodollars(28_000_000));
}

#[test]
fn fractional_nanodollars_round_once_per_request() {
    // Gemini 2.0 Flash-Lite cached input: $0.01875/M = 18.75 nanodollars per token.
    let p = price("gemini-2.0-flash-lite");
    assert_eq!(cost(p, &usage(1, 1, 0, 0, 0)), Nanodollars(19));
    assert_eq!(cost(p, &usage(4, 4, 0, 0, 0)), Nanodollars(75));
    // $0.0375/M × 3 tokens = 112.5 nanodollars → 113 (half up).
    let r7b = price("command-r7b");
    assert_eq!(cost(r7b, &usage(3, 0, 0, 0, 0)), Nanodollars(113));
}

#[test]
fn inconsistent_usage_never_goes_negative() {
    let p = price("claude-sonnet-4-5");
    // Cached larger than input: all input charged as cached.
    assert_eq!(cost(p, &usage(100, 1_000, 0, 0, 0)), Nanodollars(30_000));
    // Reads and writes larger than input together: reads first, then writes.
    assert_eq!(
        cost(p, &usage(100, 60, 60, 0, 0)),
        cost(p, &usage(100, 60, 40, 0, 0))
    );
    // Reasoning larger than output: all output charged as reasoning.
    assert_eq!(cost(p, &usage(0, 0, 0, 10, 50)), Nanodollars(150_000));
    assert_eq!(cost(p, &Usage::default()), Nanodollars::ZERO);
}

#[test]
fn huge_usage_saturates() {
    let c = cost(price("gpt-5-pro"), &usage(u64::MAX, 0, 0, u64::MAX, 0));
    assert_eq!(c, Nanodollars::MAX);
}
