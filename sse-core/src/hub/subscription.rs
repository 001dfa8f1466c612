//! One subscriber's bounded queue, and the stream that drains it.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::config::SharedConfig;
use super::replay::{Page, PageRequest, Replay};
use super::{lock, Filter, LagPolicy};
use crate::encode::Frame;

pub(crate) struct Subscriber {
    pub(crate) queue: Arc<Queue>,
    pub(crate) filter: Filter,
}

/// The frames a topic published lately, shared by its subscribers without a
/// filter, each reading it with a cursor of its own: publishing appends a
/// frame and takes the list of tasks waiting for one, whatever the number of
/// subscribers, and a subscriber that fell more than the queue bound behind
/// finds out when it next reads (as tokio's broadcast channel does).
#[derive(Default)]
pub(crate) struct Log {
    /// The subscribers' queue bound: frames older than the newest
    /// `capacity` are gone, and a cursor before them has lagged.
    capacity: usize,
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    frames: VecDeque<Frame>,
    /// The position of `frames[0]`.
    base: u64,
    /// The tasks of subscribers that found nothing new, for the next push;
    /// a subscriber that leaves first empties its slot (a waker keeps its
    /// task's memory alive), which `free` then lends to the next one.
    waiters: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Counts the pushes that took `waiters`: a subscriber already waiting in
    /// this round updates its slot instead of adding another.
    round: u64,
}

/// What a read of the log found.
pub(crate) enum Read {
    Frame(Frame),
    /// The cursor fell behind the oldest frame kept, by this many frames.
    Lagged(u64),
    /// Nothing new: the task waits for the next push.
    Pending,
}

impl Log {
    pub(crate) fn new(queue: usize) -> Self {
        Self {
            capacity: queue.max(1),
            state: Mutex::default(),
        }
    }

    /// Appends `frame`, and swaps the waiting tasks into `wake` (empty, so
    /// the log keeps its capacity for the next round): the caller wakes them
    /// once it holds no lock.
    pub(crate) fn push(&self, frame: Frame, wake: &mut Vec<Option<Waker>>) {
        debug_assert!(
            wake.is_empty(),
            "whatever is in it would become the log's waiters"
        );
        let mut log = lock(&self.state);
        log.frames.push_back(frame);
        if log.frames.len() > self.capacity {
            log.frames.pop_front();
            log.base += 1;
        }
        if !log.waiters.is_empty() {
            std::mem::swap(&mut log.waiters, wake);
            log.free.clear();
            log.round += 1;
        }
    }

    /// The position the next frame will have.
    pub(crate) fn end(&self) -> u64 {
        let log = lock(&self.state);
        log.base + log.frames.len() as u64
    }

    /// The frame at `cursor` (advancing it), or why there is none; on
    /// [`Read::Pending`], `waker` waits for the next push, in the slot
    /// `waiting` remembers.
    fn read(&self, cursor: &mut u64, waiting: &mut Option<(u64, usize)>, waker: &Waker) -> Read {
        let mut log = lock(&self.state);
        if *cursor < log.base {
            return Read::Lagged(log.base - *cursor);
        }
        let index = usize::try_from(*cursor - log.base).unwrap_or(usize::MAX);
        if let Some(frame) = log.frames.get(index) {
            let frame = frame.clone();
            *cursor += 1;
            return Read::Frame(frame);
        }
        let round = log.round;
        match *waiting {
            Some((registered, slot)) if registered == round => match &mut log.waiters[slot] {
                Some(waiter) if waiter.will_wake(waker) => {}
                waiter => *waiter = Some(waker.clone()),
            },
            _ => {
                let slot = match log.free.pop() {
                    Some(slot) => {
                        log.waiters[slot] = Some(waker.clone());
                        slot
                    }
                    None => {
                        log.waiters.push(Some(waker.clone()));
                        log.waiters.len() - 1
                    }
                };
                *waiting = Some((round, slot));
            }
        }
        Read::Pending
    }

    /// Empties the slot `read` gave a subscriber that no longer waits, if
    /// no push has taken it yet.
    fn forget(&self, (round, slot): (u64, usize)) {
        let mut log = lock(&self.state);
        if log.round == round && log.waiters[slot].take().is_some() {
            log.free.push(slot);
        }
    }

    /// The frames from `cursor` on that are still kept, and how many before
    /// them are not.
    fn from(&self, cursor: u64) -> (Vec<Frame>, u64) {
        let log = lock(&self.state);
        let missed = log.base.saturating_sub(cursor);
        let skip = usize::try_from(cursor.saturating_sub(log.base)).unwrap_or(usize::MAX);
        (log.frames.iter().skip(skip).cloned().collect(), missed)
    }

    /// How many frames from `cursor` on are still kept.
    fn pending(&self, cursor: u64) -> usize {
        let log = lock(&self.state);
        let end = log.base + log.frames.len() as u64;
        usize::try_from(end - cursor.max(log.base)).unwrap_or(usize::MAX)
    }
}

pub(crate) struct Queue {
    config: Arc<SharedConfig>,
    state: Mutex<QueueState>,
}

/// What a subscriber has queued: its replay, if it resumed, then `frames`
/// (its own: frames that passed its filter, what was due from the log when
/// it closed), then, without a filter, the topic's log from `cursor` on.
#[derive(Default)]
struct QueueState {
    /// Boxed: most subscribers never resume, and pay a pointer for it.
    replay: Option<Box<Replay>>,
    frames: VecDeque<Frame>,
    log: Option<Arc<Log>>,
    cursor: u64,
    /// Where its task waits in the log, if it does.
    waiting: Option<(u64, usize)>,
    waker: Option<Waker>,
    /// No more frames will be pushed: end after draining `frames` (which
    /// then hold the closing frame, if any, last).
    closed: bool,
    /// Frames dropped under `LagPolicy::DropOldest` not yet reported.
    missed: u64,
}

impl QueueState {
    /// Ends an unfinished replay after the page it holds. Live frames after
    /// it would hide a gap, so none follows: the client resumes from the
    /// last one it got.
    fn cut_replay_short(&mut self) {
        if let Some(replay) = &mut self.replay {
            replay.done = true;
        }
        self.frames.clear();
        self.log = None;
        self.missed = 0;
    }

    /// Takes its waker out of the log: it waits no longer.
    fn forget_waiting(&mut self) {
        if let (Some(waiting), Some(log)) = (self.waiting.take(), &self.log) {
            log.forget(waiting);
        }
    }
}

/// What polling a queue found.
enum Polled {
    Frame(Frame),
    End,
    /// Fell behind under [`LagPolicy::Disconnect`]: ends, and leaves its topic.
    Lagged,
    Pending,
    /// Its replay needs the next page of the topic's history.
    NeedsPage(PageRequest),
}

impl Queue {
    pub(crate) fn new(config: Arc<SharedConfig>) -> Self {
        Self {
            config,
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Queues a frame that passed the subscriber's filter.
    pub(crate) fn push(&self, frame: Frame) -> Pushed {
        let mut state = lock(&self.state);
        let queued = self.make_room(&mut state);
        if queued {
            state.frames.push_back(frame);
        }
        Pushed::taking_waker(queued, &mut state)
    }

    /// Applies the lag policy when the queue is full; false when the
    /// subscriber is (or was already) closed.
    fn make_room(&self, state: &mut QueueState) -> bool {
        if state.closed {
            return false;
        }
        if state.frames.len() >= self.config.queue {
            match self.config.lag_policy {
                LagPolicy::Disconnect => {
                    state.closed = true;
                    crate::observe::lag_disconnect();
                    return false;
                }
                LagPolicy::DropOldest => {
                    state.frames.pop_front();
                    state.missed += 1;
                }
            }
        }
        true
    }

    /// Follows the topic's log from its current end. Called under the topic's
    /// lock, so no publish falls between the end read and the registration.
    pub(crate) fn attach(&self, log: Arc<Log>) {
        let mut state = lock(&self.state);
        state.cursor = log.end();
        state.log = Some(log);
    }

    /// Queues a frame ahead of live ones (a gap notice on joining).
    pub(crate) fn preload(&self, frame: Frame) {
        lock(&self.state).frames.push_back(frame);
    }

    /// Replays the topic's history after entry `after` through entry
    /// `through` ahead of live frames, fetched a page (the queue bound) at a
    /// time as the subscriber drains it.
    pub(crate) fn begin_replay(&self, after: u64, through: u64, filter: Option<Filter>) {
        lock(&self.state).replay = Some(Box::new(Replay::new(after, through, filter)));
    }

    /// Takes in the page a [`Polled::NeedsPage`] asked for.
    fn receive_page(&self, page: Page) {
        let mut state = lock(&self.state);
        if let Some(replay) = &mut state.replay {
            replay.receive(page, || self.config.gap("expired", None).encode());
        }
    }

    /// Ends the queue after what it holds, then `last`; returns the task to
    /// wake, as [`Pushed::wake`]. Closing a closed queue changes nothing.
    #[must_use]
    pub(crate) fn close(&self, last: Option<Frame>) -> Option<Waker> {
        let mut state = lock(&self.state);
        if state.closed {
            return None;
        }
        state.closed = true;
        state.forget_waiting();
        if state.replay.as_ref().is_some_and(|replay| !replay.done) {
            state.cut_replay_short();
        } else if let Some(log) = state.log.take() {
            // Nothing more comes from the log: copy out what is still due.
            let (due, missed) = log.from(state.cursor);
            match (missed, self.config.lag_policy) {
                // Fell behind: it ends after what it has read.
                (1.., LagPolicy::Disconnect) => {}
                (missed, _) => {
                    state.missed += missed;
                    state.frames.extend(due);
                }
            }
        }
        state.frames.extend(last);
        state.waker.take()
    }

    fn poll(&self, waker: &Waker) -> Polled {
        let mut state = lock(&self.state);
        let state = &mut *state;
        if let Some(replay) = &mut state.replay {
            if let Some(frame) = replay.page.pop_front() {
                return Polled::Frame(frame);
            }
            if !replay.done {
                if !state.closed {
                    return Polled::NeedsPage(replay.request(self.config.queue));
                }
                // Disconnected for lagging mid-replay.
                state.cut_replay_short();
            }
            state.replay = None;
        }
        if state.missed > 0 {
            let missed = std::mem::take(&mut state.missed);
            return Polled::Frame(self.config.gap("lagged", Some(missed)).encode());
        }
        if let Some(frame) = state.frames.pop_front() {
            return Polled::Frame(frame);
        }
        if let Some(log) = &state.log {
            match log.read(&mut state.cursor, &mut state.waiting, waker) {
                Read::Frame(frame) => return Polled::Frame(frame),
                Read::Lagged(missed) => match self.config.lag_policy {
                    LagPolicy::Disconnect => {
                        state.closed = true;
                        state.log = None;
                        crate::observe::lag_disconnect();
                        return Polled::Lagged;
                    }
                    LagPolicy::DropOldest => {
                        state.cursor += missed;
                        return Polled::Frame(self.config.gap("lagged", Some(missed)).encode());
                    }
                },
                Read::Pending => {}
            }
        } else if state.closed {
            return Polled::End;
        }
        // Kept here too: closing the queue wakes it.
        match &mut state.waker {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Polled::Pending
    }
}

/// What a push did.
#[must_use]
pub(crate) struct Pushed {
    /// False when the subscriber must leave its topic (closed, or
    /// disconnected for lagging).
    pub(crate) queued: bool,
    /// The subscriber's task, to be woken once the pusher holds no lock: a
    /// waker runs code of its own, which may poll the subscription or use
    /// the hub on the spot.
    pub(crate) wake: Option<Waker>,
}

impl Pushed {
    /// A refused push wakes the subscriber too: if it was just disconnected
    /// for lagging, its stream has an end to report.
    fn taking_waker(queued: bool, state: &mut QueueState) -> Self {
        Self {
            queued,
            wake: state.waker.take(),
        }
    }
}

/// A topic as its subscriptions see it (the hub's topics, whatever their key
/// type: `Subscription` is not generic).
pub(crate) trait LeaveTopic: Send + Sync {
    fn leave(&self, id: u64);

    /// The next page of a resuming subscriber's replay.
    fn replay_page(&self, request: PageRequest) -> Page;
}

/// Where a subscription is registered: which topic, under which id.
pub(crate) struct Leave {
    pub(crate) topic: Arc<dyn LeaveTopic>,
    pub(crate) id: u64,
}

/// A subscriber's stream of frames: publish it as a response. Dropping it
/// (as the framework does when the client goes away) leaves the topic.
pub struct Subscription {
    queue: Arc<Queue>,
    leave: Option<Leave>,
}

impl Subscription {
    pub(crate) fn new(queue: Arc<Queue>, leave: Leave) -> Self {
        Self {
            queue,
            leave: Some(leave),
        }
    }

    /// A subscription to nothing: for a hub that has shut down.
    pub(crate) fn detached(queue: Arc<Queue>) -> Self {
        Self { queue, leave: None }
    }

    /// How many frames wait in this subscriber's queue: never more than the
    /// configured queue size, plus, while it resumes, one page (the queue
    /// size) of replayed history fetched as it reads, a gap notice, or a
    /// shutdown's final event.
    pub fn queued(&self) -> usize {
        let state = lock(&self.queue.state);
        state.replay.as_ref().map_or(0, |replay| replay.page.len())
            + state.frames.len()
            + state
                .log
                .as_ref()
                .map_or(0, |log| log.pending(state.cursor))
    }
}

impl Stream for Subscription {
    type Item = Frame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        loop {
            return match self.queue.poll(cx.waker()) {
                Polled::Frame(frame) => Poll::Ready(Some(frame)),
                Polled::End => Poll::Ready(None),
                Polled::Lagged => {
                    // Leaves at once (the queue is unlocked by now), not when
                    // the framework gets round to dropping the stream.
                    if let Some(Leave { topic, id }) = self.leave.take() {
                        topic.leave(id);
                    }
                    Poll::Ready(None)
                }
                Polled::Pending => Poll::Pending,
                Polled::NeedsPage(request) => {
                    // Fetched with the queue unlocked: the topic's lock comes
                    // first, as when publishing.
                    let page = match &self.leave {
                        Some(Leave { topic, .. }) => topic.replay_page(request),
                        None => Page {
                            frames: Vec::new(),
                            expired: false,
                            last: request.after,
                            done: true,
                        },
                    };
                    self.queue.receive_page(page);
                    continue;
                }
            };
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Before leaving: its waker must not keep its task's memory alive
        // until the topic's next publish, however long that takes.
        lock(&self.queue.state).forget_waiting();
        if let Some(Leave { topic, id }) = self.leave.take() {
            topic.leave(id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;
    use crate::hub::Hub;
    use crate::Event;

    /// A publish appends to the topic's log: it never takes a subscriber's
    /// own lock, so one that is busy (or stuck) holds up no publisher.
    #[test]
    fn publishing_never_waits_on_a_subscribers_lock() {
        let hub: Hub = Hub::new();
        let subscription = hub.subscribe("t", None);
        let held = lock(&subscription.queue.state);
        let (done, published) = mpsc::channel();
        let publisher = hub.clone();
        std::thread::spawn(move || {
            for n in 0..10 {
                publisher.publish("t", Event::message(n.to_string()));
            }
            done.send(()).unwrap();
        });
        // Generous: it takes microseconds.
        published
            .recv_timeout(Duration::from_secs(30))
            .expect("a publish waited for a subscriber's lock");
        drop(held);
        assert_eq!(subscription.queued(), 10);
    }

    #[derive(Default)]
    struct Counted(AtomicUsize);

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waiting subscriber that leaves before anything is published lets
    /// go of its waker at once (which holds its task's memory), and its
    /// slot serves the next one: churn with no publish holds nothing.
    #[test]
    fn a_subscriber_that_leaves_lets_go_of_its_waker() {
        let hub: Hub = Hub::new();
        let counted = Arc::new(Counted::default());
        let _stays = hub.subscribe("t", None);
        for _ in 0..1000 {
            let mut subscription = hub.subscribe("t", None);
            let waker = Waker::from(counted.clone());
            let polled = Pin::new(&mut subscription).poll_next(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
            drop(waker);
            // The log holds it while it waits, and the queue a copy (for closing).
            assert_eq!(Arc::strong_count(&counted), 3);
            let log = subscription
                .queue
                .state
                .lock()
                .unwrap()
                .log
                .clone()
                .unwrap();
            drop(subscription);
            assert_eq!(
                Arc::strong_count(&counted),
                1,
                "let go of with the subscription"
            );
            assert!(lock(&log.state).waiters.len() <= 1, "its slot is reused");
        }
    }

    /// Polled again before anything was published (by another task, say), a
    /// waiting subscriber keeps one place in the log's waiters, with the
    /// newest waker: one publish wakes that one, once.
    #[test]
    fn a_subscriber_polled_twice_waits_once_with_its_newest_waker() {
        let hub: Hub = Hub::new();
        let mut subscription = hub.subscribe("t", None);
        let (first, second) = (Arc::new(Counted::default()), Arc::new(Counted::default()));
        for counted in [&first, &second, &second] {
            let waker = Waker::from(counted.clone());
            let polled = Pin::new(&mut subscription).poll_next(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
        }
        hub.publish("t", Event::message("one"));
        assert_eq!(first.0.load(Ordering::SeqCst), 0, "replaced");
        assert_eq!(second.0.load(Ordering::SeqCst), 1, "woken once");
        let log = subscription
            .queue
            .state
            .lock()
            .unwrap()
            .log
            .clone()
            .unwrap();
        assert!(lock(&log.state).waiters.is_empty(), "taken by the publish");
    }
}
