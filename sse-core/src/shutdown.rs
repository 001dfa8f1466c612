//! Ending every open stream at once, for a graceful server shutdown.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::encode::Frame;
use crate::event::Event;

/// A signal that ends every stream published with it.
///
/// Graceful shutdown in every framework waits for open responses to finish; an
/// SSE response never finishes by itself. Give the streams a `Shutdown` (with
/// [`PublishOptions::with_shutdown`](crate::PublishOptions::with_shutdown)) and trigger it
/// when the server starts shutting down: each stream sends the optional final
/// event and ends cleanly, and the clients reconnect (to another instance).
///
/// ```
/// use ssekit::{Event, Shutdown};
///
/// let shutdown = Shutdown::new();
/// let for_streams = shutdown.clone();
/// shutdown.trigger_with(Event::message("bye").with_event("shutdown"));
/// assert!(for_streams.is_triggered());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    final_frame: Arc<OnceLock<Frame>>,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every stream.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Ends every stream, each sending `event` as its last. Only the first final
    /// event given is used.
    pub fn trigger_with(&self, event: Event) {
        // Set before cancelling, so no stream can end without seeing it.
        let _ = self.final_frame.set(event.encode());
        self.token.cancel();
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once triggered.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    pub(crate) fn final_frame(&self) -> Option<Frame> {
        self.final_frame.get().cloned()
    }

    pub(crate) fn wait(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}
