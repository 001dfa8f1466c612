//! Presence: who is subscribed to a topic, on this node and on every node
//! of a backplane, with join and leave notifications.
//!
//! [`Presence`] works over any [`Broadcaster`]: the in-process
//! [`Hub`](crate::hub::Hub) or a backplane (`ssekit-redis`, `ssekit-nats`).
//! Nodes tell each other, through control topics of the broadcaster itself,
//! who each has in a topic; so presence needs nothing of a backplane but
//! publish and subscribe, and behaves the same on all of them.
//!
//! ```
//! use futures_util::StreamExt;
//! use ssekit::hub::Hub;
//! use ssekit::presence::{Member, Presence, PresenceEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub: Hub = Hub::new();
//! let presence = Presence::new(hub.clone());
//!
//! let mut lobby = presence.changes("lobby")?;
//! assert_eq!(lobby.next().await, Some(PresenceEvent::Present(vec![])));
//!
//! // In a handler: the member is present while its stream is open.
//! let alice = presence.subscribe("lobby", Member::new("alice")?, None)?;
//! assert_eq!(lobby.next().await, Some(PresenceEvent::Joined(Member::new("alice")?)));
//! assert_eq!(presence.members("lobby").await?, [Member::new("alice")?]);
//!
//! drop(alice); // the client went away
//! assert_eq!(lobby.next().await, Some(PresenceEvent::Left(Member::new("alice")?)));
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! * A member is present once however many connections it has, on however
//!   many nodes: it joins with the first and leaves with the last.
//! * Every node sees a topic's joins and leaves in one order, the order of
//!   the topic's control stream on the broadcaster.
//! * Presence is eventually consistent: a join reaches the other nodes
//!   after one publish through the broadcaster; a node that stops cleanly
//!   (its last [`Presence`] handle dropped, or [`Presence::shutdown`]) says
//!   so and its members leave at once; one that crashes is taken as gone
//!   after [`node_timeout`](PresenceConfig::node_timeout) (three
//!   heartbeats) without a heartbeat, and its members leave then.
//! * While the broker is down, changes wait on their node and are
//!   published when it is back (each node republishes its list of a topic,
//!   never a lost delta).
//!
//! # Costs and bounds
//!
//! * Per node: one heartbeat event per
//!   [heartbeat](PresenceConfig::with_heartbeat) (default 5 s), whatever the
//!   number of topics, and one subscription to the heartbeat topic.
//! * Per tracked topic (a topic with a member on this node, or watched):
//!   one subscription to its control topic, and its members, at most
//!   [`max_members`](PresenceConfig::with_max_members) (default 10 000) per
//!   node. A node tracks at most
//!   [`max_topics`](PresenceConfig::with_max_topics) topics (default
//!   10 000) and hears at most
//!   [`max_nodes`](PresenceConfig::with_max_nodes) nodes (default 1 024).
//! * Per change on a node: one `state` event with that node's members of the
//!   topic (at most `max_members` lines of at most 385 bytes); changes
//!   coming faster than they are published coalesce into one.
//! * Per topic a node starts tracking: one `sync` request, answered by one
//!   list (empty if need be) from every live node.
//! * A watcher ([`Changes`], [`PresenceStream`]) holds at most 256 changes;
//!   one further behind gets the whole list again.
//! * The control topics are the broadcaster's, with its history bounds and
//!   expiry: `<prefix>` and `<prefix>/<topic>`
//!   ([`with_prefix`](PresenceConfig::with_prefix)).

mod config;
mod driver;
mod member;
mod stream;
mod view;
mod watch;
mod wire;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

pub use config::PresenceConfig;
pub use member::{Member, PresenceError, MAX_MEMBER_ID_LEN, MAX_MEMBER_INFO_LEN};
pub use stream::PresenceStream;
use view::{Change, View};
pub use watch::{Changes, PresenceEvent};
use watch::{Steps, Watcher};

use crate::hub::Broadcaster;

/// The presence of members in topics, across every node of `B`: join a
/// member while a stream is open ([`subscribe`](Self::subscribe),
/// [`join`](Self::join)), ask who is present ([`members`](Self::members)),
/// and follow joins and leaves ([`changes`](Self::changes)). See the
/// [module documentation](self) for the guarantees and bounds.
///
/// Cheap to clone: clones share one node. The node says it is gone when its
/// last clone (and the last stream or membership it gave) is dropped, or at
/// [`shutdown`](Self::shutdown).
pub struct Presence<B: Broadcaster> {
    shared: Arc<Shared<B>>,
}

impl<B: Broadcaster> Clone for Presence<B> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B: Broadcaster> std::fmt::Debug for Presence<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("node", &self.shared.node)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<B> {
    broadcaster: B,
    config: PresenceConfig,
    node: String,
    state: Mutex<State>,
    /// Wakes the driver: something to publish.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct State {
    /// This node's members, by topic.
    local: HashMap<String, HashMap<String, Local>>,
    views: HashMap<String, View>,
    /// The other nodes heard from, and when last.
    nodes: HashMap<String, Instant>,
    /// Nodes taken for gone: if one speaks again, it is asked to resend.
    expired: HashSet<String>,
    /// Topics whose list this node is to publish.
    dirty: BTreeSet<String>,
    /// Topics whose views are to ask every node for its list.
    syncs: BTreeSet<String>,
    /// Nodes to ask to resend every list.
    resends: BTreeSet<String>,
    /// Nodes asked to resend that sent no list yet, and how many more
    /// heartbeats to ask them at.
    resend_pending: HashMap<String, u8>,
    /// Answer a node that said hello.
    say_alive: bool,
    /// No more publishing: shut down or abandoned.
    stopped: bool,
}

struct Local {
    member: Member,
    connections: usize,
}

impl<B: Broadcaster> Presence<B> {
    /// Presence on `broadcaster` with the default [`PresenceConfig`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime: it spawns the node's task.
    #[must_use]
    pub fn new(broadcaster: B) -> Self {
        Self::with_config(broadcaster, PresenceConfig::new())
    }

    /// Presence on `broadcaster` with `config`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime: it spawns the node's task.
    #[must_use]
    pub fn with_config(broadcaster: B, config: PresenceConfig) -> Self {
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            broadcaster,
            config,
            node: driver::node_id(),
            state: Mutex::new(State::default()),
            wake: Arc::clone(&wake),
        });
        tokio::spawn(driver::drive(Arc::downgrade(&shared), wake));
        Self { shared }
    }

    /// This node's id, random per [`Presence`]: what the others know it by.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// Makes `member` present in `topic` until the returned membership is
    /// dropped. A member joined several times (several connections) stays
    /// present until the last membership goes; its info is that of the
    /// first.
    pub fn join(&self, topic: &str, member: Member) -> Result<Membership<B>, PresenceError> {
        let mut state = self.shared.lock();
        let config = &self.shared.config;
        self.shared.check_room(&state, topic)?;
        let members = state.local.entry(topic.to_owned()).or_default();
        if let Some(local) = members.get_mut(member.id()) {
            local.connections += 1;
        } else {
            if members.len() >= config.max_members {
                if members.is_empty() {
                    state.local.remove(topic);
                }
                return Err(PresenceError::TopicFull {
                    max_members: config.max_members,
                });
            }
            let id = member.id().to_owned();
            members.insert(
                id,
                Local {
                    member: member.clone(),
                    connections: 1,
                },
            );
            state.dirty.insert(topic.to_owned());
            self.shared.wake.notify_one();
        }
        self.shared.use_view(&mut state, topic).users += 1;
        drop(state);
        Ok(Membership {
            id: member.id().to_owned(),
            view: ViewUse {
                shared: Arc::clone(&self.shared),
                topic: topic.to_owned(),
            },
        })
    }

    /// Subscribes to `topic` on the broadcaster (resuming after
    /// `last_event_id`, as [`Broadcaster::subscribe`]) with `member` present
    /// while the stream is open, and presence events among the topic's:
    /// publish the stream as the response, with any adapter.
    ///
    /// ```
    /// use ssekit::hub::Broadcaster;
    /// use ssekit::presence::{Member, Presence};
    /// use ssekit::SsePublisher;
    ///
    /// async fn room<P: SsePublisher, B: Broadcaster>(publisher: P, presence: Presence<B>) -> P::Response {
    ///     let member = publisher.request().query_param("user").map(Member::new);
    ///     let Some(Ok(member)) = member else {
    ///         return publisher.reject(http::StatusCode::BAD_REQUEST, "who are you?");
    ///     };
    ///     match presence.subscribe("lobby", member, publisher.last_event_id()) {
    ///         Ok(stream) => publisher.publish(stream),
    ///         Err(full) => publisher.reject(http::StatusCode::SERVICE_UNAVAILABLE, full.to_string()),
    ///     }
    /// }
    /// ```
    pub fn subscribe(
        &self,
        topic: &str,
        member: Member,
        last_event_id: Option<&str>,
    ) -> Result<PresenceStream<B>, PresenceError> {
        let id = member.id().to_owned();
        let membership = self.join(topic, member)?;
        let watcher = self.watcher(topic).including(id);
        let events = self.shared.broadcaster.subscribe(topic, last_event_id);
        Ok(PresenceStream::new(
            events,
            Steps::new(watcher),
            self.shared.config.event_type,
            membership,
        ))
    }

    /// Who is present in `topic` on every node. The first time this node
    /// asks about a topic it does not track, it waits for every live node to
    /// answer, at most [`sync_timeout`](PresenceConfig::with_sync_timeout).
    pub async fn members(&self, topic: &str) -> Result<Vec<Member>, PresenceError> {
        {
            let mut state = self.shared.lock();
            self.shared.check_room(&state, topic)?;
            let config = &self.shared.config;
            let linger = Instant::now() + config.node_timeout() + config.sync_timeout;
            let view = self.shared.use_view(&mut state, topic);
            view.linger_until = Some(view.linger_until.map_or(linger, |until| until.max(linger)));
        }
        Ok(self
            .shared
            .synced_snapshot(topic, None)
            .await
            .map(|(_, members)| members)
            .unwrap_or_default())
    }

    /// The members `topic` has on this node.
    #[must_use]
    pub fn local_members(&self, topic: &str) -> Vec<Member> {
        let state = self.shared.lock();
        let mut members: Vec<Member> = state
            .local
            .get(topic)
            .map(|members| members.values().map(|local| local.member.clone()).collect())
            .unwrap_or_default();
        members.sort();
        members
    }

    /// Follows `topic`'s presence: the members present (once every live
    /// node answered, or after the sync timeout), then each join and leave.
    pub fn changes(&self, topic: &str) -> Result<Changes<B>, PresenceError> {
        let state = self.shared.lock();
        self.shared.check_room(&state, topic)?;
        drop(state);
        Ok(Changes::new(self.watcher(topic)))
    }

    /// How many topics this node tracks (with a member here, watched, or
    /// asked about lately): each costs a subscription on the broadcaster.
    #[must_use]
    pub fn tracked_topics(&self) -> usize {
        self.shared.lock().views.len()
    }

    /// How many other nodes this one hears (at most
    /// [`max_nodes`](PresenceConfig::with_max_nodes)): those that spoke within
    /// the node timeout.
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.shared.lock().nodes.len()
    }

    /// Says this node is gone (its members leave on every node at once) and
    /// stops presence here: later joins are local only. For a graceful
    /// server shutdown, before the broadcaster's.
    pub async fn shutdown(&self) {
        {
            let mut state = self.shared.lock();
            if state.stopped {
                return;
            }
            state.stopped = true;
        }
        let shared = &self.shared;
        driver::say_gone(&shared.broadcaster, &shared.config.prefix, &shared.node).await;
        shared.wake.notify_one();
    }

    /// Stops this node's presence without a word, as a crash would: the
    /// other nodes keep its members until they time it out. For tests of
    /// that case.
    #[doc(hidden)]
    pub fn abandon(&self) {
        let mut state = self.shared.lock();
        state.stopped = true;
        state.views.clear();
        self.shared.wake.notify_one();
    }

    fn watcher(&self, topic: &str) -> Watcher<B> {
        let mut state = self.shared.lock();
        let view = self.shared.use_view(&mut state, topic);
        view.users += 1;
        let changes = view.changes();
        drop(state);
        Watcher::new(
            ViewUse {
                shared: Arc::clone(&self.shared),
                topic: topic.to_owned(),
            },
            changes,
        )
    }
}

impl<B: Broadcaster> Shared<B> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics with the lock held; a poisoned lock's state is
        // still whole.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_room(&self, state: &State, topic: &str) -> Result<(), PresenceError> {
        if !state.views.contains_key(topic) && state.views.len() >= self.config.max_topics {
            return Err(PresenceError::TooManyTopics {
                max_topics: self.config.max_topics,
            });
        }
        Ok(())
    }

    /// The topic's view, started if new.
    fn use_view<'s>(self: &Arc<Self>, state: &'s mut State, topic: &str) -> &'s mut View {
        let stopped = state.stopped;
        state.views.entry(topic.to_owned()).or_insert_with(|| {
            let mut view = View::new();
            if !stopped {
                let task =
                    tokio::spawn(driver::watch_topic(Arc::downgrade(self), topic.to_owned()));
                view.task = Some(task.abort_handle());
            } else {
                // Local only: nothing will speak.
                view.begin_sync(std::iter::empty());
            }
            view
        })
    }

    fn release_view(&self, topic: &str) {
        let mut state = self.lock();
        let linger = Instant::now() + self.config.heartbeat;
        if let Some(view) = state.views.get_mut(topic) {
            view.users = view.users.saturating_sub(1);
            if view.users == 0 {
                view.linger_until =
                    Some(view.linger_until.map_or(linger, |until| until.max(linger)));
            }
        }
    }

    /// The topic's members once its view is complete and, if given,
    /// includes `member` (its own join made the round trip), or once the
    /// sync timeout passed; `None` if the view is gone.
    async fn synced_snapshot(
        &self,
        topic: &str,
        member: Option<&str>,
    ) -> Option<(u64, Vec<Member>)> {
        let deadline = Instant::now() + self.config.sync_timeout;
        let mut synced = self.lock().views.get(topic)?.synced();
        let _ = tokio::time::timeout_at(deadline, synced.wait_for(|done| *done)).await;
        loop {
            let mut changes = {
                let state = self.lock();
                let view = state.views.get(topic)?;
                let (seq, members) = view.snapshot();
                let included = member.is_none_or(|id| members.iter().any(|m| m.id() == id));
                if included || Instant::now() >= deadline {
                    return Some((seq, members));
                }
                view.changes()
            };
            // Whatever the change, look again; lagging is a change too.
            let _ = tokio::time::timeout_at(deadline, changes.recv()).await;
        }
    }
}

/// One use of a topic's view, released on drop.
pub(crate) struct ViewUse<B: Broadcaster> {
    shared: Arc<Shared<B>>,
    topic: String,
}

impl<B: Broadcaster> Drop for ViewUse<B> {
    fn drop(&mut self) {
        self.shared.release_view(&self.topic);
    }
}

/// A member's presence in a topic, from [`Presence::join`]: it leaves when
/// this is dropped (with its last membership on this node).
pub struct Membership<B: Broadcaster> {
    id: String,
    view: ViewUse<B>,
}

impl<B: Broadcaster> Membership<B> {
    /// The topic.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.view.topic
    }

    /// The member's id.
    #[must_use]
    pub fn member(&self) -> &str {
        &self.id
    }
}

impl<B: Broadcaster> std::fmt::Debug for Membership<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("topic", &self.view.topic)
            .field("member", &self.id)
            .finish()
    }
}

impl<B: Broadcaster> Drop for Membership<B> {
    fn drop(&mut self) {
        let shared = &self.view.shared;
        let mut state = shared.lock();
        let topic = self.view.topic.as_str();
        let Some(members) = state.local.get_mut(topic) else {
            return;
        };
        let left = members.get_mut(&self.id).is_some_and(|local| {
            local.connections -= 1;
            local.connections == 0
        });
        if left {
            members.remove(&self.id);
            if members.is_empty() {
                state.local.remove(topic);
            }
            state.dirty.insert(topic.to_owned());
            shared.wake.notify_one();
        }
    }
}
