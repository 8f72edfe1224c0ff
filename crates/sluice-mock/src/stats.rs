//! Counters of what the mock saw and did, readable while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the mock has served so far. All counters are atomics, so reading them while the
/// server runs is cheap and never blocks a request.
#[derive(Debug, Default)]
pub struct MockStats {
    pub(crate) connections: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) chat_completions: AtomicU64,
    pub(crate) embeddings: AtomicU64,
    pub(crate) streams_started: AtomicU64,
    pub(crate) streams_completed: AtomicU64,
    pub(crate) client_disconnects: AtomicU64,
    pub(crate) faults_injected: AtomicU64,
    pub(crate) oauth_tokens_issued: AtomicU64,
}

impl MockStats {
    /// TCP connections accepted (keep-alive reuses one for many requests).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// HTTP requests received, on any path.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests to `POST /v1/chat/completions`, valid or not.
    pub fn chat_completions(&self) -> u64 {
        self.chat_completions.load(Ordering::Relaxed)
    }

    /// Requests to `POST /v1/embeddings`, valid or not.
    pub fn embeddings(&self) -> u64 {
        self.embeddings.load(Ordering::Relaxed)
    }

    /// Streaming chat responses whose headers were sent.
    pub fn streams_started(&self) -> u64 {
        self.streams_started.load(Ordering::Relaxed)
    }

    /// Streams that reached `data: [DONE]`.
    pub fn streams_completed(&self) -> u64 {
        self.streams_completed.load(Ordering::Relaxed)
    }

    /// Streams or waiting (stalled, delayed) requests the client dropped before the mock
    /// finished them. A stream the mock cut on purpose does not count.
    pub fn client_disconnects(&self) -> u64 {
        self.client_disconnects.load(Ordering::Relaxed)
    }

    /// Requests that got an injected fault.
    pub fn faults_injected(&self) -> u64 {
        self.faults_injected.load(Ordering::Relaxed)
    }

    /// Access tokens the OAuth token endpoint (`POST /token`, for Vertex AI) issued: a
    /// client that caches its token asks once.
    pub fn oauth_tokens_issued(&self) -> u64 {
        self.oauth_tokens_issued.load(Ordering::Relaxed)
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed)
}

/// Counts a client disconnect if dropped before `finish` was called: it lives inside the
/// request future or the stream body, which hyper drops when the client goes away.
#[derive(Debug)]
pub(crate) struct DisconnectGuard {
    stats: Arc<MockStats>,
    finished: AtomicBool,
}

impl DisconnectGuard {
    pub(crate) fn new(stats: Arc<MockStats>) -> Self {
        Self {
            stats,
            finished: AtomicBool::new(false),
        }
    }

    /// The work completed (or ended on purpose): dropping is no longer a disconnect.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if !self.finished.load(Ordering::Relaxed) {
            bump(&self.stats.client_disconnects);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_only_unfinished_drops() {
        let stats = Arc::new(MockStats::default());
        drop(DisconnectGuard::new(stats.clone()));
        let done = DisconnectGuard::new(stats.clone());
        done.finish();
        drop(done);
        assert_eq!(stats.client_disconnects(), 1);
    }
}
