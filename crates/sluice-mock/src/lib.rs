//! A faithful, deterministic mock of the OpenAI API, with latency and fault injection.
//!
//! It stands in for real providers in Sluice's tests and benchmarks: `POST
//! /v1/chat/completions` (whole and streamed, text and tool calls), `POST /v1/embeddings`
//! and `GET /v1/models`, with the response shapes, error bodies and status codes of
//! api.openai.com. Any `Authorization` is accepted (and recorded). Any model name is
//! answered, and named back in the response. Not modelled: `n` > 1 (one choice is always
//! returned), logprobs, audio output, and the legacy `functions` / `function_call` fields
//! (ignored, like every unknown field).
//!
//! Replies: `echo` says the words of the last user message (or a fixed sentence when it has
//! none); `lorem` says `reply_tokens` seeded pseudo-words. With `tools` (and `tool_choice`
//! not `"none"`) the assistant calls the chosen function, else the first, with arguments
//! built from its JSON schema (see `tools.rs`).
//!
//! # Token rule
//!
//! A token is a whitespace-separated word; every count the mock reports uses this rule.
//!
//! - `completion_tokens` is the number of words of the reply (for a tool call, of its
//!   `arguments` string). A stream sends one word per chunk, each with the whitespace
//!   before it, so the deltas concatenated are exactly the whole response's content.
//! - `prompt_tokens` is the words of every message's text (string content, or the `text`
//!   parts joined by spaces; an assistant message's tool calls add the words of their
//!   function names and arguments), plus 3 per message, plus 3 for priming the reply; when
//!   the request has `tools`, plus the words of their compact JSON.
//! - `max_completion_tokens` (else `max_tokens`) cuts the reply to that many words, with
//!   `finish_reason: "length"`. `total_tokens` is prompt plus completion.
//! - Embeddings charge the words of each text input, or the length of each token array.
//!
//! # Determinism
//!
//! The same settings and the same request give the same bytes, except `created` (the real
//! clock) and the ids (`chatcmpl-mock-N`, `call_mock_N`, `x-request-id: req_mock_N`, N
//! counting this server's requests from 0). Lorem text is seeded by `seed` and the prompt;
//! fault draws and jitter by `seed` and the request's number, so equal runs see equal faults.
//!
//! # Latency
//!
//! `latency` plus a uniform draw in `[0, jitter]` passes before a whole response or before
//! a stream's headers; in a stream, `first_token` passes between the role chunk (sent with
//! the headers) and the first token, and `between_tokens` between tokens.
//!
//! # Faults
//!
//! Each request draws the configured faults in order, each at its rate; the first that fires
//! applies: `status` answers at once with that status and OpenAI's body for it (and
//! `Retry-After`); `reset` closes the TCP connection with an RST and no answer; `stall` says
//! nothing for its duration, then answers normally; `cut_stream` aborts the body after N
//! token chunks (whole responses: after half the body); `malformed_json` answers 200 with
//! a body that is not JSON (streams: a `data: {not json` frame midway).
//!
//! # Google and AWS dialects
//!
//! The same answers (reply, tool call, usage, latency, faults, stats) are also served as
//! the Gemini API (`POST /v1beta/models/{model}:{generateContent|streamGenerateContent|
//! countTokens|embedContent|batchEmbedContents}`, any non-empty API key), Vertex AI (`POST
//! /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{generateContent|
//! streamGenerateContent|countTokens|predict}`, a bearer token from this mock's `POST
//! /token`, whose JWT's shape is checked but not its signature) and AWS Bedrock (`POST
//! /model/{id}/{converse|converse-stream|invoke}`, a SigV4-shaped `Authorization` whose
//! signature is not verified; see [`MockServer::aws_credential_scopes`]). Errors, injected
//! ones included, come in each dialect's own envelope.

mod app;
mod chat;
mod dialects;
mod embeddings;
mod errors;
mod faults;
mod json;
mod models;
mod server;
mod stats;
mod stream;
mod tokens;
mod tools;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use dialects::bedrock::AwsCredentialScope;
pub use sluice_core::mock::{MockFault, MockReply, MockSettings};
pub use stats::MockStats;

use app::App;

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    /// The request target: path and query string.
    pub path: String,
    /// Every header, in arrival order; values that are not UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl ReceivedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running mock server on a real TCP socket. Dropping it stops it: the listener closes
/// and every connection is dropped.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockServer {
    /// Binds `addr` (use 127.0.0.1:0 for an ephemeral port) and serves until dropped or
    /// shut down.
    pub async fn start(settings: MockSettings, addr: SocketAddr) -> io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(settings));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(app.clone(), listener, async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Ok(MockServer {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`: what an OpenAI client uses as base URL. A wildcard bind
    /// address is given as the loopback address, which a client can connect to.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/v1", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn stats(&self) -> Arc<MockStats> {
        self.app.stats.clone()
    }

    /// The last requests received (at most 256), oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.app.received()
    }

    /// The SigV4 credential scopes of the Bedrock requests received (at most 256), oldest
    /// first: what a test reads to check the region a client signed for.
    pub fn aws_credential_scopes(&self) -> Vec<AwsCredentialScope> {
        self.app.aws_signing.scopes()
    }

    /// Stops accepting, lets in-flight requests finish (for at most a few seconds), then
    /// drops what is left.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // Aborting the accept task drops the listener and, with its task set, every
        // connection, so nothing keeps the port.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves on an already bound listener until `shutdown` resolves, then drains in-flight
/// requests (bounded), as `sluice mock --listen ADDR` does.
pub async fn serve(
    settings: MockSettings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    server::run(Arc::new(App::new(settings)), listener, shutdown).await
}
