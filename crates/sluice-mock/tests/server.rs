//! Server lifecycle: keep-alive, h2c, graceful shutdown, drop, `serve`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sluice_mock::{MockSettings, serve};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn base_url_points_at_v1() {
    let server = start(settings(json!({}))).await;
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}/v1", server.addr().port())
    );
    let wildcard =
        sluice_mock::MockServer::start(MockSettings::default(), "0.0.0.0:0".parse().unwrap())
            .await
            .unwrap();
    assert!(wildcard.base_url().starts_with("http://127.0.0.1:"));
    let reply = get(&client(), &format!("{}/models", wildcard.base_url())).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let server = start(settings(json!({}))).await;
    let http = client();
    for _ in 0..3 {
        assert_eq!(
            post_json(&http, &chat_url(&server), &user("again"))
                .await
                .status,
            200
        );
    }
    assert_eq!(server.stats().requests(), 3);
    assert_eq!(server.stats().connections(), 1);
}

#[tokio::test]
async fn h2c_is_served() {
    let server = start(settings(json!({}))).await;
    let http = h2_client();
    let reply = post_json(&http, &chat_url(&server), &user("over h2")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "over h2");
    let mut request = user("streamed over h2");
    request["stream"] = json!(true);
    let streamed = post_json(&http, &chat_url(&server), &request).await;
    assert!(
        std::str::from_utf8(&streamed.body)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let server = start(settings(json!({"latency": "300ms"}))).await;
    let url = chat_url(&server);
    let addr = server.addr();
    let in_flight =
        tokio::spawn(async move { post_json(&client(), &url, &user("finish me")).await });
    let stats = server.stats();
    eventually("the request to arrive", || stats.requests() == 1).await;
    server.shutdown().await;
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "finish me"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_stall() {
    let server = start(settings(
        json!({"faults": [{"kind": "stall", "rate": 1.0, "duration": "1h"}]}),
    ))
    .await;
    let url = chat_url(&server);
    let stuck =
        tokio::spawn(async move { send(&client(), "POST", &url, user("x").to_string()).await });
    let stats = server.stats();
    eventually("the request to arrive", || stats.requests() == 1).await;
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let result = tokio::time::timeout(Duration::from_secs(5), stuck)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_err(), "the stalled request is dropped");
}

#[tokio::test]
async fn dropping_the_server_frees_the_port_and_connections() {
    let server = start(settings(
        json!({"faults": [{"kind": "stall", "rate": 1.0, "duration": "1h"}]}),
    ))
    .await;
    let addr = server.addr();
    let url = chat_url(&server);
    let stuck =
        tokio::spawn(async move { send(&client(), "POST", &url, user("x").to_string()).await });
    let stats = server.stats();
    eventually("the request to arrive", || stats.requests() == 1).await;
    drop(server);
    let result = tokio::time::timeout(Duration::from_secs(5), stuck)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_err(), "the connection is gone");
    // The port can be bound again: no task kept the listener.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(_) => break,
            Err(err) => {
                assert!(Instant::now() < deadline, "port still taken: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn serve_runs_until_its_shutdown_future() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(MockSettings::default(), listener, async {
        let _ = stopped.await;
    }));
    let reply = post_json(
        &client(),
        &format!("http://{addr}/v1/chat/completions"),
        &user("served"),
    )
    .await;
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "served");
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}
