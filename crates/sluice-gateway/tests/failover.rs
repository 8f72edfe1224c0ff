//! Retries and failover over real HTTP: a route's next target serves the request when
//! the first fails in a way that retrying can fix, and never when it cannot.

mod common;

use std::time::Duration;

use common::*;
use sluice_mock::{MockFault, MockSettings};

fn route(targets: &[&str], retry: &str) -> String {
    let mut yaml = format!("routes:\n  resilient:\n{retry}    targets:\n");
    for target in targets {
        yaml.push_str(&format!("      - {{provider: {target}, model: m}}\n"));
    }
    yaml
}

fn priority() -> &'static str {
    "    strategy: priority\n"
}

/// A gateway with the route `resilient` over `primary` (at `primary_url`) then `backup`
/// (at `backup_url`), and any extra route settings.
async fn primary_then_backup(primary_url: &str, backup_url: &str, settings: &str) -> TestGateway {
    let yaml = format!(
        "providers:\n{}{}{}",
        provider_yaml("primary", primary_url, "k"),
        provider_yaml("backup", backup_url, "k"),
        route(&["primary", "backup"], settings)
    );
    TestGateway::start(&yaml).await
}

async fn ask(gateway: &TestGateway) -> Answer {
    post(
        &gateway.url("/v1/chat/completions"),
        chat_body("resilient", "fail over"),
    )
    .await
}

#[tokio::test]
async fn each_retryable_status_fails_over_to_the_next_target() {
    for status in [429, 500, 502, 503, 504, 529] {
        let primary = FixtureUpstream::start(chat_fixture()).await;
        primary.set_status(status);
        let backup = start_mock(MockSettings::default()).await;
        let gateway =
            primary_then_backup(&primary.base_url(), &backup.base_url(), priority()).await;
        let answer = ask(&gateway).await;
        assert_eq!(answer.status, 200, "{status}: {}", answer.text());
        assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
        assert_eq!(
            answer.header("x-sluice-attempts").map(str::to_string),
            Some(format!("2 (primary/m {status}; backup/m 200)"))
        );
        assert_eq!(
            answer.json()["choices"][0]["message"]["content"],
            "fail over"
        );
    }
}

#[tokio::test]
async fn timeouts_resets_and_refused_connections_fail_over() {
    let slow = FixtureUpstream::start(chat_fixture()).await;
    slow.set_delay(Duration::from_secs(5));
    let reset = start_mock(with_fault(MockFault::Reset { rate: 1.0 })).await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}    timeouts: {{first_byte: 200ms}}\n{}{}  refused:\n    kind: openai-compatible\n    base_url: http://127.0.0.1:9/v1\n{}",
        provider_yaml("slow", &slow.base_url(), "k"),
        provider_yaml("reset", &reset.base_url(), "k"),
        provider_yaml("backup", &backup.base_url(), "k"),
        "routes:\n  slow-first:\n    strategy: priority\n    targets:\n      - {provider: slow, model: m}\n      - {provider: backup, model: m}\n  reset-first:\n    strategy: priority\n    targets:\n      - {provider: reset, model: m}\n      - {provider: backup, model: m}\n  refused-first:\n    strategy: priority\n    targets:\n      - {provider: refused, model: m}\n      - {provider: backup, model: m}\n",
    );
    let gateway = TestGateway::start(&yaml).await;
    for (route, first) in [
        ("slow-first", "slow/m 504"),
        ("reset-first", "reset/m 502"),
        ("refused-first", "refused/m 502"),
    ] {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body(route, "still served"),
        )
        .await;
        assert_eq!(answer.status, 200, "{route}: {}", answer.text());
        assert_eq!(
            answer.header("x-sluice-attempts").map(str::to_string),
            Some(format!("2 ({first}; backup/m 200)")),
            "{route}"
        );
    }
}

#[tokio::test]
async fn an_overloaded_anthropic_target_fails_over_to_an_openai_one() {
    let claude = start_mock(with_fault(MockFault::Status {
        rate: 1.0,
        status: 529,
        retry_after: None,
    }))
    .await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n  claude:\n    kind: anthropic\n    base_url: http://{}\n    api_key: k\n{}{}",
        claude.addr(),
        provider_yaml("backup", &backup.base_url(), "k"),
        route(&["claude", "backup"], priority())
    );
    let gateway = TestGateway::start(&yaml).await;
    // Both client dialects: the OpenAI one sees 529 as 503, the Anthropic one as 529.
    let answer = ask(&gateway).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (claude/m 503; backup/m 200)")
    );
    let messages = post_with(
        &gateway.url("/v1/messages"),
        &[("content-type", "application/json"), ("anthropic-version", "2023-06-01")],
        r#"{"model":"resilient","max_tokens":64,"messages":[{"role":"user","content":"hi there"}]}"#,
    )
    .await;
    assert_eq!(messages.status, 200, "{}", messages.text());
    assert_eq!(messages.json()["content"][0]["text"], "hi there");
    assert_eq!(
        messages.header("x-sluice-attempts"),
        Some("2 (claude/m 529; backup/m 200)")
    );
}

#[tokio::test]
async fn client_errors_never_fail_over() {
    for status in [400, 401, 403, 404, 422] {
        let primary = FixtureUpstream::start(chat_fixture()).await;
        primary.set_status(status);
        let backup = start_mock(MockSettings::default()).await;
        let gateway =
            primary_then_backup(&primary.base_url(), &backup.base_url(), priority()).await;
        let answer = ask(&gateway).await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.header("x-sluice-provider"), Some("primary"));
        assert_eq!(
            backup.stats().requests(),
            0,
            "{status} went on to the backup"
        );
    }
}

#[tokio::test]
async fn when_every_target_fails_the_primarys_answer_is_passed_on() {
    let primary = FixtureUpstream::start(chat_fixture()).await;
    primary.set_status(503);
    let second = start_mock(with_fault(MockFault::Status {
        rate: 1.0,
        status: 500,
        retry_after: None,
    }))
    .await;
    let yaml = format!(
        "providers:\n{}{}{}",
        provider_yaml("primary", &primary.base_url(), "k"),
        provider_yaml("second", &second.base_url(), "k"),
        route(&["primary", "second"], priority())
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = ask(&gateway).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("x-sluice-provider"), Some("primary"));
    assert_eq!(
        answer.json()["id"],
        "chatcmpl-fixture",
        "the primary's own body"
    );
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (primary/m 503; second/m 500)")
    );
}

#[tokio::test]
async fn max_attempts_one_turns_failover_off() {
    let primary = FixtureUpstream::start(chat_fixture()).await;
    primary.set_status(503);
    let backup = start_mock(MockSettings::default()).await;
    let gateway = primary_then_backup(
        &primary.base_url(),
        &backup.base_url(),
        "    strategy: priority
    retry:
      max_attempts: 1
",
    )
    .await;
    let answer = ask(&gateway).await;
    assert_eq!(answer.status, 503);
    assert_eq!(backup.stats().requests(), 0);
}

#[tokio::test]
async fn streams_fail_over_before_their_first_byte_and_never_after() {
    // Refused before any byte: the backup streams the answer.
    let refusing = FixtureUpstream::start(chat_fixture()).await;
    refusing.set_status(503);
    let cutting = start_mock(with_fault(MockFault::CutStream {
        rate: 1.0,
        after_tokens: 2,
    }))
    .await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}{}routes:\n  refused-stream:\n    strategy: priority\n    targets:\n      - {{provider: refusing, model: m}}\n      - {{provider: backup, model: m}}\n  cut-stream:\n    strategy: priority\n    targets:\n      - {{provider: cutting, model: m}}\n      - {{provider: backup, model: m}}\n",
        provider_yaml("refusing", &refusing.base_url(), "k"),
        provider_yaml("cutting", &cutting.base_url(), "k"),
        provider_yaml("backup", &backup.base_url(), "k"),
    );
    let gateway = TestGateway::start(&yaml).await;
    let stream = |route: &str| {
        serde_json::json!({"model": route, "stream": true,
            "messages": [{"role": "user", "content": "one two three four"}]})
        .to_string()
    };
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        stream("refused-stream"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
    assert_eq!(
        sse_data(&answer.body).last().map(String::as_str),
        Some("[DONE]")
    );

    // Cut after bytes reached the client: no retry, a closing error event instead.
    let answer = post(&gateway.url("/v1/chat/completions"), stream("cut-stream")).await;
    assert_eq!(answer.header("x-sluice-provider"), Some("cutting"));
    let data = sse_data(&answer.body);
    assert!(
        data.last().is_some_and(|last| last.contains("\"error\"")),
        "{data:?}"
    );
    assert_eq!(
        backup.stats().chat_completions(),
        1,
        "only the refused stream moved on"
    );
}

#[tokio::test]
async fn fallbacks_name_other_routes_and_providers_of_other_dialects() {
    let broken = FixtureUpstream::start(chat_fixture()).await;
    broken.set_status(503);
    let also_broken = FixtureUpstream::start(chat_fixture()).await;
    also_broken.set_status(500);
    let claude = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}  claude:\n    kind: anthropic\n    base_url: http://{}\n    api_key: k\nroutes:\n  main:\n    targets:\n      - {{provider: broken, model: m}}\n    fallbacks: [spare, claude/claude-sonnet-4-5]\n  spare:\n    targets:\n      - {{provider: also-broken, model: m}}\n",
        provider_yaml("broken", &broken.base_url(), "k"),
        provider_yaml("also-broken", &also_broken.base_url(), "k"),
        claude.addr(),
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("main", "served at last"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-sluice-provider"), Some("claude"));
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "served at last"
    );
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("3 (broken/m 503; also-broken/m 500; claude/claude-sonnet-4-5 200)")
    );
}

#[tokio::test]
async fn a_stream_that_ends_before_its_first_byte_fails_over() {
    let empty = FixtureUpstream::start(Fixture {
        status: http::StatusCode::OK,
        headers: vec![("content-type", "text/event-stream")],
        chunks: Vec::new(),
    })
    .await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}{}",
        provider_yaml("empty", &empty.base_url(), "k"),
        provider_yaml("backup", &backup.base_url(), "k"),
        route(&["empty", "backup"], priority())
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        serde_json::json!({"model": "resilient", "stream": true,
            "messages": [{"role": "user", "content": "a b"}]})
        .to_string(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (empty/m 502; backup/m 200)")
    );
    assert_eq!(
        sse_data(&answer.body).last().map(String::as_str),
        Some("[DONE]")
    );
}

/// An upstream that refuses one key with `status` (and `Retry-After: 30`) and serves the
/// others; it counts the requests each key made.
async fn keyed_upstream(
    refused_key: &'static str,
    status: u16,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::response::IntoResponse;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: http::HeaderMap| {
            let log = log.clone();
            async move {
                let key = headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                log.lock().expect("lock").push(key.clone());
                if key == format!("Bearer {refused_key}") {
                    let status = http::StatusCode::from_u16(status).expect("status");
                    return (
                        status,
                        [("retry-after", "30")],
                        "{\"error\":{\"message\":\"no\"}}",
                    )
                        .into_response();
                }
                let body = String::from_utf8_lossy(&chat_fixture().chunks[0].1).into_owned();
                ([("content-type", "application/json")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test]
async fn a_rate_limited_key_rotates_to_the_next_and_rests() {
    let (url, seen) = keyed_upstream("key-a", 429).await;
    let yaml = format!(
        "providers:\n  keyed:\n    kind: openai-compatible\n    base_url: {url}\n    keys:\n      - {{key: key-a}}\n      - {{key: key-b}}\n"
    );
    let gateway = TestGateway::start(&yaml).await;
    for _ in 0..10 {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body("keyed/m", "rotate"),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let attempts = answer.header("x-sluice-attempts").unwrap_or_default();
        assert!(
            attempts == "1" || attempts == "2 (keyed/m 429; keyed/m 200)",
            "{attempts}"
        );
    }
    let seen = seen.lock().expect("lock").clone();
    let refused = seen.iter().filter(|key| *key == "Bearer key-a").count();
    assert!(
        refused <= 1,
        "the refused key rests after its 429: {seen:?}"
    );
    assert_eq!(seen.iter().filter(|key| *key == "Bearer key-b").count(), 10);
}

#[tokio::test]
async fn an_unauthorized_key_rotates_to_the_next_key_of_the_same_provider() {
    let (url, _) = keyed_upstream("key-revoked", 401).await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n  keyed:\n    kind: openai-compatible\n    base_url: {url}\n    keys:\n      - {{key: key-revoked, weight: 1000}}\n      - {{key: key-good, weight: 1}}\n{}{}",
        provider_yaml("backup", &backup.base_url(), "k"),
        "routes:\n  resilient:\n    strategy: priority\n    targets:\n      - {provider: keyed, model: m}\n      - {provider: backup, model: m}\n"
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = ask(&gateway).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-sluice-provider"), Some("keyed"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (keyed/m 401; keyed/m 200)")
    );
    assert_eq!(backup.stats().requests(), 0);
}
