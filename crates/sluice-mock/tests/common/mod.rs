//! Helpers shared by the integration tests: a small HTTP client, fault and pacing
//! set-ups, and SSE parsing.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sluice_mock::{MockServer, MockSettings};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An HTTP/1.1 client with keep-alive.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An h2c (HTTP/2 with prior knowledge) client.
pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Settings from JSON, as they would be written in a config file.
pub fn settings(json: Value) -> MockSettings {
    serde_json::from_value(json).expect("valid mock settings")
}

pub async fn start(settings: MockSettings) -> MockServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    MockServer::start(settings, addr)
        .await
        .expect("mock starts")
}

/// A server whose only setting is the one `fault` (one entry of `faults`), so each
/// dialect's fault tests state just the fault they exercise.
pub async fn start_with_fault(fault: Value) -> MockServer {
    start(settings(serde_json::json!({ "faults": [fault] }))).await
}

/// The pacing every dialect's pacing test uses: 50ms before the headers, 120ms before
/// the first token, 60ms between tokens (see [`assert_paced_three_tokens`]).
pub async fn start_paced() -> MockServer {
    start(settings(serde_json::json!({
        "latency": "50ms", "first_token": "120ms", "between_tokens": "60ms"
    })))
    .await
}

/// A streamed body read whole, with when its request was sent and when the headers came.
pub struct TimedFrames {
    pub frames: Frames,
    pub started: Instant,
    pub headers_at: Instant,
}

/// Sends `request` and reads its body frame by frame, timing both. `request` must not
/// have been polled yet (futures are lazy), so the clock starts as it is sent.
pub async fn timed_frames(
    request: impl std::future::Future<Output = http::Response<Incoming>>,
) -> TimedFrames {
    let started = Instant::now();
    let response = request.await;
    let headers_at = Instant::now();
    let frames = read_frames(response).await;
    TimedFrames {
        frames,
        started,
        headers_at,
    }
}

/// Checks a three-token stream from a [`start_paced`] server: the headers waited for the
/// latency, the frame `first_token_frame` (the first token's) for the first-token delay,
/// the next two for the gap between tokens. Per-frame bounds are loose (client
/// scheduling adds noise), the overall one strict.
pub fn assert_paced_three_tokens(timed: &TimedFrames, first_token_frame: usize) {
    let TimedFrames {
        frames,
        started,
        headers_at,
    } = timed;
    assert!(*headers_at - *started >= Duration::from_millis(50));
    assert!(frames.error.is_none());
    let at = |i: usize| frames.frames[i].0;
    let first = first_token_frame;
    assert!(
        at(first) - *headers_at >= Duration::from_millis(80),
        "first_token delay"
    );
    for i in first + 1..=first + 2 {
        assert!(
            at(i) - at(i - 1) >= Duration::from_millis(30),
            "gap before token {i}"
        );
    }
    assert!(at(first + 2) - *started >= Duration::from_millis(50 + 120 + 2 * 60));
}

/// A complete answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn request(method: &str, url: &str, body: Bytes) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test-key")
        .body(Full::new(body))
        .expect("request")
}

/// Sends a request and returns the response head with its unread body.
pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: impl Into<Bytes>,
) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
    client.request(request(method, url, body.into())).await
}

/// Sends a request and reads the whole answer.
pub async fn call(client: &HttpClient, method: &str, url: &str, body: impl Into<Bytes>) -> Reply {
    read_reply(send(client, method, url, body).await.expect("response")).await
}

/// POSTs a JSON `body` with the default credentials and returns the head with the body
/// unread, for reading a stream frame by frame (or a body a fault cuts short).
pub async fn open_stream(client: &HttpClient, url: &str, body: &Value) -> http::Response<Incoming> {
    send(client, "POST", url, body.to_string())
        .await
        .expect("response")
}

/// POSTs `body` with exactly `headers` and `content_type`: no default credentials, for
/// the dialects whose own auth headers (or their absence) are under test.
pub async fn post_raw(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: impl Into<Bytes>,
) -> http::Response<Incoming> {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client
        .request(request.body(Full::new(body.into())).expect("request"))
        .await
        .expect("response")
}

/// [`post_raw`] with a JSON body.
pub async fn post_json_raw(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> http::Response<Incoming> {
    post_raw(client, url, headers, "application/json", body.to_string()).await
}

/// Reads the whole answer of a response head.
pub async fn read_reply(response: http::Response<Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.expect("whole body").to_bytes(),
    }
}

pub async fn post_json(client: &HttpClient, url: &str, body: &Value) -> Reply {
    call(client, "POST", url, body.to_string()).await
}

pub async fn get(client: &HttpClient, url: &str) -> Reply {
    call(client, "GET", url, Bytes::new()).await
}

/// The body frames as they arrived, with their arrival times, and the error that ended
/// the body early, if any.
pub struct Frames {
    pub frames: Vec<(Instant, Bytes)>,
    pub error: Option<String>,
}

impl Frames {
    /// The body's bytes, frames joined.
    pub fn bytes(&self) -> Vec<u8> {
        self.frames.iter().flat_map(|(_, b)| b.to_vec()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("UTF-8 body")
    }
}

pub async fn read_frames(response: http::Response<Incoming>) -> Frames {
    let mut body = response.into_body();
    let mut frames = Vec::new();
    let mut error = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
            Some(Err(err)) => {
                error = Some(err.to_string());
                break;
            }
        }
    }
    Frames { frames, error }
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data frame: {event:?}"))
                .to_owned()
        })
        .collect()
}

/// `(event name, data)` of each SSE event of a body whose events name themselves twice,
/// as `event: NAME` and as the data's `type` (Anthropic's and Cohere's streams); the
/// two must agree.
pub fn named_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let (name_line, data_line) = event.split_once('\n').expect("two lines");
            let name = name_line.strip_prefix("event: ").expect("event line");
            let data: Value =
                serde_json::from_str(data_line.strip_prefix("data: ").expect("data line"))
                    .expect("JSON data");
            assert_eq!(data["type"], name, "{event}");
            (name.to_owned(), data)
        })
        .collect()
}

/// The names of [`named_events`], in order.
pub fn event_names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// `body` with `"stream": true`.
pub fn with_stream(mut body: Value) -> Value {
    body["stream"] = serde_json::json!(true);
    body
}

/// The JSON chunks of an SSE body (everything but `[DONE]`).
pub fn sse_chunks(text: &str) -> Vec<Value> {
    sse_events(text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).expect("JSON chunk"))
        .collect()
}

/// Waits until `check` holds, failing after a few seconds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn chat_url(server: &MockServer) -> String {
    format!("{}/chat/completions", server.base_url())
}

pub fn user(text: &str) -> Value {
    serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": text}]})
}
