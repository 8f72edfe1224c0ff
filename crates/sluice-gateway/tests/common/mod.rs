//! Shared harness for the gateway's integration tests: real sockets on loopback, the
//! mock provider, a fixture upstream that answers exact bytes, and a small HTTP client.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sluice_core::Config;
use sluice_mock::{MockServer, MockSettings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A gateway serving on an ephemeral loopback port.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<sluice_gateway::Gateway>,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestGateway {
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with_grace(yaml, Duration::from_secs(5)).await
    }

    pub async fn start_with_grace(yaml: &str, grace: Duration) -> TestGateway {
        Self::start_with_options(yaml, grace, sluice_gateway::GatewayOptions::default()).await
    }

    /// A gateway whose budget periods follow `clock`.
    pub async fn start_with_clock(
        yaml: &str,
        clock: sluice_governance::governor::ManualClock,
    ) -> TestGateway {
        let options = sluice_gateway::GatewayOptions {
            clock: Some(sluice_governance::governor::Clock::Manual(clock)),
        };
        Self::start_with_options(yaml, Duration::from_secs(5), options).await
    }

    pub async fn start_with_options(
        yaml: &str,
        grace: Duration,
        options: sluice_gateway::GatewayOptions,
    ) -> TestGateway {
        let config = Config::from_yaml(yaml, "test.yaml", |name| std::env::var(name).ok())
            .unwrap_or_else(|err| panic!("test config is invalid: {err}"));
        let gateway = sluice_gateway::Gateway::from_config_with(&config, options)
            .await
            .expect("gateway starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sluice_gateway::serve(
            Arc::clone(&gateway),
            listener,
            async move {
                let _ = stopped.await;
            },
            grace,
        ));
        TestGateway {
            addr,
            gateway,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts the graceful shutdown.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start_mock(settings: MockSettings) -> MockServer {
    MockServer::start(settings, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("mock starts")
}

/// Mock settings that inject `fault` (give it rate 1.0 to hit every request).
pub fn with_fault(fault: sluice_mock::MockFault) -> MockSettings {
    MockSettings {
        faults: vec![fault],
        ..MockSettings::default()
    }
}

/// Mock settings that stream one token every `between_tokens`.
pub fn paced(between_tokens: sluice_core::ConfigDuration) -> MockSettings {
    MockSettings {
        between_tokens,
        ..MockSettings::default()
    }
}

/// YAML for one openai-compatible provider named `name` pointing at `base_url`.
pub fn provider_yaml(name: &str, base_url: &str, key: &str) -> String {
    format!(
        "  {name}:\n    kind: openai-compatible\n    base_url: {base_url}\n    api_key: {key}\n"
    )
}

/// A chat request body for `model`.
pub fn chat_body(model: &str, text: &str) -> String {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string()
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body.into()))
        .expect("request builds");
    client().request(request).await
}

/// POSTs a JSON body and returns the response as soon as its headers arrive, for tests
/// that read the body frame by frame or leave it unread.
pub async fn post_streaming(url: &str, body: impl Into<Bytes>) -> Response<Incoming> {
    send(
        Method::POST,
        url,
        &[("content-type", "application/json")],
        body,
    )
    .await
    .expect("response headers arrive")
}

pub async fn post(url: &str, body: impl Into<Bytes>) -> Answer {
    post_with(url, &[("content-type", "application/json")], body).await
}

pub async fn post_with(url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let response = send(Method::POST, url, headers, body)
        .await
        .expect("request answered");
    collect(response).await
}

pub async fn get(url: &str) -> Answer {
    get_with(url, &[]).await
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    let response = send(Method::GET, url, headers, Bytes::new())
        .await
        .expect("request answered");
    collect(response).await
}

pub async fn collect(response: Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body read").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The body's frames with the time each arrived, read until the end or an error.
pub async fn frames(response: Response<Incoming>) -> (Vec<(Instant, Bytes)>, Option<String>) {
    let mut body = response.into_body();
    let mut frames = Vec::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
            Some(Err(err)) => return (frames, Some(err.to_string())),
            None => return (frames, None),
        }
    }
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|event| event.trim().strip_prefix("data: ").map(str::to_string))
        .collect()
}

/// An upstream that answers every request with fixed parts: status, headers and body
/// chunks sent with a delay before each. It records the bodies it receives.
pub struct FixtureUpstream {
    pub addr: SocketAddr,
    pub received: Arc<std::sync::Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Milliseconds to wait before answering, changeable while it runs.
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// A status to answer instead of the fixture's (0: the fixture's), changeable too.
    pub status_override: Arc<std::sync::atomic::AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
pub struct Fixture {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, &'static str)>,
    pub chunks: Vec<(Duration, Bytes)>,
}

impl FixtureUpstream {
    pub async fn start(fixture: Fixture) -> FixtureUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = received.clone();
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let delay = delay_ms.clone();
        let status_override = Arc::new(std::sync::atomic::AtomicU16::new(0));
        let overridden = status_override.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let fixture = fixture.clone();
                let seen = seen.clone();
                let delay = delay.clone();
                let overridden = overridden.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let fixture = fixture.clone();
                        let seen = seen.clone();
                        let delay = delay.load(std::sync::atomic::Ordering::Relaxed);
                        let status = match overridden.load(std::sync::atomic::Ordering::Relaxed) {
                            0 => fixture.status,
                            code => StatusCode::from_u16(code).unwrap_or(fixture.status),
                        };
                        async move {
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            seen.lock().expect("lock").push((parts.headers, body));
                            let (tx, rx) = tokio::sync::mpsc::channel::<
                                Result<http_body::Frame<Bytes>, Infallible>,
                            >(1);
                            let chunks = fixture.chunks.clone();
                            tokio::spawn(async move {
                                for (delay, chunk) in chunks {
                                    tokio::time::sleep(delay).await;
                                    if tx.send(Ok(http_body::Frame::data(chunk))).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            let body = http_body_util::StreamBody::new(ReceiverStream(rx));
                            let mut response = Response::new(body);
                            *response.status_mut() = status;
                            for (name, value) in &fixture.headers {
                                response
                                    .headers_mut()
                                    .insert(*name, value.parse().expect("header"));
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FixtureUpstream {
            addr,
            received,
            delay_ms,
            status_override,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for FixtureUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// tokio's mpsc receiver as a `futures` stream, without pulling in tokio-stream.
pub struct ReceiverStream<T>(pub tokio::sync::mpsc::Receiver<T>);

impl<T> futures_util::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A whole `chat.completion` answer, for fixture upstreams that stand in for an
/// OpenAI-compatible provider.
pub fn chat_fixture() -> Fixture {
    let body = serde_json::json!({
        "id": "chatcmpl-fixture", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "fixture"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    });
    Fixture {
        status: StatusCode::OK,
        headers: vec![("content-type", "application/json")],
        chunks: vec![(Duration::ZERO, Bytes::from(body.to_string()))],
    }
}

impl FixtureUpstream {
    /// How many requests it has received.
    pub fn requests(&self) -> usize {
        self.received.lock().map_or(0, |received| received.len())
    }

    pub fn set_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms
            .store(millis, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn set_status(&self, status: u16) {
        self.status_override
            .store(status, std::sync::atomic::Ordering::Relaxed);
    }
}
