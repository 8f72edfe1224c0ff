//! Loading the YAML config: interpolation, defaults and file:line errors.

use sluice_core::Config;
use sluice_core::config::{ConfigError, HedgeDelay, ProviderKind, RequestOverride};

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-test-123".to_string()),
        "GROQ_API_KEY" => Some("gsk-test".to_string()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, "sluice.yaml", env)
}

fn error_of(text: &str) -> (u64, String) {
    match load(text) {
        Err(ConfigError::Invalid {
            line,
            message,
            path,
        }) => {
            assert_eq!(path, "sluice.yaml");
            (line, message)
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("config was accepted:\n{text}"),
    }
}

const FULL: &str = r#"
server:
  listen: 0.0.0.0:9000
  max_body_bytes: 1048576
  shutdown_grace: 5s
providers:
  openai:
    kind: openai
    api_key: ${OPENAI_API_KEY}
    models: [gpt-4o-mini]
    timeouts:
      connect: 2s
      first_byte: 30s
      total: 5m
  local:
    kind: openai-compatible
    base_url: ${LOCAL_URL:-http://localhost:11434/v1}
    keys:
      - key: a
        weight: 3
      - key: b
  mock:
    kind: mock
    mock:
      reply: lorem
      latency: 20ms
      faults:
        - kind: status
          status: 503
          rate: 0.1
routes:
  chat:
    targets:
      - provider: openai
        model: gpt-4o-mini
        weight: 70
      - provider: local
        model: llama3
        weight: 30
"#;

#[test]
fn full_config_loads_with_interpolation_and_defaults() {
    let config = load(FULL).expect("valid config");
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.server.max_body_bytes, 1_048_576);
    let openai = &config.providers["openai"];
    assert_eq!(openai.kind.value, ProviderKind::Openai);
    assert_eq!(
        openai.api_key.as_ref().map(|k| k.expose()),
        Some("sk-test-123")
    );
    assert_eq!(openai.timeouts.total.get().as_secs(), 300);
    let local = &config.providers["local"];
    assert_eq!(local.base_url.as_deref(), Some("http://localhost:11434/v1"));
    assert_eq!(local.all_keys().len(), 2);
    assert_eq!(local.all_keys()[1].weight, 1);
    assert_eq!(local.timeouts.connect.get().as_secs(), 10);
    let mock = config.providers["mock"]
        .mock
        .as_ref()
        .expect("mock settings");
    assert_eq!(mock.faults.len(), 1);
    let route = &config.routes["chat"];
    assert_eq!(route.targets.value.len(), 2);
    assert_eq!(route.targets.value[0].weight, 70);
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let (line, message) = error_of("server:\n  listen: 127.0.0.1:1\n  colour: blue\n");
    assert_eq!(line, 3, "{message}");
    assert!(message.contains("colour"), "{message}");
    eprintln!("unknown key: {message}");
}

#[test]
fn wrong_type_is_refused_with_its_line() {
    let (line, message) = error_of("server:\n  max_body_bytes: lots\n");
    assert_eq!(line, 2, "{message}");
    assert!(!message.is_empty());
    assert_eq!(message, "expected a whole number here");
}

#[test]
fn bad_listen_address_is_refused_with_its_line() {
    let (line, message) = error_of("server:\n  shutdown_grace: 1s\n  listen: nowhere\n");
    assert_eq!(line, 3, "{message}");
}

#[test]
fn bad_duration_is_refused() {
    let (line, message) = error_of("server:\n  shutdown_grace: 5 parsecs\n");
    assert_eq!(line, 2, "{message}");
    assert!(message.contains("duration unit"), "{message}");
}

#[test]
fn route_to_unknown_provider_is_refused_with_its_line() {
    let text = "providers:\n  mock:\n    kind: mock\nroutes:\n  chat:\n    targets:\n      - provider: nope\n        model: x\n";
    let (line, message) = error_of(text);
    assert_eq!(line, 7, "{message}");
    assert!(message.contains("`nope`"), "{message}");
    assert!(message.contains("mock"), "{message}");
}

#[test]
fn unset_variable_is_refused_with_its_line() {
    let (line, message) =
        error_of("providers:\n  openai:\n    kind: openai\n    api_key: ${NOT_SET_ANYWHERE}\n");
    assert_eq!(line, 4);
    assert!(message.contains("NOT_SET_ANYWHERE"), "{message}");
}

#[test]
fn provider_rules_are_enforced() {
    let (line, message) = error_of("providers:\n  local:\n    kind: openai-compatible\n");
    assert_eq!(line, 3);
    assert!(message.contains("base_url"), "{message}");
    let (_, message) = error_of("providers:\n  openai:\n    kind: openai\n");
    assert!(message.contains("api_key"), "{message}");
    let (_, message) =
        error_of("providers:\n  x:\n    kind: openai-compatible\n    base_url: ftp://nope\n");
    assert!(message.contains("base_url"), "{message}");
    let (_, message) = error_of("providers:\n  x:\n    kind: martian\n");
    assert!(message.contains("martian"), "{message}");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let config = load(FULL).expect("valid config");
    let printed = format!("{config:?}");
    assert!(!printed.contains("sk-test-123"));
}

#[test]
fn without_a_file_presets_are_detected_and_the_mock_is_there() {
    let config = Config::from_env(env);
    assert!(config.providers.contains_key("mock"));
    assert_eq!(config.providers["openai"].kind.value, ProviderKind::Openai);
    let groq = config.providers["groq"].kind.value;
    assert_eq!(groq.as_str(), "groq");
    assert_eq!(
        groq.default_base_url(),
        Some("https://api.groq.com/openai/v1")
    );
    assert!(!config.providers.contains_key("anthropic"));
    let with_base = Config::from_env(|name| match name {
        "OPENAI_API_KEY" => Some("k".into()),
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:1/v1".into()),
        _ => None,
    });
    assert_eq!(
        with_base.providers["openai"].base_url.as_deref(),
        Some("http://127.0.0.1:1/v1")
    );
}

#[test]
fn empty_file_is_an_empty_config() {
    let config = load("").expect("empty is fine");
    assert!(config.providers.is_empty());
}

#[test]
fn every_kind_is_checked_for_what_it_needs() {
    let cases = [
        ("kind: bedrock\n", "region"),
        ("kind: azure\n    api_key: k\n", "base_url"),
        (
            "kind: azure\n    base_url: https://x.openai.azure.com\n",
            "entra",
        ),
        ("kind: anthropic\n", "api_key"),
        ("kind: cohere\n", "api_key"),
        (
            "kind: anthropic\n    api_key: k\n    aws:\n      access_key_id: a\n      secret_access_key: b\n",
            "`aws` does not apply",
        ),
        ("kind: groq\n", "api_key"),
        (
            "kind: claude\n",
            "known: openai, openai-compatible, azure, anthropic",
        ),
    ];
    for (provider, expected) in cases {
        let (_, message) = error_of(&format!("providers:\n  x:\n    {provider}"));
        assert!(message.contains(expected), "{provider}: {message}");
    }
}

#[test]
fn presets_and_native_kinds_parse_with_their_defaults() {
    let config = load(
        "providers:\n  local:\n    kind: ollama\n  claude:\n    kind: anthropic\n    api_key: k\n  aws:\n    kind: bedrock\n    region: us-east-1\n  test:\n    kind: cohere\n    api_key: k\n    mock: {}\n",
    )
    .expect("valid");
    let local = config.providers["local"].kind.value;
    assert_eq!(local.as_str(), "ollama");
    assert_eq!(local.default_base_url(), Some("http://localhost:11434/v1"));
    assert_eq!(
        config.providers["claude"].kind.value.default_base_url(),
        Some("https://api.anthropic.com")
    );
    assert_eq!(config.providers["aws"].region.as_deref(), Some("us-east-1"));
    assert!(config.providers["test"].mock.is_some());
}

#[test]
fn routes_check_their_strategy_breaker_retry_and_fallbacks() {
    let base = "providers:\n  p:\n    kind: mock\nroutes:\n  r:\n";
    let cases = [
        (
            "    fallbacks: [nowhere]\n    targets: [{provider: p, model: m}]\n",
            "fallback `nowhere`",
        ),
        (
            "    fallbacks: [r]\n    targets: [{provider: p, model: m}]\n",
            "fallback `r`",
        ),
        (
            "    retry: {max_attempts: 0}\n    targets: [{provider: p, model: m}]\n",
            "max_attempts",
        ),
        (
            "    circuit_breaker: {error_rate: 2}\n    targets: [{provider: p, model: m}]\n",
            "circuit_breaker",
        ),
        (
            "    strategy: cost\n    targets: [{provider: p, model: m}]\n",
            "cost strategy",
        ),
        (
            "    targets: [{provider: p, model: m, cost: -1}]\n",
            "cost must be",
        ),
        (
            "    strategy: fastest\n    targets: [{provider: p, model: m}]\n",
            "fastest",
        ),
        (
            "    hedge: {delay: soon}\n    targets: [{provider: p, model: m}]\n",
            "p95",
        ),
        (
            "    hedge: {delay: 0}\n    targets: [{provider: p, model: m}]\n",
            "hedge",
        ),
        (
            "    hedge: {delay: 100ms}\n    retry: {max_attempts: 1}\n    targets: [{provider: p, model: m}]\n",
            "the hedge is an attempt",
        ),
        (
            "    request_overrides: [model]\n    targets: [{provider: p, model: m}]\n",
            "model",
        ),
    ];
    for (route, expected) in cases {
        let (_, message) = error_of(&format!("{base}{route}"));
        assert!(message.contains(expected), "{route}: {message}");
    }
    let valid = load(&format!(
        "{base}    strategy: least-busy\n    retry: {{max_attempts: 2, backoff: 10ms, on: [rate_limited, timeout]}}\n    fallbacks: [p/other]\n    targets: [{{provider: p, model: m, cost: 0.5}}]\n"
    ))
    .expect("valid");
    assert_eq!(valid.routes["r"].retry.max_attempts, 2);
    assert!(valid.routes["r"].hedge.is_none());
    assert_eq!(
        valid.routes["r"].request_overrides,
        [RequestOverride::Fallbacks],
        "fallbacks only, by default"
    );
    let hedged = load(&format!(
        "{base}    hedge: {{delay: p95, initial: 400ms}}\n    request_overrides: [strategy, fallbacks]\n    targets: [{{provider: p, model: m}}]\n"
    ))
    .expect("valid");
    let hedge = hedged.routes["r"].hedge.expect("hedge");
    assert_eq!(hedge.delay, HedgeDelay::P95);
    assert_eq!(hedge.initial.get(), std::time::Duration::from_millis(400));
    let fixed = load(&format!(
        "{base}    hedge: {{delay: 250ms}}\n    targets: [{{provider: p, model: m}}]\n"
    ))
    .expect("valid");
    assert_eq!(
        fixed.routes["r"].hedge.map(|hedge| hedge.delay),
        Some(HedgeDelay::Fixed(sluice_core::ConfigDuration::from_millis(
            250
        )))
    );
}

#[test]
fn health_checks_are_checked() {
    let base = "providers:\n  p:\n    kind: mock\n    health_check: ";
    for (check, expected) in [
        ("{interval: 5s}", "model"),
        ("{model: m, interval: 0}", "health_check needs"),
        ("{model: m, unhealthy_after: 0}", "health_check needs"),
        ("{model: m, every: 5s}", "every"),
    ] {
        let (line, message) = error_of(&format!("{base}{check}\n"));
        assert!(message.contains(expected), "{check}: {message}");
        assert!(line >= 2, "{check}: line {line}");
    }
    let valid = load(&format!("{base}{{model: tiny}}\n")).expect("valid");
    let check = valid.providers["p"].health_check.as_ref().expect("check");
    assert_eq!(check.interval.get(), std::time::Duration::from_secs(30));
    assert_eq!((check.unhealthy_after, check.healthy_after), (2, 1));
}
