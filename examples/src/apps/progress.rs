//! Job progress: `POST /jobs` starts a job, `GET /jobs/stream?id=N` follows it
//! (several pages may watch one job, and a reconnecting page resumes), ending
//! with a `complete` event. After that, a reconnect is answered 204.
//!
//! On a shared broadcaster ([`Progress::with_redis`], [`Progress::with_nats`])
//! a job started on one node can be followed from any node: its events are
//! the job's topic, and the "job finished" records are a topic every node
//! follows. A job runs on the node that started it: if that node dies, the
//! job stops there, and its followers get a `lost` event once nothing came
//! for [`Progress::stall`], then their stream ends.

use std::any::TypeId;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use ssekit::decode::{Decoded, Decoder};
use ssekit::hub::{Broadcaster, Hub};
use ssekit::{BoxError, Event, Frame, IntoFrame, PublishOptions, SsePublisher};
use ssekit_nats::NatsHub;
use ssekit_redis::RedisHub;

use crate::{App, Backplane, JsonReply, OnBroadcaster};

/// How long a finished job is remembered as finished (a reconnect after its
/// `complete` then gets 204).
const KEEP_FINISHED: Duration = Duration::from_secs(60);
const MAX_STEPS: u32 = 1000;
/// Jobs running on one node at once; more are refused with 503, so a flood
/// of `POST`s cannot spawn tasks without bound.
const MAX_RUNNING: usize = 1000;
/// Finished records one node holds at most, whatever the rate jobs finish
/// at across the nodes: the oldest go first (a reconnect after such a job's
/// end then gets `lost` after [`Progress::stall`] instead of 204).
const MAX_FINISHED: usize = 10_000;
/// The topic of the "job finished" records. Job ids are 32 hex digits, so no
/// job's topic is named so.
const FINISHED: &str = "finished";
/// The length of a job id: 128 random bits in lowercase hex.
const JOB_ID_LEN: usize = 32;

/// Where the jobs' events are kept, whichever the broadcaster: under the name
/// `progress` (Redis keys `progress:*`, the NATS stream `PROGRESS` with
/// subjects `progress.>`), every event of the longest job (and so the last
/// 1 001 finished records), for 10 minutes: longer than the longest job at
/// the binary's 250 ms step (1 000 steps, 250 s) plus [`KEEP_FINISHED`], so
/// a late watcher of a job gets it from its start, and a finished job's
/// events go by themselves (with slower steps, a late watcher of a long job
/// gets an `expired` gap, then what is left).
pub const BACKPLANE: Backplane = Backplane {
    name: "progress",
    history: MAX_STEPS as usize + 1,
    max_age: Some(Duration::from_secs(600)),
};

/// The job-progress application, on any [`Broadcaster`]: this process's
/// [`Hub`] ([`Progress::new`]), or a hub shared by every process on a broker
/// ([`Progress::with_redis`], [`Progress::with_nats`]). Build it inside a
/// Tokio runtime: it spawns the task that follows the finished records.
#[derive(Clone)]
pub struct Progress<B = Hub> {
    jobs: B,
    /// The `Last-Event-ID` before every event of this broadcaster, from
    /// which a first connection replays a job.
    from_start: &'static str,
    finished: Arc<Mutex<Finished>>,
    running: Arc<AtomicUsize>,
    step: Duration,
    stop: tokio::sync::watch::Sender<bool>,
}

/// What `POST /jobs` takes.
#[derive(Deserialize, Default)]
pub struct JobRequest {
    /// How many steps the job takes (default 20).
    pub steps: Option<u32>,
}

/// A "job finished" record, as published on the [`FINISHED`] topic.
#[derive(Serialize, Deserialize)]
struct Record {
    job: String,
    /// The id of the job's `complete` event.
    last: String,
    /// When it finished, in milliseconds since the Unix epoch (so a node
    /// that reads it later forgets it when the others do).
    at: u64,
}

/// The finished jobs a node knows of, each until [`KEEP_FINISHED`] after it
/// finished, at most [`MAX_FINISHED`].
#[derive(Default)]
struct Finished {
    last_ids: HashMap<String, String>,
    /// In the order they were learnt, with when to forget them.
    order: VecDeque<(Instant, String)>,
}

impl Finished {
    fn insert(&mut self, record: Record) {
        let age = Duration::from_millis(now_ms().saturating_sub(record.at));
        let Some(left) = KEEP_FINISHED.checked_sub(age) else {
            return; // already forgotten everywhere else
        };
        self.prune();
        if self.last_ids.contains_key(&record.job) {
            return;
        }
        if self.order.len() == MAX_FINISHED {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.last_ids.remove(&oldest);
            }
        }
        self.order
            .push_back((Instant::now() + left, record.job.clone()));
        self.last_ids.insert(record.job, record.last);
    }

    fn prune(&mut self) {
        let now = Instant::now();
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            if let Some((_, job)) = self.order.pop_front() {
                self.last_ids.remove(&job);
            }
        }
    }

    fn last_id(&mut self, job: &str) -> Option<String> {
        self.prune();
        self.last_ids.get(job).cloned()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A new job id: 128 bits from the operating system's randomness, so ids are
/// unique across nodes without the nodes agreeing on anything (a counter
/// would start at 1 on each).
fn new_job_id() -> Option<String> {
    let mut bytes = [0u8; JOB_ID_LEN / 2];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `id` is a job id as [`new_job_id`] makes them: checked before the
/// broadcaster sees it, so clients cannot make topics of any name (nor reach
/// [`FINISHED`]). An id of this form that no job has costs a subscription
/// while its request is open, at most [`Progress::stall`], and leaves
/// nothing behind: no event is ever published to it.
fn is_job_id(id: &str) -> bool {
    id.len() == JOB_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Progress {
    /// Jobs in this process, advancing one step every `step`.
    pub fn new(step: Duration) -> Self {
        Self::on(BACKPLANE.local(), step)
    }
}

impl Progress<RedisHub> {
    /// Jobs shared by every process connected to the Redis at `url`, each
    /// advancing one step every `step` on the node that started it: any node
    /// serves any job's followers, and a follower resumes on any node.
    pub async fn with_redis(url: &str, step: Duration) -> Result<Self, ssekit_redis::Error> {
        Ok(Self::on(BACKPLANE.redis(url).await?, step))
    }
}

impl Progress<NatsHub> {
    /// Jobs shared by every process connected to the NATS server (with
    /// JetStream) at `url`, as [`Progress::with_redis`] on Redis.
    pub async fn with_nats(url: &str, step: Duration) -> Result<Self, ssekit_nats::Error> {
        Ok(Self::on(BACKPLANE.nats(url).await?, step))
    }
}

impl<B: Broadcaster> Progress<B> {
    /// Jobs on `broadcaster` (a topic per job, and the topic `finished`),
    /// advancing one step every `step`. Spawns the task that follows the
    /// finished records, until [`App::shutdown`].
    pub fn on(broadcaster: B, step: Duration) -> Self {
        // Each broadcaster names "before the first event" its own way: Redis
        // Stream ids are `ms-seq`, and `0` is not one of them.
        let from_start = if TypeId::of::<B>() == TypeId::of::<RedisHub>() {
            "0-0"
        } else {
            "0"
        };
        let (stop, _) = tokio::sync::watch::channel(false);
        let progress = Self {
            jobs: broadcaster,
            from_start,
            finished: Arc::default(),
            running: Arc::default(),
            step,
            stop,
        };
        tokio::spawn(progress.clone().follow_finished());
        progress
    }

    /// How long a follower waits for a job's next event before it is told
    /// the job is `lost` (its node gone): many steps, and never under 10 s,
    /// so a busy node or broker is not taken for a dead one.
    pub fn stall(&self) -> Duration {
        (self.step * 8).max(Duration::from_secs(10))
    }

    /// Learns every job that finishes on any node from the [`FINISHED`]
    /// topic, from its kept history on: each node must know, to answer a
    /// reconnect after a job's end 204 whichever node ran it. (A topic every
    /// node follows costs one subscription per node; reading a job's own
    /// history on each reconnect would cost a broker round trip per request
    /// and could not tell "finished" from "not yet published".) Resubscribes
    /// after its last record if the stream ends (a broker away).
    async fn follow_finished(self) {
        let mut stop = self.stop.subscribe();
        let mut after = self.from_start.to_owned();
        while !*stop.borrow() {
            let mut records = self.jobs.subscribe(FINISHED, Some(&after));
            let mut decoder = Decoder::new();
            loop {
                let item = tokio::select! {
                    item = records.next() => item,
                    _ = stop.changed() => return,
                };
                let Some(Ok(frame)) = item.map(IntoFrame::into_frame) else {
                    break;
                };
                let Ok(decoded) = decoder.feed(frame.as_bytes()) else {
                    break;
                };
                for event in decoded {
                    let Decoded::Event(event) = event else {
                        continue;
                    };
                    if !event.last_event_id.is_empty() {
                        after.clone_from(&event.last_event_id);
                    }
                    if event.event_type != "finished" {
                        continue; // a gap notice: what is left follows
                    }
                    if let Ok(record) = serde_json::from_str::<Record>(&event.data) {
                        lock(&self.finished).insert(record);
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn start(&self, steps: u32) -> Result<String, JsonReply> {
        let job = new_job_id().ok_or_else(|| {
            JsonReply::error(http::StatusCode::INTERNAL_SERVER_ERROR, "no randomness")
        })?;
        if self.running.fetch_add(1, Ordering::Relaxed) >= MAX_RUNNING {
            self.running.fetch_sub(1, Ordering::Relaxed);
            return Err(JsonReply::error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "too many jobs running on this node",
            ));
        }
        let (jobs, finished, running, step, id) = (
            self.jobs.clone(),
            self.finished.clone(),
            self.running.clone(),
            self.step,
            job.clone(),
        );
        tokio::spawn(async move {
            run_job(&jobs, &id, steps, step, &finished).await;
            running.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(job)
    }
}

/// Runs job `id` to its end, on this node. A publish the broadcaster refuses
/// (a broker away past its timeout) stops the job: its followers would
/// otherwise see a step missing; they get `lost` instead.
async fn run_job<B: Broadcaster>(
    jobs: &B,
    id: &str,
    steps: u32,
    step: Duration,
    finished: &Mutex<Finished>,
) {
    for done in 1..=steps {
        tokio::time::sleep(step).await;
        let percent = done * 100 / steps;
        let data = serde_json::json!({ "step": done, "steps": steps, "percent": percent });
        let Ok(event) = Event::json(&data).map(|e| e.with_event("progress")) else {
            return;
        };
        if let Err(error) = jobs.publish(id, event).await {
            eprintln!("job {id} stopped at step {done}: {error}");
            return;
        }
    }
    let complete = Event::json(&serde_json::json!({ "result": format!("job {id} done") }))
        .map(|e| e.with_event("complete"));
    let Ok(event) = complete else { return };
    let last = match jobs.publish(id, event).await {
        Ok(last) => last,
        Err(error) => {
            eprintln!("job {id} stopped at its end: {error}");
            return;
        }
    };
    let record = Record {
        job: id.to_owned(),
        last,
        at: now_ms(),
    };
    let Ok(event) = Event::json(&record).map(|e| e.with_event("finished")) else {
        return;
    };
    match jobs.publish(FINISHED, event).await {
        // Known here at once, not only once the record comes back.
        Ok(_) => lock(finished).insert(record),
        Err(error) => eprintln!("job {id}: its end not recorded: {error}"),
    }
}

fn lock(finished: &Mutex<Finished>) -> std::sync::MutexGuard<'_, Finished> {
    finished.lock().unwrap_or_else(|e| e.into_inner())
}

/// `subscription`, until nothing came for `stall` (the time the follower
/// spends reading is not counted): then it ends, after a `lost` event
/// unless the job is known to have finished (the follower has its
/// `complete`).
fn until_stalled<S>(
    subscription: S,
    stall: Duration,
    job: String,
    finished: Arc<Mutex<Finished>>,
) -> impl Stream<Item = Result<Frame, BoxError>> + Send + 'static
where
    S: Stream<Item: IntoFrame> + Send + Unpin + 'static,
{
    futures_util::stream::unfold(Some(subscription), move |state| {
        let (job, finished) = (job.clone(), finished.clone());
        async move {
            let mut subscription = state?;
            match tokio::time::timeout(stall, subscription.next()).await {
                Ok(Some(item)) => Some((item.into_frame(), Some(subscription))),
                Ok(None) => None,
                Err(_) if lock(&finished).last_id(&job).is_some() => None,
                Err(_) => {
                    let reason = format!(
                        "no progress for {} s: the node running the job may be gone",
                        stall.as_secs()
                    );
                    let lost = Event::json(&serde_json::json!({ "reason": reason }))
                        .map(|e| e.with_event("lost").encode())
                        .map_err(BoxError::from);
                    Some((lost, None))
                }
            }
        }
    })
}

/// Names the progress example for [`crate::main_on`]: its jobs on the
/// broadcaster the command line chose, one step every `.0`.
pub struct ProgressOn(pub Duration);

impl OnBroadcaster for ProgressOn {
    const BACKPLANE: Backplane = BACKPLANE;

    fn on<B: Broadcaster>(self, broadcaster: B) -> impl App {
        Progress::on(broadcaster, self.0)
    }
}

impl<B: Broadcaster> App for Progress<B> {
    const PAGE: &'static str = include_str!("../../pages/progress.html");
    const STREAM: &'static str = "/jobs/stream";
    const POST: Option<&'static str> = Some("/jobs");
    type Request = JobRequest;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        let Some(job) = publisher.request().query_param("id") else {
            return publisher.no_content();
        };
        if !is_job_id(&job) {
            return publisher.no_content(); // no such job, ever: stop reconnecting
        }
        let final_id = lock(&self.finished).last_id(&job);
        if final_id.is_some() && final_id.as_deref() == publisher.last_event_id() {
            return publisher.no_content(); // it saw the end: stop reconnecting
        }
        // A first connection replays the job from its start.
        let resume_from = publisher.last_event_id().unwrap_or(self.from_start);
        let subscription = self.jobs.subscribe(&job, Some(resume_from));
        let stream = until_stalled(subscription, self.stall(), job, self.finished.clone());
        // Reconnect quickly to another node when this one goes: a demo.
        let options = PublishOptions::new().with_retry(Duration::from_millis(500));
        publisher.publish_with(stream, options)
    }

    async fn post(&self, request: JobRequest) -> JsonReply {
        let steps = request.steps.unwrap_or(20).clamp(1, MAX_STEPS);
        match self.start(steps) {
            Ok(job) => JsonReply::ok(serde_json::json!({ "id": job, "steps": steps })),
            Err(refused) => refused,
        }
    }

    fn shutdown(&self) {
        self.stop.send_replace(true);
        self.jobs.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: usize, age: Duration) -> Record {
        Record {
            job: format!("{job:032x}"),
            last: job.to_string(),
            at: now_ms() - age.as_millis() as u64,
        }
    }

    #[test]
    fn finished_records_are_capped_and_the_oldest_go_first() {
        let mut finished = Finished::default();
        for job in 0..=MAX_FINISHED {
            finished.insert(record(job, Duration::ZERO));
        }
        assert_eq!(finished.last_ids.len(), MAX_FINISHED);
        assert_eq!(finished.order.len(), MAX_FINISHED);
        assert_eq!(finished.last_id(&format!("{:032x}", 0)), None);
        assert_eq!(
            finished.last_id(&format!("{MAX_FINISHED:032x}")).as_deref(),
            Some(&*MAX_FINISHED.to_string())
        );
    }

    #[test]
    fn finished_records_are_forgotten_keep_finished_after_the_end() {
        let mut finished = Finished::default();
        // Read late (a node started after): forgotten when the others forget it.
        finished.insert(record(1, KEEP_FINISHED + Duration::from_secs(1)));
        assert!(finished.last_ids.is_empty(), "already too old");
        finished.insert(record(2, KEEP_FINISHED - Duration::from_millis(300)));
        finished.insert(record(3, Duration::ZERO));
        assert_eq!(
            finished.last_id(&format!("{:032x}", 2)).as_deref(),
            Some("2")
        );
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(finished.last_id(&format!("{:032x}", 2)), None);
        assert_eq!(
            finished.last_id(&format!("{:032x}", 3)).as_deref(),
            Some("3")
        );
        assert_eq!(finished.order.len(), 1, "the forgotten one's place too");
    }

    #[test]
    fn job_ids_are_32_lowercase_hex_digits_and_nothing_else_is_taken() {
        let id = new_job_id().unwrap();
        assert!(is_job_id(&id), "{id}");
        assert_ne!(new_job_id().unwrap(), id);
        for bad in [
            "",
            "1",
            FINISHED,
            &id[1..],
            &format!("{id}0"),
            &format!("A{}", &id[1..]),
        ] {
            assert!(!is_job_id(bad), "{bad:?}");
        }
        assert!(!is_job_id(&format!("{}é", &id[..30])));
    }
}
