//! The response body on its way back: the upstream's frames forwarded as they arrive,
//! the total deadline enforced, and the request's metrics recorded when it ends — by
//! completion, failure or the client hanging up.
//!
//! When an upstream stream (SSE) breaks or runs past the deadline after bytes have
//! reached the client, the client gets a final `data: {"error":…}` event, the way the
//! OpenAI API reports in-stream errors, instead of a silent truncation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use sluice_core::{ApiError, ErrorKind};
use tokio::time::Sleep;

use crate::metrics::{InFlight, Series};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What is recorded when the body ends.
pub(crate) struct Completion {
    pub series: Arc<Series>,
    /// Held only for its `Drop`, which leaves the in-flight gauge.
    pub _in_flight: InFlight,
    pub status: u16,
    pub started: Instant,
}

pub(crate) struct ProxiedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    /// The response is a server-sent-event stream.
    sse: bool,
    done: bool,
    /// The last byte forwarded ended an SSE event (`\n\n`), or nothing was sent yet.
    at_event_boundary: bool,
    first_byte_seen: bool,
    /// Taken when the outcome is recorded, so it is recorded exactly once.
    completion: Option<Completion>,
}

impl ProxiedBody {
    pub(crate) fn new(
        inner: Incoming,
        deadline: Instant,
        sse: bool,
        completion: Completion,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            sse,
            done: false,
            at_event_boundary: true,
            first_byte_seen: false,
            completion: Some(completion),
        }
    }

    fn record(&mut self, error_reason: Option<&'static str>) {
        if let Some(done) = self.completion.take() {
            done.series
                .finished(done.status, done.started.elapsed(), error_reason);
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
        if self.sse {
            let mut event = Vec::with_capacity(256);
            if !self.at_event_boundary {
                event.extend_from_slice(b"\n\n");
            }
            event.extend_from_slice(b"data: ");
            event.extend_from_slice(&error.to_openai_json());
            event.extend_from_slice(b"\n\n");
            self.done = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
        } else {
            self.done = true;
            Poll::Ready(Some(Err(Box::new(error))))
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
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if !this.first_byte_seen && !data.is_empty() {
                        this.first_byte_seen = true;
                        if this.sse
                            && let Some(done) = &this.completion
                        {
                            done.series.stream_first_byte(done.started.elapsed());
                        }
                    }
                    if !data.is_empty() {
                        this.at_event_boundary = data.ends_with(b"\n\n");
                    }
                }
                // A body of known length is complete with its last frame, and the server
                // drops it without polling again: record the end now, not as a disconnect.
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                tracing::debug!(error = %err, "upstream body failed");
                this.fail(
                    "stream_interrupted",
                    ApiError::new(
                        ErrorKind::UpstreamUnreachable,
                        "The provider's connection broke before the response was complete.",
                    )
                    .with_code("upstream_stream_interrupted"),
                )
            }
            None => {
                this.finish();
                Poll::Ready(None)
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
