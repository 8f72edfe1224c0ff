//! Hot-path costs: token estimates on a ~1 KB chat body and price lookup.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_governance::{BodyDialect, PriceTable, estimate_input, warm_up};

/// A ~1 KB OpenAI chat completions body: system prompt, a short exchange, one tool.
fn chat_body() -> Vec<u8> {
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for an online bookshop. Answer questions about orders, shipping and returns. Be concise, cite the order number when you know it, and never invent tracking numbers."},
            {"role": "user", "content": "Hi! I ordered three books last Tuesday (order 48213) and the tracking page still says 'label created'. Is something wrong? I need them before the 14th for a gift."},
            {"role": "assistant", "content": "Let me look up order 48213 for you. One moment while I check the carrier's status."},
            {"role": "user", "content": [
                {"type": "text", "text": "Thanks. Also, can I change the delivery address to my office? It's 221B Baker Street, London NW1 6XE."}
            ]}
        ],
        "tools": [{
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Look up an order's status and shipping details by order number.",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
            }
        }],
        "max_tokens": 512
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    warm_up();
    let body = chat_body();
    eprintln!("chat body: {} bytes", body.len());
    // The same body every time: its texts' BPE counts come from the count cache after
    // the first iteration, as a repeated system prompt or conversation history would.
    c.bench_function(
        "estimate_input/gpt-4o-mini (o200k, texts seen before)",
        |b| {
            b.iter(|| {
                estimate_input(
                    black_box("gpt-4o-mini"),
                    black_box(&body),
                    BodyDialect::OpenAi,
                )
            })
        },
    );
    // Every message new (a number in each): the messages go through BPE, the tool
    // definition (unchanged) comes from the cache.
    let mut serial = 0u64;
    c.bench_function(
        "estimate_input/gpt-4o-mini (o200k, every message new)",
        |b| {
            b.iter_batched(
                || {
                    serial += 1;
                    String::from_utf8_lossy(&body)
                        .replace("order 48213", &format!("order {serial}"))
                        .replace("Let me", &format!("Let me ({serial})"))
                        .replace("You are", &format!("You ({serial}) are"))
                        .replace("Thanks.", &format!("Thanks {serial}."))
                        .into_bytes()
                },
                |fresh| estimate_input(black_box("gpt-4o-mini"), &fresh, BodyDialect::OpenAi),
                criterion::BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("estimate_input/claude-sonnet-4-5 (chars/4)", |b| {
        b.iter(|| {
            estimate_input(
                black_box("claude-sonnet-4-5"),
                black_box(&body),
                BodyDialect::OpenAi,
            )
        })
    });
    let table = PriceTable::shipped();
    c.bench_function("lookup/exact", |b| {
        b.iter(|| table.lookup(black_box(Some("openai")), black_box("gpt-4o-mini")))
    });
    c.bench_function("lookup/dated bedrock id", |b| {
        b.iter(|| {
            table.lookup(
                black_box(Some("bedrock")),
                black_box("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            )
        })
    });
    c.bench_function("lookup/unknown", |b| {
        b.iter(|| table.lookup(black_box(None), black_box("my-fine-tune-7b")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
