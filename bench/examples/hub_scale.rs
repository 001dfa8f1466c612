//! The in-process hub (`ssekit::hub::Hub`) at scale: publish latency against
//! the subscriber count, throughput with one and two publishers, and how a
//! quiet topic fares next to a churning crowd. Prints one markdown table,
//! with the targets and ✓/✗ beside the figures.
//!
//! `cargo run --release -p ssekit-bench --example hub_scale`
//!
//! (`-- --quick` runs a tenth of the repetitions, to check the harness in a
//! debug build; its figures mean nothing. `-- --only latency`, `throughput`
//! or `quiet` runs one part.)
//!
//! A benchmark, not a test: nothing about timing is asserted; only that each
//! publish reached every subscriber, so the figures measure what they claim.
//! Events are 64 bytes of data with the hub's defaults (ids assigned, history
//! of 1000 per topic) and a queue of [`QUEUE`] frames per subscriber.
//! Timings are `std::time::Instant` around each `hub.publish` call (the
//! clock's own cost, some 20–30 ns, is included), percentiles by nearest
//! rank over all repetitions.
//!
//! # What each row measures
//!
//! 1. **Publish latency** to one topic of 100, 10 000 and 100 000
//!    subscribers (`hub.subscribe("t", None)`, held in a `Vec`). After each
//!    publish, outside the timed region, every subscription is drained with
//!    `now_or_never` on `next()` until it is pending again, so queues never
//!    fill and each subscriber has a waker registered, as a connection
//!    waiting for its next event does. Under the topic's lock a publish
//!    appends the frame to the topic's log, keeps it in history and takes
//!    the list of waiting tasks; it wakes them (here no-op wakers) once the
//!    topic is unlocked, one by one, which these rows include.
//!
//!    The same three again with no subscriber waiting (never drained, so no
//!    waker is registered and none is woken): the call is then the time
//!    under the lock plus the look-up in the hub's map, an upper bound on
//!    the time under the lock (which is the same whether tasks wait or not:
//!    taking their list is one swap). The lock target is judged on these
//!    rows' p99.
//!
//! 2. **Deliveries/s** (publishes × subscribers reached, per second of
//!    publishing) in four set-ups of 10 000 subscribers per topic: one topic
//!    with one publisher, then with two publisher threads; two topics with
//!    one publisher (alternating between them), then with two (one topic
//!    each). Every set-up delivers the same [`EVENTS_PER_ROUND`] events ×
//!    10 000 subscribers per round, split evenly between its publishers and
//!    topics. A round is: both worker threads meet at a barrier (spinning,
//!    not sleeping: a thread woken from a futex starts tens of microseconds
//!    after the other, which a round's wall time would count), the
//!    publishers publish their share back to back (timed: from the first
//!    publisher's start to the last one's end), all meet again, then both
//!    threads drain half of every topic's subscriptions each (not timed), so
//!    the queues ([`THROUGHPUT_QUEUE`] = [`EVENTS_PER_ROUND`]) never fill. Draining
//!    between rounds rather than alongside keeps its cost out of the figure
//!    and, on a two-core machine, keeps the second core free for the second
//!    publisher; concurrent drainers would measure the drain and the
//!    scheduler instead. The first rounds are a warm-up and not counted.
//!    Beside each figure, the CPU time the publisher threads got during the
//!    timed phases, in cores: with two publishers, a figure well under 2
//!    means they waited (on a lock, or for a core another process held).
//!
//! 3. **Quiet-topic publish p99**: publish to a topic of one subscriber
//!    (drained after each publish, untimed), back to back for a fixed time,
//!    first alone (a topic of 100 000 subscribers exists in the same hub but
//!    nothing touches it), then while another thread churns that topic: it
//!    drops the oldest [`CHURN_BATCH`] subscriptions, subscribes as many
//!    anew, publishes one event to all 100 000 and drains them, over and
//!    over. Sampling during the churn lasts until the churner has made at
//!    least [`MIN_CHURN_STEPS`] steps, so the figure covers many of them.
//!
//! # Runtime
//!
//! Scaled for under two minutes in release on two cores: fewer repetitions
//! where each costs more (with every subscriber waiting, 20 000 publishes
//! to 100 subscribers, 2 000 to 10 000, 300 to 100 000, so the p99 of the
//! last is its third-slowest sample; with none waiting, 20 000 each), 5 pairs of runs (one publisher, then two, the median pair shown) of 6 counted rounds of 512 events per throughput set-up, and [`QUIET_FOR`] (3 s) of
//! quiet-topic sampling per condition. The machine's load average is
//! printed first: another busy process on a two-core machine shows up in
//! every figure, above all in the two-publisher and churn rows.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use ssekit::hub::{Hub, HubConfig, Subscription};
use ssekit::Event;

const DATA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Frames each subscriber may have waiting in the latency and quiet-topic
/// rows.
const QUEUE: usize = 128;
/// The throughput rows' queue: room for a whole round, so no subscriber
/// lags.
const THROUGHPUT_QUEUE: usize = EVENTS_PER_ROUND;

/// Subscriber counts of the latency rows, with their repetitions.
const LATENCY_RUNS: [(usize, usize); 3] = [(100, 20_000), (10_000, 2_000), (100_000, 300)];
/// Repetitions of each latency run with no subscriber waiting: nothing is
/// drained between publishes, so many are cheap.
const UNDRAINED_REPS: usize = 20_000;
/// Untimed publishes before each latency run.
const LATENCY_WARMUP: usize = 10;

/// Subscribers per topic in the throughput rows.
const THROUGHPUT_SUBSCRIBERS: usize = 10_000;
/// Events published per round, whatever the set-up: enough that a round's
/// publishing (a tenth to a quarter of a millisecond) dwarfs the threads'
/// meeting at the barrier.
const EVENTS_PER_ROUND: usize = 512;
const ROUNDS: usize = 6;
/// Pairs of throughput runs (one publisher, then two) per set-up.
const TRIALS: usize = 5;
const WARMUP_ROUNDS: usize = 3;

/// The churned topic's size and how many of its subscriptions go and come
/// per churn step.
const BUSY_SUBSCRIBERS: usize = 100_000;
const CHURN_BATCH: usize = 20_000;
/// How long the quiet topic is sampled, alone and during the churn.
const QUIET_FOR: Duration = Duration::from_secs(3);
/// During the churn, sampling goes on past [`QUIET_FOR`] until the churner
/// has made this many steps (for at most ten times as long).
const MIN_CHURN_STEPS: usize = 20;
/// At most this many quiet-topic samples per condition.
const QUIET_MAX_SAMPLES: usize = 4_000_000;

/// The targets.
const LOCK_TARGET_NS: f64 = 1_000.0;
const TWO_TOPIC_SCALING_TARGET: f64 = 1.6;
const CHURN_P99_TARGET: f64 = 2.0;

/// How much of the full run: 1 normally, 10 with `--quick`.
struct Scale {
    divisor: usize,
}

impl Scale {
    fn reps(&self, reps: usize) -> usize {
        (reps / self.divisor).max(1)
    }

    fn time(&self, time: Duration) -> Duration {
        time / self.divisor as u32
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    // `--only latency|throughput|quiet`: one part, for quicker experiments.
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|at| args.get(at + 1))
        .map(String::as_str);
    let runs = |part: &str| only.is_none_or(|only| only == part);
    let scale = Scale {
        divisor: if quick { 10 } else { 1 },
    };
    let began = Instant::now();
    let cores = thread::available_parallelism().map_or(0, usize::from);
    println!("# Hub at scale\n");
    println!(
        "{cores} cores; load average before: {}{}\n",
        load_average(),
        if quick {
            " (--quick: a tenth of the repetitions, figures not meaningful)"
        } else {
            ""
        }
    );

    let mut table = Table::default();

    // 1. Publish latency against the subscriber count: the whole call with
    // every subscriber waiting, then, bounding the time under the lock, with
    // none waiting.
    for waiting in [true, false] {
        if !runs("latency") {
            break;
        }
        for (subscribers, reps) in LATENCY_RUNS {
            let reps = if waiting { reps } else { UNDRAINED_REPS };
            let samples = Samples::of(publish_latency(subscribers, scale.reps(reps), waiting));
            let (p50, p99) = (samples.percentile(50.0), samples.percentile(99.0));
            let (what, target, met) = if waiting {
                (
                    "all waiting: the whole call, wakes included",
                    "–".to_owned(),
                    None,
                )
            } else {
                (
                    "none waiting: bounds the time under the lock",
                    format!("≤ {} under the lock (p99)", fmt_ns(LOCK_TARGET_NS)),
                    Some(p99 <= LOCK_TARGET_NS),
                )
            };
            table.row(
                format!(
                    "publish, 1 topic × {} subscribers, {what}",
                    count(subscribers)
                ),
                fmt_ns(p50),
                fmt_ns(p99),
                format!(
                    "{:.1} ns/subscriber at p50 ({:.1} at p99), {} publishes",
                    p50 / subscribers as f64,
                    p99 / subscribers as f64,
                    count(samples.len())
                ),
                target,
                met,
            );
        }
    }

    // 2. Deliveries per second with one and two publishers.
    let rounds = scale.reps(ROUNDS);
    for topics in [1, 2] {
        if !runs("throughput") {
            break;
        }
        // One and two publishers alternately, several times: this machine's
        // cores come and go (a virtual machine's neighbours), and a pair
        // measured side by side is what a ratio can be taken from. The
        // median pair is shown, with the range of all.
        let mut pairs: Vec<(Throughput, Throughput, f64)> = (0..scale.reps(TRIALS).max(1))
            .map(|_| {
                let one = throughput(topics, 1, rounds);
                let two = throughput(topics, 2, rounds);
                let ratio = two.per_second() / one.per_second();
                (one, two, ratio)
            })
            .collect();
        pairs.sort_by(|a, b| a.2.total_cmp(&b.2));
        let range = format!(
            "{:.2}–{:.2}× over {} pairs",
            pairs[0].2,
            pairs[pairs.len() - 1].2,
            pairs.len()
        );
        let (one, two, ratio) = pairs.swap_remove(pairs.len() / 2);
        let what = if topics == 1 {
            "1 topic (shared)".to_owned()
        } else {
            "2 topics (one each)".to_owned()
        };
        table.row(
            format!(
                "deliveries/s, {what} × {} subscribers, 1 publisher",
                count(THROUGHPUT_SUBSCRIBERS)
            ),
            "–".into(),
            "–".into(),
            one.describe(),
            "–".into(),
            None,
        );
        let (target, met) = if topics == 2 {
            (
                format!("≥ {TWO_TOPIC_SCALING_TARGET}× 1 publisher"),
                Some(ratio >= TWO_TOPIC_SCALING_TARGET),
            )
        } else {
            ("– (reported)".to_owned(), None)
        };
        table.row(
            format!(
                "deliveries/s, {what} × {} subscribers, 2 publishers",
                count(THROUGHPUT_SUBSCRIBERS)
            ),
            "–".into(),
            "–".into(),
            format!(
                "{}; **{ratio:.2}×** 1 publisher (the median pair; {range})",
                two.describe()
            ),
            target,
            met,
        );
    }

    // 3. A quiet topic next to a churning crowd.
    if runs("quiet") {
        quiet_rows(&mut table, &scale);
    }

    table.print();
    println!(
        "\nload average after: {}; took {:.0} s",
        load_average(),
        began.elapsed().as_secs_f64()
    );
}

fn quiet_rows(table: &mut Table, scale: &Scale) {
    let quiet = quiet_topic(scale);
    let ratio = quiet.churned.percentile(99.0) / quiet.idle.percentile(99.0);
    table.row(
        "quiet topic (1 subscriber) publish, alone".into(),
        fmt_ns(quiet.idle.percentile(50.0)),
        fmt_ns(quiet.idle.percentile(99.0)),
        format!(
            "{} publishes; p99.9 {}",
            count(quiet.idle.len()),
            fmt_ns(quiet.idle.percentile(99.9))
        ),
        "–".into(),
        None,
    );
    table.row(
        format!(
            "quiet topic publish, during churn of {} subscribers",
            count(BUSY_SUBSCRIBERS)
        ),
        fmt_ns(quiet.churned.percentile(50.0)),
        fmt_ns(quiet.churned.percentile(99.0)),
        format!(
            "{} publishes; p99.9 {}; **{ratio:.2}×** the p99 alone; {} churn steps ({} left + {} joined, 1 publish each)",
            count(quiet.churned.len()),
            fmt_ns(quiet.churned.percentile(99.9)),
            quiet.churn_steps,
            count(CHURN_BATCH),
            count(CHURN_BATCH),
        ),
        format!("p99 ≤ {CHURN_P99_TARGET}× alone"),
        Some(ratio <= CHURN_P99_TARGET),
    );
}

/// Drains every subscription until it is pending (its waker registered, as
/// a connection waiting for its next event); returns the frames taken.
fn drain(subscriptions: &mut [Subscription]) -> usize {
    let mut frames = 0;
    for subscription in subscriptions {
        while let Some(Some(_)) = subscription.next().now_or_never() {
            frames += 1;
        }
    }
    frames
}

fn subscribe_many(hub: &Hub, topic: &str, count: usize) -> Vec<Subscription> {
    (0..count).map(|_| hub.subscribe(topic, None)).collect()
}

/// Nanoseconds of each of `reps` publishes to one topic of `subscribers`,
/// drained after each (so waiting for the next) if `waiting`, else never read.
fn publish_latency(subscribers: usize, reps: usize, waiting: bool) -> Vec<u64> {
    let hub: Hub = Hub::with_config(HubConfig::new().with_queue(QUEUE));
    let mut subscriptions = subscribe_many(&hub, "t", subscribers);
    let drain = |subscriptions: &mut [Subscription]| {
        if waiting {
            drain(subscriptions);
        }
    };
    drain(&mut subscriptions);
    for _ in 0..LATENCY_WARMUP {
        hub.publish("t", Event::message(DATA));
        drain(&mut subscriptions);
    }
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let event = Event::message(DATA);
        let start = Instant::now();
        let report = hub.publish("t", event);
        let took = start.elapsed();
        samples.push(took.as_nanos() as u64);
        assert_eq!(report.delivered, subscribers, "every subscriber queued it");
        drain(&mut subscriptions);
    }
    samples
}

/// What a throughput set-up measured.
struct Throughput {
    delivered: u64,
    /// Sum over the counted rounds of their publishing phase.
    wall: Duration,
    /// CPU time the publishers used in those phases.
    cpu: Duration,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64()
    }

    fn describe(&self) -> String {
        format!(
            "{:.1} M/s (publishers on CPU: {:.2} cores)",
            self.per_second() / 1e6,
            self.cpu.as_secs_f64() / self.wall.as_secs_f64()
        )
    }
}

/// One worker's record of a round's publishing phase.
struct Phase {
    start: Instant,
    end: Instant,
    cpu: Duration,
    delivered: u64,
}

/// Deliveries per second with `publishers` (1 or 2) publishing to `topics`
/// (1 or 2) topics of [`THROUGHPUT_SUBSCRIBERS`] each; see the file header.
fn throughput(topics: usize, publishers: usize, rounds: usize) -> Throughput {
    const NAMES: [&str; 2] = ["a", "b"];
    const WORKERS: usize = 2;
    let hub: Hub = Hub::with_config(HubConfig::new().with_queue(THROUGHPUT_QUEUE));
    // Each worker drains half of every topic's subscribers.
    let mut shards: Vec<Vec<Subscription>> = (0..WORKERS).map(|_| Vec::new()).collect();
    for name in &NAMES[..topics] {
        for n in 0..THROUGHPUT_SUBSCRIBERS {
            shards[n % WORKERS].push(hub.subscribe(*name, None));
        }
    }
    // Which topics each worker publishes to in a round, in order: the round's
    // events split evenly between publishers, each publisher alternating
    // between the topics it serves.
    let plans: Vec<Vec<&'static str>> = (0..WORKERS)
        .map(|worker| {
            if worker >= publishers {
                return Vec::new();
            }
            let served: Vec<&'static str> = if publishers == topics {
                vec![NAMES[worker]]
            } else {
                NAMES[..topics].to_vec()
            };
            (0..EVENTS_PER_ROUND / publishers)
                .map(|n| served[n % served.len()])
                .collect()
        })
        .collect();
    let total_rounds = WARMUP_ROUNDS + rounds;
    let barrier = Arc::new(SpinBarrier::new(WORKERS));
    let workers: Vec<_> = shards
        .into_iter()
        .zip(plans)
        .map(|(mut shard, plan)| {
            let hub = hub.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                drain(&mut shard);
                let mut phases = Vec::with_capacity(total_rounds);
                for _ in 0..total_rounds {
                    barrier.wait();
                    let cpu = thread_cpu();
                    let start = Instant::now();
                    let mut delivered = 0;
                    for topic in &plan {
                        delivered += hub.publish(*topic, Event::message(DATA)).delivered as u64;
                    }
                    let end = Instant::now();
                    let cpu = thread_cpu() - cpu;
                    if !plan.is_empty() {
                        phases.push(Phase {
                            start,
                            end,
                            cpu,
                            delivered,
                        });
                    }
                    barrier.wait();
                    drain(&mut shard);
                }
                phases
            })
        })
        .collect();
    let phases: Vec<Vec<Phase>> = workers
        .into_iter()
        .map(|worker| worker.join().expect("worker"))
        .filter(|phases| !phases.is_empty())
        .collect();
    let mut result = Throughput {
        delivered: 0,
        wall: Duration::ZERO,
        cpu: Duration::ZERO,
    };
    for round in WARMUP_ROUNDS..total_rounds {
        let of_round = phases.iter().map(|worker| &worker[round]);
        let start = of_round.clone().map(|phase| phase.start).min();
        let end = of_round.clone().map(|phase| phase.end).max();
        if let (Some(start), Some(end)) = (start, end) {
            result.wall += end - start;
        }
        for phase in of_round {
            result.cpu += phase.cpu;
            result.delivered += phase.delivered;
        }
    }
    let expected = (rounds * EVENTS_PER_ROUND * THROUGHPUT_SUBSCRIBERS) as u64;
    assert_eq!(
        result.delivered, expected,
        "every subscriber queued every event"
    );
    result
}

/// A barrier whose waiters spin: all leave within nanoseconds of the last
/// arrival, where `std::sync::Barrier` wakes sleepers one system call at a
/// time.
struct SpinBarrier {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    parties: usize,
}

impl SpinBarrier {
    fn new(parties: usize) -> Self {
        Self {
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            parties,
        }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            while self.generation.load(Ordering::Acquire) == generation {
                std::hint::spin_loop();
            }
        }
    }
}

struct Quiet {
    idle: Samples,
    churned: Samples,
    churn_steps: usize,
}

/// The quiet topic's publish times alone, then during the churn.
fn quiet_topic(scale: &Scale) -> Quiet {
    let hub: Hub = Hub::with_config(HubConfig::new().with_queue(QUEUE));
    let mut quiet = hub.subscribe("quiet", None);
    let mut busy = subscribe_many(&hub, "busy", BUSY_SUBSCRIBERS);
    drain(&mut busy);
    let sample_for = scale.time(QUIET_FOR);
    let idle = Samples::of(sample_quiet(&hub, &mut quiet, sample_for, || true));

    let stop = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (hub, stop, steps) = (hub.clone(), stop.clone(), steps.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                busy.drain(..CHURN_BATCH);
                busy.extend((0..CHURN_BATCH).map(|_| hub.subscribe("busy", None)));
                let report = hub.publish("busy", Event::message(DATA));
                assert_eq!(report.delivered, BUSY_SUBSCRIBERS, "the crowd got it");
                drain(&mut busy);
                steps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Sample only once the churn is under way.
    while steps.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    let before = steps.load(Ordering::Relaxed);
    let min_steps = scale.reps(MIN_CHURN_STEPS);
    let churned = Samples::of(sample_quiet(&hub, &mut quiet, sample_for, || {
        steps.load(Ordering::Relaxed) - before >= min_steps
    }));
    let churn_steps = steps.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    churner.join().expect("churner");
    Quiet {
        idle,
        churned,
        churn_steps,
    }
}

/// Nanoseconds of each publish to the quiet topic, back to back for `time`
/// and then until `enough` (for at most ten times `time`).
fn sample_quiet(
    hub: &Hub,
    quiet: &mut Subscription,
    time: Duration,
    enough: impl Fn() -> bool,
) -> Vec<u64> {
    let mut samples = Vec::with_capacity(1 << 20);
    let began = Instant::now();
    loop {
        let elapsed = began.elapsed();
        let wanted = elapsed < time || (!enough() && elapsed < 10 * time);
        if !wanted || samples.len() >= QUIET_MAX_SAMPLES {
            break;
        }
        let event = Event::message(DATA);
        let start = Instant::now();
        let report = hub.publish("quiet", event);
        let took = start.elapsed();
        samples.push(took.as_nanos() as u64);
        assert_eq!(report.delivered, 1, "the quiet subscriber queued it");
        drain(std::slice::from_mut(quiet));
    }
    samples
}

/// Sorted nanosecond samples.
struct Samples(Vec<u64>);

impl Samples {
    fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The nearest-rank percentile `p` (0–100), in nanoseconds.
    fn percentile(&self, p: f64) -> f64 {
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64
    }
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a plain libc call writing to a local struct.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if done != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |line| {
            line.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// `n` with thin spaces between thousands: 100 000.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 6]>,
}

impl Table {
    fn row(
        &mut self,
        what: String,
        p50: String,
        p99: String,
        figure: String,
        target: String,
        met: Option<bool>,
    ) {
        let met = match met {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "",
        };
        self.rows
            .push([what, p50, p99, figure, target, met.to_owned()]);
    }

    fn print(&self) {
        println!("| Measurement | p50 | p99 | Figures | Target | Met |");
        println!("|---|---:|---:|---|---|:-:|");
        for row in &self.rows {
            println!("| {} |", row.join(" | "));
        }
    }
}
