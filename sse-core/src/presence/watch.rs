//! Following one topic's presence: the whole list first (once every node
//! spoke), then each join and leave, and the whole list again after falling
//! behind. Shared by [`Changes`] and [`PresenceStream`](super::PresenceStream).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Change, Member, Shared, ViewUse};
use crate::hub::Broadcaster;

/// What a watcher of a topic's presence learns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// Everyone present now: first, and again after the watcher fell more
    /// than 256 changes behind.
    Present(Vec<Member>),
    /// A member joined.
    Joined(Member),
    /// A member left.
    Left(Member),
}

impl PresenceEvent {
    /// The event as JSON: `{"present":[{"id":…,"info":…},…]}`,
    /// `{"joined":{"id":…}}` or `{"left":{"id":…}}` (`info` only when the
    /// member has some).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Present(members) => {
                out.push_str("{\"present\":[");
                for (i, member) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    member.write_json(&mut out);
                }
                out.push_str("]}");
            }
            Self::Joined(member) => {
                out.push_str("{\"joined\":");
                member.write_json(&mut out);
                out.push('}');
            }
            Self::Left(member) => {
                out.push_str("{\"left\":");
                member.write_json(&mut out);
                out.push('}');
            }
        }
        out
    }
}

pub(crate) struct Watcher<B: Broadcaster> {
    view: ViewUse<B>,
    changes: broadcast::Receiver<(u64, Change)>,
    /// The last change the watcher has, `None` until it has the list.
    seen: Option<u64>,
    /// A member the first list waits for: the stream's own.
    including: Option<String>,
}

impl<B: Broadcaster> Watcher<B> {
    pub(crate) fn new(view: ViewUse<B>, changes: broadcast::Receiver<(u64, Change)>) -> Self {
        Self {
            view,
            changes,
            seen: None,
            including: None,
        }
    }

    /// The first list waits (at most the sync timeout) until it has
    /// `member`: a stream's member sees itself present.
    pub(crate) fn including(mut self, member: String) -> Self {
        self.including = Some(member);
        self
    }

    async fn next(mut self) -> (Option<PresenceEvent>, Self) {
        loop {
            let Some(seen) = self.seen else {
                let shared: &Arc<Shared<B>> = &self.view.shared;
                let including = self.including.take();
                let snapshot = shared.synced_snapshot(&self.view.topic, including.as_deref());
                let Some((seq, members)) = snapshot.await else {
                    return (None, self);
                };
                self.seen = Some(seq);
                return (Some(PresenceEvent::Present(members)), self);
            };
            match self.changes.recv().await {
                Ok((seq, change)) if seq > seen => {
                    self.seen = Some(seq);
                    let event = match change {
                        Change::Joined(member) => PresenceEvent::Joined(member),
                        Change::Left(member) => PresenceEvent::Left(member),
                    };
                    return (Some(event), self);
                }
                // Already in the list.
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => self.seen = None,
                Err(RecvError::Closed) => return (None, self),
            }
        }
    }
}

type Next<B> = Pin<Box<dyn Future<Output = (Option<PresenceEvent>, Watcher<B>)> + Send>>;

/// Polls a [`Watcher`], one boxed step per event (presence events are rare
/// next to a topic's own).
pub(crate) struct Steps<B: Broadcaster> {
    next: Option<Next<B>>,
}

impl<B: Broadcaster> Steps<B> {
    pub(crate) fn new(watcher: Watcher<B>) -> Self {
        Self {
            next: Some(Box::pin(watcher.next())),
        }
    }

    pub(crate) fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<PresenceEvent>> {
        let Some(next) = &mut self.next else {
            return Poll::Ready(None);
        };
        let (event, watcher) = std::task::ready!(next.as_mut().poll(cx));
        self.next = event.is_some().then(|| Box::pin(watcher.next()) as Next<B>);
        Poll::Ready(event)
    }
}

/// A topic's presence as it changes, from
/// [`Presence::changes`](super::Presence::changes): the members present
/// first, then every join and leave, on every node in the same order.
/// Dropping it stops watching.
pub struct Changes<B: Broadcaster> {
    steps: Steps<B>,
}

impl<B: Broadcaster> Changes<B> {
    pub(crate) fn new(watcher: Watcher<B>) -> Self {
        Self {
            steps: Steps::new(watcher),
        }
    }
}

impl<B: Broadcaster> Stream for Changes<B> {
    type Item = PresenceEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PresenceEvent>> {
        self.steps.poll_step(cx)
    }
}

impl<B: Broadcaster> std::fmt::Debug for Changes<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes").finish_non_exhaustive()
    }
}
