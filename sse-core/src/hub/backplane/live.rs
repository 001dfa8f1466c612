//! Joining a node's live feed at a position.

use std::str::FromStr;
use std::sync::Arc;

use super::super::{Hub, Published, Subscription};

/// Subscribes to `topic` on the node's local hub for the events after
/// `after`, given that the node has already published everything up to
/// `published` to that hub.
///
/// Call it while holding whatever keeps the node from publishing to `topic`
/// (so no event falls between `published` and the subscription). The local
/// feed only carries events after `published`, so a subscriber at or behind
/// it needs no filter: it shares the topic's log. One further on (it resumes
/// with an id from a node ahead of this one) gets a filter dropping events
/// up to `after`, at the cost of a queue of its own and a filter run on
/// every event. Event ids are parsed as `P`; an event whose id does not
/// parse is dropped by that filter.
pub fn subscribe_after<P>(local: &Hub, topic: &str, after: P, published: &P) -> Subscription
where
    P: Ord + FromStr + Send + Sync + 'static,
{
    if after <= *published {
        return local.subscribe(topic, None);
    }
    let newer = move |event: &Published<'_>| {
        event
            .id
            .and_then(|id| id.parse::<P>().ok())
            .is_some_and(|id| id > after)
    };
    local.subscribe_filtered(topic, None, Some(Arc::new(newer)))
}
