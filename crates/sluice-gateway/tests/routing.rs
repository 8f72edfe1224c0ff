//! Addressing models: routes with weighted targets, `provider/model`, the models list.

mod common;

use common::*;
use http::StatusCode;
use sluice_mock::MockSettings;

#[tokio::test]
async fn a_route_splits_traffic_by_weight_and_zero_weight_gets_none() {
    let a = start_mock(MockSettings::default()).await;
    let b = start_mock(MockSettings::default()).await;
    let c = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}{}{}routes:\n  split:\n    targets:\n      - provider: a\n        model: model-a\n        weight: 70\n      - provider: b\n        model: model-b\n        weight: 30\n      - provider: c\n        model: model-c\n        weight: 0\n",
        provider_yaml("a", &a.base_url(), "k"),
        provider_yaml("b", &b.base_url(), "k"),
        provider_yaml("c", &c.base_url(), "k"),
    );
    let gateway = TestGateway::start(&yaml).await;
    let total = 400;
    let mut from_a = 0;
    for _ in 0..total {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body("split", "hi"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        match answer.header("x-sluice-provider") {
            Some("a") => {
                from_a += 1;
                assert_eq!(answer.json()["model"], "model-a");
            }
            Some("b") => assert_eq!(answer.header("x-sluice-model"), Some("model-b")),
            other => panic!("unexpected provider {other:?}"),
        }
    }
    assert_eq!(
        a.stats().chat_completions() + b.stats().chat_completions(),
        total as u64
    );
    assert_eq!(c.stats().requests(), 0);
    // 70% of 400 = 280, standard deviation ≈ 9.2: ±40 is over 4 of them.
    assert!(
        (240..=320).contains(&from_a),
        "a served {from_a} of {total}"
    );
}

#[tokio::test]
async fn models_lists_routes_and_advertised_provider_models() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}    models: [gpt-4o-mini, text-embedding-3-small]\nroutes:\n  smart:\n    targets:\n      - provider: up\n        model: gpt-4o-mini\n",
        provider_yaml("up", &mock.base_url(), "k")
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = get(&gateway.url("/v1/models")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["object"], "list");
    let ids: Vec<&str> = json["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            m["id"].as_str().expect("id")
        })
        .collect();
    assert_eq!(
        ids,
        vec!["smart", "up/gpt-4o-mini", "up/text-embedding-3-small"]
    );
}

#[tokio::test]
async fn the_embedded_default_serves_the_mock_without_any_config() {
    let config = sluice_core::Config::from_env(|_| None);
    let gateway = sluice_gateway::Gateway::from_config(&config)
        .await
        .expect("gateway");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(sluice_gateway::serve(
        gateway,
        listener,
        std::future::pending(),
        std::time::Duration::from_secs(1),
    ));
    let answer = post(
        &format!("http://{addr}/v1/chat/completions"),
        chat_body("mock/gpt-4o-mini", "Hello there"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "Hello there"
    );
    assert_eq!(answer.header("x-sluice-provider"), Some("mock"));
}
