//! The in-flight gauge returns to zero when a client gives up while the provider is still
//! silent (a binary of its own: the gauge is process-wide).

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use sluice_core::ConfigDuration;
use sluice_mock::MockFault;

fn in_flight(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(r#"sluice_requests_in_flight{endpoint="chat_completions"}"#))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn a_client_that_gives_up_leaves_the_in_flight_gauge() {
    let stall = MockFault::Stall {
        rate: 1.0,
        duration: ConfigDuration::from_secs(30),
    };
    let mock = start_mock(with_fault(stall)).await;
    let gateway = TestGateway::start(&format!(
        "providers:\n{}",
        provider_yaml("up", &mock.base_url(), "k")
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    let client = tokio::spawn(async move {
        send(
            Method::POST,
            &url,
            &[("content-type", "application/json")],
            chat_body("up/m", "hi"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        in_flight(&get(&gateway.url("/metrics")).await.text()),
        Some(1.0)
    );
    client.abort();
    // The request future (and its connection) is gone: the gateway notices and lets go.
    let mut value = None;
    for _ in 0..40 {
        value = in_flight(&get(&gateway.url("/metrics")).await.text());
        if value == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value, Some(0.0));
}
