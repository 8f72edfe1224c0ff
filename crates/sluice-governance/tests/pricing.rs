use sluice_governance::{PriceEntry, PriceTable, PricingError, Rate, ToPrice};

fn usd(rate: Rate) -> f64 {
    rate.usd_per_million()
}

#[test]
fn shipped_table_parses_and_covers_every_provider() {
    let table = PriceTable::shipped();
    assert!(table.len() >= 60, "{}", table.len());
    for provider in [
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "cohere",
        "deepseek",
        "xai",
    ] {
        assert!(
            table
                .iter()
                .any(|p| p.provider.as_deref() == Some(provider)),
            "no prices for {provider}"
        );
    }
    for p in table.iter() {
        assert!(p.provider.is_some(), "{} has no provider", p.model);
        // Input prices of chat models are above zero; embeddings have no output price.
        assert!(p.input.0 > 0, "{} has a zero input price", p.model);
    }
}

#[test]
fn shipped_prices_match_the_published_figures() {
    let t = PriceTable::shipped();
    let mini = t.lookup(Some("openai"), "gpt-4o-mini").unwrap();
    assert_eq!(mini.input, Rate(150_000_000));
    assert_eq!(mini.output, Rate(600_000_000));
    assert_eq!(mini.cached_input, Rate(75_000_000));
    // Defaults: cache writes at the input price, reasoning at the output price.
    assert_eq!(mini.cache_write, mini.input);
    assert_eq!(mini.reasoning, mini.output);

    let sonnet = t.lookup(None, "claude-sonnet-4-5").unwrap();
    assert_eq!(
        (
            usd(sonnet.input),
            usd(sonnet.output),
            usd(sonnet.cached_input),
            usd(sonnet.cache_write)
        ),
        (3.0, 15.0, 0.3, 3.75)
    );
    let flash = t.lookup(None, "gemini-2.5-flash").unwrap();
    assert_eq!((usd(flash.input), usd(flash.output)), (0.3, 2.5));
    assert_eq!(
        usd(t.lookup(None, "text-embedding-3-small").unwrap().input),
        0.02
    );
}

#[test]
fn one_token_at_ten_cents_per_million_is_100_nanodollars() {
    let rate = Rate::from_usd_per_million(0.10).unwrap();
    assert_eq!(rate.nanodollars_per_million() / 1_000_000, 100);
    assert_eq!(Rate::from_usd_per_million(0.01875), Some(Rate(18_750_000)));
    assert_eq!(Rate::from_usd_per_million(-0.01), None);
    assert_eq!(Rate::from_usd_per_million(f64::NAN), None);
}

#[test]
fn lookup_strips_provider_prefixes_and_versions() {
    let t = PriceTable::shipped();
    let cases = [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-2025-04-16", "o3"),
        ("openai/gpt-4o", "gpt-4o"),
        ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        (
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "claude-3-5-haiku",
        ),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5",
        ),
        (
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
        ),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("claude-opus-4-1@20250805", "claude-opus-4-1"),
        ("command-r-plus-08-2024", "command-r-plus"),
        ("command-a-03-2025", "command-a"),
        ("deepseek/deepseek-chat", "deepseek-chat"),
        ("xai/grok-3-mini", "grok-3-mini"),
        ("mistral/mistral-large-latest", "mistral-large-latest"),
    ];
    for (id, base) in cases {
        let price = t
            .lookup(None, id)
            .unwrap_or_else(|| panic!("{id} not found"));
        assert_eq!(&*price.model, base, "{id}");
    }
}

#[test]
fn an_exact_snapshot_wins_over_its_base_name() {
    let t = PriceTable::shipped();
    assert_eq!(usd(t.lookup(None, "gpt-4o-2024-05-13").unwrap().input), 5.0);
    assert_eq!(usd(t.lookup(None, "gpt-4o-2024-11-20").unwrap().input), 2.5);
}

#[test]
fn unknown_models_are_not_guessed() {
    let t = PriceTable::shipped();
    for id in [
        "",
        "gpt-4o-turbo-ultra",
        "my-fine-tune",
        "gpt",
        "claude",
        "claude-sonnet",
        "-latest",
        "-20241022",
        "/",
        "gemini-2.5-flash-preview-09-2025",
        "mistral-large-2411",
        "anthropic.",
        "us.",
        "@",
    ] {
        assert!(t.lookup(None, id).is_none(), "{id} should be unknown");
    }
}

#[test]
fn overrides_replace_or_add_by_model_name() {
    let yaml = "
- { model: gpt-4o, input: 2.0, output: 8.0 }
- { model: my-llama, provider: vllm, input: 0.05, output: 0.1, cached_input: 0.01 }
";
    let entries: Vec<PriceEntry> = serde_saphyr::from_str(yaml).unwrap();
    let t = PriceTable::with_overrides(&entries).unwrap();
    let gpt = t.lookup(Some("openai"), "gpt-4o-2024-08-06").unwrap();
    assert_eq!((usd(gpt.input), usd(gpt.output)), (2.0, 8.0));
    // The override replaced the shipped cached price too: it defaults to input.
    assert_eq!(gpt.cached_input, gpt.input);
    let llama = t.lookup(Some("vllm"), "my-llama").unwrap();
    assert_eq!(usd(llama.cached_input), 0.01);
    assert_eq!(llama.reasoning, llama.output);
    assert_eq!(t.len(), PriceTable::shipped().len() + 1);
    // The shipped table itself is untouched.
    assert_eq!(
        usd(PriceTable::shipped().lookup(None, "gpt-4o").unwrap().input),
        2.5
    );
}

#[test]
fn provider_specific_prices_are_preferred() {
    let entries = vec![PriceEntry {
        model: "gpt-4o".into(),
        provider: Some("azure".into()),
        input: 2.75,
        output: 11.0,
        cached_input: None,
        cache_write: None,
        reasoning: None,
    }];
    let t = PriceTable::with_overrides(&entries).unwrap();
    assert_eq!(usd(t.lookup(Some("azure"), "gpt-4o").unwrap().input), 2.75);
    assert_eq!(usd(t.lookup(Some("AZURE"), "gpt-4o").unwrap().input), 2.75);
    assert_eq!(usd(t.lookup(Some("openai"), "gpt-4o").unwrap().input), 2.5);
    // No provider, or one with no price of its own: the first declared.
    assert_eq!(usd(t.lookup(None, "gpt-4o").unwrap().input), 2.5);
    assert_eq!(
        usd(t.lookup(Some("openrouter"), "gpt-4o").unwrap().input),
        2.5
    );
}

#[test]
fn entries_reject_unknown_fields_and_negative_prices() {
    let unknown =
        serde_saphyr::from_str::<PriceEntry>("{ model: x, input: 1, output: 2, inptu: 3 }");
    assert!(unknown.is_err());
    let err = serde_saphyr::from_str::<PriceEntry>("{ model: x, input: -1, output: 2 }")
        .unwrap_err()
        .to_string();
    assert!(err.contains("negative"), "{err}");
    let err = serde_json::from_str::<PriceEntry>(
        r#"{"model":"x","input":1,"output":2,"cached_input":-0.5}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("negative"), "{err}");
    assert!(serde_json::from_str::<PriceEntry>(r#"{"model":"x","input":1}"#).is_err());
    assert!(serde_json::from_str::<PriceEntry>(r#"{"model":"x","input":2e6,"output":1}"#).is_err());
}

#[test]
fn entries_built_in_code_are_validated_too() {
    let mut entry = PriceEntry {
        model: "x".into(),
        provider: None,
        input: 1.0,
        output: 1.0,
        cached_input: None,
        cache_write: None,
        reasoning: Some(-3.0),
    };
    assert!(matches!(
        entry.to_price(),
        Err(PricingError::Negative {
            field: "reasoning",
            ..
        })
    ));
    entry.reasoning = None;
    entry.model = " ".into();
    assert_eq!(entry.to_price(), Err(PricingError::EmptyModel));
    assert!(PriceTable::from_yaml("- { model: a, input: oops, output: 1 }").is_err());
}
