//! The response body on its way back: the upstream's frames forwarded as they arrive,
//! the total deadline enforced, and the request's metrics recorded when it ends — by
//! completion, failure or the client hanging up.
//!
//! A translated stream is decoded from the provider's dialect and re-encoded in the
//! client's as each frame arrives ([`Translator`]); nothing is buffered beyond an
//! unfinished event.
//!
//! When an upstream stream breaks or runs past the deadline after bytes have reached the
//! client, the client gets a final error event in its dialect (`data: {"error":…}` for
//! OpenAI, `event: error` for Anthropic), instead of a silent truncation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use sluice_core::chat::{StreamEvent, Usage};
use sluice_core::{ApiError, ErrorKind};
use sluice_providers::{Dialect, StreamDecoder, StreamEncoder};
use tokio::time::Sleep;

use crate::metrics::{InFlight, Series};
use crate::outcome::TargetOutcome;
use crate::usage::{UsageChunkFilter, UsageTap};
use sluice_governance::governor::Admission;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What is recorded when the body ends.
pub(crate) struct Completion {
    pub series: Arc<Series>,
    /// Held only for its `Drop`, which leaves the in-flight gauge.
    pub _in_flight: InFlight,
    pub status: u16,
    pub started: Instant,
    /// The route target that serves the request, which learns how it went.
    pub target: Option<TargetOutcome>,
    /// When the first byte went to the client (a stream's time to first token).
    pub first_byte: Option<std::time::Duration>,
    /// The governed call this answer settles when it ends.
    pub charge: Option<Charge>,
}

/// What a governed answer is charged when it ends: the admission, who served it, and
/// (for an answer passed through) a tap reading the provider's reported usage.
pub(crate) struct Charge {
    pub admission: Admission,
    pub provider: Arc<str>,
    pub model: String,
    pub tap: Option<UsageTap>,
}

/// What happens to the provider's bytes on their way to the client.
pub(crate) enum Shape {
    /// Forwarded as they are. `sse` says whether an error can still be reported as an
    /// event, and `dialect` in which form.
    Raw { sse: bool, dialect: Dialect },
    /// Decoded from the provider's stream and encoded in the client's dialect.
    Translated(Box<Translator>),
}

/// A provider's stream turned into a client's, frame by frame.
pub(crate) struct Translator {
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    events: Vec<StreamEvent>,
    out: BytesMut,
    /// The provider's latest usage report, for spend.
    pub usage: Usage,
    /// An error event was written: the stream is over.
    ended_with_error: bool,
}

impl Translator {
    pub(crate) fn new(decoder: Box<dyn StreamDecoder>, encoder: Box<dyn StreamEncoder>) -> Self {
        Self {
            decoder,
            encoder,
            events: Vec::with_capacity(8),
            out: BytesMut::with_capacity(1024),
            usage: Usage::default(),
            ended_with_error: false,
        }
    }

    /// Translates the next provider bytes; returns what the client gets now.
    fn feed(&mut self, bytes: &[u8]) -> Bytes {
        if let Err(err) = self.decoder.feed(bytes, &mut self.events) {
            self.events.push(StreamEvent::Error(err.to_api_error()));
        }
        self.drain()
    }

    /// The provider ended its stream; a stream cut short ends with an error event.
    fn finish(&mut self) -> Bytes {
        if let Err(err) = self.decoder.finish(&mut self.events) {
            self.events.push(StreamEvent::Error(err.to_api_error()));
        }
        self.drain()
    }

    fn fail(&mut self, error: ApiError) -> Bytes {
        self.events.push(StreamEvent::Error(error));
        self.drain()
    }

    fn drain(&mut self) -> Bytes {
        for event in self.events.drain(..) {
            if self.ended_with_error {
                break;
            }
            match &event {
                StreamEvent::Usage(usage) => self.usage.merge(usage),
                StreamEvent::Error(_) => self.ended_with_error = true,
                _ => {}
            }
            self.encoder.encode(&event, &mut self.out);
        }
        self.out.split().freeze()
    }
}

pub(crate) struct ProxiedBody {
    inner: Incoming,
    /// Bytes already read from `inner` (a stream's first, awaited so that a stream broken
    /// before any byte could fail over), sent before anything else.
    prefix: Option<Bytes>,
    deadline: Pin<Box<Sleep>>,
    shape: Shape,
    /// The response is a stream (an error can be sent as a last event).
    sse: bool,
    done: bool,
    /// The last byte forwarded ended an SSE event (`\n\n`), or nothing was sent yet.
    at_event_boundary: bool,
    first_byte_seen: bool,
    /// Taken when the outcome is recorded, so it is recorded exactly once.
    completion: Option<Completion>,
    /// Set when the gateway asked an OpenAI stream for usage the client did not.
    usage_filter: Option<UsageChunkFilter>,
}

impl ProxiedBody {
    pub(crate) fn new(
        inner: Incoming,
        deadline: Instant,
        shape: Shape,
        completion: Completion,
    ) -> Self {
        let sse = match &shape {
            Shape::Raw { sse, .. } => *sse,
            Shape::Translated(_) => true,
        };
        Self {
            inner,
            prefix: None,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            shape,
            sse,
            done: false,
            at_event_boundary: true,
            first_byte_seen: false,
            completion: Some(completion),
            usage_filter: None,
        }
    }

    fn record(&mut self, error_reason: Option<&'static str>) {
        if let Some(mut done) = self.completion.take() {
            let elapsed = done.started.elapsed();
            done.series.finished(done.status, elapsed, error_reason);
            if let Some(mut charge) = done.charge.take() {
                // The provider took the call: what it reported is charged, even for a
                // stream cut short (an answer without a report is charged its estimate).
                let usage = match &self.shape {
                    Shape::Translated(translator) => {
                        Some(translator.usage).filter(|usage| usage.total_tokens() > 0)
                    }
                    Shape::Raw { .. } => charge.tap.take().and_then(UsageTap::finish),
                };
                let (provider, model) =
                    (charge.provider.clone(), std::mem::take(&mut charge.model));
                charge.admission.settle(&provider, &model, usage);
            }
            match (done.target, error_reason) {
                // A client that hangs up says nothing about the provider.
                (Some(_), Some("client_disconnected")) | (None, _) => {}
                (Some(target), Some("upstream_status") | None) => {
                    target.finished(done.status, elapsed, done.first_byte);
                }
                (Some(target), Some(_)) => target.failed(),
            }
        }
    }

    /// The upstream body ended normally; an upstream error status still counts as an error.
    fn finish(&mut self) {
        let failed = self
            .completion
            .as_ref()
            .is_some_and(|done| done.status >= 400);
        self.record(failed.then_some("upstream_status"));
        self.done = true;
    }

    /// Ends an SSE stream with an error event, or the whole body with an error (which
    /// makes the server abort the connection, the only signal left once bytes are out).
    fn fail(
        &mut self,
        reason: &'static str,
        error: ApiError,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.record(Some(reason));
        self.done = true;
        let dialect = match &mut self.shape {
            Shape::Translated(translator) => {
                return Poll::Ready(Some(Ok(Frame::data(translator.fail(error)))));
            }
            Shape::Raw { dialect, .. } => *dialect,
        };
        if self.sse {
            let mut event = Vec::with_capacity(256);
            if !self.at_event_boundary {
                event.extend_from_slice(b"\n\n");
            }
            match dialect {
                Dialect::Anthropic => {
                    event.extend_from_slice(b"event: error\ndata: ");
                    event.extend_from_slice(&error.to_anthropic_json());
                }
                _ => {
                    event.extend_from_slice(b"data: ");
                    event.extend_from_slice(&error.to_openai_json());
                }
            }
            event.extend_from_slice(b"\n\n");
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
        } else {
            self.done = true;
            Poll::Ready(Some(Err(Box::new(error))))
        }
    }
}

impl ProxiedBody {
    /// Sends `prefix` (already read from the provider) first.
    pub(crate) fn with_prefix(mut self, prefix: Bytes) -> Self {
        self.prefix = Some(prefix);
        self
    }

    /// Takes out the usage chunk the gateway asked the provider for (see `usage`).
    pub(crate) fn with_usage_filter(mut self) -> Self {
        self.usage_filter = Some(UsageChunkFilter::default());
        self
    }

    fn filtered(&mut self, data: Bytes) -> Bytes {
        match &mut self.usage_filter {
            Some(filter) => filter.filter(&data),
            None => data,
        }
    }

    /// Shows passed-through bytes to the usage tap of a governed answer.
    fn tap(&mut self, data: &Bytes) {
        if let Some(tap) = self
            .completion
            .as_mut()
            .and_then(|done| done.charge.as_mut())
            .and_then(|charge| charge.tap.as_mut())
        {
            tap.observe(data);
        }
    }

    fn first_byte_out(&mut self) {
        if !self.first_byte_seen {
            self.first_byte_seen = true;
            if self.sse
                && let Some(done) = &mut self.completion
            {
                let elapsed = done.started.elapsed();
                done.series.stream_first_byte(elapsed);
                done.first_byte = Some(elapsed);
            }
        }
    }

    fn interrupted(&mut self, err: &hyper::Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        tracing::debug!(error = %err, "upstream body failed");
        self.fail(
            "stream_interrupted",
            ApiError::new(
                ErrorKind::UpstreamUnreachable,
                "The provider's connection broke before the response was complete.",
            )
            .with_code("upstream_stream_interrupted"),
        )
    }

    /// Polls the provider until its bytes make something for the client: a provider
    /// frame may complete no event, or one that the client's dialect does not carry.
    fn poll_translated(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Shape::Translated(translator) = &mut self.shape else {
                return Poll::Ready(None);
            };
            if let Some(prefix) = self.prefix.take() {
                let out = translator.feed(&prefix);
                if !out.is_empty() {
                    self.first_byte_out();
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                continue;
            }
            let (out, ended) = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let mut out = translator.feed(&data);
                    let ended = self.inner.is_end_stream();
                    if ended && !translator.ended_with_error {
                        let mut rest = BytesMut::from(out);
                        rest.extend_from_slice(&translator.finish());
                        out = rest.freeze();
                    }
                    (out, ended || translator.ended_with_error)
                }
                Some(Err(err)) => return self.interrupted(&err),
                None => (translator.finish(), true),
            };
            let failed = translator.ended_with_error;
            if ended {
                self.record(failed.then_some("upstream_stream_error"));
                self.done = true;
            }
            if !out.is_empty() {
                self.first_byte_out();
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            if ended {
                return Poll::Ready(None);
            }
        }
    }
}

impl Body for ProxiedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.fail(
                "timeout",
                ApiError::new(
                    ErrorKind::UpstreamTimeout,
                    "The provider did not finish the response within the gateway's total timeout.",
                ),
            );
        }
        if let Shape::Translated(_) = this.shape {
            return this.poll_translated(cx);
        }
        loop {
            if let Some(prefix) = this.prefix.take() {
                this.tap(&prefix);
                let out = this.filtered(prefix);
                if out.is_empty() {
                    continue;
                }
                this.first_byte_out();
                this.at_event_boundary = out.ends_with(b"\n\n");
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // A body of known length is complete with its last frame, and the
                    // server drops it without polling again: record the end now, not as
                    // a disconnect.
                    let ended = this.inner.is_end_stream();
                    let frame = match frame.into_data() {
                        Ok(data) if !data.is_empty() => {
                            this.tap(&data);
                            let mut out = this.filtered(data);
                            if ended && let Some(filter) = this.usage_filter.as_mut() {
                                let mut all = BytesMut::from(out);
                                all.extend_from_slice(&filter.finish());
                                out = all.freeze();
                            }
                            if out.is_empty() {
                                if ended {
                                    this.finish();
                                    return Poll::Ready(None);
                                }
                                continue;
                            }
                            this.first_byte_out();
                            this.at_event_boundary = out.ends_with(b"\n\n");
                            Frame::data(out)
                        }
                        Ok(data) => Frame::data(data),
                        Err(other) => other,
                    };
                    if ended {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(err)) => return this.interrupted(&err),
                None => {
                    let rest = this
                        .usage_filter
                        .as_mut()
                        .map(UsageChunkFilter::finish)
                        .unwrap_or_default();
                    this.finish();
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.sse {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

impl Drop for ProxiedBody {
    fn drop(&mut self) {
        // Still unrecorded: the client went away before the end.
        self.record(Some("client_disconnected"));
    }
}
