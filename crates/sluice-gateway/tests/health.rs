//! Active health checks over real HTTP: a provider failing its checks is taken out of its
//! routes before users' requests find out, and put back when it passes again.

mod common;

use std::time::Duration;

use common::*;
use sluice_mock::MockSettings;

/// Polls `/admin/routes` until the checked provider's targets report `status`.
async fn wait_for_health(gateway: &TestGateway, status: &str) -> bool {
    let needle = format!(r#""health_check":"{status}""#);
    for _ in 0..150 {
        if get(&gateway.url("/admin/routes"))
            .await
            .text()
            .contains(&needle)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Requests the fixture received from users (health checks say "ping").
fn user_requests(upstream: &FixtureUpstream) -> usize {
    upstream.received.lock().map_or(0, |received| {
        received
            .iter()
            .filter(|(_, body)| !String::from_utf8_lossy(body).contains("\"ping\""))
            .count()
    })
}

#[tokio::test]
async fn a_provider_failing_its_checks_leaves_its_routes_until_it_passes_again() {
    let checked = FixtureUpstream::start(chat_fixture()).await;
    let backup = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}    health_check: {{model: tiny, interval: 50ms, timeout: 1s, unhealthy_after: 2, healthy_after: 2}}\n{}routes:\n  chat:\n    strategy: priority\n    targets:\n      - {{provider: checked, model: m}}\n      - {{provider: backup, model: m}}\n",
        provider_yaml("checked", &checked.base_url(), "k"),
        provider_yaml("backup", &backup.base_url(), "k"),
    );
    let gateway = TestGateway::start(&yaml).await;
    let url = gateway.url("/v1/chat/completions");
    assert!(wait_for_health(&gateway, "passing").await);
    let answer = post(&url, chat_body("chat", "hello")).await;
    assert_eq!(answer.header("x-sluice-provider"), Some("checked"));

    // The checks are real requests: one token of the configured model.
    let check = checked
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| serde_json::from_slice::<serde_json::Value>(body).expect("json"))
        .find(|body| body["model"] == "tiny")
        .expect("a health check arrived");
    assert_eq!(check["max_tokens"], 1);

    checked.set_status(500);
    assert!(
        wait_for_health(&gateway, "failing").await,
        "never marked failing"
    );
    let before = user_requests(&checked);
    for _ in 0..5 {
        let answer = post(&url, chat_body("chat", "hello")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
        // Skipped up front, not tried and failed over.
        assert_eq!(answer.header("x-sluice-attempts"), Some("1"));
    }
    assert_eq!(
        user_requests(&checked),
        before,
        "a failing provider got user traffic"
    );
    let trace = post_with(
        &url,
        &[
            ("content-type", "application/json"),
            ("x-sluice-route-trace", "1"),
        ],
        chat_body("chat", "why"),
    )
    .await;
    assert!(
        trace
            .header("x-sluice-route-trace")
            .is_some_and(|trace| trace.contains("checked/m=skipped(gated:health_check)")),
        "{:?}",
        trace.header("x-sluice-route-trace")
    );
    let metrics = get(&gateway.url("/metrics")).await.text();
    assert!(
        metrics.contains(r#"sluice_provider_healthy{provider="checked"} 0"#),
        "{metrics}"
    );

    checked.set_status(0);
    assert!(
        wait_for_health(&gateway, "passing").await,
        "never came back"
    );
    let answer = post(&url, chat_body("chat", "hello")).await;
    assert_eq!(answer.header("x-sluice-provider"), Some("checked"));
}
