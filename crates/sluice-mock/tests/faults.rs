//! Fault injection and latency over real HTTP. Timing assertions are lower bounds only.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn streaming(text: &str) -> Value {
    let mut request = user(text);
    request["stream"] = json!(true);
    request
}

/// A raw HTTP/1.1 chat request, for tests that need the socket itself.
fn raw_request(body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn status_fault_with_retry_after() {
    let server =
        start_with_fault(json!({"kind": "status", "rate": 1.0, "status": 429, "retry_after": 7}))
            .await;
    let reply = post_json(&client(), &chat_url(&server), &user("hi")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["param"], Value::Null);
    assert!(error["message"].as_str().unwrap().contains("Rate limit"));
    assert_eq!(server.stats().faults_injected(), 1);
}

#[tokio::test]
async fn status_faults_of_other_kinds() {
    for (status, kind, code) in [
        (401, "invalid_request_error", json!("invalid_api_key")),
        (500, "server_error", Value::Null),
        (
            503,
            "service_unavailable_error",
            json!("server_is_overloaded"),
        ),
    ] {
        let server =
            start_with_fault(json!({"kind": "status", "rate": 1.0, "status": status})).await;
        let reply = post_json(&client(), &chat_url(&server), &user("hi")).await;
        assert_eq!(reply.status, status);
        assert!(reply.header("retry-after").is_none());
        assert_eq!(reply.json()["error"]["type"], kind);
        assert_eq!(reply.json()["error"]["code"], code);
    }
}

#[tokio::test]
async fn fault_draws_are_seeded() {
    let config = json!({"seed": 11, "faults": [{"kind": "status", "rate": 0.5, "status": 500}]});
    let run = |server: sluice_mock::MockServer| async move {
        let http = client();
        let mut statuses = Vec::new();
        for _ in 0..16 {
            statuses.push(
                post_json(&http, &chat_url(&server), &user("hi"))
                    .await
                    .status,
            );
        }
        statuses
    };
    let a = run(start(settings(config.clone())).await).await;
    let b = run(start(settings(config)).await).await;
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn reset_is_a_connection_error() {
    let server = start_with_fault(json!({"kind": "reset", "rate": 1.0})).await;
    let result = send(
        &client(),
        "POST",
        &chat_url(&server),
        user("hi").to_string(),
    )
    .await;
    assert!(result.is_err(), "expected a connection error");
    assert_eq!(server.stats().faults_injected(), 1);
}

#[tokio::test]
async fn reset_is_a_real_rst() {
    let server = start_with_fault(json!({"kind": "reset", "rate": 1.0})).await;
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket
        .write_all(raw_request(&user("hi").to_string()).as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut buf))
        .await
        .expect("the mock answers or resets quickly");
    let err = read.expect_err("no answer, a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(buf.is_empty());
}

#[tokio::test]
async fn keep_alive_survives_normal_requests_after_a_reset() {
    // Half the requests reset (seeded), the others must still be answered normally.
    let server = start(settings(
        json!({"seed": 3, "faults": [{"kind": "reset", "rate": 0.5}]}),
    ))
    .await;
    let http = client();
    let mut ok = 0;
    for _ in 0..12 {
        if let Ok(response) = send(&http, "POST", &chat_url(&server), user("hi").to_string()).await
        {
            assert_eq!(response.status(), 200);
            ok += 1;
        }
    }
    assert!(ok > 0 && ok < 12, "{ok}");
}

#[tokio::test]
async fn cut_stream_stops_after_n_tokens() {
    let server =
        start_with_fault(json!({"kind": "cut_stream", "rate": 1.0, "after_tokens": 2})).await;
    let response = open_stream(
        &client(),
        &chat_url(&server),
        &streaming("one two three four five"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let frames = read_frames(response).await;
    assert!(frames.error.is_some(), "the body must end with an error");
    let text = frames.text();
    assert!(!text.contains("[DONE]"));
    let chunks = sse_chunks(&text);
    assert_eq!(chunks.len(), 3, "role chunk and two tokens: {text}");
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], " two");
    let stats = server.stats();
    assert_eq!(stats.streams_started(), 1);
    assert_eq!(stats.streams_completed(), 0);
    assert_eq!(
        stats.client_disconnects(),
        0,
        "a cut on purpose is no disconnect"
    );
}

#[tokio::test]
async fn cut_whole_response_sends_half() {
    let server = start_with_fault(json!({"kind": "cut_stream", "rate": 1.0})).await;
    let response = open_stream(&client(), &chat_url(&server), &user("a whole answer")).await;
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let frames = read_frames(response).await;
    assert!(frames.error.is_some());
    let received = frames.text().len();
    assert!(received < length, "{received} of {length}");
}

#[tokio::test]
async fn malformed_json_whole_and_streamed() {
    let server = start_with_fault(json!({"kind": "malformed_json", "rate": 1.0})).await;
    let http = client();
    let whole = post_json(&http, &chat_url(&server), &user("hi")).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<Value>(&whole.body).is_err());

    let streamed = post_json(&http, &chat_url(&server), &streaming("one two three four")).await;
    let text = String::from_utf8(streamed.body.to_vec()).unwrap();
    let events = sse_events(&text);
    let bad: Vec<&String> = events
        .iter()
        .filter(|e| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err())
        .collect();
    assert_eq!(bad, vec!["{not json"]);
    // The garbage is in the middle, not first or last.
    let position = events.iter().position(|e| e == "{not json").unwrap();
    assert!(position > 1 && position < events.len() - 2);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn stall_delays_then_answers() {
    let server = start_with_fault(json!({"kind": "stall", "rate": 1.0, "duration": "300ms"})).await;
    let started = Instant::now();
    let reply = post_json(&client(), &chat_url(&server), &user("patience")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["choices"][0]["message"]["content"], "patience");
    assert_eq!(server.stats().client_disconnects(), 0);
}

#[tokio::test]
async fn giving_up_during_a_stall_is_a_disconnect() {
    let server = start_with_fault(json!({"kind": "stall", "rate": 1.0, "duration": "1h"})).await;
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket
        .write_all(raw_request(&user("hello?").to_string()).as_bytes())
        .await
        .unwrap();
    let stats = server.stats();
    eventually("the request to arrive", || stats.requests() == 1).await;
    // Nothing comes back during the stall.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf)).await;
    assert!(read.is_err(), "no bytes while stalled");
    drop(socket);
    eventually("the disconnect to be counted", || {
        stats.client_disconnects() == 1
    })
    .await;
}

#[tokio::test]
async fn dropping_a_stream_midway_is_a_disconnect() {
    let server = start(settings(json!({"between_tokens": "200ms"}))).await;
    let response = open_stream(&client(), &chat_url(&server), &streaming("a b c d e f g h")).await;
    let mut body = response.into_body();
    use http_body_util::BodyExt;
    let _first = body.frame().await;
    drop(body);
    let stats = server.stats();
    eventually("the disconnect to be counted", || {
        stats.client_disconnects() == 1
    })
    .await;
    assert_eq!(stats.streams_completed(), 0);
}

#[tokio::test]
async fn latency_delays_whole_responses() {
    let server = start(settings(json!({"latency": "200ms", "jitter": "50ms"}))).await;
    let http = client();
    let started = Instant::now();
    let reply = post_json(&http, &chat_url(&server), &user("slow")).await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    get(&http, &format!("{}/models", server.base_url())).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn stream_timing_and_chunk_by_chunk_delivery() {
    let server = start(settings(json!({
        "latency": "100ms", "first_token": "150ms", "between_tokens": "60ms"
    })))
    .await;
    let started = Instant::now();
    let response = open_stream(&client(), &chat_url(&server), &streaming("w1 w2 w3 w4")).await;
    let headers_at = Instant::now();
    assert!(
        headers_at - started >= Duration::from_millis(100),
        "latency before the headers"
    );
    let frames = read_frames(response).await;
    assert!(frames.error.is_none());
    // Every body chunk is exactly one SSE frame.
    for (_, frame) in &frames.frames {
        let text = std::str::from_utf8(frame).unwrap();
        assert!(
            text.starts_with("data: ") && text.ends_with("\n\n"),
            "{text:?}"
        );
        assert_eq!(text.matches("data: ").count(), 1, "{text:?}");
    }
    // role, 4 tokens, finish, [DONE]
    assert_eq!(frames.frames.len(), 7);
    let at = |i: usize| frames.frames[i].0;
    // Loose bounds for per-frame gaps (client scheduling adds noise), a strict one overall.
    assert!(
        at(1) - headers_at >= Duration::from_millis(100),
        "first_token delay"
    );
    for i in 2..=4 {
        assert!(
            at(i) - at(i - 1) >= Duration::from_millis(30),
            "gap before token {i}"
        );
    }
    assert!(at(4) - started >= Duration::from_millis(100 + 150 + 3 * 60));
}
