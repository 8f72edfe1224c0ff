//! Governance over real HTTP: virtual keys on every credential header, allowlists,
//! budgets at each level of the chain (402, reset at the period boundary on an injected
//! clock), rate limits and concurrency (429 with OpenAI-style headers) under concurrent
//! load, budget-aware routing, and the spend ledger.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use sluice_governance::governor::ManualClock;
use sluice_governance::pricing::PriceTable;
use sluice_mock::MockSettings;

const KEY_A: &str = "sk-sluice-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk-sluice-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "sk-sluice-ccccccccccccccccccccccccccccccccccccccccccc";
const KEY_IN_CLOSED_TEAM: &str = "sk-sluice-ddddddddddddddddddddddddddddddddddddddddddd";
const KEY_OF_GONE_CUSTOMER: &str = "sk-sluice-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
/// 2026-11-26 12:00:00 UTC.
const NOON: i64 = 1_795_694_400;

fn governance(body: &str) -> String {
    format!(
        "store: {{url: \"sqlite::memory:\"}}\ngovernance:\n  key_secret: test-secret-of-enough-length\n{body}"
    )
}

async fn ask(gateway: &TestGateway, key: Option<(&str, &str)>, model: &str) -> Answer {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(key);
    post_with(
        &gateway.url("/v1/chat/completions"),
        &headers,
        chat_body(model, "how much is this"),
    )
    .await
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn error_message(answer: &Answer) -> String {
    answer.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn error_code(answer: &Answer) -> String {
    answer.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// What `answer` costs at the shipped price of `model`, in nanodollars.
fn cost_of(answer: &Answer, model: &str) -> i64 {
    let usage = &answer.json()["usage"];
    let tokens = |name: &str| usage[name].as_u64().unwrap_or(0);
    let price = PriceTable::shipped()
        .lookup(None, model)
        .expect("a shipped price");
    sluice_governance::cost(
        price,
        &sluice_core::chat::Usage {
            input_tokens: tokens("prompt_tokens"),
            output_tokens: tokens("completion_tokens"),
            ..Default::default()
        },
    )
    .0
}

/// Today's ledger grouped by `group_by`, after the pending spend is written. Streams are
/// settled as their body ends, so a moment is left for the last one first.
async fn ledger(
    gateway: &TestGateway,
    group_by: sluice_store::sql::GroupBy,
) -> Vec<(String, sluice_store::sql::SpendTotals)> {
    let governor = gateway.gateway.governor().expect("governed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    governor.flush().await.expect("flushed");
    let today = sluice_governance::governor::rfc3339(governor.now())[..10].to_string();
    governor
        .store()
        .spend_report(group_by, &today, &today)
        .await
        .expect("report")
}

#[tokio::test]
async fn keys_are_required_on_every_credential_header_and_never_forwarded() {
    let upstream = FixtureUpstream::start(chat_fixture()).await;
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("up", &upstream.base_url(), "sk-upstream-key"),
        governance(&format!(
            "  require_keys: true\n  customers:\n    gone: {{disabled: true}}\n  teams:\n    closed: {{disabled: true}}\n  keys:\n    app: {{key: {KEY_A}}}\n    off: {{key: {KEY_B}, disabled: true}}\n    old: {{key: {KEY_C}, expires_at: 1000}}\n    in-closed: {{key: {KEY_IN_CLOSED_TEAM}, team: closed}}\n    of-gone: {{key: {KEY_OF_GONE_CUSTOMER}, customer: gone}}\n"
        ))
    );
    let gateway = TestGateway::start(&yaml).await;

    let none = ask(&gateway, None, "up/m").await;
    assert_eq!(none.status, 401);
    assert_eq!(error_code(&none), "missing_api_key");
    // The model list too is only for key holders, in the asker's dialect.
    let list = get(&gateway.url("/v1/models")).await;
    assert_eq!(
        (list.status.as_u16(), error_code(&list).as_str()),
        (401, "missing_api_key")
    );
    let list = get_with(
        &gateway.url("/v1/models"),
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(list.status, 401);
    assert_eq!(list.json()["error"]["type"], "authentication_error");
    let list = get_with(&gateway.url("/v1/models"), &[("x-api-key", KEY_A)]).await;
    assert_eq!(list.status, 200);
    let provider_key = ask(
        &gateway,
        Some(("authorization", "Bearer sk-openai-123")),
        "up/m",
    )
    .await;
    assert_eq!(
        provider_key.status, 401,
        "a provider key is not a virtual key"
    );
    let wrong = bearer("sk-sluice-wrongwrongwrongwrongwrongwrongwrongwro");
    let unknown = ask(&gateway, Some(("authorization", &wrong)), "up/m").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(error_code(&unknown), "invalid_api_key");
    assert!(
        !unknown.text().contains("wrongwrong"),
        "the key is echoed: {}",
        unknown.text()
    );
    let disabled = ask(&gateway, Some(("authorization", &bearer(KEY_B))), "up/m").await;
    assert_eq!(
        (disabled.status.as_u16(), error_code(&disabled).as_str()),
        (401, "key_disabled")
    );
    let expired = ask(&gateway, Some(("authorization", &bearer(KEY_C))), "up/m").await;
    assert_eq!(
        (expired.status.as_u16(), error_code(&expired).as_str()),
        (401, "key_expired")
    );
    // A key whose team or customer is disabled is refused as its own key would be, and
    // the message names the owner.
    for (key, owner) in [
        (KEY_IN_CLOSED_TEAM, "team `closed`"),
        (KEY_OF_GONE_CUSTOMER, "customer `gone`"),
    ] {
        let refused = ask(&gateway, Some(("authorization", &bearer(key))), "up/m").await;
        assert_eq!(
            (refused.status.as_u16(), error_code(&refused).as_str()),
            (401, "key_disabled")
        );
        assert!(refused.text().contains(owner), "{}", refused.text());
    }
    assert_eq!(upstream.requests(), 0, "nothing reached the provider");

    for header in [
        ("authorization", bearer(KEY_A)),
        ("x-api-key", KEY_A.to_string()),
        ("api-key", KEY_A.to_string()),
    ] {
        let answer = ask(&gateway, Some((header.0, &header.1)), "up/m").await;
        assert_eq!(answer.status, 200, "{}: {}", header.0, answer.text());
    }
    // The Anthropic SDK's way, in the Anthropic envelope when refused.
    let messages = post_with(
        &gateway.url("/v1/messages"),
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        r#"{"model":"up/m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(messages.status, 401);
    assert_eq!(messages.json()["error"]["type"], "authentication_error");

    let received = upstream.received.lock().expect("lock");
    for (headers, _) in received.iter() {
        assert_eq!(
            headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer sk-upstream-key")
        );
        assert!(headers.get("x-api-key").is_none() && headers.get("api-key").is_none());
    }
}

#[tokio::test]
async fn a_keys_models_and_providers_are_allowlists() {
    let (a, b) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let yaml = format!(
        "providers:\n{}    models: [m, n]\n{}    models: [m]\nroutes:\n  chat:\n    targets: [{{provider: a, model: m}}]\n  other:\n    targets: [{{provider: b, model: m}}]\n{}",
        provider_yaml("a", &a.base_url(), "k"),
        provider_yaml("b", &b.base_url(), "k"),
        governance(&format!(
            "  keys:\n    narrow: {{key: {KEY_A}, models: [chat, other, a/n, b/m], providers: [a]}}\n"
        ))
    );
    let gateway = TestGateway::start(&yaml).await;
    let key = bearer(KEY_A);
    let allowed = ask(&gateway, Some(("authorization", &key)), "chat").await;
    assert_eq!(allowed.status, 200);
    let model = ask(&gateway, Some(("authorization", &key)), "a/m").await;
    assert_eq!(
        (model.status.as_u16(), error_code(&model).as_str()),
        (403, "model_not_allowed")
    );
    let provider = ask(&gateway, Some(("authorization", &key)), "b/m").await;
    assert_eq!(
        (provider.status.as_u16(), error_code(&provider).as_str()),
        (403, "provider_not_allowed")
    );
    // Without require_keys, a request without a key is served.
    assert_eq!(ask(&gateway, None, "a/m").await.status, 200);
    assert_eq!(b.stats().chat_completions(), 0);

    // The model list shows the key what it may ask for: names on its model list served
    // by a provider on its provider list; without a key, everything.
    let listed = |answer: Answer| -> Vec<String> {
        let mut ids: Vec<String> = answer.json()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|model| model["id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    let url = gateway.url("/v1/models");
    let for_key = get_with(&url, &[("authorization", &key)]).await;
    assert_eq!(listed(for_key), ["a/n", "chat"]);
    let anthropic = get_with(
        &url,
        &[("x-api-key", KEY_A), ("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(listed(anthropic), ["a/n", "chat"]);
    assert_eq!(
        listed(get(&url).await),
        ["a/m", "a/n", "b/m", "chat", "other"]
    );
    let wrong = get_with(
        &url,
        &[(
            "authorization",
            "Bearer sk-sluice-notakeynotakeynotakeynotakeynotakeynota",
        )],
    )
    .await;
    assert_eq!(
        (wrong.status.as_u16(), error_code(&wrong).as_str()),
        (401, "invalid_api_key")
    );
}

#[tokio::test]
async fn each_levels_budget_refuses_once_spent_and_resets_at_the_period_boundary() {
    let mock = start_mock(MockSettings::default()).await;
    let clock = ManualClock::at(NOON);
    // One request of this mock costs a few thousand nanodollars at gpt-4o-mini's price.
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("mock", &mock.base_url(), "k"),
        governance(&format!(
            "  customers:\n    acme: {{budgets: [{{limit: 0.00002, period: 1d}}]}}\n  teams:\n    search: {{customer: acme, budgets: [{{limit: 0.000005, period: 1h}}]}}\n    ads: {{customer: acme}}\n  keys:\n    search-key: {{key: {KEY_A}, team: search}}\n    ads-key: {{key: {KEY_B}, team: ads, budgets: [{{limit: 0.000001, period: 1d}}]}}\n"
        ))
    );
    let gateway = TestGateway::start_with_clock(&yaml, clock.clone()).await;
    let search = bearer(KEY_A);
    let ads = bearer(KEY_B);

    // The key level: one request spends the ads key's budget.
    let first = ask(&gateway, Some(("authorization", &ads)), "mock/gpt-4o-mini").await;
    assert_eq!(first.status, 200);
    assert!(
        cost_of(&first, "gpt-4o-mini") >= 1000,
        "the test's figures assume a request costs at least $0.000001"
    );
    let refused = ask(&gateway, Some(("authorization", &ads)), "mock/gpt-4o-mini").await;
    assert_eq!(refused.status, 402, "{}", refused.text());
    assert_eq!(error_code(&refused), "budget_exceeded");
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("key `ads-key`") && message.contains("2026-11-27T00:00:00Z"),
        "{message}"
    );
    assert_eq!(
        refused.header("x-sluice-budget-resets-at"),
        Some("1795737600")
    );

    // The team level: the search team's hourly budget.
    let mut served = 0;
    let mut last = None;
    for _ in 0..10 {
        let answer = ask(
            &gateway,
            Some(("authorization", &search)),
            "mock/gpt-4o-mini",
        )
        .await;
        if answer.status != 200 {
            last = Some(answer);
            break;
        }
        served += 1;
    }
    let last = last.expect("the team budget ran out");
    assert_eq!(last.status, 402);
    let message = last.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("team `search`") && message.contains("13:00:00Z"),
        "{message}"
    );
    assert!(served >= 1);

    // An hour later the team budget is open again; the ads key's daily budget is not.
    clock.advance(3600);
    assert_eq!(
        ask(
            &gateway,
            Some(("authorization", &search)),
            "mock/gpt-4o-mini"
        )
        .await
        .status,
        200
    );
    assert_eq!(
        ask(&gateway, Some(("authorization", &ads)), "mock/gpt-4o-mini")
            .await
            .status,
        402
    );

    // The customer level: spend through the search team until acme's daily budget is out.
    let mut customer_refusal = None;
    for _ in 0..40 {
        let answer = ask(
            &gateway,
            Some(("authorization", &search)),
            "mock/gpt-4o-mini",
        )
        .await;
        let text = answer.text();
        if answer.status == 402 && text.contains("customer `acme`") {
            customer_refusal = Some(answer);
            break;
        }
        if answer.status == 402 {
            clock.advance(3600); // the team's hour: move on to the next
        }
    }
    assert!(
        customer_refusal.is_some(),
        "the customer's budget never refused"
    );
    // The next day everything resets.
    clock.set(NOON + 86_400);
    assert_eq!(
        ask(&gateway, Some(("authorization", &ads)), "mock/gpt-4o-mini")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn rate_limits_hold_under_64_concurrent_requests() {
    let slow = start_mock(MockSettings {
        latency: sluice_core::ConfigDuration::from_millis(300),
        ..MockSettings::default()
    })
    .await;
    let fast = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}{}",
        provider_yaml("slow", &slow.base_url(), "k"),
        provider_yaml("fast", &fast.base_url(), "k"),
        governance(&format!(
            "  keys:\n    rpm: {{key: {KEY_A}, limits: {{requests: 20, window: 1m}}}}\n    conc: {{key: {KEY_B}, limits: {{concurrent: 8}}}}\n    tpm: {{key: {KEY_C}, limits: {{tokens: 300, window: 1m}}}}\n"
        ))
    );
    let gateway = TestGateway::start(&yaml).await;

    let burst = |key: &'static str, model: &'static str| {
        let url = gateway.url("/v1/chat/completions");
        async move {
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let url = url.clone();
                tasks.push(tokio::spawn(async move {
                    post_with(
                        &url,
                        &[
                            ("content-type", "application/json"),
                            ("authorization", &bearer(key)),
                        ],
                        chat_body(model, "go"),
                    )
                    .await
                }));
            }
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("task"));
            }
            answers
        }
    };

    let answers = burst(KEY_A, "fast/m").await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 20, "requests per minute: exactly the limit is admitted");
    let limited = answers.iter().find(|a| a.status == 429).expect("a 429");
    assert_eq!(error_code(limited), "rate_limit_exceeded");
    assert_eq!(limited.header("x-ratelimit-limit-requests"), Some("20"));
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    assert!(
        error_message(limited)
            .starts_with("Rate limit reached for the key `rpm`: 20 requests per minute."),
        "{}",
        error_message(limited)
    );
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)))
    );

    let answers = burst(KEY_B, "slow/m").await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 8, "in flight at once: exactly the limit");
    let limited = answers.iter().find(|a| a.status == 429).expect("a 429");
    assert!(
        error_message(limited)
            .starts_with("Rate limit reached for the key `conc`: 8 concurrent requests"),
        "{}",
        error_message(limited)
    );

    // Tokens: each request is estimated (input + the default output allowance) and
    // corrected afterwards; with 300 a minute, one fits and the rest wait.
    let answers = burst(KEY_C, "fast/m").await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert!((1..=2).contains(&ok), "tokens per minute admitted {ok}");
    let limited = answers.iter().find(|a| a.status == 429).expect("a 429");
    assert_eq!(limited.header("x-ratelimit-limit-tokens"), Some("300"));
    assert!(
        error_message(limited)
            .starts_with("Rate limit reached for the key `tpm`: 300 tokens per minute."),
        "{}",
        error_message(limited)
    );
}

#[tokio::test]
async fn a_spent_provider_budget_shifts_traffic_to_the_other_target_until_the_reset() {
    let (a, b) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let clock = ManualClock::at(NOON);
    let yaml = format!(
        "providers:\n{}    budgets: [{{limit: 0.000005, period: 1d}}]\n{}routes:\n  chat:\n    strategy: priority\n    targets:\n      - {{provider: a, model: gpt-4o-mini}}\n      - {{provider: b, model: gpt-4o-mini}}\n{}",
        provider_yaml("a", &a.base_url(), "k"),
        provider_yaml("b", &b.base_url(), "k"),
        governance("")
    );
    let gateway = TestGateway::start_with_clock(&yaml, clock.clone()).await;
    let mut served_by_a = 0;
    for _ in 0..10 {
        let answer = ask(&gateway, None, "chat").await;
        assert_eq!(answer.status, 200);
        if answer.header("x-sluice-provider") == Some("a") {
            served_by_a += 1;
        } else {
            break;
        }
    }
    assert!((1..10).contains(&served_by_a), "a served {served_by_a}");
    let traced = post_with(
        &gateway.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("x-sluice-route-trace", "1"),
        ],
        chat_body("chat", "where now"),
    )
    .await;
    assert_eq!(traced.header("x-sluice-provider"), Some("b"));
    assert!(
        traced
            .header("x-sluice-route-trace")
            .is_some_and(|t| t.contains("a/gpt-4o-mini=skipped(gated:budget)")),
        "{:?}",
        traced.header("x-sluice-route-trace")
    );
    // Addressed directly, the spent provider refuses with 402.
    let direct = ask(&gateway, None, "a/gpt-4o-mini").await;
    assert_eq!(direct.status, 402);
    clock.advance(86_400);
    let answer = ask(&gateway, None, "chat").await;
    assert_eq!(
        answer.header("x-sluice-provider"),
        Some("a"),
        "back after the reset"
    );
}

#[tokio::test]
async fn spend_reaches_the_ledger_by_key_and_model() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("mock", &mock.base_url(), "k"),
        governance(&format!(
            "  customers:\n    acme: {{}}\n  teams:\n    search: {{customer: acme}}\n  keys:\n    search-key: {{key: {KEY_A}, team: search}}\n"
        ))
    );
    let gateway = TestGateway::start(&yaml).await;
    let key = bearer(KEY_A);
    let mut expected = 0;
    for _ in 0..3 {
        let answer = ask(&gateway, Some(("authorization", &key)), "mock/gpt-4o-mini").await;
        assert_eq!(answer.status, 200);
        expected += cost_of(&answer, "gpt-4o-mini");
    }
    // A stream with usage is charged from its last chunk.
    let stream = post_with(
        &gateway.url("/v1/chat/completions"),
        &[("content-type", "application/json"), ("authorization", &key)],
        r#"{"model":"mock/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stream it"}]}"#,
    )
    .await;
    let last: Value = sse_data(&stream.body)
        .iter()
        .rev()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|chunk| chunk["usage"].is_object())
        .expect("a usage chunk");
    let usage = sluice_core::chat::Usage {
        input_tokens: last["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: last["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        ..Default::default()
    };
    let price = PriceTable::shipped()
        .lookup(None, "gpt-4o-mini")
        .expect("price");
    expected += sluice_governance::cost(price, &usage).0;

    let rows = ledger(&gateway, sluice_store::sql::GroupBy::Key).await;
    let (group, totals) = rows.first().expect("a row");
    assert_eq!(group, "search-key");
    assert_eq!(totals.requests, 4);
    assert_eq!(totals.cost_nanos, expected);
    let by_customer = ledger(&gateway, sluice_store::sql::GroupBy::Customer).await;
    assert_eq!(
        by_customer.first().map(|(group, _)| group.as_str()),
        Some("acme")
    );
}

/// Every log line of this test binary, from the moment the first test asks for it.
fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_and_budgets_made_through_the_admin_api_apply_at_once_and_no_key_is_logged() {
    let logs = captured_logs();
    let mock = start_mock(MockSettings::default()).await;
    let admin_token = "admin-token-of-enough-length";
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("mock", &mock.base_url(), "sk-upstream-secret"),
        governance(&format!(
            "  require_keys: true\n  admin_token: {admin_token}\n"
        ))
    );
    let gateway = TestGateway::start(&yaml).await;
    let admin = format!("Bearer {admin_token}");
    let json = ("content-type", "application/json");

    // /admin/routes now needs the token too.
    assert_eq!(get(&gateway.url("/admin/routes")).await.status, 401);
    let created = post_with(
        &gateway.url("/admin/keys"),
        &[json, ("authorization", &admin)],
        r#"{"id": "app", "name": "app"}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let key = created.json()["key"]
        .as_str()
        .expect("the key, once")
        .to_string();
    let answer = ask(
        &gateway,
        Some(("authorization", &bearer(&key))),
        "mock/gpt-4o-mini",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    let budget = post_with(
        &gateway.url("/admin/budgets"),
        &[json, ("authorization", &admin)],
        r#"{"level": "key", "owner": "app", "limit_usd": 0.000001, "period": "1d"}"#,
    )
    .await;
    assert_eq!(budget.status, 201, "{}", budget.text());
    let spent = ask(
        &gateway,
        Some(("authorization", &bearer(&key))),
        "mock/gpt-4o-mini",
    )
    .await;
    assert_eq!(spent.status, 200, "the budget was open before this request");
    let refused = ask(
        &gateway,
        Some(("authorization", &bearer(&key))),
        "mock/gpt-4o-mini",
    )
    .await;
    assert_eq!(refused.status, 402);

    let disabled = post_with(
        &gateway.url("/admin/keys/app/disable"),
        &[("authorization", &admin)],
        "",
    )
    .await;
    assert_eq!(disabled.status, 200);
    let refused = ask(
        &gateway,
        Some(("authorization", &bearer(&key))),
        "mock/gpt-4o-mini",
    )
    .await;
    assert_eq!(refused.status, 401);

    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).to_string();
    assert!(!logs.is_empty(), "nothing was captured");
    for secret in [
        key.as_str(),
        KEY_A,
        KEY_B,
        KEY_C,
        admin_token,
        "sk-upstream-secret",
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

#[tokio::test]
async fn the_configs_pricing_prices_a_model_the_shipped_table_lacks() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}pricing:\n  - {{model: house-model, input: 1000, output: 2000}}\n{}",
        provider_yaml("mock", &mock.base_url(), "k"),
        governance(&format!("  keys:\n    house: {{key: {KEY_A}}}\n"))
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = ask(
        &gateway,
        Some(("authorization", &bearer(KEY_A))),
        "mock/house-model",
    )
    .await;
    assert_eq!(answer.status, 200);
    let usage = &answer.json()["usage"];
    let tokens = |name: &str| usage[name].as_i64().unwrap_or(0);
    // $1000 and $2000 per million tokens: 1,000,000 and 2,000,000 nanodollars a token.
    let expected = tokens("prompt_tokens") * 1_000_000 + tokens("completion_tokens") * 2_000_000;
    let rows = ledger(&gateway, sluice_store::sql::GroupBy::Model).await;
    assert_eq!(
        rows.first()
            .map(|(model, totals)| (model.as_str(), totals.cost_nanos)),
        Some(("house-model", expected))
    );
}

#[tokio::test]
async fn a_hedges_cancelled_attempt_is_charged_its_input() {
    let stalled = start_mock(MockSettings {
        latency: sluice_core::ConfigDuration::from_secs(5),
        ..MockSettings::default()
    })
    .await;
    let fast = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}routes:\n  raced:\n    strategy: priority\n    hedge: {{delay: 100ms}}\n    targets:\n      - {{provider: stalled, model: gpt-4o-mini}}\n      - {{provider: fast, model: gpt-4o-mini}}\n{}",
        provider_yaml("stalled", &stalled.base_url(), "k"),
        provider_yaml("fast", &fast.base_url(), "k"),
        governance(&format!("  keys:\n    racer: {{key: {KEY_A}}}\n"))
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = ask(&gateway, Some(("authorization", &bearer(KEY_A))), "raced").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("fast"));
    let rows = ledger(&gateway, sluice_store::sql::GroupBy::Provider).await;
    let stalled_row = rows
        .iter()
        .find(|(provider, _)| provider == "stalled")
        .map(|(_, totals)| *totals)
        .expect("the cancelled attempt is in the ledger");
    assert!(stalled_row.input_tokens > 0 && stalled_row.output_tokens == 0);
    assert!(stalled_row.cost_nanos > 0);
    assert!(
        rows.iter()
            .any(|(provider, totals)| provider == "fast" && totals.output_tokens > 0)
    );
}

#[tokio::test]
async fn a_stream_that_asks_for_no_usage_is_charged_the_providers_count_and_sees_none() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("mock", &mock.base_url(), "k"),
        governance(&format!("  keys:\n    streamer: {{key: {KEY_A}}}\n"))
    );
    let gateway = TestGateway::start(&yaml).await;
    let key = bearer(KEY_A);
    let headers = [
        ("content-type", "application/json"),
        ("authorization", key.as_str()),
    ];
    let url = gateway.url("/v1/chat/completions");
    let plain = post_with(
        &url,
        &headers,
        r#"{"model":"mock/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count me in"}]}"#,
    )
    .await;
    assert_eq!(plain.status, 200);
    let events = sse_data(&plain.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        events
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .all(|chunk| !chunk["usage"].is_object()
                && chunk["choices"].as_array().is_some_and(|c| !c.is_empty())),
        "the client got a usage chunk it did not ask for: {events:?}"
    );
    // The provider asked for usage: it was sent `stream_options`.
    let sent = mock.received();
    let asked = sent
        .iter()
        .filter_map(|request| serde_json::from_slice::<Value>(&request.body).ok())
        .any(|body| body["stream_options"]["include_usage"] == true);
    assert!(asked, "the gateway did not ask the provider for usage");

    // What the same request reports when the client asks: the amount charged.
    let counted = post_with(
        &url,
        &headers,
        r#"{"model":"mock/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count me in"}]}"#,
    )
    .await;
    let usage = sse_data(&counted.body)
        .iter()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|chunk| chunk["usage"].is_object())
        .map(|chunk| chunk["usage"].clone())
        .expect("usage");
    let rows = ledger(&gateway, sluice_store::sql::GroupBy::Key).await;
    let totals = rows.first().map(|(_, totals)| *totals).expect("a row");
    let output = usage["completion_tokens"].as_i64().unwrap_or(0);
    assert!(output > 0);
    assert_eq!(totals.requests, 2);
    assert_eq!(
        totals.output_tokens,
        2 * output,
        "both streams' output was charged"
    );
}
