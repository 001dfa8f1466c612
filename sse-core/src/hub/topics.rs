//! One stream following several topics, resumable exactly on all of them
//! from one `Last-Event-ID`.
//!
//! Ids are not comparable across topics (the [`Hub`](super::Hub) numbers
//! each topic's events from its own blocks, Redis streams and NATS
//! sequences are per backend), so the stream's position is a vector: the
//! position on each topic, in the order of the topic list, carried by every
//! frame as its id (see [`Topics`] for the format).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::Broadcaster;
use crate::encode::Frame;
use crate::event::Event;
use crate::request::MAX_LAST_EVENT_ID_LEN;
use crate::source::{BoxError, IntoFrame};

/// What starts every combined id: the format's version.
const VERSION: &str = "t1";
/// `t1:` + 8 hex digits + `:`.
const PREFIX_LEN: usize = VERSION.len() + 1 + 8 + 1;

/// Why [`Topics::subscribe`] refused a topic list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicsError {
    /// The list is empty.
    NoTopic,
    /// A topic is listed twice (its events would come twice).
    Duplicate(String),
    /// The combined id of this many topics could be longer than
    /// [`MAX_LAST_EVENT_ID_LEN`](crate::MAX_LAST_EVENT_ID_LEN), so the
    /// client's reconnect would carry no id the server accepts.
    TooManyTopics {
        /// How many topics were asked for.
        topics: usize,
        /// How many fit, with this broadcaster's longest id.
        max: usize,
    },
    /// The broadcaster's ids are not bounded
    /// ([`Broadcaster::max_id_len`] is `None`: a [`Hub`](super::Hub) with
    /// [`IdMode::Keep`](super::IdMode::Keep)), so no combined id is known to
    /// fit.
    UnboundedIds,
    /// A frame's id made the combined id longer than
    /// [`MAX_LAST_EVENT_ID_LEN`](crate::MAX_LAST_EVENT_ID_LEN): possible only
    /// with ids longer than [`Broadcaster::max_id_len`] said, or with
    /// characters that need escaping (none of the built-in broadcasters
    /// gives such ids). The stream ends with this error rather than send an
    /// id the client could not send back.
    IdTooLong(usize),
}

impl fmt::Display for TopicsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTopic => write!(f, "no topic to subscribe to"),
            Self::Duplicate(topic) => write!(f, "topic {topic:?} is listed twice"),
            Self::TooManyTopics { topics, max } => write!(
                f,
                "{topics} topics: their combined id could exceed {MAX_LAST_EVENT_ID_LEN} bytes \
                 (at most {max} fit)"
            ),
            Self::IdTooLong(len) => write!(
                f,
                "a combined id of {len} bytes, over the {MAX_LAST_EVENT_ID_LEN} a header may carry"
            ),
            Self::UnboundedIds => write!(
                f,
                "the broadcaster's ids are not bounded, so a combined id may not fit \
                 in {MAX_LAST_EVENT_ID_LEN} bytes"
            ),
        }
    }
}

impl std::error::Error for TopicsError {}

type Head<E> = Pin<Box<dyn Future<Output = Result<Option<String>, E>> + Send>>;

/// One topic of the stream.
enum Slot<B: Broadcaster> {
    /// Asking the broadcaster where the topic stands, to subscribe from
    /// there.
    Head(Head<B::Error>),
    Live(B::Subscription),
}

/// A stream of several topics of one [`Broadcaster`] (the in-process
/// [`Hub`](super::Hub), `ssekit_redis::RedisHub`, `ssekit_nats::NatsHub`),
/// merged fairly, whose ids resume every topic exactly: publish it with any
/// adapter, as a single topic's subscription.
///
/// ```
/// use futures_util::StreamExt;
/// use ssekit::hub::{Hub, Topics};
/// use ssekit::Event;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let hub: Hub = Hub::new();
/// let mut feed = Topics::subscribe(&hub, &["rooms/a", "rooms/b"], None).unwrap();
/// // First an id-only frame: the client holds a position on both topics
/// // before any event.
/// let start = feed.next().await.unwrap().unwrap();
/// assert!(start.as_bytes().starts_with(b"id: t1:"));
///
/// hub.publish("rooms/b", Event::message("hello b"));
/// let frame = feed.next().await.unwrap().unwrap();
/// let text = std::str::from_utf8(frame.as_bytes()).unwrap();
/// assert!(text.ends_with(",1\ndata: hello b\n\n"), "{text}");
///
/// // A reconnect with that id resumes both topics where they were.
/// let last = text.lines().next().unwrap().strip_prefix("id: ").unwrap();
/// hub.publish("rooms/a", Event::message("missed a"));
/// let mut again = Topics::subscribe(&hub, &["rooms/a", "rooms/b"], Some(last)).unwrap();
/// let frame = again.next().await.unwrap().unwrap();
/// assert!(frame.as_bytes().ends_with(b"data: missed a\n\n"));
/// # }
/// ```
///
/// # The id
///
/// `t1:<hash>:<p1>,<p2>,…`: the format's version, 8 hex digits of a hash
/// of the topic list (FNV-1a, the same in every process), and the position
/// on each topic in the order of the list, `%` and `,` (and CR, LF, NUL)
/// escaped as `%XX`. Topic names are not in it: the reconnect asks for the
/// same list again. An id that is not of this form, or was made for
/// another list (another hash or another count), or is longer than
/// `MAX_LAST_EVENT_ID_LEN`, is *unknown*: every topic gets a gap notice
/// `unknown`, then its live events from a fresh position.
///
/// A position is the id of the topic's last event the stream delivered,
/// or, for a topic with none yet, [`Broadcaster::head`] as the stream
/// started; so the stream first sends an id-only frame (`id: …` and the
/// blank line), which per WHATWG sets the client's last event id without
/// dispatching an event, and a client that goes before any event still
/// resumes exactly. A resumed stream sends none (its client holds the id),
/// unless the broadcaster answers a topic's position with an `unknown`
/// notice (a hub made anew, a flushed stream): that topic is then
/// positioned anew from `head`, and an id-only frame with the new
/// positions follows, so that from there on it resumes exactly again.
///
/// # Gap notices
///
/// A topic's gap notice (the broadcaster's `gap` event, with the type
/// given by [`with_gap_event_type`](Self::with_gap_event_type)) gets the
/// topic's name: `{"reason":"expired","topic":"rooms/a"}`. The other
/// topics are not affected: a topic whose history no longer reaches back
/// gets its notice and what history it has, the others resume exactly.
///
/// # Cost, bounds, ending
///
/// Every frame is re-encoded with the stream's own id: one scan of its
/// lines and one allocation of its length plus the id's (at most 1 KiB)
/// per delivery, where a single topic's subscribers share one encoded
/// frame (a reference count, no copy). Measured on a 118-byte frame
/// (release build, 2 shared cores): about 150 ns per delivery through a
/// stream of three topics, against 40 ns from one topic's subscription.
/// The stream holds the subscriptions (each bounded as for one topic, with
/// its [`LagPolicy`](super::LagPolicy)), the positions, and at most one
/// gap notice per topic and one id-only frame; nothing else is buffered. Each poll looks at the topics
/// round-robin from the one after the last that yielded, so a busy topic
/// cannot starve the others. The stream ends (or fails) when any topic's
/// subscription ends (or fails), after what it yielded: at shutdown, as for
/// one topic, and otherwise the client reconnects and resumes every topic.
pub struct Topics<B: Broadcaster> {
    broadcaster: B,
    topics: Vec<String>,
    /// `t1:<hash>:`.
    prefix: String,
    /// The id-escaped position on each topic.
    positions: Vec<String>,
    /// Whether each position came from the broadcaster's `head` (not from
    /// the client): such a position is not asked for again when the
    /// broadcaster calls it unknown.
    from_head: Vec<bool>,
    slots: Vec<Slot<B>>,
    /// The id-only frame went out (or was not needed: a resume): every
    /// position is known.
    started: bool,
    done: bool,
    /// Gap notices and id-only frames: at most one per topic and one more.
    pending: VecDeque<Frame>,
    /// The resume id was unknown: its notices are made on the first poll.
    unknown: bool,
    gap_event: String,
    /// Where the next poll starts looking.
    next: usize,
}

impl<B: Broadcaster> Topics<B> {
    /// Subscribes to every topic of `topics`, resuming after
    /// `last_event_id` (pass the publisher's
    /// [`last_event_id`](crate::SsePublisher::last_event_id)): the combined
    /// id of an earlier stream of the same list resumes each topic exactly.
    ///
    /// Refuses an empty list, a topic listed twice, and a list whose id
    /// could exceed [`MAX_LAST_EVENT_ID_LEN`] (with 20-byte ids, as the
    /// [`Hub`](super::Hub) and NATS give, 48 topics fit; with Redis's 41
    /// bytes, 24). Talks to the broadcaster only when first polled: a fresh
    /// stream's positions (and so its first events) are those of then.
    pub fn subscribe<S: AsRef<str>>(
        broadcaster: &B,
        topics: &[S],
        last_event_id: Option<&str>,
    ) -> Result<Self, TopicsError> {
        if topics.is_empty() {
            return Err(TopicsError::NoTopic);
        }
        // The count first: a list from a request is checked for duplicates
        // only once it is short (the check is quadratic).
        let id_len = broadcaster.max_id_len().ok_or(TopicsError::UnboundedIds)?;
        let max = max_topics(id_len);
        if topics.len() > max {
            return Err(TopicsError::TooManyTopics {
                topics: topics.len(),
                max,
            });
        }
        let topics: Vec<String> = topics.iter().map(|t| t.as_ref().to_owned()).collect();
        for (i, topic) in topics.iter().enumerate() {
            if topics[..i].contains(topic) {
                return Err(TopicsError::Duplicate(topic.clone()));
            }
        }
        let hash = list_hash(&topics);
        let resumed = last_event_id.and_then(|id| parse(id, hash, topics.len()));
        let count = topics.len();
        let mut this = Self {
            broadcaster: broadcaster.clone(),
            prefix: format!("{VERSION}:{hash:08x}:"),
            positions: vec![String::new(); count],
            from_head: vec![false; count],
            slots: Vec::with_capacity(count),
            started: resumed.is_some(),
            done: false,
            pending: VecDeque::new(),
            unknown: last_event_id.is_some() && resumed.is_none(),
            gap_event: "gap".to_owned(),
            next: 0,
            topics,
        };
        for i in 0..count {
            let slot = match &resumed {
                Some(positions) => {
                    this.positions[i] = escape(&positions[i]);
                    Slot::Live(broadcaster.subscribe(&this.topics[i], Some(&positions[i])))
                }
                None => this.head(i),
            };
            this.slots.push(slot);
        }
        Ok(this)
    }

    /// The event type of the broadcaster's gap notices, to add the topic to
    /// (`gap` unless configured otherwise, as in
    /// [`HubConfig::with_gap_event_type`](super::HubConfig::with_gap_event_type)).
    #[must_use]
    pub fn with_gap_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.gap_event = event_type.into();
        self
    }

    /// The topics, in the order of the id's positions.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The stream's combined id now: what the client holds after the last
    /// frame yielded (`None` before the start's positions are known).
    #[must_use]
    pub fn last_event_id(&self) -> Option<String> {
        self.started.then(|| self.id())
    }

    /// Asks where topic `index` stands.
    fn head(&mut self, index: usize) -> Slot<B> {
        self.from_head[index] = true;
        let broadcaster = self.broadcaster.clone();
        let topic = self.topics[index].clone();
        Slot::Head(Box::pin(async move { broadcaster.head(&topic).await }))
    }

    fn id(&self) -> String {
        let mut id = Vec::with_capacity(self.id_len());
        self.put_id(&mut id);
        // Built of `str`s and ASCII.
        String::from_utf8(id).unwrap_or_default()
    }

    fn id_len(&self) -> usize {
        PREFIX_LEN + self.positions.iter().map(String::len).sum::<usize>() + self.positions.len()
            - 1
    }

    /// Writes the id straight into a frame: no string of its own per
    /// delivery.
    fn put_id(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        for (i, position) in self.positions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(position.as_bytes());
        }
    }

    fn gap_notice(&self, reason: &str, topic: &str) -> Frame {
        let mut data = format!(r#"{{"reason":"{reason}","topic":"#);
        json_string(&mut data, topic);
        data.push('}');
        let event = Event::message(data).try_with_event(self.gap_event.clone());
        // A type refused by the encoder (CR, LF) is no gap type of any
        // broadcaster: the notice goes as a plain message then.
        event
            .unwrap_or_else(|_| Event::message(format!(r#"{{"reason":"{reason}"}}"#)))
            .encode()
    }

    /// `frame` from topic `index`, with each id replaced by the stream's
    /// (after taking it as the topic's position) and the topic added to a
    /// gap notice. `None` if the id would exceed the header cap: only
    /// possible with ids the broadcaster's `max_id_len` did not account for.
    fn rewrite(&mut self, index: usize, frame: &Frame) -> Option<(Frame, bool)> {
        let bytes = frame.as_bytes();
        // Room for a position that grew by a few digits, so it seldom
        // reallocates.
        let mut out = Vec::with_capacity(bytes.len() + self.id_len() + 16);
        let mut is_gap = false;
        let mut unknown = false;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if text.is_empty() {
                is_gap = false;
                out.extend_from_slice(line);
            } else if let Some(value) = text.strip_prefix(b"id:") {
                let value = value.strip_prefix(b" ").unwrap_or(value);
                escape_into(&mut self.positions[index], &String::from_utf8_lossy(value));
                if self.id_len() > MAX_LAST_EVENT_ID_LEN {
                    return None;
                }
                out.extend_from_slice(b"id: ");
                self.put_id(&mut out);
                out.push(b'\n');
            } else if let Some(kind) = text.strip_prefix(b"event:") {
                let kind = kind.strip_prefix(b" ").unwrap_or(kind);
                is_gap = kind == self.gap_event.as_bytes();
                out.extend_from_slice(line);
            } else if let (true, Some(json)) = (is_gap, text.strip_prefix(b"data: {")) {
                if let Some(body) = json.strip_suffix(b"}") {
                    unknown |= body.starts_with(br#""reason":"unknown""#);
                    out.extend_from_slice(b"data: {");
                    out.extend_from_slice(body);
                    let mut topic = String::from(if body.is_empty() { "" } else { "," });
                    topic.push_str(r#""topic":"#);
                    json_string(&mut topic, &self.topics[index]);
                    out.extend_from_slice(topic.as_bytes());
                    out.extend_from_slice(b"}\n");
                } else {
                    out.extend_from_slice(line);
                }
            } else {
                out.extend_from_slice(line);
            }
        }
        Some((Frame::from_vec(out), unknown))
    }

    /// Polls the topics asking where they stand; each that knows is
    /// subscribed from there. Once every position is known, an id-only
    /// frame with them goes out: at the start, and after a topic is
    /// positioned anew.
    fn poll_heads(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut waiting = false;
        let mut positioned = false;
        for i in 0..self.slots.len() {
            let Slot::Head(head) = &mut self.slots[i] else {
                continue;
            };
            match head.as_mut().poll(cx) {
                Poll::Pending => waiting = true,
                Poll::Ready(Ok(position)) => {
                    // No position to give (ids of the publisher's own, none
                    // kept): live, with an empty position, which resumes as
                    // unknown.
                    self.positions[i] = position.as_deref().map(escape).unwrap_or_default();
                    self.slots[i] = Slot::Live(
                        self.broadcaster
                            .subscribe(&self.topics[i], position.as_deref()),
                    );
                    positioned = true;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(Box::new(error))),
            }
        }
        if waiting && !self.started {
            return Poll::Pending;
        }
        if positioned && !waiting {
            self.started = true;
            let mut frame = b"id: ".to_vec();
            frame.extend_from_slice(self.id().as_bytes());
            frame.extend_from_slice(b"\n\n");
            self.pending.push_back(Frame::from_vec(frame));
        }
        Poll::Ready(Ok(()))
    }
}

// Nothing of the stream is pinned in place: the subscriptions are `Unpin`
// and the head futures boxed; the broadcaster itself is only cloned.
impl<B: Broadcaster> Unpin for Topics<B> {}

impl<B: Broadcaster> Stream for Topics<B> {
    type Item = Result<Frame, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.unknown {
            this.unknown = false;
            let notices: Vec<Frame> = this
                .topics
                .iter()
                .map(|topic| this.gap_notice("unknown", topic))
                .collect();
            this.pending.extend(notices);
        }
        if let Some(frame) = this.pending.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        match this.poll_heads(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => {
                this.done = true;
                return Poll::Ready(Some(Err(error)));
            }
            Poll::Ready(Ok(())) => {}
        }
        if let Some(frame) = this.pending.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let count = this.slots.len();
        for k in 0..count {
            let i = (this.next + k) % count;
            let Slot::Live(subscription) = &mut this.slots[i] else {
                continue;
            };
            let item = match Pin::new(subscription).poll_next(cx) {
                Poll::Pending => continue,
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(item)) => item,
            };
            this.next = (i + 1) % count;
            let frame = match item.into_frame() {
                Ok(frame) => frame,
                Err(error) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
            };
            let Some((frame, unknown)) = this.rewrite(i, &frame) else {
                this.done = true;
                let error = TopicsError::IdTooLong(this.id_len());
                return Poll::Ready(Some(Err(Box::new(error))));
            };
            if unknown && !this.from_head[i] {
                // The broadcaster does not know the client's position on
                // this topic (a hub that restarted, a flushed stream): its
                // stream goes live from some moment the client cannot name.
                // Positioned anew from `head`, the topic resumes exactly
                // again from the id-only frame that follows.
                this.slots[i] = this.head(i);
                cx.waker().wake_by_ref();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        Poll::Pending
    }
}

impl<B: Broadcaster> fmt::Debug for Topics<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topics")
            .field("topics", &self.topics)
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

/// How many topics fit in the header cap with ids of `id_len` bytes
/// (positions of the built-in broadcasters need no escaping).
fn max_topics(id_len: usize) -> usize {
    // PREFIX + n ids + (n - 1) commas <= cap.
    (MAX_LAST_EVENT_ID_LEN - PREFIX_LEN + 1) / (id_len + 1)
}

/// FNV-1a over the topics, each with its length first (so `["a,b"]` and
/// `["a", "b"]` differ), folded to 32 bits: the same in every process.
fn list_hash(topics: &[String]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for topic in topics {
        eat(&(topic.len() as u64).to_le_bytes());
        eat(topic.as_bytes());
    }
    (hash ^ (hash >> 32)) as u32
}

/// The positions in `id`, if it is a combined id of this list.
fn parse(id: &str, hash: u32, count: usize) -> Option<Vec<String>> {
    if id.len() > MAX_LAST_EVENT_ID_LEN {
        return None;
    }
    let rest = id.strip_prefix(VERSION)?.strip_prefix(':')?;
    let (tag, positions) = rest.split_once(':')?;
    if tag.len() != 8 || u32::from_str_radix(tag, 16).ok()? != hash {
        return None;
    }
    let positions: Vec<String> = positions.split(',').map(unescape).collect::<Option<_>>()?;
    (positions.len() == count && positions.iter().all(|p| !p.is_empty())).then_some(positions)
}

fn escape(position: &str) -> String {
    let mut out = String::with_capacity(position.len());
    escape_into(&mut out, position);
    out
}

/// Replaces `out` with `position` escaped, in the string's own buffer.
fn escape_into(out: &mut String, position: &str) {
    out.clear();
    for c in position.chars() {
        match c {
            '%' | ',' | '\r' | '\n' | '\0' => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let byte = c as u8;
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            c => out.push(c),
        }
    }
}

fn unescape(position: &str) -> Option<String> {
    let bytes = position.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = position.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Appends `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_escape_and_parse_back() {
        for position in ["1", "1700000000000-3", "a,b", "50%", "", "é,%2C"] {
            assert_eq!(unescape(&escape(position)).as_deref(), Some(position));
        }
        let topics = vec!["a".to_owned(), "b".to_owned()];
        let hash = list_hash(&topics);
        let id = format!("t1:{hash:08x}:{},{}", escape("x,y"), escape("7"));
        assert_eq!(
            parse(&id, hash, 2),
            Some(vec!["x,y".to_owned(), "7".to_owned()])
        );
        for bad in [
            String::new(),
            "t1".to_owned(),
            format!("t2:{hash:08x}:1,2"),
            format!("t1:{:08x}:1,2", hash ^ 1),
            format!("t1:{hash:08x}:1"),
            format!("t1:{hash:08x}:1,2,3"),
            format!("t1:{hash:08x}:1,"),
            format!("t1:{hash:08x}:1,%G1"),
            format!("t1:{hash:08x}:1,%"),
            format!("t1:{hash:08x}:1,%FF"),
            format!("t1:{hash:08x}:{}", "9,".repeat(600)),
            "t1:+1234567:1,2".to_owned(),
        ] {
            assert_eq!(parse(&bad, hash, 2), None, "{bad}");
        }
        assert_ne!(
            list_hash(&["a,b".to_owned()]),
            list_hash(&["a".to_owned(), "b".to_owned()])
        );
        assert_ne!(
            list_hash(&topics),
            list_hash(&["b".to_owned(), "a".to_owned()])
        );
    }

    #[test]
    fn the_longest_id_of_the_most_topics_fits() {
        for id_len in [1, 20, 41, 100] {
            let n = max_topics(id_len);
            let longest = PREFIX_LEN + n * id_len + (n - 1);
            assert!(longest <= MAX_LAST_EVENT_ID_LEN, "{id_len}: {longest}");
            assert!(
                longest + id_len + 1 > MAX_LAST_EVENT_ID_LEN,
                "{id_len}: one more fits"
            );
        }
        assert_eq!(max_topics(20), 48);
        assert_eq!(max_topics(41), 24);
    }
}
