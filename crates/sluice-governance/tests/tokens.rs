use serde_json::json;
use sluice_governance::tokens::{
    ChatEstimate, IMAGE_TOKENS, ONE_TOKEN_ROLES, Tokenizer, estimate_chat,
};
use sluice_governance::{
    BodyDialect, estimate_embedding_input, estimate_input, estimate_output, warm_up,
};

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

/// The OpenAI cookbook's example ("How to count tokens with tiktoken", section 6),
/// whose counts the cookbook checked against the API's `usage.prompt_tokens`.
fn cookbook_messages() -> Vec<u8> {
    body(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
        ]
    }))
}

/// The estimate counts these roles as one token without encoding them: hold that
/// against both tables.
#[test]
fn the_api_roles_are_one_token_each() {
    for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
        for role in ONE_TOKEN_ROLES {
            assert_eq!(tokenizer.count(role), 1, "{role} in {tokenizer:?}");
        }
    }
    // Another role is encoded: "narrator" is counted by the table, like any text.
    let with_role = |role: &str| {
        estimate_input(
            "gpt-4o",
            &body(json!({"messages": [{"role": role, "content": "hi"}]})),
            BodyDialect::OpenAi,
        )
    };
    assert_eq!(
        with_role("narrator") - with_role("user"),
        Tokenizer::O200kBase.count("narrator") - 1
    );
}

#[test]
fn hello_world_is_two_tokens() {
    warm_up();
    assert_eq!(Tokenizer::O200kBase.count("hello world"), 2);
    assert_eq!(Tokenizer::Cl100kBase.count("hello world"), 2);
    assert_eq!(Tokenizer::O200kBase.count(""), 0);
}

#[test]
fn models_map_to_their_tokenizers() {
    for m in [
        "gpt-4o",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-nano",
        "gpt-5",
        "gpt-5.2",
        "o1",
        "o3-mini",
        "o4-mini",
        "chatgpt-4o-latest",
        "openai/gpt-4.1",
    ] {
        assert_eq!(Tokenizer::for_model(m), Tokenizer::O200kBase, "{m}");
    }
    for m in [
        "gpt-4",
        "gpt-4-turbo",
        "gpt-3.5-turbo",
        "text-embedding-3-small",
        "text-embedding-ada-002",
    ] {
        assert_eq!(Tokenizer::for_model(m), Tokenizer::Cl100kBase, "{m}");
    }
    for m in [
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "open-mistral-7b",
        "o",
        "deepseek-chat",
        "",
    ] {
        assert_eq!(Tokenizer::for_model(m), Tokenizer::CharsOver4, "{m}");
    }
}

#[test]
fn cookbook_chat_counts_match_the_api() {
    let b = cookbook_messages();
    assert_eq!(estimate_input("gpt-4o", &b, BodyDialect::OpenAi), 124);
    assert_eq!(estimate_input("gpt-4o-mini", &b, BodyDialect::OpenAi), 124);
    assert_eq!(estimate_input("gpt-4", &b, BodyDialect::OpenAi), 129);
    assert_eq!(
        estimate_input("gpt-3.5-turbo", &b, BodyDialect::OpenAi),
        129
    );
}

#[test]
fn content_part_arrays_count_like_strings() {
    let plain = body(json!({"messages": [{"role": "user", "content": "hello world"}]}));
    let parts = body(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hello"},
        {"type": "text", "text": " world"}
    ]}]}));
    // 3 per message + "user" (1) + "hello world" (2) + 3 priming.
    assert_eq!(estimate_input("gpt-4o", &plain, BodyDialect::OpenAi), 9);
    assert_eq!(estimate_input("gpt-4o", &parts, BodyDialect::OpenAi), 9);
    let image = body(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hello world"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]}));
    assert_eq!(
        estimate_input("gpt-4o", &image, BodyDialect::OpenAi),
        9 + IMAGE_TOKENS
    );
}

#[test]
fn escaped_strings_are_unescaped_before_counting() {
    let b = br#"{"messages":[{"role":"user","content":"hello\u0020world"}]}"#;
    assert_eq!(estimate_input("gpt-4o", b, BodyDialect::OpenAi), 9);
}

#[test]
fn tools_count_as_their_json_text() {
    // The cookbook's tools example: the API reports 101 prompt tokens for gpt-4o. OpenAI
    // renders tools in a private format; counting their JSON over-estimates a little,
    // which is the safe side for a limit.
    let b = body(json!({
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
            {"role": "user", "content": "What's the weather like in San Francisco?"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {"type": "object", "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
            }, "required": ["location"]}
        }}]
    }));
    let n = estimate_input("gpt-4o", &b, BodyDialect::OpenAi);
    assert!((101..=160).contains(&n), "{n}");
}

#[test]
fn assistant_tool_calls_are_counted() {
    let without = body(json!({"messages": [{"role": "assistant", "content": null}]}));
    let with = body(
        json!({"messages": [{"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{\"order_id\":\"48213\"}"}}
        ]}]}),
    );
    let a = estimate_input("gpt-4o", &without, BodyDialect::OpenAi);
    let b = estimate_input("gpt-4o", &with, BodyDialect::OpenAi);
    assert_eq!(a, 7);
    assert!(b > a + 10, "{a} {b}");
}

#[test]
fn other_models_use_characters_over_four() {
    // "hello world" (11) + "user" (4) = 15 characters → 4 tokens; no message overhead.
    let b = body(json!({"messages": [{"role": "user", "content": "hello world"}]}));
    assert_eq!(
        estimate_input("claude-sonnet-4-5", &b, BodyDialect::OpenAi),
        4
    );
    // Characters, not bytes: 8 × "é" is 16 bytes but 8 characters.
    let b = body(json!({"messages": [{"role": "user", "content": "éééééééé"}]}));
    assert_eq!(
        estimate_input("gemini-2.5-flash", &b, BodyDialect::OpenAi),
        3
    );
}

#[test]
fn anthropic_bodies() {
    let b = body(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Greet back.", "signature": "abc"},
                {"type": "tool_use", "id": "t1", "name": "wave", "input": {"hand": "left"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "waved"}]},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]}
        ],
        "tools": [{"name": "wave", "input_schema": {"type": "object"}}]
    }));
    // Characters: "Be brief." 9, "user" 4, "hello world" 11, "assistant" 9,
    // "Greet back." 11, "wave" 4, {"hand":"left"} 15, "user" 4, "waved" 5,
    // tools JSON 49 = 121 → 31 tokens, plus one image.
    let tools_len = r#"[{"input_schema":{"type":"object"},"name":"wave"}]"#.len() as u64;
    let chars = 9 + 4 + 11 + 9 + 11 + 4 + 15 + 4 + 5 + tools_len;
    assert_eq!(
        estimate_input("claude-sonnet-4-5", &b, BodyDialect::Anthropic),
        chars.div_ceil(4) + IMAGE_TOKENS
    );
    let simple = body(
        json!({"system": "Be brief.", "messages": [{"role": "user", "content": "hello world"}]}),
    );
    // o200k: "Be brief." 3 + (3 + "user" 1 + 2) + 3.
    assert_eq!(
        estimate_input("gpt-4o", &simple, BodyDialect::Anthropic),
        12
    );
}

#[test]
fn malformed_bodies_fall_back_to_bytes_over_four() {
    for b in [
        &b"not json at all"[..],
        b"{\"messages\": 5}",
        b"{\"messages\": [",
        b"",
        b"[1,2,3]",
    ] {
        for d in [BodyDialect::OpenAi, BodyDialect::Anthropic] {
            assert_eq!(
                estimate_input("gpt-4o", b, d),
                (b.len() as u64).div_ceil(4),
                "{b:?}"
            );
        }
    }
    // A body with no messages is a valid empty request.
    assert_eq!(estimate_input("gpt-4o", b"{}", BodyDialect::OpenAi), 0);
}

#[test]
fn embeddings_inputs() {
    let one = body(json!({"model": "text-embedding-3-small", "input": "hello world"}));
    assert_eq!(estimate_embedding_input("text-embedding-3-small", &one), 2);
    let many = body(json!({"input": ["hello world", "hello world"]}));
    assert_eq!(estimate_embedding_input("text-embedding-3-small", &many), 4);
    let ids = body(json!({"input": [[15339, 1917], [15339]]}));
    assert_eq!(estimate_embedding_input("text-embedding-3-small", &ids), 3);
    let flat_ids = body(json!({"input": [15339, 1917, 0]}));
    assert_eq!(
        estimate_embedding_input("text-embedding-3-small", &flat_ids),
        3
    );
    let other = body(json!({"input": ["hello world", "hi"]}));
    assert_eq!(estimate_embedding_input("mistral-embed", &other), 4); // 13 chars
    assert_eq!(estimate_embedding_input("text-embedding-3-small", b"{}"), 0);
    assert_eq!(
        estimate_embedding_input("text-embedding-3-small", b"garbage!"),
        2
    );
}

#[test]
fn output_caps_come_from_the_body() {
    use BodyDialect::{Anthropic, OpenAi};
    let cap = |v, d| estimate_chat("gpt-4o", &body(v), d).max_output;
    assert_eq!(cap(json!({"max_tokens": 100}), OpenAi), Some(100));
    let both = json!({"max_tokens": 100, "max_completion_tokens": 50});
    assert_eq!(cap(both.clone(), OpenAi), Some(50));
    assert_eq!(cap(both, Anthropic), Some(100));
    assert_eq!(cap(json!({"max_tokens": null}), OpenAi), None);
    assert_eq!(cap(json!({}), Anthropic), None);
    // A cap that is not a whole number leaves the body unreadable: its length decides.
    for bad in [
        json!("16"),
        json!(1.5),
        json!(-1),
        json!([16]),
        json!({"n": 16}),
    ] {
        let b = body(json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": bad}));
        for d in [OpenAi, Anthropic] {
            assert_eq!(
                estimate_chat("gpt-4o", &b, d),
                ChatEstimate {
                    input: (b.len() as u64).div_ceil(4),
                    max_output: None
                },
                "{bad}"
            );
        }
    }
}

#[test]
fn output_estimates() {
    assert_eq!(estimate_output(Some(512), 1_000), 512);
    assert_eq!(estimate_output(None, 1_000), 1_000);
}
