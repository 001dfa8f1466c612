//! One response body, read as an `EventSource` reads it: no reconnecting.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use ssekit::decode::{DecodeError, Decoded, Decoder};

/// Why reading a body stopped before its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Nothing arrived within the idle timeout.
    #[error("nothing arrived for {0:?}")]
    Idle(Duration),
    /// The connection or the body's framing failed.
    #[error("the body failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// A line or an event went past the decoder's limit.
    #[error(transparent)]
    TooLarge(#[from] DecodeError),
}

/// A `text/event-stream` response body, decoded chunk by chunk with the
/// WHATWG parser of [`ssekit::decode`].
///
/// This is what [`EventSource`](crate::EventSource) reads each connection
/// with; it is public for tools that check one response (the conformance
/// suite reads every case's body with it) and for programs that make the
/// request themselves. It does not look at the status or the head.
#[derive(Debug)]
pub struct EventBody {
    response: reqwest::Response,
    decoder: Decoder,
    pending: VecDeque<Decoded>,
    idle_timeout: Option<Duration>,
    ended: bool,
    failed: Option<DecodeError>,
}

impl EventBody {
    /// Reads `response`'s body with a fresh [`Decoder`] and no idle timeout.
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            decoder: Decoder::new(),
            pending: VecDeque::new(),
            idle_timeout: None,
            ended: false,
            failed: None,
        }
    }

    /// Decodes with `decoder`: its limits, its last event id and retry time.
    #[must_use]
    pub fn with_decoder(mut self, decoder: Decoder) -> Self {
        self.decoder = decoder;
        self
    }

    /// Fails with [`BodyError::Idle`] when no byte arrives for `timeout`.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Reads the next chunk of the body, feeds it to the decoder (what it
    /// completes is queued for [`next_item`](Self::next_item)) and returns
    /// it as it came; `None` at the end of the body.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        if let Some(error) = &self.failed {
            return Err(error.clone().into());
        }
        if self.ended {
            return Ok(None);
        }
        let read = self.response.chunk();
        let chunk = match self.idle_timeout {
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| BodyError::Idle(limit))?,
            None => read.await,
        }
        .map_err(BodyError::Transport)?;
        match chunk {
            Some(chunk) => {
                let mut items = Vec::new();
                let fed = self.decoder.feed_into(&chunk, &mut items);
                // What the chunk completed before the limit was hit is still
                // delivered, before the error.
                self.pending.extend(items);
                if let Err(error) = fed {
                    self.failed = Some(error.clone());
                    return Err(error.into());
                }
                Ok(Some(chunk))
            }
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// The next decoded item (an event, a retry time, a comment); `None` at
    /// the end of the body, where an unfinished event is dropped.
    pub async fn next_item(&mut self) -> Result<Option<Decoded>, BodyError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            match self.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(None),
                Err(error) if self.pending.is_empty() => return Err(error),
                Err(_) => {} // kept in `failed`, returned once the queue is empty
            }
        }
    }

    /// The next item already decoded, without reading: for a caller that
    /// reads with [`next_chunk`](Self::next_chunk) (to see the raw bytes)
    /// and takes the items it completed.
    pub fn pop_item(&mut self) -> Option<Decoded> {
        self.pending.pop_front()
    }

    /// The decoder: the last event id, the retry time, whether an event is
    /// half read.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The response's status, version and headers stay readable.
    pub fn response(&self) -> &reqwest::Response {
        &self.response
    }

    /// Gives the decoder back, for the next connection.
    pub fn into_decoder(self) -> Decoder {
        self.decoder
    }
}
