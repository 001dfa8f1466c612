//! What the pub/sub connection receives, queued for the feed task with a
//! bound: the connection's driver hands every push over without waiting, so
//! while the feed task is busy (a catch-up waiting on Redis, a burst of
//! notices) an unbounded queue would grow with the publish rate.
//!
//! Notices (`message`, `smessage`) wait in a queue of
//! [`RedisHubConfig::with_feed_queue`](crate::RedisHubConfig::with_feed_queue)
//! entries. One that finds it full is dropped, and its topic noted: the feed
//! task then reads that topic from the stream, from the last entry it
//! delivered, as it does after any missed notice, so nothing is lost, only
//! delivered by a command instead of the notice. The noted topics are a
//! set, at most one entry per followed topic. The other pushes (the
//! library's disconnection notice, subscription confirmations) are few,
//! one per connection event or subscribed channel, and never dropped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::hub::lock;

/// The sending half, given to the connection.
#[derive(Clone)]
pub(crate) struct PushSender {
    notices: mpsc::Sender<PushInfo>,
    others: mpsc::UnboundedSender<PushInfo>,
    dropped: Arc<Dropped>,
}

/// The receiving half, read by the feed task.
pub(crate) struct PushReceiver {
    pub(crate) notices: mpsc::Receiver<PushInfo>,
    pub(crate) others: mpsc::UnboundedReceiver<PushInfo>,
    dropped: Arc<Dropped>,
}

/// The channels whose notices were dropped since the feed task last looked.
#[derive(Default)]
struct Dropped {
    any: AtomicBool,
    channels: Mutex<HashSet<String>>,
}

/// Counts every notice dropped by any node of this process, for tests of
/// the bound.
static DROPPED_NOTICES: AtomicU64 = AtomicU64::new(0);

/// Notices dropped for a full feed queue so far, by every node in this
/// process.
pub(crate) fn dropped_notices() -> u64 {
    DROPPED_NOTICES.load(Ordering::Relaxed)
}

/// A queue of `capacity` notices (at least 1).
pub(crate) fn channel(capacity: usize) -> (PushSender, PushReceiver) {
    let (notices, notices_in) = mpsc::channel(capacity.max(1));
    let (others, others_in) = mpsc::unbounded_channel();
    let dropped = Arc::new(Dropped::default());
    (
        PushSender {
            notices,
            others,
            dropped: dropped.clone(),
        },
        PushReceiver {
            notices: notices_in,
            others: others_in,
            dropped,
        },
    )
}

impl AsyncPushSender for PushSender {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        match info.kind {
            PushKind::Message | PushKind::SMessage => match self.notices.try_send(info) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(info)) => {
                    if let Some(Value::BulkString(channel)) = info.data.first() {
                        let channel = String::from_utf8_lossy(channel).into_owned();
                        lock(&self.dropped.channels).insert(channel);
                    }
                    // Set after the channel is in the set: the feed task,
                    // seeing the flag, finds it there.
                    self.dropped.any.store(true, Ordering::Release);
                    DROPPED_NOTICES.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError),
            },
            _ => self.others.send(info).map_err(|_| SendError),
        }
    }
}

impl PushReceiver {
    /// The channels whose notices were dropped since the last call (empty,
    /// at the cost of one atomic load, when none were).
    pub(crate) fn take_dropped(&self) -> Vec<String> {
        if !self.dropped.any.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        lock(&self.dropped.channels).drain().collect()
    }
}
