//! The in-process cost of a pass-through request.
//!
//! `peek_and_rewrite` is the per-request JSON work (find the model, swap it). The
//! `round_trip` group sends the same chat request to the mock provider directly and
//! through the gateway's router (no client socket: `oneshot` on the axum service), both
//! over loopback to the same mock; the difference is what the gateway adds in-process.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sluice_core::Config;
use sluice_mock::{MockServer, MockSettings};
use sluice_providers::openai::{BodyKind, peek};
use tower::ServiceExt;

const CHAT: &str = r#"{"model":"bench/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello, how are you today? Tell me something about the weather in Paris."}],"temperature":0.7,"max_tokens":16,"stream":false,"metadata":{"team":"search","trace":"abc123"}}"#;

fn peek_and_rewrite(c: &mut Criterion) {
    let small = Bytes::from_static(CHAT.as_bytes());
    let long_history = {
        let message = r#"{"role":"user","content":"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."},"#;
        let mut text = String::from(r#"{"messages":["#);
        for _ in 0..150 {
            text.push_str(message);
        }
        text.push_str(r#"{"role":"user","content":"end"}],"model":"bench/gpt-4o-mini"}"#);
        Bytes::from(text)
    };
    let mut group = c.benchmark_group("peek_and_rewrite");
    for (name, body) in [("chat_400B", &small), ("chat_20KB", &long_history)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let peeked = peek(BodyKind::Chat, body).expect("valid");
                peeked.with_model(body, "gpt-4o-mini")
            })
        });
    }
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mock, router) = runtime.block_on(async {
        let mock = MockServer::start(MockSettings::default(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("mock");
        let yaml = format!(
            "providers:\n  bench:\n    kind: openai-compatible\n    base_url: {}\n    api_key: bench-key\n",
            mock.base_url()
        );
        let config = Config::from_yaml(&yaml, "bench.yaml", |_| None).expect("config");
        let gateway = sluice_gateway::Gateway::from_config(&config).await.expect("gateway");
        (mock, sluice_gateway::router(Arc::clone(&gateway)))
    });
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let direct_url = format!("{}/chat/completions", mock.base_url());
    let direct_body = Bytes::from(CHAT.replace("bench/gpt-4o-mini", "gpt-4o-mini"));

    let mut group = c.benchmark_group("round_trip");
    group.bench_function("direct_to_mock", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = Request::post(direct_url.as_str())
                .header("content-type", "application/json")
                .body(Full::new(direct_body.clone()))
                .expect("request");
            let response = client.request(request).await.expect("answer");
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
        })
    });
    group.bench_function("through_gateway", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = Request::post("/v1/chat/completions")
                .header("content-type", "application/json")
                .body(Body::from(CHAT))
                .expect("request");
            let response = router.clone().oneshot(request).await.expect("infallible");
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
        })
    });
    group.finish();
    drop(mock);
}

criterion_group!(benches, peek_and_rewrite, round_trip);
criterion_main!(benches);
