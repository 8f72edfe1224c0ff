//! A request's own routing headers over real HTTP: `x-sluice-strategy` where the route
//! allows it, and `x-sluice-fallbacks` on routes and on `provider/model` requests.

mod common;

use common::*;
use sluice_mock::MockSettings;

const JSON: (&str, &str) = ("content-type", "application/json");

async fn ask(gateway: &TestGateway, model: &str, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![JSON];
    all.extend_from_slice(headers);
    post_with(
        &gateway.url("/v1/chat/completions"),
        &all,
        chat_body(model, "which way"),
    )
    .await
}

#[tokio::test]
async fn a_route_that_allows_it_is_ranked_by_the_requested_strategy() {
    let (dear, cheap) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let yaml = format!(
        "providers:\n{}{}routes:\n  open:\n    strategy: priority\n    request_overrides: [strategy]\n    targets:\n      - {{provider: dear, model: m, cost: 10}}\n      - {{provider: cheap, model: m, cost: 1}}\n  fixed:\n    strategy: priority\n    targets:\n      - {{provider: dear, model: m}}\n",
        provider_yaml("dear", &dear.base_url(), "k"),
        provider_yaml("cheap", &cheap.base_url(), "k"),
    );
    let gateway = TestGateway::start(&yaml).await;

    let answer = ask(&gateway, "open", &[]).await;
    assert_eq!(answer.header("x-sluice-provider"), Some("dear"));
    let answer = ask(&gateway, "open", &[("x-sluice-strategy", "cost")]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("cheap"));
    // The trace says which strategy ranked.
    let answer = ask(
        &gateway,
        "open",
        &[("x-sluice-strategy", "cost"), ("x-sluice-route-trace", "1")],
    )
    .await;
    assert_eq!(
        answer.header("x-sluice-route-trace"),
        Some("cheap/m=chosen(cost $1/M); dear/m=fallback(cost $10/M)")
    );

    let refused = ask(&gateway, "fixed", &[("x-sluice-strategy", "cost")]).await;
    assert_eq!(refused.status, 400);
    let message = refused.json()["error"]["message"].to_string();
    assert!(message.contains("request_overrides"), "{message}");

    let unknown = ask(&gateway, "open", &[("x-sluice-strategy", "fastest")]).await;
    assert_eq!(unknown.status, 400);
    let message = unknown.json()["error"]["message"].to_string();
    assert!(message.contains("least-busy"), "{message}");

    let direct = ask(&gateway, "dear/m", &[("x-sluice-strategy", "latency")]).await;
    assert_eq!(direct.status, 400);
    assert_eq!(
        dear.stats().chat_completions() + cheap.stats().chat_completions(),
        3
    );
}

#[tokio::test]
async fn a_request_names_its_own_fallbacks_instead_of_the_routes() {
    let broken = FixtureUpstream::start(chat_fixture()).await;
    broken.set_status(503);
    let (configured, requested) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let yaml = format!(
        "providers:\n{}{}{}routes:\n  chat:\n    targets:\n      - {{provider: broken, model: m}}\n    fallbacks: [configured/m]\n  closed:\n    request_overrides: []\n    targets:\n      - {{provider: broken, model: m}}\n",
        provider_yaml("broken", &broken.base_url(), "k"),
        provider_yaml("configured", &configured.base_url(), "k"),
        provider_yaml("requested", &requested.base_url(), "k"),
    );
    let gateway = TestGateway::start(&yaml).await;

    // Without the header: the route's own fallback.
    let answer = ask(&gateway, "chat", &[]).await;
    assert_eq!(answer.header("x-sluice-provider"), Some("configured"));
    // With it: the request's list replaces the route's.
    let answer = ask(&gateway, "chat", &[("x-sluice-fallbacks", " requested/m ")]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("requested"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (broken/m 503; requested/m 200)")
    );
    assert_eq!(configured.stats().chat_completions(), 1);

    // A `provider/model` request may carry fallbacks too, and then fails over.
    let answer = ask(
        &gateway,
        "broken/m",
        &[("x-sluice-fallbacks", "nowhere-route, requested/m")],
    )
    .await;
    assert_eq!(
        answer.status, 400,
        "an unknown fallback is refused up front"
    );
    let message = answer.json()["error"]["message"].to_string();
    assert!(message.contains("nowhere-route"), "{message}");
    let answer = ask(
        &gateway,
        "broken/m",
        &[("x-sluice-fallbacks", "requested/m")],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("requested"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (broken/m 503; requested/m 200)")
    );

    // A route that does not allow it.
    let refused = ask(&gateway, "closed", &[("x-sluice-fallbacks", "requested/m")]).await;
    assert_eq!(refused.status, 400);
    let message = refused.json()["error"]["message"].to_string();
    assert!(message.contains("request_overrides"), "{message}");

    let too_many = ["requested/m"; sluice_gateway::MAX_REQUEST_FALLBACKS + 1].join(",");
    let refused = ask(&gateway, "chat", &[("x-sluice-fallbacks", &too_many)]).await;
    assert_eq!(refused.status, 400);
}
