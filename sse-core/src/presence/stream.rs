//! A topic's stream with its member present while it is open, and the
//! topic's presence events among its own.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::watch::{PresenceEvent, Steps};
use super::Membership;
use crate::encode::Frame;
use crate::hub::Broadcaster;
use crate::source::{BoxError, IntoFrame};
use crate::Event;

/// A subscription to a topic from
/// [`Presence::subscribe`](super::Presence::subscribe): the topic's events,
/// and presence events of type `presence` (configurable) with JSON data
/// ([`PresenceEvent::to_json`]): the members present, then who joins and
/// leaves. The member is present while the stream is open.
///
/// Presence events have no id, so a client's `Last-Event-ID` stays that of
/// the topic's last event and resume is unchanged.
pub struct PresenceStream<B: Broadcaster> {
    events: B::Subscription,
    presence: Steps<B>,
    event_type: &'static str,
    membership: Membership<B>,
}

impl<B: Broadcaster> PresenceStream<B> {
    pub(crate) fn new(
        events: B::Subscription,
        presence: Steps<B>,
        event_type: &'static str,
        membership: Membership<B>,
    ) -> Self {
        Self {
            events,
            presence,
            event_type,
            membership,
        }
    }

    /// The membership the stream holds.
    #[must_use]
    pub fn membership(&self) -> &Membership<B> {
        &self.membership
    }

    /// The topic's subscription, inside.
    #[must_use]
    pub fn subscription(&self) -> &B::Subscription {
        &self.events
    }
}

impl<B: Broadcaster> Stream for PresenceStream<B> {
    type Item = Result<Frame, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(Some(event)) = this.presence.poll_step(cx) {
            return Poll::Ready(Some(Ok(frame(this.event_type, &event))));
        }
        // The topic's stream decides when this one ends.
        Pin::new(&mut this.events)
            .poll_next(cx)
            .map(|item| item.map(IntoFrame::into_frame))
    }
}

fn frame(event_type: &'static str, event: &PresenceEvent) -> Frame {
    Event::new()
        .with_event(event_type)
        .with_data(event.to_json())
        .encode()
}

impl<B: Broadcaster> std::fmt::Debug for PresenceStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceStream")
            .field("membership", &self.membership)
            .finish_non_exhaustive()
    }
}
